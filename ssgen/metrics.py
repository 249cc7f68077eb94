"""Generator quality in the evaluator's feature space: FID, KID, class-consistency, per-class FID, the floor.

    python -m ssgen.metrics report outputs/gan/multirun/<date> --out docs/gan_metrics.md   # sweep table
    ssgen-evaluate ckpt=outputs/gan/<run> n=10000                                          # one checkpoint

    from ssgen.metrics import generator_report, make_sampler
    sampler, conditional = make_sampler(gan_or_m1_module, seed=0)    # labels (B,) -> (B, 1, 28, 28) in [0, 1]
    report = generator_report(sampler, n=10000, conditional=conditional)

Definitions (all images ``(N, 1, 28, 28)`` floats in [0, 1]; a GAN's [-1, 1] output is mapped first):
  * FID / KID: torchmetrics' ``FrechetInceptionDistance`` / ``KernelInceptionDistance`` with ``feature=``
    the evaluator's 128-d penultimate layer (``ssgen.evaluator``) instead of Inception. KID is the mean
    over subsets (``kid``) with its std over subsets (``kid_std``).
  * class-consistency: the evaluator's accuracy on conditional samples against the labels they were
    generated for (real images score about the evaluator's accuracy: its floor, not 1.0).
  * per-class FID: FID between the samples of one class and the test images of that class.
  * the floor: the same metrics for ``n`` real *training* images against the test set: what a generator
    that reproduced the data distribution exactly would score with this evaluator and sample size
    (FID is biased upwards at finite n, so a score is only meaningful beside its floor).

Honesty: the cheap metrics logged *during* training (``GenerativeMetrics``: ``metrics/fid`` drives
best-checkpoint selection and the failed-convergence detector) use training images as reference,
never the test set; only the final report, computed once after training, is against the test set.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import time
import warnings
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn

from ssgen.data import CLASS_NAMES, DATA_ENV, N_CLASSES, load_fashion_mnist, to_pixels
from ssgen.errors import ConfigError, DataError, exit_with_error, print_output
from ssgen.evaluator import Evaluator, load_evaluator, load_evaluator_file

log = logging.getLogger("ssgen")

SampleFn = Callable[[torch.Tensor], torch.Tensor]  # labels (B,) int64 -> images (B, 1, 28, 28) in [0, 1]
RANGE_TOLERANCE = 1e-3  # float error of a sigmoid/tanh mapped to [0, 1]
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000


# ================================================================================================ feature module
class EvaluatorFeatures(nn.Module):
    """torchmetrics ``feature=`` module: images ``(N, 1, 28, 28)`` in [0, 1] -> evaluator features ``(N, 128)``.

    With a custom feature module torchmetrics hands the images over unchanged (its ``normalize`` flag
    only rescales for the built-in Inception), so the range is ours: [0, 1]. The wrapped evaluator is
    frozen and pinned to eval mode: ``train()`` is a no-op here, because both torchmetrics and
    Lightning flip modules back to training mode, which would make BatchNorm use batch statistics and
    Dropout drop features.
    """

    def __init__(self, evaluator: Evaluator) -> None:
        super().__init__()
        self.evaluator = evaluator.eval()
        for parameter in self.evaluator.parameters():
            parameter.requires_grad_(False)
        self.num_features = evaluator.num_features

    def train(self, mode: bool = True) -> EvaluatorFeatures:  # any mode asked for: eval
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.evaluator.features(images.float())


def _metric_objects(evaluator: Evaluator, kid: bool = True) -> tuple[nn.Module, nn.Module | None]:
    """A FID and (optionally) a KID metric sharing one frozen feature module; real statistics survive reset()."""
    from torchmetrics.image.fid import FrechetInceptionDistance  # submodule imports: no torch-fidelity needed
    from torchmetrics.image.kid import KernelInceptionDistance

    features = EvaluatorFeatures(evaluator)
    # Every process computes the same numbers from the same samples; summing states across DDP ranks
    # would count identical samples twice, so no cross-process sync.
    common = {"reset_real_features": False, "sync_on_compute": False}
    fid = FrechetInceptionDistance(feature=features, **common)
    kid_metric = None
    if kid:
        with warnings.catch_warnings():  # 'KID keeps all features in memory': 10k x 128 doubles, 10 MB, known
            warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
            kid_metric = KernelInceptionDistance(feature=features, subsets=KID_SUBSETS, subset_size=KID_SUBSET_SIZE,
                                                 **common)
    device = next(evaluator.parameters()).device
    fid.to(device)
    if kid_metric is not None:
        kid_metric.to(device)
    return fid, kid_metric


def check_images(images: torch.Tensor, what: str) -> torch.Tensor:
    """Images must be float ``(N, 1, 28, 28)`` in [0, 1]: a [-1, 1] GAN output passed unmapped fails here."""
    if images.dtype == torch.uint8 and images.dim() == 3:
        return to_pixels(images, "unit")
    if images.dim() != 4 or tuple(images.shape[1:]) != (1, 28, 28) or not images.is_floating_point():
        raise DataError(f"{what}: expected float images (N, 1, 28, 28) in [0, 1], got {tuple(images.shape)} {images.dtype}")
    if len(images) and not torch.isfinite(images).all():
        raise DataError(f"{what}: images contain NaN or inf (a diverged generator?)")
    if len(images) and (images.min() < -RANGE_TOLERANCE or images.max() > 1 + RANGE_TOLERANCE):
        raise DataError(f"{what}: pixel values span [{float(images.min()):.3f}, {float(images.max()):.3f}], expected "
                        "[0, 1]; map a GAN's [-1, 1] output with (x + 1) / 2")
    return images.clamp(0, 1)


def _feed(metric: nn.Module, images: torch.Tensor, real: bool, batch_size: int) -> None:
    device = next(metric.inception.parameters()).device
    for start in range(0, len(images), batch_size):
        metric.update(images[start : start + batch_size].to(device), real=real)


def _kid_compute(kid: nn.Module, seed: int) -> tuple[float, float]:
    """KID mean and std over subsets; the subset draw uses a private seed (torchmetrics draws them with
    the global RNG, which would otherwise shift a training run's random stream and make KID irreproducible)."""
    n_real = sum(len(chunk) for chunk in kid.real_features)
    n_fake = sum(len(chunk) for chunk in kid.fake_features)
    # torchmetrics needs subset_size <= n; smaller than n so that subsets actually differ
    kid.subset_size = max(2, min(KID_SUBSET_SIZE, min(n_real, n_fake) // 2))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = kid.compute()
    return float(mean), float(std)


# ================================================================================================ reference sets
class Reference:
    """Feature statistics of one real image set, extracted once, scored against any number of image sets.

    Args:
        images: ``(N, 1, 28, 28)`` in [0, 1] (or uint8 ``(N, 28, 28)``).
        labels: ``(N,)``, needed for per-class FID.
        per_class: also keep one FID per class.
        seed: the KID subset draw.
    """

    def __init__(self, images: torch.Tensor, evaluator: Evaluator, labels: torch.Tensor | None = None,
                 per_class: bool = False, kid: bool = True, batch_size: int = 1000, seed: int = 0) -> None:
        images = check_images(images, "reference images")
        self.evaluator, self.batch_size, self.seed, self.n = evaluator, batch_size, seed, len(images)
        self.fid, self.kid = _metric_objects(evaluator, kid=kid)
        _feed(self.fid, images, True, batch_size)
        if self.kid is not None:
            _feed(self.kid, images, True, batch_size)
        self.class_fid: dict[int, nn.Module] = {}
        if per_class:
            if labels is None:
                raise ValueError("per-class FID needs the reference labels")
            for label in range(N_CLASSES):
                self.class_fid[label] = _metric_objects(evaluator, kid=False)[0]
                _feed(self.class_fid[label], images[labels.cpu() == label], True, batch_size)

    def fid_kid(self, images: torch.Tensor) -> dict[str, float]:
        """``{'fid', 'kid', 'kid_std'}`` of ``images`` against this reference."""
        images = check_images(images, "generated images")
        if len(images) < 4:
            raise ConfigError(f"FID/KID need at least 4 images, got {len(images)}")
        self.fid.reset()
        _feed(self.fid, images, False, self.batch_size)
        result = {"fid": float(self.fid.compute())}
        if self.kid is not None:
            self.kid.reset()
            _feed(self.kid, images, False, self.batch_size)
            result["kid"], result["kid_std"] = _kid_compute(self.kid, self.seed)
        return result

    def per_class_fid(self, images: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        """``{class_name: FID}`` between the images of each class and the reference images of that class."""
        if not self.class_fid:
            raise ValueError("build the Reference with per_class=True and labels")
        images = check_images(images, "generated images")
        result = {}
        for label, metric in self.class_fid.items():
            chosen = images[labels.cpu() == label]
            if len(chosen) < 2:
                result[CLASS_NAMES[label]] = math.nan  # FID needs two samples for a covariance
                continue
            metric.reset()
            _feed(metric, chosen, False, self.batch_size)
            result[CLASS_NAMES[label]] = float(metric.compute())
        return result


# ================================================================================================ functions
def fid_kid(real_images: torch.Tensor, fake_images: torch.Tensor, evaluator: Evaluator | None = None,
            batch_size: int = 1000, seed: int = 0) -> dict[str, float]:
    """FID and KID (mean, std over subsets) of ``fake_images`` against ``real_images``, both ``(N, 1, 28, 28)`` in [0, 1].

    Returns ``{'fid', 'kid', 'kid_std'}``. KID's subset size is min(1000, n // 2) for the smaller set.
    """
    evaluator = evaluator if evaluator is not None else load_evaluator()
    return Reference(real_images, evaluator, batch_size=batch_size, seed=seed).fid_kid(fake_images)


def class_consistency(images: torch.Tensor, labels: torch.Tensor, evaluator: Evaluator | None = None) -> float:
    """Fraction of ``images`` ``(N, 1, 28, 28)`` in [0, 1] that the evaluator classifies as their ``labels`` ``(N,)``.

    On the real test set this is exactly the evaluator's recorded test accuracy (same code path).
    """
    evaluator = evaluator if evaluator is not None else load_evaluator()
    images = check_images(images, "images")
    if len(images) != len(labels):
        raise DataError(f"{len(images)} images but {len(labels)} labels")
    return float((evaluator.predict(images) == labels.cpu().long()).float().mean())


def per_class_fid(real_images: torch.Tensor, real_labels: torch.Tensor, fake_images: torch.Tensor,
                  fake_labels: torch.Tensor, evaluator: Evaluator | None = None,
                  batch_size: int = 1000) -> dict[str, float]:
    """``{class_name: FID}``: generated images of each class against the real images of that class."""
    evaluator = evaluator if evaluator is not None else load_evaluator()
    reference = Reference(real_images, evaluator, labels=real_labels, per_class=True, kid=False, batch_size=batch_size)
    return reference.per_class_fid(fake_images, fake_labels)


def balanced_labels(n: int) -> torch.Tensor:
    """``(n,)`` labels 0, 1, ..., 9, 0, 1, ...: classes as balanced as n allows."""
    return torch.arange(n) % N_CLASSES


def balanced_indices(labels: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """``n`` indices into ``labels`` with the class counts of ``balanced_labels(n)``, drawn with ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    wanted = torch.bincount(balanced_labels(n), minlength=N_CLASSES)
    chosen = []
    for label in range(N_CLASSES):
        candidates = torch.nonzero(labels == label).flatten()
        if len(candidates) < wanted[label]:
            raise DataError(f"{int(wanted[label])} images of class {CLASS_NAMES[label]} wanted, {len(candidates)} available")
        chosen.append(candidates[torch.randperm(len(candidates), generator=generator)[: int(wanted[label])]])
    return torch.cat(chosen)


def _dataset() -> dict[str, torch.Tensor]:
    """The data set when no caller handed one over: ``$SSGEN_DATA``, else the Debian package or a download."""
    return _load_dataset(os.environ.get(DATA_ENV) or None)


@lru_cache(maxsize=1)
def _load_dataset(root: str | None) -> dict[str, torch.Tensor]:  # keyed by root: a changed SSGEN_DATA reloads
    return load_fashion_mnist(root)


def sample_images(sample_fn: SampleFn, labels: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Call ``sample_fn`` on chunks of ``labels`` and collect ``(N, 1, 28, 28)`` [0, 1] images on CPU."""
    chunks = []
    with torch.no_grad():
        for start in range(0, len(labels), batch_size):
            chunk = labels[start : start + batch_size]
            images = sample_fn(chunk).detach().float().cpu()
            if len(images) != len(chunk):
                raise DataError(f"the sampler returned {len(images)} images for {len(chunk)} labels")
            chunks.append(check_images(images, "generated images"))
    return torch.cat(chunks)


def evaluator_fields(evaluator: Evaluator) -> dict[str, Any]:
    """The evaluator's identity, written next to every metric it produces."""
    return {"evaluator_config_hash": evaluator.identity["config_hash"],
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

    Returns ``fid, kid, kid_std`` (+ ``class_consistency, per_class_fid`` if conditional), the same with
    ``_floor``, ``n``, ``reference`` ('test'), ``n_reference``, the evaluator's identity and ``seconds``.
    """
    start = time.time()
    if n < 20:
        raise ConfigError(f"n={n} is too small for FID/KID; use at least 20 (10000 for reported numbers)")
    if floor and n > 60000:
        raise ConfigError(f"n={n} exceeds the 60000 training images the floor draws from; use n <= 60000 or floor=false")
    evaluator = evaluator if evaluator is not None else load_evaluator()
    data = data if data is not None else _dataset()
    test_images, test_labels = to_pixels(data["test_images"], "unit"), data["test_labels"].long()
    reference = Reference(test_images, evaluator, labels=test_labels, per_class=conditional, seed=seed)
    labels = balanced_labels(n)
    images = sample_images(sample_fn, labels, batch_size)
    report: dict[str, Any] = {"n": n, "reference": "test", "n_reference": len(test_images),
                              "conditional": conditional, **reference.fid_kid(images)}
    if conditional:
        report["class_consistency"] = class_consistency(images, labels, evaluator)
        report["per_class_fid"] = reference.per_class_fid(images, labels)
    if floor:
        train_labels = data["train_labels"].long()
        index = balanced_indices(train_labels, n, seed)
        real = to_pixels(data["train_images"][index], "unit")
        for key, value in reference.fid_kid(real).items():
            report[f"{key}_floor"] = value
        if conditional:
            report["class_consistency_floor"] = class_consistency(real, train_labels[index], evaluator)
            report["per_class_fid_floor"] = reference.per_class_fid(real, train_labels[index])
    report.update(evaluator_fields(evaluator))
    report["seconds"] = round(time.time() - start, 1)
    return report


# ================================================================================================ generators
def is_conditional(module: nn.Module) -> bool:
    return callable(getattr(module, "generate", None))


def is_generator(module: nn.Module) -> bool:
    return is_conditional(module) or callable(getattr(module, "generate_prior", None))


class _EvalMode:
    """Every submodule in eval mode inside the block, each restored to its own mode after (the GAN's
    generator and critic may not share one mode), without touching the global RNG."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module

    def __enter__(self) -> None:
        self.modes = [(sub, sub.training) for sub in self.module.modules()]
        self.module.eval()

    def __exit__(self, *exc: object) -> None:
        for sub, mode in self.modes:
            sub.training = mode


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
            with _EvalMode(module), torch.no_grad():
                images = module.generate(labels.long(), noise)
            return ((images.float() + 1) / 2).clamp(0, 1)  # tanh output: [-1, 1] -> [0, 1]
    else:
        def sample(labels: torch.Tensor) -> torch.Tensor:
            with _EvalMode(module), torch.no_grad():
                return module.generate_prior(len(labels), generator=generator).float().clamp(0, 1)

    sample.reset = reset  # type: ignore[attr-defined]
    return sample, is_conditional(module)


# ================================================================================================ callback
class GenerativeMetrics(L.Callback):
    """FID / KID / class-consistency during training (vs training images) and at the end (vs the test set).

    Every ``every_n_epochs`` epochs (and at the last one): ``n_samples`` samples (class-balanced labels,
    the same noise each time) scored against ``n_samples`` class-balanced *training* images (the
    datamodule's validation holdout when it has one), logged as ``metrics/fid``, ``metrics/kid``,
    ``metrics/class_consistency`` (conditional generators only). ModelCheckpoint(monitor="metrics/fid")
    and the failed-convergence detector read them: model selection never sees the test set.

    After training, ``final_n_samples`` samples of the best checkpoint by ``metrics/fid`` (the final
    weights when there is none) are scored against the 10k test images with the floor beside them
    (``generator_report``); ``results()`` hands that to results.json. An unconditional generator
    (``generate_prior``, e.g. the M1 VAE) gets FID/KID only.

    Args:
        every_n_epochs: in-training metrics every this many epochs (0 = only at the last epoch).
        n_samples: samples (and reference images) for the in-training metrics.
        final_n_samples: samples for the final report (0 = no final report).
        enabled: False turns the callback off (e.g. for quick debug runs).
        cache_dir: evaluator cache (default ``$SSGEN_CACHE`` or ``~/.cache/ssgen``).
        evaluator: a ``.safetensors`` file of another evaluator, or an Evaluator (tests); default: the cached one.
        score: 'best' (the checkpoint ModelCheckpoint(monitor='metrics/fid') kept) or 'last' (the final weights).
        seed: the noise of the samples and the reference draw.
    """

    def __init__(self, every_n_epochs: int = 1, n_samples: int = 2000, final_n_samples: int = 10000, enabled: bool = True,
                 cache_dir: str | None = None, evaluator: Evaluator | str | None = None, score: str = "best",
                 seed: int = 0) -> None:
        if score not in ("best", "last"):
            raise ConfigError(f"GenerativeMetrics score={score!r} is unknown; use best or last")
        if enabled and n_samples < 20:
            raise ConfigError(f"GenerativeMetrics n_samples={n_samples} is too small for FID/KID; use at least 20")
        self.every_n_epochs, self.n_samples, self.final_n_samples = every_n_epochs, n_samples, final_n_samples
        self.enabled, self.cache_dir, self.score, self.seed = enabled, cache_dir, score, seed
        self._evaluator_spec = evaluator
        self.evaluator: Evaluator | None = None
        self.reference: Reference | None = None
        self.history: list[dict[str, float]] = []
        self._final: dict[str, Any] = {}

    # ------------------------------------------------------------------ setup
    def _load_evaluator(self) -> Evaluator:
        if isinstance(self._evaluator_spec, Evaluator):
            return self._evaluator_spec
        if isinstance(self._evaluator_spec, str | Path):
            return load_evaluator_file(self._evaluator_spec)
        return load_evaluator(self.cache_dir)

    def _reference_images(self, trainer: L.Trainer) -> tuple[torch.Tensor, str]:
        """Training images for the in-training reference: the datamodule's validation holdout when it is
        large enough (images the generator never trained on), else a class-balanced draw from the
        training set. Never the test set."""
        datamodule = getattr(trainer, "datamodule", None)
        val_indices = getattr(datamodule, "val_indices", None)
        if val_indices is not None and len(val_indices) >= self.n_samples:
            images, labels = datamodule.images("val"), datamodule.labels("val")
            source = "validation holdout"
        else:
            data = getattr(datamodule, "data", None) or _dataset()
            images, labels = data["train_images"], data["train_labels"].long()
            source = "training set"
        index = balanced_indices(labels.cpu(), self.n_samples, self.seed)
        return to_pixels(images[index.to(images.device)].cpu(), "unit"), source

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if not self.enabled or stage != "fit":
            return
        if not is_generator(pl_module):
            raise ConfigError(f"GenerativeMetrics is attached to {type(pl_module).__name__}, which has neither "
                              "generate(labels, noise) nor generate_prior(n); remove the callback from its method config")
        self.conditional = is_conditional(pl_module)
        self.evaluator = self._load_evaluator().to(pl_module.device)
        images, self.reference_source = self._reference_images(trainer)
        self.reference = Reference(images, self.evaluator, seed=self.seed)
        self.sampler, _ = make_sampler(pl_module, seed=self.seed)
        self.labels = balanced_labels(self.n_samples)
        log.info("GenerativeMetrics: evaluator %s (test accuracy %s), reference %d images from the %s",
                 self.evaluator.identity["config_hash"], self.evaluator.identity["test_accuracy"], len(images),
                 self.reference_source)

    # ------------------------------------------------------------------ per epoch
    def _due(self, trainer: L.Trainer) -> bool:
        epoch = trainer.current_epoch
        last = bool(trainer.max_epochs) and trainer.max_epochs > 0 and epoch + 1 >= trainer.max_epochs  # -1: step budget
        return last or (self.every_n_epochs > 0 and (epoch + 1) % self.every_n_epochs == 0)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.enabled or self.reference is None or trainer.sanity_checking or not self._due(trainer):
            return
        start = time.time()
        self.sampler.reset()  # the same noise every epoch: epoch-to-epoch changes are the generator's
        images = sample_images(self.sampler, self.labels)
        scores = self.reference.fid_kid(images)
        values = {"metrics/fid": scores["fid"], "metrics/kid": scores["kid"]}
        if self.conditional:
            values["metrics/class_consistency"] = class_consistency(images, self.labels, self.evaluator)
        for key, value in values.items():
            pl_module.log(key, value, on_step=False, on_epoch=True, prog_bar=key == "metrics/fid")
        self.history.append({"epoch": trainer.current_epoch, **{k.split("/")[1]: round(v, 5) for k, v in values.items()},
                             "seconds": round(time.time() - start, 2)})

    # ------------------------------------------------------------------ at the end
    def _best_checkpoint(self, trainer: L.Trainer) -> str | None:
        for callback in trainer.checkpoint_callbacks:
            if getattr(callback, "monitor", None) == "metrics/fid" and getattr(callback, "best_model_path", ""):
                if Path(callback.best_model_path).is_file():
                    return callback.best_model_path
        return None

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # self.log is not allowed here: the report is stored and handed to results.json by results().
        if not self.enabled or self.final_n_samples <= 0 or self.evaluator is None or not trainer.is_global_zero:
            return
        best = self._best_checkpoint(trainer) if self.score == "best" else None
        saved = None
        if best is not None:
            try:
                state = torch.load(best, map_location=pl_module.device, weights_only=True)["state_dict"]
            except Exception as exc:  # an unreadable best file must not cost the run its final numbers
                log.warning("GenerativeMetrics: cannot read %s (%s); scoring the final weights", best, exc)
                best, state = None, None
            if state is not None:
                # score the selected weights without leaving them in the module (later callbacks see the final ones)
                saved = {key: value.detach().clone() for key, value in pl_module.state_dict().items()}
                pl_module.load_state_dict(state)
        try:
            sampler, conditional = make_sampler(pl_module, seed=self.seed)
            # the datamodule's tensors: no second read, and the files of its data.root
            report = generator_report(sampler, self.evaluator, n=self.final_n_samples, conditional=conditional,
                                      seed=self.seed, data=getattr(trainer.datamodule, "data", None))
        finally:
            if saved is not None:
                pl_module.load_state_dict(saved)
        report["scored_checkpoint"] = Path(best).name if best else "final weights"
        self._final = report
        log.info("GenerativeMetrics (%s, vs test): FID %.3f (floor %.3f), KID %.5f, class-consistency %.4f",
                 report["scored_checkpoint"], report["fid"], report.get("fid_floor", math.nan), report["kid"],
                 report.get("class_consistency", math.nan))

    def results(self) -> dict[str, Any]:
        if not self.enabled:
            return {}
        out: dict[str, Any] = {}
        if self.evaluator is not None:
            out.update(evaluator_fields(self.evaluator))
        if self.history:
            out["metrics_history"] = self.history  # in-training values (vs training images)
            out["metrics_reference_during_training"] = self.reference_source
        if self._final:
            final = dict(self._final)
            # bookkeeping keys get a prefix in results.json, where 'n' or 'seconds' alone would be ambiguous
            for key in ("n", "reference", "n_reference", "seconds", "conditional"):
                out[f"metrics_{key}"] = final.pop(key)
            out.update(final)
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict.get("history", []))


# ================================================================================================ report
def _mean_std(values: list[float], digits: int) -> str:
    values = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"


def find_run_results(sweep_dir: str | Path) -> list[tuple[Path, dict[str, Any]]]:
    import json

    found = []
    for path in sorted(Path(sweep_dir).rglob("results.json")):
        try:
            found.append((path.parent, json.loads(path.read_text())))
        except (OSError, ValueError) as exc:
            log.warning("skipping unreadable %s: %s", path, exc)
    return found


def gan_metrics_table(runs: list[tuple[Path, dict[str, Any]]]) -> str:
    """Markdown: one row per (method, arch), mean ± std over its runs, and the real-data floor row."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for _, result in runs:
        groups.setdefault((str(result.get("method", "?")), str(result.get("arch", "?"))), []).append(result)
    lines = ["| method | arch | runs (ok) | FID ↓ | KID ↓ | class-consistency ↑ | failed convergences | epochs | "
             "training time (min) |", "|---|---|---|---|---|---|---|---|---|"]
    for (method, arch), results in sorted(groups.items()):
        ok = [r for r in results if r.get("status") == "ok"]

        def column(key: str, rows: list[dict[str, Any]] = ok) -> list[Any]:
            return [r.get(key) for r in rows]

        minutes = [r["wall_time_s"] / 60 for r in results if isinstance(r.get("wall_time_s"), int | float)]
        lines.append(f"| {method} | {arch} | {len(results)} ({len(ok)}) | {_mean_std(column('fid'), 2)} | "
                     f"{_mean_std(column('kid'), 4)} | {_mean_std(column('class_consistency'), 3)} | "
                     f"{sum(int(r.get('failed_runs', 0) or 0) for r in results)} | {_mean_std(column('epochs'), 0)} | "
                     f"{_mean_std(minutes, 1)} |")
    floors = {(r.get("evaluator_config_hash"), r.get("metrics_n")): r for _, r in runs if "fid_floor" in r}
    for (config_hash, n), r in sorted(floors.items(), key=lambda item: str(item[0])):
        lines.append(f"| *floor: {n} real train vs test* | evaluator {config_hash} | — | {r['fid_floor']:.2f} | "
                     f"{r.get('kid_floor', math.nan):.4f} | {r.get('class_consistency_floor', math.nan):.3f} | — | — | — |")
    return "\n".join(lines)


def write_gan_report(sweep_dir: str | Path, out: str | Path | None = None, command: str | None = None) -> str:
    """The GAN metrics table of every results.json under ``sweep_dir``, as markdown; written to ``out`` if given."""
    from ssgen.io import atomic_write_text

    runs = [(path, r) for path, r in find_run_results(sweep_dir) if "fid" in r or str(r.get("method", "")) != "m1"]
    if not runs:
        raise DataError(f"no results.json of generator runs under {sweep_dir}; give a sweep dir of ssgen-train runs")
    command = command or f"python -m ssgen.metrics report {sweep_dir}" + (f" --out {out}" if out else "")
    hashes = sorted({str(r.get("evaluator_config_hash")) for _, r in runs if r.get("evaluator_config_hash")})
    accuracies = sorted({r.get("evaluator_test_accuracy") for _, r in runs if r.get("evaluator_test_accuracy") is not None})
    sizes = sorted({str(r["metrics_n"]) for _, r in runs if r.get("metrics_n")})
    text = "\n".join([
        "# GAN metrics", "",
        f"Produced by `{command}` from {len(runs)} runs under `{sweep_dir}`.", "",
        "FID / KID in the feature space of the Fashion-MNIST evaluator (see docs/evaluator.md): "
        f"{'/'.join(sizes) or '?'} class-balanced samples of the checkpoint selected by the in-training FID "
        "(computed against training images, never the test set) scored against the 10k test images. "
        "Class-consistency: the evaluator's accuracy on conditional samples against their labels. "
        "Mean ± std over the runs of each row; failed convergences: runs restarted after divergence or collapse "
        "(results.json `failed_runs`). The floor row scores real training images the same way: no generator "
        "can be expected to beat it.", "",
        gan_metrics_table(runs), "",
        f"Evaluator(s): {', '.join(hashes) or 'unknown'}; test accuracy {', '.join(f'{a:.4f}' for a in accuracies) or '?'}.",
        "",
    ])
    if out is not None:
        atomic_write_text(out, text)
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ssgen.metrics", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="markdown table of a GAN sweep (method x arch)")
    report.add_argument("sweep_dir")
    report.add_argument("--out", default=None, help="markdown file to write (default: print only)")
    args = parser.parse_args(argv)
    from ssgen.errors import SSGenError

    try:
        text = write_gan_report(args.sweep_dir, args.out,
                                command=f"python -m ssgen.metrics report {args.sweep_dir}" + (f" --out {args.out}" if args.out else ""))
    except SSGenError as exc:
        exit_with_error("ssgen.metrics", exc)
    print_output(text)


if __name__ == "__main__":
    main()
