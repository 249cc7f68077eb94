"""A generator scored as a whole against the 10k test images, with the real-data floor beside each score.

    from ssgen.evaluation.scoring import generator_report, make_sampler
    sampler, conditional = make_sampler(gan_or_m1_module, seed=0)    # labels (B,) -> (B, 1, 28, 28) in [0, 1]
    report = generator_report(sampler, n=10000, conditional=conditional)

What it reads and runs around the math of ``ssgen.evaluation.metrics`` (definitions there): the generator's sampler
(``make_sampler``), the data set (``default_dataset``: ``$SSGEN_DATA``, else the Debian package or a download,
when no caller hands one over), the evaluator (``ssgen.evaluation.evaluator.load_evaluator`` when none is given), one
evaluator pass per image set. Used by the ``GenerativeMetrics`` callback (the final report) and ``ssgen-evaluate``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import torch
from torch import nn

from ssgen.data import DATA_ENV, FASHION_MNIST, DatasetInfo, dataset_info, load_dataset, to_pixels
from ssgen.errors import ConfigError, DataError
from ssgen.evaluation.evaluator import Evaluator, load_evaluator
from ssgen.evaluation.metrics import (
    Reference,
    balanced_indices,
    balanced_labels,
    check_unit_images,
    class_consistency,
    diversity_scores,
    evaluate_images,
)
from ssgen.nets import eval_mode

SampleFn = Callable[[torch.Tensor], torch.Tensor]  # labels (B,) int64 -> images (B, 1, 28, 28) in [0, 1]


def default_dataset(info: DatasetInfo = FASHION_MNIST) -> dict[str, torch.Tensor]:
    """The data set when no caller handed one over: ``$SSGEN_DATA``, else the Debian package or a download."""
    return _load_dataset(os.environ.get(DATA_ENV) or None, info.name)


@lru_cache(maxsize=1)
def _load_dataset(root: str | None, name: str) -> dict[str, torch.Tensor]:  # keyed by root: a changed SSGEN_DATA reloads
    return load_dataset(root, info=dataset_info(name))


def sample_images(sample_fn: SampleFn, labels: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Call ``sample_fn`` on chunks of ``labels`` and collect ``(N, 1, 28, 28)`` [0, 1] images on CPU."""
    chunks = []
    with torch.no_grad():
        for start in range(0, len(labels), batch_size):
            chunk = labels[start : start + batch_size]
            images = sample_fn(chunk).detach().float().cpu()
            if len(images) != len(chunk):
                raise DataError(f"the sampler returned {len(images)} images for {len(chunk)} labels")
            chunks.append(check_unit_images(images, "generated images"))
    return torch.cat(chunks)


def evaluator_fields(evaluator: Evaluator) -> dict[str, Any]:
    """The evaluator's identity, written next to every metric it produces: its recipe (config hash), the digest of
    its weights (what defines the feature space: ``weights_digest``) and its test accuracy."""
    return {"evaluator_config_hash": evaluator.identity["config_hash"],
            "evaluator_weights_digest": evaluator.identity.get("weights_digest"),
            "evaluator_test_accuracy": evaluator.identity["test_accuracy"]}


def generator_report(sample_fn: SampleFn, evaluator: Evaluator | None = None, n: int = 10000,
                     conditional: bool = True, seed: int = 0, floor: bool = True,
                     data: dict[str, torch.Tensor] | None = None, batch_size: int = 500) -> dict[str, Any]:
    """The full scores of a generator against the 10k test images, with the real-data floor beside each.

    Args:
        sample_fn: labels ``(B,)`` int64 -> images ``(B, 1, 28, 28)`` in [0, 1]. Called with class-balanced
            labels; an unconditional generator ignores them (``conditional=False``).
        n: generated images (and real training images for the floor).
        conditional: also class-consistency and per-class FID.
        seed: the floor's training-image draw and KID's subset draw (the sampler seeds its own noise).
        floor: also score ``n`` real training images (class-balanced) against the test set.

    Returns ``fid, kid, kid_std, precision, recall`` (+ ``class_consistency, per_class_fid, class_spread,
    min_class_spread`` if conditional), the same with ``_floor``, ``n``, ``reference`` ('test'),
    ``n_reference``, the evaluator's identity and ``seconds``.
    """
    start = time.time()
    if n < 20:
        raise ConfigError(f"n={n} is too small for FID/KID; use at least 20 (10000 for reported numbers)")
    if floor and n > 60000:
        raise ConfigError(f"n={n} exceeds the 60000 training images the floor draws from; use n <= 60000 or floor=false")
    evaluator = evaluator if evaluator is not None else load_evaluator()
    info = evaluator.data_info  # the data set the evaluator classifies: the report's classes and default data
    data = data if data is not None else default_dataset(info)
    test_images, test_labels = to_pixels(data["test_images"], "unit"), data["test_labels"].long()
    # one evaluator pass per image set (test, generated, floor); every metric reads its features / predictions
    test_features, _ = evaluate_images(test_images, evaluator)
    reference = Reference(None, evaluator, labels=test_labels, per_class=conditional, seed=seed,
                          features=test_features)
    labels = balanced_labels(n, info)

    def scores(images: torch.Tensor, image_labels: torch.Tensor) -> dict[str, Any]:
        features, predictions = evaluate_images(images, evaluator)
        result: dict[str, Any] = reference.fid_kid(features=features)
        if conditional:
            result["class_consistency"] = class_consistency(None, image_labels, predictions=predictions)
            result["per_class_fid"] = reference.per_class_fid(None, image_labels, features=features)
        result.update(diversity_scores(test_features, test_labels, features, image_labels if conditional else None,
                                       info=info))
        return result

    report: dict[str, Any] = {"n": n, "reference": "test", "n_reference": len(test_images), "conditional": conditional,
                              **scores(sample_images(sample_fn, labels, batch_size), labels)}
    if floor:
        train_labels = data["train_labels"].long()
        index = balanced_indices(train_labels, n, seed, info)
        real = to_pixels(data["train_images"][index], "unit")
        report.update({f"{key}_floor": value for key, value in scores(real, train_labels[index]).items()})
    report.update(evaluator_fields(evaluator))
    report["seconds"] = round(time.time() - start, 1)
    return report


# ================================================================================================ generators
def is_conditional(module: nn.Module) -> bool:
    return callable(getattr(module, "generate", None))


def is_generator(module: nn.Module) -> bool:
    return is_conditional(module) or callable(getattr(module, "generate_prior", None))


def make_sampler(module: nn.Module, seed: int = 0) -> tuple[SampleFn, bool]:
    """``(sample_fn, conditional)`` for a generator module; noise from a private generator seeded with ``seed``.

    Conditional (``generate(labels, noise)`` in [-1, 1]): noise ``(B, latent_dim)`` from the CPU
    generator, output mapped to [0, 1]. Unconditional (``generate_prior(n, generator)`` in [0, 1]): labels ignored.
    Calling the sampler again after ``reset()`` replays the same noise.
    """
    if not is_generator(module):
        raise ConfigError(f"{type(module).__name__} has neither generate(labels, noise) nor generate_prior(n); "
                          "it is not a generator")
    generator = torch.Generator()

    def reset() -> None:
        generator.manual_seed(seed)

    reset()
    if is_conditional(module):
        latent_dim = int(module.latent_dim)

        def sample(labels: torch.Tensor) -> torch.Tensor:
            noise = torch.randn(len(labels), latent_dim, generator=generator)
            with eval_mode(module), torch.no_grad():
                images = module.generate(labels.long(), noise)
            return ((images.float() + 1) / 2).clamp(0, 1)  # tanh output: [-1, 1] -> [0, 1]
    else:
        def sample(labels: torch.Tensor) -> torch.Tensor:
            with eval_mode(module), torch.no_grad():
                return module.generate_prior(len(labels), generator=generator).float().clamp(0, 1)

    sample.reset = reset  # type: ignore[attr-defined]
    return sample, is_conditional(module)
