"""Classes and label budgets: class names, ``data.n_labels``, the class-balanced label draw and the holdouts.

    parse_labels("sandal,bag")                        # [5, 8]
    sample_label_subset(train_labels, 100, seed=0)    # 100 sorted indices, 10 per class, the same on any machine
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ssgen.data.sets import DatasetInfo
from ssgen.data.sets.fashion_mnist import INFO as FASHION_MNIST
from ssgen.errors import ConfigError


# ----------------------------------------------------------------------------------------------- class names
def _name_key(text: str) -> str:
    return "".join(ch for ch in str(text).lower() if ch.isalnum())


def _class_keys(info: DatasetInfo) -> dict[str, int]:
    return {**{_name_key(name): index for index, name in enumerate(info.class_names)},
            **{_name_key(name): index for index, name in enumerate(info.names())},
            **{_name_key(name): index for name, index in info.aliases.items()}}


def class_index(label: int | str, info: DatasetInfo = FASHION_MNIST) -> int:
    """A class of ``info`` as an index 0..n_classes-1: from the index itself, ssgen's name (``ankle_boot``) or the
    data set's own (``Ankle boot``, ``T-shirt/top``); case, spaces, '-', '_' and '/' are forgiven. Raises ConfigError."""
    n_classes = info.n_classes
    if isinstance(label, int | np.integer) and not isinstance(label, bool):
        if 0 <= int(label) < n_classes:
            return int(label)
    elif isinstance(label, str):
        text = label.strip()
        if text.isdigit() and int(text) < n_classes:
            return int(text)
        if _name_key(text) in _class_keys(info):
            return _class_keys(info)[_name_key(text)]
    own = f" (torchvision's names work too: {', '.join(info.display_names)})" if info.display_names else ""
    raise ConfigError(f"label={label!r} is unknown; use all, an index 0-{n_classes - 1} or one of: "
                      f"{' '.join(info.class_names)}{own}")


def parse_labels(text: str | int | list[Any] | tuple[Any, ...], info: DatasetInfo = FASHION_MNIST) -> list[int]:
    """'all' -> [0..n_classes-1]; a comma-separated string or a list of classes (see ``class_index``) -> their indices."""
    if isinstance(text, str) and text.strip().lower() == "all":
        return list(range(info.n_classes))
    if isinstance(text, str) and "," in text and _name_key(text) not in _class_keys(info):
        text = [part for part in text.split(",") if part.strip()]
    items = list(text) if isinstance(text, list | tuple) else [text]
    return [class_index(item, info) for item in items]


# ----------------------------------------------------------------------------------------------- label subsets
def parse_n_labels(value: Any, key: str = "data.n_labels", info: DatasetInfo = FASHION_MNIST) -> int:
    """``data.n_labels`` (or another image count named ``key`` in messages) as an int: 0 = none, 'all' =
    ``info.n_train`` (60000). A count must be a multiple of ``info.n_classes``: the draws are class-balanced.

    Raises ConfigError on anything else."""
    k, n_train = info.n_classes, info.n_train
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "all":
            return n_train
        try:
            value = int(text)
        except ValueError:
            raise ConfigError(f"{key}={value!r} is not a number; use a multiple of {k} such as {10 * k}, or 0, or 'all'") from None
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ConfigError(f"{key}={value!r} is not an integer; use a multiple of {k} such as {10 * k}, or 0, or 'all'")
    value = int(value)
    if value < 0:
        raise ConfigError(f"{key}={value} is negative; use 0 (no labels), a positive multiple of {k}, or 'all'")
    if value % k:
        raise ConfigError(
            f"{key}={value} is not a multiple of {k} (the subset is class-balanced, n_labels/{k} per class); "
            f"try {value - value % k or k}"
        )
    if value > n_train:
        raise ConfigError(f"{key}={value} exceeds the {n_train} training images; use at most {n_train} or 'all'")
    return value


def sample_label_subset(labels: np.ndarray | torch.Tensor, n_labels: int, seed: int, exclude: np.ndarray | None = None,
                        info: DatasetInfo = FASHION_MNIST) -> np.ndarray:
    """Indices of ``n_labels`` images, exactly ``n_labels / n_classes`` per class, drawn with ``seed``.

    numpy's PCG64 stream is fixed across platforms and versions, so the same seed gives the same
    indices on any machine. Returned sorted. ``exclude`` removes indices (a validation holdout) first.
    Raises ConfigError when a class has fewer images than its share.
    """
    labels = np.asarray(labels)
    n_labels = parse_n_labels(n_labels, info=info)
    per_class = n_labels // info.n_classes
    available = np.ones(len(labels), dtype=bool)
    if exclude is not None:
        available[exclude] = False
    rng = np.random.Generator(np.random.PCG64(seed))
    chosen = []
    for label in range(info.n_classes):
        candidates = np.flatnonzero((labels == label) & available)
        if per_class > len(candidates):
            raise ConfigError(
                f"data.n_labels={n_labels} needs {per_class} images of class {info.class_names[label]} but only "
                f"{len(candidates)} are available (after the validation holdout); lower data.n_labels or data.val_size"
            )
        chosen.append(candidates if per_class == len(candidates) else rng.choice(candidates, per_class, replace=False))
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def stratified_holdout(labels: np.ndarray, size: int, seed: int, info: DatasetInfo = FASHION_MNIST) -> np.ndarray:
    """``size`` training indices (``size / n_classes`` per class) held out for validation, independent of the label draw."""
    if size == 0:
        return np.zeros(0, dtype=np.int64)
    # an offset seed keeps the holdout from coinciding with the label subset drawn from the same seed
    return sample_label_subset(labels, size, seed + 1_000_003, info=info)


def holdout_split(n_labels: int, fraction: float, info: DatasetInfo = FASHION_MNIST) -> int:
    """How many of ``n_labels`` labelled images a ``fraction`` holds out: a multiple of n_classes (same count per class).

    Raises ConfigError unless at least one image per class is held out and at least one per class is kept.
    """
    per_class = n_labels // info.n_classes
    held_per_class = round(float(fraction) * per_class)
    if not 0 < float(fraction) < 1 or not 0 < held_per_class < per_class:
        raise ConfigError(
            f"data.labelled_holdout={fraction} of data.n_labels={n_labels} holds out {held_per_class} of {per_class} "
            "labelled images per class; it must leave at least 1 held out and 1 kept per class (e.g. 0.2)"
        )
    return held_per_class * info.n_classes


def split_labelled(labels: np.ndarray, labelled_indices: np.ndarray, n_holdout: int, seed: int,
                   info: DatasetInfo = FASHION_MNIST) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held_out): ``n_holdout / n_classes`` images per class of the labelled subset held out, drawn with ``seed``.

    Only labelled images are held out, so choosing hyperparameters by their accuracy uses nothing a
    user with ``n_labels`` labels would not have (the large-validation-set protocol would).
    """
    # another seed offset than stratified_holdout's, so the two holdouts are independent draws
    held_out = sample_label_subset(labels[labelled_indices], n_holdout, seed + 2_000_003, info=info)
    keep = np.ones(len(labelled_indices), dtype=bool)
    keep[held_out] = False
    return labelled_indices[keep], labelled_indices[held_out]
