"""Fashion-MNIST, read once into memory, served as batches indexed out of one tensor.

    from ssgen.data import FashionMNISTDataModule
    dm = FashionMNISTDataModule(n_labels=100, seed=0); dm.setup()
    images, labels = next(iter(dm.labelled_dataloader()))   # (100, 1, 28, 28) float, (100,) int64

Where the files come from, first hit wins:
  1. ``root`` (``data.root``; when None, ``$SSGEN_DATA``): the four IDX files, gzipped or not, in ``root``
     or ``root/FashionMNIST/raw``;
  2. the Debian package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``);
  3. a torchvision download into ``root`` when online.

``SSGEN_DATA`` is the default data dir of every command (ssgen-evaluate, figures, evaluator training);
``ssgen-train`` sets it from ``data.root``, so loads that never see the config find the same files.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from ssgen.errors import ConfigError, DataError
from ssgen.io import atomic_write_text

log = logging.getLogger("ssgen")

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
DATA_ENV = "SSGEN_DATA"  # the data dir used when no root is given
CLASS_NAMES = ("t_shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot")
# the same classes as torchvision.datasets.FashionMNIST.classes spells them (and the data set's README)
TORCHVISION_CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                           "Ankle boot")
N_CLASSES = 10
N_TRAIN = 60_000
N_TEST = 10_000
TRAIN_PER_CLASS = 6_000  # Fashion-MNIST's training set is exactly balanced
IMAGE_SHAPE = (28, 28)

_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_IMAGE_MAGIC, _LABEL_MAGIC = 2051, 2049
# md5 of each *decompressed* file of the real Fashion-MNIST: what identifies the set whatever the compression (the
# Debian package's .gz files were recompressed, so torchvision's digests of the .gz files do not match them)
FASHION_MNIST_MD5 = {
    "train_images": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train_labels": "9018921c3c673c538a1fc5bad174d6f9",
    "test_images": "8181f5470baa50b63fa0f6fddb340f0a",
    "test_labels": "15d484375f8d13e6eb1aabb0c3f46965",
}
ALLOW_UNKNOWN_HINT = "set data.allow_unknown=true to train on them anyway"

FIX_HINT = (
    "fix one of: set data.root=<dir with the four IDX files>; "
    "or `apt-get update && apt-get install -y dataset-fashion-mnist` (files in /usr/share/datasets/fashion-mnist); "
    "or go online so torchvision can download them"
)


# ----------------------------------------------------------------------------------------------- IDX files
def read_idx(path: str | Path, fix: str | None = None) -> np.ndarray:
    """Read one IDX file (optionally .gz, any case): images -> (N, 28, 28) uint8, labels -> (N,) uint8.

    Checks the magic number and that the payload length matches the header, so a truncated or
    corrupt file fails with a message naming the file instead of a numpy reshape traceback.
    ``fix`` ends each message: by default how to get the data set again (for a file of ``data.root``);
    ssgen-predict passes what to give instead (the user's own file is not to be deleted).
    """
    path = Path(path)
    fix = fix or f"delete it and {FIX_HINT}"
    raw = _read_decoded(path, fix)
    if len(raw) < 8:
        raise DataError(f"{path} is truncated ({len(raw)} bytes, no IDX header); {fix}")
    magic = int.from_bytes(raw[0:4], "big")
    count = int.from_bytes(raw[4:8], "big")
    if magic == _IMAGE_MAGIC:
        header, shape = 16, (count, *IMAGE_SHAPE)
        if len(raw) >= 16:
            rows, cols = int.from_bytes(raw[8:12], "big"), int.from_bytes(raw[12:16], "big")
            if (rows, cols) != IMAGE_SHAPE:
                raise DataError(f"{path} holds {rows}x{cols} images, expected 28x28; is this Fashion-MNIST?")
    elif magic == _LABEL_MAGIC:
        header, shape = 8, (count,)
    else:
        raise DataError(f"{path} is not an IDX file (magic number {magic}, expected 2051 or 2049); {fix}")
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise DataError(f"{path} has {len(raw)} bytes but its header promises {expected}: truncated or corrupt; {fix}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


# (resolved path, size, mtime in ns) -> md5 of the decoded bytes: each file is digested once per process, as it is read
_DIGESTS: dict[tuple[str, int, int], str] = {}
_WARNED: set[tuple[str, ...]] = set()  # file sets already warned about in this process


def _stat_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def _read_decoded(path: Path, fix: str) -> bytes:
    """The file's bytes, gunzipped when it ends in .gz (any case); its md5 is remembered for ``decoded_md5``."""
    try:
        opener = gzip.open if path.suffix.lower() == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
        _DIGESTS[_stat_key(path)] = hashlib.md5(raw, usedforsecurity=False).hexdigest()
    except (OSError, EOFError) as exc:  # bad gzip stream, truncated gzip, unreadable file
        raise DataError(f"cannot read {path}: {exc}; the file is corrupt or truncated — {fix}") from exc
    return raw


def decoded_md5(path: str | Path) -> str:
    """md5 of an IDX file's decoded (gunzipped) bytes: computed once per process per file version. Raises DataError
    for an unreadable file."""
    path = Path(path)
    key = _stat_key(path)
    if key not in _DIGESTS:
        _read_decoded(path, f"delete it and {FIX_HINT}")
    return _DIGESTS[key]


def identify(files: dict[str, Path], allow_unknown: bool | None = None) -> dict[str, Any]:
    """What results.json records about the data: the files read and the md5 of their decoded bytes, and whether
    those are Fashion-MNIST's (``FASHION_MNIST_MD5``).

    Files that are not Fashion-MNIST's: ``allow_unknown=False`` (ssgen-train's default, ``data.allow_unknown``)
    raises DataError naming them; True (the user accepted them) and None (a load outside ssgen-train: ssgen-evaluate,
    figures, the evaluator) log a warning naming them, once per process, and the record says so.
    """
    digests = {key: decoded_md5(files[key]) for key in _FILES}
    unknown = [str(files[key]) for key in _FILES if digests[key] != FASHION_MNIST_MD5[key]]
    record: dict[str, Any] = {"files": {key: str(files[key]) for key in _FILES}, "md5": digests,
                              "fashion_mnist": not unknown}
    if not unknown:
        return record
    what = (f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not Fashion-MNIST's (the md5 of the decoded "
            "bytes differs from the real set's)")
    if allow_unknown is False:
        raise DataError(f"{what}; point data.root at the real files (`apt-get install -y dataset-fashion-mnist` puts "
                        f"them in {DEBIAN_DIR}), or {ALLOW_UNKNOWN_HINT}")
    record["allow_unknown"] = bool(allow_unknown)
    if tuple(unknown) not in _WARNED:
        _WARNED.add(tuple(unknown))
        log.warning("%s; %s: results.json records their digests", what,
                    "training on them as data.allow_unknown=true asks" if allow_unknown else "using them anyway")
    return record


def data_record(root: str | Path | None, allow_unknown: bool) -> dict[str, Any] | None:
    """``identify``'s record of the files a run with ``data.root=root`` will read, when they are on disk already
    (None before a download; the data module identifies what it downloaded). ``validate()`` calls it before any
    dir is made: files that are not Fashion-MNIST's unless ``allow_unknown``, and an ``$SSGEN_DATA`` that does
    not exist, are refused. Raises DataError."""
    files, _ = find_files(root)
    return identify(files, allow_unknown) if files is not None else None


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write uint8 images (N, 28, 28) or labels (N,) as an IDX file (gzipped when the name ends in .gz)."""
    array = np.asarray(array, dtype=np.uint8)
    if array.ndim == 3:
        header = _IMAGE_MAGIC.to_bytes(4, "big") + len(array).to_bytes(4, "big")
        header += array.shape[1].to_bytes(4, "big") + array.shape[2].to_bytes(4, "big")
    elif array.ndim == 1:
        header = _LABEL_MAGIC.to_bytes(4, "big") + len(array).to_bytes(4, "big")
    else:
        raise ValueError(f"IDX writer takes (N, 28, 28) images or (N,) labels, got shape {array.shape}")
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


def _find_in(directory: Path) -> dict[str, Path] | None:
    """The four files in ``directory`` (plain or .gz, also under FashionMNIST/raw), or None if any is missing."""
    for base in (directory, directory / "FashionMNIST" / "raw"):
        found = {}
        for key, stem in _FILES.items():
            for candidate in (base / stem, base / f"{stem}.gz"):
                if candidate.is_file():
                    found[key] = candidate
                    break
        if len(found) == len(_FILES):
            return found
    return None


def find_files(root: str | Path | None) -> tuple[dict[str, Path] | None, list[str]]:
    """The four IDX files in ``root`` (``$SSGEN_DATA`` when None), else in the Debian package's dir, without
    downloading: ``(files or None, what was tried)``. An ``$SSGEN_DATA`` naming no dir is a DataError: it is an
    explicit choice, and falling back to another copy would train on data the user did not point at."""
    tried = []
    source = "data.root"
    if root is None and os.environ.get(DATA_ENV):
        root, source = os.environ[DATA_ENV], DATA_ENV
        if not Path(root).expanduser().is_dir():
            raise DataError(f"Fashion-MNIST not found; tried {DATA_ENV}={root} (no IDX files): that dir does not exist; "
                            f"point {DATA_ENV} at the dir with the four IDX files, or unset it")
    if root is not None:
        found = _find_in(Path(root).expanduser())
        if found:
            return found, tried
        tried.append(f"{source}={Path(root).expanduser()} (no IDX files)")
    found = _find_in(DEBIAN_DIR)
    if found:
        return found, tried
    tried.append(f"{DEBIAN_DIR} (package dataset-fashion-mnist not installed)")
    return None, tried


def locate_files(root: str | Path | None, download: bool = True) -> dict[str, Path]:
    """Find the four IDX files: ``root`` (``$SSGEN_DATA`` when None), then the Debian package, then a
    torchvision download into ``root``. Raises DataError naming what was tried and the fixes."""
    found, tried = find_files(root)
    if found:
        return found
    if root is None and os.environ.get(DATA_ENV):
        root = os.environ[DATA_ENV]
    root = Path(root).expanduser() if root is not None else None
    if download:
        target = root if root is not None else Path("data")
        try:
            import torchvision

            torchvision.datasets.FashionMNIST(str(target), train=True, download=True)
            torchvision.datasets.FashionMNIST(str(target), train=False, download=True)
        except Exception as exc:  # offline, proxy, disk full: all end in the same advice
            tried.append(f"torchvision download into {target} ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})")
        else:
            found = _find_in(Path(target))
            if found:
                return found
    else:
        tried.append("download disabled (data.download=false)")
    raise DataError("Fashion-MNIST not found; tried " + "; ".join(tried) + f". {FIX_HINT}")


def load_files(files: dict[str, Path]) -> dict[str, torch.Tensor]:
    """The four located IDX files as uint8 tensors: train/test images (N, 28, 28) and labels (N,). Raises DataError
    for a file that is corrupt, or images and labels that do not belong together."""
    arrays = {key: read_idx(path) for key, path in files.items()}
    for split in ("train", "test"):
        n_images, n_labels = len(arrays[f"{split}_images"]), len(arrays[f"{split}_labels"])
        if n_images != n_labels:
            raise DataError(f"{split} images ({n_images}) and labels ({n_labels}) differ in count in {files[f'{split}_images'].parent}; {FIX_HINT}")
        if arrays[f"{split}_labels"].max(initial=0) >= N_CLASSES:
            raise DataError(f"{files[f'{split}_labels']} holds labels >= {N_CLASSES}; it is not Fashion-MNIST")
    return {key: torch.from_numpy(value) for key, value in arrays.items()}


def load_fashion_mnist(root: str | Path | None = None, download: bool = True,
                       allow_unknown: bool | None = None) -> dict[str, torch.Tensor]:
    """All of Fashion-MNIST as uint8 tensors: train/test images (N, 28, 28) and labels (N,).

    Files that are not Fashion-MNIST's (``identify``) are refused when ``allow_unknown`` is False, else used with
    a warning naming them. Raises DataError."""
    files = locate_files(root, download)
    loaded = load_files(files)  # read (and digested) first: identify then costs nothing
    identify(files, allow_unknown)
    return loaded


# ----------------------------------------------------------------------------------------------- class names
def _name_key(text: str) -> str:
    return "".join(ch for ch in str(text).lower() if ch.isalnum())


_CLASS_KEYS = {**{_name_key(name): index for index, name in enumerate(CLASS_NAMES)},
               **{_name_key(name): index for index, name in enumerate(TORCHVISION_CLASS_NAMES)},
               "tshirt": 0, "top": 0}


def class_index(label: int | str) -> int:
    """A class as an index 0-9: from the index itself, ssgen's name (``ankle_boot``) or torchvision's
    (``Ankle boot``, ``T-shirt/top``); case, spaces, '-', '_' and '/' are forgiven. Raises ConfigError."""
    if isinstance(label, int | np.integer) and not isinstance(label, bool):
        if 0 <= int(label) < N_CLASSES:
            return int(label)
    elif isinstance(label, str):
        text = label.strip()
        if text.isdigit() and int(text) < N_CLASSES:
            return int(text)
        if _name_key(text) in _CLASS_KEYS:
            return _CLASS_KEYS[_name_key(text)]
    raise ConfigError(f"label={label!r} is unknown; use all, an index 0-{N_CLASSES - 1} or one of: {' '.join(CLASS_NAMES)} "
                      f"(torchvision's names work too: {', '.join(TORCHVISION_CLASS_NAMES)})")


def parse_labels(text: str | int | list[Any] | tuple[Any, ...]) -> list[int]:
    """'all' -> [0..9]; a comma-separated string or a list of classes (see ``class_index``) -> their indices."""
    if isinstance(text, str) and text.strip().lower() == "all":
        return list(range(N_CLASSES))
    if isinstance(text, str) and "," in text and _name_key(text) not in _CLASS_KEYS:
        text = [part for part in text.split(",") if part.strip()]
    items = list(text) if isinstance(text, list | tuple) else [text]
    return [class_index(item) for item in items]


# ----------------------------------------------------------------------------------------------- label subsets
def parse_n_labels(value: Any, key: str = "data.n_labels") -> int:
    """``data.n_labels`` (or another image count named ``key`` in messages) as an int: 0 = none, 'all' = 60000.

    Raises ConfigError on anything else."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "all":
            return N_TRAIN
        try:
            value = int(text)
        except ValueError:
            raise ConfigError(f"{key}={value!r} is not a number; use a multiple of 10 such as 100, or 0, or 'all'") from None
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ConfigError(f"{key}={value!r} is not an integer; use a multiple of 10 such as 100, or 0, or 'all'")
    value = int(value)
    if value < 0:
        raise ConfigError(f"{key}={value} is negative; use 0 (no labels), a positive multiple of 10, or 'all'")
    if value % N_CLASSES:
        raise ConfigError(
            f"{key}={value} is not a multiple of 10 (the subset is class-balanced, n_labels/10 per class); "
            f"try {value - value % N_CLASSES or N_CLASSES}"
        )
    if value > N_TRAIN:
        raise ConfigError(f"{key}={value} exceeds the {N_TRAIN} training images; use at most {N_TRAIN} or 'all'")
    return value


def sample_label_subset(labels: np.ndarray | torch.Tensor, n_labels: int, seed: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """Indices of ``n_labels`` images, exactly ``n_labels / 10`` per class, drawn with ``seed``.

    numpy's PCG64 stream is fixed across platforms and versions, so the same seed gives the same
    indices on any machine. Returned sorted. ``exclude`` removes indices (a validation holdout) first.
    """
    labels = np.asarray(labels)
    n_labels = parse_n_labels(n_labels)
    per_class = n_labels // N_CLASSES
    available = np.ones(len(labels), dtype=bool)
    if exclude is not None:
        available[exclude] = False
    rng = np.random.Generator(np.random.PCG64(seed))
    chosen = []
    for label in range(N_CLASSES):
        candidates = np.flatnonzero((labels == label) & available)
        if per_class > len(candidates):
            raise ConfigError(
                f"data.n_labels={n_labels} needs {per_class} images of class {CLASS_NAMES[label]} but only "
                f"{len(candidates)} are available (after the validation holdout); lower data.n_labels or data.val_size"
            )
        chosen.append(candidates if per_class == len(candidates) else rng.choice(candidates, per_class, replace=False))
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def stratified_holdout(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """``size`` training indices (``size / 10`` per class) held out for validation, independent of the label draw."""
    if size == 0:
        return np.zeros(0, dtype=np.int64)
    # an offset seed keeps the holdout from coinciding with the label subset drawn from the same seed
    return sample_label_subset(labels, size, seed + 1_000_003)


def holdout_split(n_labels: int, fraction: float) -> int:
    """How many of ``n_labels`` labelled images a ``fraction`` holds out: a multiple of 10 (same count per class).

    Raises ConfigError unless at least one image per class is held out and at least one per class is kept.
    """
    per_class = n_labels // N_CLASSES
    held_per_class = round(float(fraction) * per_class)
    if not 0 < float(fraction) < 1 or not 0 < held_per_class < per_class:
        raise ConfigError(
            f"data.labelled_holdout={fraction} of data.n_labels={n_labels} holds out {held_per_class} of {per_class} "
            "labelled images per class; it must leave at least 1 held out and 1 kept per class (e.g. 0.2)"
        )
    return held_per_class * N_CLASSES


def split_labelled(labels: np.ndarray, labelled_indices: np.ndarray, n_holdout: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held_out): ``n_holdout / 10`` images per class of the labelled subset held out, drawn with ``seed``.

    Only labelled images are held out, so choosing hyperparameters by their accuracy uses nothing a
    user with ``n_labels`` labels would not have (the large-validation-set protocol would).
    """
    # another seed offset than stratified_holdout's, so the two holdouts are independent draws
    held_out = sample_label_subset(labels[labelled_indices], n_holdout, seed + 2_000_003)
    keep = np.ones(len(labelled_indices), dtype=bool)
    keep[held_out] = False
    return labelled_indices[keep], labelled_indices[held_out]


# ----------------------------------------------------------------------------------------------- batches
def to_pixels(images: torch.Tensor, pixel_range: str) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 1, 28, 28) in [0, 1] ('unit') or [-1, 1] ('symmetric')."""
    x = images.unsqueeze(1).float().div_(255.0)
    if pixel_range == "symmetric":
        x = x.mul_(2.0).sub_(1.0)
    elif pixel_range != "unit":
        raise ConfigError(f"data.pixel_range={pixel_range!r} is unknown; use 'unit' ([0,1], VAE) or 'symmetric' ([-1,1], GANs)")
    return x


DEVICE_RESIDENT_CHOICES = ("auto", "true", "false")


def parse_device_resident(value: Any) -> str:
    """``data.device_resident`` as 'auto', 'true' or 'false' (YAML booleans accepted). Raises ConfigError."""
    text = str(value).strip().lower()
    if text not in DEVICE_RESIDENT_CHOICES:
        raise ConfigError(f"data.device_resident={value!r} is unknown; use auto (the data set on the GPU when training "
                          "on one), true (always on the training device) or false (on the host, batches copied per step)")
    return text


def resident_device(setting: str, device: torch.device, nbytes: int = 0) -> torch.device | None:
    """Where a stream's tensors live for ``data.device_resident=setting`` on a run training on ``device``.

    'true': on ``device``. On a GPU the whole set (Fashion-MNIST's 60k training images: 47 MB of uint8) is
    copied once, and batches are then cut and converted there, with no host-to-device copy and no host sync per
    step. 'auto': the same, unless the ``nbytes`` of the stream would take more than a quarter of the GPU's free
    memory (never for this data set; a guard for a small MIG slice shared with other jobs). 'false': None, the
    tensors stay on the host and Lightning copies each float batch to the device (4 bytes a pixel, not 1). On the
    CPU every setting leaves the same tensors in place; 'true' and 'false' still take their own code path, which
    is what the tests compare.
    """
    setting = parse_device_resident(setting)
    if setting == "false":
        return None
    if setting == "auto" and device.type == "cuda" and nbytes:
        free, _ = torch.cuda.mem_get_info(device)
        if nbytes > free // 4:
            return None
    return device


class TensorBatches:
    """Batches sliced out of in-memory tensors: no per-sample ``__getitem__``, no collate, no workers.

    Yields ``(images, labels)`` with images ``(B, 1, 28, 28)`` float and labels ``(B,)`` int64
    (``labels`` is None for the unlabelled stream, so a label can never leak into an unsupervised loss).
    The shuffle order of epoch ``e`` is a pure function of ``(seed, e)``; ``state_dict`` records the
    epoch and the batches already served, so Lightning can resume mid-epoch at the next batch.
    Under DDP each rank takes every ``world_size``-th index of the same permutation.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None,
        batch_size: int,
        pixel_range: str = "unit",
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
    ) -> None:
        self.images, self.labels = images, labels
        self.batch_size, self.pixel_range = batch_size, pixel_range
        self.shuffle, self.drop_last, self.seed = shuffle, drop_last, seed
        self.rank, self.world_size = 0, 1
        self.epoch, self._served = -1, 0  # the epoch being served and how many of its batches went out
        self._resume: tuple[int, int] | None = None

    def _n_local(self) -> int:
        # every rank gets the same count (padded like DistributedSampler): unequal batch counts hang DDP
        return -(-len(self.images) // self.world_size)

    def __len__(self) -> int:
        n = self._n_local()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        # Each iter() is a new epoch (also when Lightning stops early with limit_train_batches),
        # unless a checkpoint's state asks to finish an interrupted one first.
        epoch, start = self._resume if self._resume is not None else (self.epoch + 1, 0)
        if start >= len(self):
            epoch, start = epoch + 1, 0
        self._resume, self.epoch, self._served = None, epoch, start
        n = len(self.images)
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
            order = torch.randperm(n, generator=generator)
        else:
            order = torch.arange(n)
        if self.world_size > 1:  # wrap the first few indices around so the order splits evenly
            order = torch.cat([order, order[: self._n_local() * self.world_size - n]])
        order = order[self.rank :: self.world_size].to(self.images.device)
        for batch in range(start, len(self)):
            index = order[batch * self.batch_size : (batch + 1) * self.batch_size]
            self._served = batch + 1
            images = to_pixels(self.images[index], self.pixel_range)
            yield images, (None if self.labels is None else self.labels[index].long())

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "served": self._served}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._resume = (state["epoch"], state["served"])


class FashionMNISTDataModule(L.LightningDataModule):
    """The one data module every ssgen model uses.

    Args:
        root: directory searched first for the IDX files (and download target).
        n_labels: labelled training images, n_labels/10 per class; 0 = none; 'all' = 60000.
        seed: draws the label subset (and the holdout); same seed, same indices, any machine.
        pixel_range: 'unit' ([0,1], VAE) or 'symmetric' ([-1,1], GANs).
        train_stream: what ``train_dataloader`` serves: 'unlabelled' (all training images, no
            labels), 'labelled' (the labelled subset with labels).
        val_size: images held out of training (stratified) for validation; 0 = none. The 10k test
            set is never used for training or model selection.
        labelled_holdout: fraction of the ``n_labels`` labelled images held out of the labelled subset
            (stratified) as ``labelled_holdout`` split, to select hyperparameters by; 0 = none. The
            held-out images stay in the unlabelled stream, as every training image does, so an M2's
            accuracy on them is optimistic against the test set (docs/design/m2.md): compare settings with it.
        batch_size: batch size of the training stream.
        run_dir: where ``labelled_indices.json`` is written (None = not written).
        device_resident: 'auto' | 'true' | 'false': whether the training and validation streams keep their
            uint8 tensors on the training device and cut batches there (``resident_device``).
        allow_unknown: files that are not Fashion-MNIST's (``identify``): False refuses them (a DataError naming
            them; ssgen-train's default, ``data.allow_unknown``), True uses them with a warning, None (the default
            of a data module built in Python) warns as True does. ``identity`` records what was read.
    """

    def __init__(
        self,
        root: str | None = None,
        n_labels: int | str = 0,
        seed: int = 0,
        pixel_range: str = "unit",
        train_stream: str = "unlabelled",
        val_size: int = 0,
        labelled_holdout: float = 0.0,
        batch_size: int = 100,
        eval_batch_size: int = 1000,
        download: bool = True,
        run_dir: str | None = None,
        device_resident: str | bool = "auto",
        allow_unknown: bool | None = None,
    ) -> None:
        super().__init__()
        self.allow_unknown = allow_unknown
        self.identity: dict[str, Any] | None = None  # identify()'s record of the files read, after setup
        self.root, self.download, self.run_dir = root, download, run_dir
        self.device_resident = parse_device_resident(device_resident)
        self.n_labels = parse_n_labels(n_labels)
        self.seed, self.pixel_range, self.train_stream = seed, pixel_range, train_stream
        self.val_size = parse_n_labels(val_size, "data.val_size") if val_size else 0
        self.n_labelled_holdout = holdout_split(self.n_labels, labelled_holdout) if labelled_holdout else 0
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        if train_stream not in ("unlabelled", "labelled"):
            raise ConfigError(f"data.train_stream={train_stream!r} is unknown; use 'unlabelled' or 'labelled'")
        if train_stream == "labelled" and self.n_labels == 0:
            raise ConfigError("this method trains on labelled images but data.n_labels=0; set data.n_labels (e.g. 'all')")
        self.data: dict[str, torch.Tensor] | None = None
        self._loaders: dict[str, TensorBatches] = {}

    def prepare_data(self) -> None:
        locate_files(self.root, self.download)  # downloads once, on rank 0, before setup on every rank

    def setup(self, stage: str | None = None) -> None:
        if self.data is not None:
            return
        files = locate_files(self.root, self.download)
        self.data = load_files(files)
        self.identity = identify(files, self.allow_unknown)
        train_labels = self.data["train_labels"].numpy()
        self.val_indices = stratified_holdout(train_labels, self.val_size, self.seed)
        keep = np.ones(len(train_labels), dtype=bool)
        keep[self.val_indices] = False
        self.unlabelled_indices = np.flatnonzero(keep)
        if self.n_labels == N_TRAIN and self.val_size == 0:
            self.labelled_indices = np.arange(len(train_labels))
        else:
            self.labelled_indices = sample_label_subset(train_labels, min(self.n_labels, len(self.unlabelled_indices) // 10 * 10), self.seed, exclude=self.val_indices)
        self.labelled_holdout_indices = np.zeros(0, dtype=np.int64)
        if self.n_labelled_holdout:
            self.labelled_indices, self.labelled_holdout_indices = split_labelled(
                train_labels, self.labelled_indices, self.n_labelled_holdout, self.seed)
        if self.run_dir is not None and getattr(self.trainer, "is_global_zero", True):
            self.write_indices(Path(self.run_dir) / "labelled_indices.json")

    def write_indices(self, path: Path) -> None:
        payload = {"seed": self.seed, "n_labels": self.n_labels, "labelled_indices": self.labelled_indices.tolist(),
                   "val_indices": self.val_indices.tolist(),
                   "labelled_holdout_indices": self.labelled_holdout_indices.tolist()}
        atomic_write_text(path, json.dumps(payload))

    # --- tensors for heads and metrics (uint8 kept until needed)
    def images(self, split: str) -> torch.Tensor:
        """uint8 (N, 28, 28) images of 'train', 'test', 'labelled', 'unlabelled', 'val' or 'labelled_holdout'."""
        assert self.data is not None, "call setup() first"
        if split in ("train", "test"):
            return self.data[f"{split}_images"]
        return self.data["train_images"][torch.from_numpy(getattr(self, f"{split}_indices"))]

    def labels(self, split: str) -> torch.Tensor:
        assert self.data is not None, "call setup() first"
        if split in ("train", "test"):
            return self.data[f"{split}_labels"].long()
        return self.data["train_labels"][torch.from_numpy(getattr(self, f"{split}_indices"))].long()

    def _loader(self, name: str, split: str, with_labels: bool, shuffle: bool, batch_size: int) -> TensorBatches:
        if name not in self._loaders:
            loader = TensorBatches(self.images(split), self.labels(split) if with_labels else None, batch_size,
                                   self.pixel_range, shuffle=shuffle, seed=self.seed)
            if self.trainer is not None:
                loader.rank, loader.world_size = self.trainer.global_rank, self.trainer.world_size
                nbytes = loader.images.nbytes + (0 if loader.labels is None else loader.labels.nbytes)
                device = resident_device(self.device_resident, self.trainer.strategy.root_device, nbytes)
                if device is not None:  # once per fit: every batch is then cut where the model is
                    loader.images = loader.images.to(device)
                    if loader.labels is not None:
                        loader.labels = loader.labels.to(device)
            self._loaders[name] = loader
        return self._loaders[name]

    def train_dataloader(self) -> TensorBatches:
        if self.train_stream == "labelled":
            return self._loader("train", "labelled", True, True, self.batch_size)
        return self._loader("train", "unlabelled", False, True, self.batch_size)

    def val_dataloader(self) -> TensorBatches | list:
        if self.val_size == 0:
            return []
        return self._loader("val", "val", self.train_stream == "labelled", False, self.eval_batch_size)

    def labelled_dataloader(self) -> TensorBatches:
        return TensorBatches(self.images("labelled"), self.labels("labelled"), self.eval_batch_size, self.pixel_range, shuffle=False)

    def test_dataloader(self) -> TensorBatches:
        return TensorBatches(self.images("test"), self.labels("test"), self.eval_batch_size, self.pixel_range, shuffle=False)
