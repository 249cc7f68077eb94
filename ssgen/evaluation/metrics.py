"""Generator quality in the evaluator's feature space: FID, KID, class-consistency, per-class FID,
improved precision / recall, the per-class spread ratio, the floor.

Metric math only: nothing here loads data or an evaluator (every function is handed its images or features
and the ``Evaluator``). A generator's whole report against the test set (its sampler, the test data, the floor)
is ``ssgen.evaluation.scoring``; the standard Inception FID ``ssgen.evaluation.inception``; the training callback
``ssgen.callbacks.generative_metrics``, the sweep table ``ssgen-report gan`` (``ssgen.report``), one checkpoint's
scores ``ssgen-evaluate`` (``ssgen.evaluate``).

    from ssgen.evaluation.metrics import Reference, evaluate_images
    reference = Reference(real_images, evaluator, labels=real_labels, per_class=True)   # one evaluator pass
    features, predictions = evaluate_images(fake_images, evaluator)
    reference.fid_kid(features=features)                 # {'fid', 'kid', 'kid_std'}

Definitions (all images ``(N, 1, 28, 28)`` floats in [0, 1]; a GAN's [-1, 1] output is mapped first):
  * FID / KID: torchmetrics' ``FrechetInceptionDistance`` / ``KernelInceptionDistance`` with ``feature=``
    the evaluator's 128-d penultimate layer (``ssgen.evaluation.evaluator``) instead of Inception. KID is the mean
    over subsets (``kid``) with its std over subsets (``kid_std``).
  * class-consistency: the evaluator's accuracy on conditional samples against the labels they were
    generated for (real images score about the evaluator's accuracy: its floor, not 1.0).
  * per-class FID: FID between the samples of one class and the test images of that class.
  * improved precision / recall (Kynkaanniemi et al. 2019, k = 3; ``precision_recall``): fidelity and
    coverage apart. Each point of a set spans a ball reaching its k-th nearest neighbour in that set; the
    union of the balls estimates the set's manifold. Precision = fraction of generated points inside the
    real manifold; recall = fraction of real points inside the generated manifold. A generator that makes
    near-copies of a few images keeps precision and loses recall; FID mixes the two.
  * class spread ratio (``class_spread_ratio``): per class, the mean pairwise feature distance of the
    generated samples over that of the real images of the class. About 1 when samples vary as much as the
    data; a class whose samples are near-duplicates (partial mode collapse) goes towards 0 even when its
    precision and class-consistency are perfect. ``min_class_spread`` is the smallest over classes.
    P/R and the spread depend on the sample size (k-NN radii shrink as N grows): compare at equal N,
    beside the floor.
  * the floor: the same metrics for ``n`` real *training* images against the test set: what a generator
    that reproduced the data distribution exactly would score with this evaluator and sample size
    (FID is biased upwards at finite n, so a score is only meaningful beside its floor).

Honesty: the cheap metrics logged *during* training (``GenerativeMetrics``: ``metrics/fid`` drives
best-checkpoint selection and the failed-convergence detector) use training images as reference,
never the test set; only the final report, computed once after training, is against the test set.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from torch import nn

from ssgen.data import FASHION_MNIST, DatasetInfo, to_pixels
from ssgen.errors import ConfigError, DataError
from ssgen.evaluation.evaluator import Evaluator

RANGE_TOLERANCE = 1e-3  # float error of a sigmoid/tanh mapped to [0, 1]
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
PR_K = 3  # Kynkaanniemi et al. 2019: k = 3 gave the most faithful manifold estimate in their study
DISTANCE_CHUNK = 1024  # rows per cdist block: 1024 x 10000 float32 distances = 40 MB


# ================================================================================================ feature module
class PrecomputedFeatures(nn.Module):
    """torchmetrics ``feature=`` module for evaluator features computed beforehand: ``(N, D)`` in, the same out.

    torchmetrics runs its feature module inside every ``update``, so FID, KID and ten per-class FIDs of one
    image set would each run the evaluator again; with the features extracted once
    (``Evaluator.features_and_predictions``) each image set costs one evaluator pass, whatever reads it.
    ``num_features`` tells torchmetrics the width without a probe image.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def _metric_objects(num_features: int, kid: bool = True) -> tuple[nn.Module, nn.Module | None]:
    """A FID and (optionally) a KID metric over precomputed features; real statistics survive reset()."""
    from torchmetrics.image.fid import FrechetInceptionDistance  # submodule imports: no torch-fidelity needed
    from torchmetrics.image.kid import KernelInceptionDistance

    features = PrecomputedFeatures(num_features)
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
    return fid, kid_metric


def check_unit_images(images: torch.Tensor, what: str) -> torch.Tensor:
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


def check_features(features: torch.Tensor, num_features: int, what: str) -> torch.Tensor:
    """Precomputed evaluator features must be finite ``(N, num_features)`` floats; returned as float32 on CPU
    (where the metric states live). Raises DataError, one line, for anything else."""
    if not torch.is_tensor(features) or features.dim() != 2 or features.shape[1] != num_features \
            or not features.is_floating_point():
        shape = tuple(features.shape) if torch.is_tensor(features) else type(features).__name__
        raise DataError(f"{what}: expected float features (N, {num_features}) from evaluate_images, got {shape}"
                        f"{' ' + str(features.dtype) if torch.is_tensor(features) else ''}")
    if len(features) and not torch.isfinite(features).all():
        raise DataError(f"{what}: features contain NaN or inf (a diverged generator?)")
    return features.detach().float().cpu()


def check_labels(labels: torch.Tensor, n: int, what: str) -> torch.Tensor:
    """Class labels must be ``(n,)`` integers, one per image; returned int64 on CPU. Raises DataError."""
    if not torch.is_tensor(labels) or labels.dim() != 1 or len(labels) != n or labels.is_floating_point():
        shape = tuple(labels.shape) if torch.is_tensor(labels) else type(labels).__name__
        raise DataError(f"{what}: expected {n} integer class labels of shape ({n},), one per image, got {shape}")
    return labels.cpu().long()


def _feed(metric: nn.Module, features: torch.Tensor, real: bool) -> None:
    metric.update(features, real=real)


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
        features: the evaluator's features of ``images`` ``(N, D)`` when already computed (one pass, see
            ``evaluate_images``); else computed here.

    ``features`` keeps the reference features (CPU float32) for precision / recall and the class spread.
    Every scoring method takes images, or their ``features=`` from ``evaluate_images``.
    """

    def __init__(self, images: torch.Tensor | None, evaluator: Evaluator, labels: torch.Tensor | None = None,
                 per_class: bool = False, kid: bool = True, batch_size: int = 1000, seed: int = 0,
                 features: torch.Tensor | None = None) -> None:
        self.evaluator, self.batch_size, self.seed = evaluator, batch_size, seed
        features = self._features(images, features, "reference")
        self.features, self.n = features, len(features)
        self.fid, self.kid = _metric_objects(evaluator.num_features, kid=kid)
        _feed(self.fid, features, True)
        if self.kid is not None:
            _feed(self.kid, features, True)
        self.class_fid: dict[int, nn.Module] = {}
        if per_class:
            if labels is None:
                raise ValueError("per-class FID needs the reference labels")
            labels = check_labels(labels, len(features), "reference labels")
            for label in range(evaluator.data_info.n_classes):  # the classes of the set it was trained on
                self.class_fid[label] = _metric_objects(evaluator.num_features, kid=False)[0]
                _feed(self.class_fid[label], features[labels == label], True)

    def _features(self, images: torch.Tensor | None, features: torch.Tensor | None, what: str) -> torch.Tensor:
        if (images is None) == (features is None):
            raise ValueError(f"{what}: give the images or their features=, not {'both' if features is not None else 'neither'}")
        if features is not None:
            return check_features(features, self.evaluator.num_features, f"{what} features")
        return evaluator_features(images, self.evaluator, self.batch_size)

    def fid_kid(self, images: torch.Tensor | None = None, *, features: torch.Tensor | None = None) -> dict[str, float]:
        """``{'fid', 'kid', 'kid_std'}`` of ``images`` (or their ``features``) against this reference."""
        features = self._features(images, features, "generated images")
        if len(features) < 4:
            raise ConfigError(f"FID/KID need at least 4 images, got {len(features)}")
        self.fid.reset()
        _feed(self.fid, features, False)
        result = {"fid": float(self.fid.compute())}
        if self.kid is not None:
            self.kid.reset()
            _feed(self.kid, features, False)
            result["kid"], result["kid_std"] = _kid_compute(self.kid, self.seed)
        return result

    def per_class_fid(self, images: torch.Tensor | None, labels: torch.Tensor, *,
                      features: torch.Tensor | None = None) -> dict[str, float]:
        """``{class_name: FID}`` between the images of each class (or their ``features``) and the reference
        images of that class."""
        if not self.class_fid:
            raise ValueError("build the Reference with per_class=True and labels")
        features = self._features(images, features, "generated images")
        labels = check_labels(labels, len(features), "generated labels")
        result = {}
        names = self.evaluator.data_info.class_names
        for label, metric in self.class_fid.items():
            chosen = features[labels == label]
            if len(chosen) < 2:
                result[names[label]] = math.nan  # FID needs two samples for a covariance
                continue
            metric.reset()
            _feed(metric, chosen, False)
            result[names[label]] = float(metric.compute())
        return result


# ================================================================================================ functions
def fid_kid(real_images: torch.Tensor, fake_images: torch.Tensor, evaluator: Evaluator,
            batch_size: int = 1000, seed: int = 0) -> dict[str, float]:
    """FID and KID (mean, std over subsets) of ``fake_images`` against ``real_images``, both ``(N, 1, 28, 28)`` in [0, 1].

    Returns ``{'fid', 'kid', 'kid_std'}``. KID's subset size is min(1000, n // 2) for the smaller set.
    """
    return Reference(real_images, evaluator, batch_size=batch_size, seed=seed).fid_kid(fake_images)


def class_consistency(images: torch.Tensor | None, labels: torch.Tensor, evaluator: Evaluator | None = None, *,
                      predictions: torch.Tensor | None = None) -> float:
    """Fraction of ``images`` ``(N, 1, 28, 28)`` in [0, 1] that the evaluator classifies as their ``labels`` ``(N,)``;
    ``predictions`` ``(N,)`` from ``evaluate_images`` instead of the images skip a second evaluator pass.

    On the real test set this is exactly the evaluator's recorded test accuracy (same code path).
    """
    if predictions is None:
        if images is None or evaluator is None:
            raise ValueError("give the images and the evaluator, or the images' predictions")
        predictions = evaluate_images(images, evaluator)[1]
    if not torch.is_tensor(predictions) or predictions.dim() != 1 or predictions.is_floating_point():
        shape = tuple(predictions.shape) if torch.is_tensor(predictions) else type(predictions).__name__
        raise DataError(f"predictions: expected one predicted class per image, shape (N,) integers from "
                        f"evaluate_images, got {shape} (logits? take .argmax(dim=1))")
    predictions = predictions.cpu()
    if not torch.is_tensor(labels) or labels.dim() != 1 or len(labels) != len(predictions):
        raise DataError(f"{len(predictions)} images but labels of shape "
                        f"{tuple(labels.shape) if torch.is_tensor(labels) else type(labels).__name__}")
    return float((predictions == labels.cpu().long()).float().mean())


# ================================================================================================ precision / recall
def knn_radii(features: torch.Tensor, k: int = PR_K) -> torch.Tensor:
    """``(N,)`` float32: each row's Euclidean distance to its k-th nearest *other* row of ``features`` ``(N, D)``.

    Raises ValueError for N <= k (no k-th neighbour).
    """
    features = features.float()
    if len(features) <= k:
        raise ValueError(f"k-NN radii need more than k={k} points, got {len(features)}")
    radii = []
    for start in range(0, len(features), DISTANCE_CHUNK):
        distances = torch.cdist(features[start : start + DISTANCE_CHUNK], features)
        # the k + 1 smallest include the row itself (distance 0): the k-th other neighbour is the last of them
        radii.append(distances.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(radii)


def in_manifold(query: torch.Tensor, support: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """``(M,)`` bool: whether each row of ``query`` ``(M, D)`` lies in a ball ``||q - support_j|| <= radii_j``
    of some row j of ``support`` ``(N, D)`` (radii ``(N,)``)."""
    support, radii = support.float(), radii.float()
    inside = [(torch.cdist(query[start : start + DISTANCE_CHUNK].float(), support) <= radii[None, :]).any(dim=1)
              for start in range(0, len(query), DISTANCE_CHUNK)]
    return torch.cat(inside) if inside else torch.zeros(0, dtype=torch.bool)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = PR_K) -> dict[str, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) of ``fake`` ``(M, D)`` against ``real`` ``(N, D)``
    features: ``{'precision', 'recall'}``, each in [0, 1]. Identical sets score 1 and 1."""
    precision = in_manifold(fake, real, knn_radii(real, k)).float().mean()
    recall = in_manifold(real, fake, knn_radii(fake, k)).float().mean()
    return {"precision": float(precision), "recall": float(recall)}


def mean_pairwise_distance(features: torch.Tensor) -> float:
    """Mean Euclidean distance over the ordered pairs i != j of the rows of ``features`` ``(N, D)``; N >= 2 else ValueError."""
    features = features.float()
    n = len(features)
    if n < 2:
        raise ValueError(f"a pairwise distance needs at least 2 points, got {n}")
    # cdist's default matrix-product form (|a|^2 + |b|^2 - 2ab) leaves rounding noise of ~1e-3 for identical rows,
    # so a fully collapsed class would not score 0 (how much noise depends on the CPU's kernels): take differences.
    total = sum(float(torch.cdist(features[start : start + DISTANCE_CHUNK], features,
                                  compute_mode="donot_use_mm_for_euclid_dist").double().sum())
                for start in range(0, n, DISTANCE_CHUNK))
    return total / (n * (n - 1))  # the diagonal contributes zero


def class_spread_ratio(fake: torch.Tensor, fake_labels: torch.Tensor, real: torch.Tensor, real_labels: torch.Tensor,
                       n_classes: int) -> torch.Tensor:
    """``(n_classes,)`` float32: per class, the mean pairwise distance of its generated features ``fake`` ``(M, D)``
    over that of its real features ``real`` ``(N, D)``. NaN for a class with fewer than 2 points on a side."""
    ratios = torch.full((n_classes,), math.nan)
    for label in range(n_classes):
        fake_c, real_c = fake[fake_labels.cpu() == label], real[real_labels.cpu() == label]
        if len(fake_c) >= 2 and len(real_c) >= 2:
            ratios[label] = mean_pairwise_distance(fake_c) / mean_pairwise_distance(real_c)
    return ratios


def evaluate_images(images: torch.Tensor, evaluator: Evaluator, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """One evaluator pass over images ``(N, 1, 28, 28)`` in [0, 1] (checked: a GAN's [-1, 1] output fails with a
    DataError saying how to map it): features ``(N, num_features)`` float32 and predicted classes ``(N,)`` int64, both on CPU. What
    every metric reads: FID / KID / per-class FID (``features=``), precision / recall, the spread, and
    class-consistency (``class_consistency(..., predictions=)``). Raises DataError for bad images."""
    return evaluator.features_and_predictions(check_unit_images(images, "images"), batch_size)


def evaluator_features(images: torch.Tensor, evaluator: Evaluator, batch_size: int = 1000) -> torch.Tensor:
    """The evaluator's features ``(N, num_features)`` float32 on CPU of images ``(N, 1, 28, 28)`` in [0, 1], in
    eval mode (restored after), in chunks: the feature space of FID/KID, for precision / recall and spread."""
    return evaluate_images(images, evaluator, batch_size)[0]


def diversity_scores(real_features: torch.Tensor, real_labels: torch.Tensor, fake_features: torch.Tensor,
                     fake_labels: torch.Tensor | None, k: int = PR_K, info: DatasetInfo = FASHION_MNIST) -> dict[str, Any]:
    """``{'precision', 'recall'}`` of the generated features against the real ones and, for conditional samples
    (``fake_labels`` given), ``'class_spread': {class name: ratio}`` and ``'min_class_spread'`` (the smallest
    ratio over the classes that have one). Features ``(N, D)``, labels ``(N,)`` int64."""
    scores: dict[str, Any] = precision_recall(real_features, fake_features, k)
    if fake_labels is not None:
        ratio = class_spread_ratio(fake_features, fake_labels, real_features, real_labels, info.n_classes)
        scores["class_spread"] = {info.class_names[c]: round(float(ratio[c]), 4) for c in range(info.n_classes)}
        finite = ratio[torch.isfinite(ratio)]
        scores["min_class_spread"] = float(finite.min()) if len(finite) else math.nan
    return scores


def per_class_fid(real_images: torch.Tensor, real_labels: torch.Tensor, fake_images: torch.Tensor,
                  fake_labels: torch.Tensor, evaluator: Evaluator,
                  batch_size: int = 1000) -> dict[str, float]:
    """``{class_name: FID}``: generated images of each class against the real images of that class."""
    reference = Reference(real_images, evaluator, labels=real_labels, per_class=True, kid=False, batch_size=batch_size)
    return reference.per_class_fid(fake_images, fake_labels)


def balanced_labels(n: int, info: DatasetInfo = FASHION_MNIST) -> torch.Tensor:
    """``(n,)`` labels 0, 1, ..., K-1, 0, 1, ... (K = ``info.n_classes``): classes as balanced as n allows."""
    return torch.arange(n) % info.n_classes


def balanced_indices(labels: torch.Tensor, n: int, seed: int, info: DatasetInfo = FASHION_MNIST) -> torch.Tensor:
    """``n`` indices into ``labels`` with the class counts of ``balanced_labels(n, info)``, drawn with ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    wanted = torch.bincount(balanced_labels(n, info), minlength=info.n_classes)
    chosen = []
    for label in range(info.n_classes):
        candidates = torch.nonzero(labels == label).flatten()
        if len(candidates) < wanted[label]:
            raise DataError(f"{int(wanted[label])} images of class {info.class_names[label]} wanted, "
                            f"{len(candidates)} available")
        chosen.append(candidates[torch.randperm(len(candidates), generator=generator)[: int(wanted[label])]])
    return torch.cat(chosen)
