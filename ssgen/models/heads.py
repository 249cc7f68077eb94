"""Classifier heads on M1's encoder means: fitting, scoring, saving and loading (no Lightning here).

    ssgen-train method=m1 'method.callbacks.svm_head.n_labels=[100,600,1000,3000]'

The ``SVMHead`` callback (``ssgen.callbacks.svm_head``) calls these at the end of VAE training, for each
label budget N on the class-balanced subset the data module draws for that N and seed:

* ``m1_svm``: RBF ``SVC`` on the encoder means; C, gamma and feature scaling chosen by stratified
  cross-validation on the N labelled images only (the test set is touched once, to score);
* ``m1_best`` / ``raw_best``: the best of the SVM and the graph heads (``ssgen.models.graph_heads``: Poisson and
  Laplace learning, Calder et al. 2020), chosen by the same cross-validation on the labelled images;
* ``raw_svm``: the same SVM model selection on raw pixels: the baseline M1 must beat.

The fitted SVM is saved as ``checkpoints/svm_head_n<N>.skops`` (skops: no pickle on load), described by
``checkpoints/svm_head.json``. A head belongs to the encoder it was fitted on: every head record carries
``fitted_on`` (``fitted_on_record``: the optimizer step and weights digest of the model at fitting time), and a loader
refuses heads whose record names other weights than the checkpoint it pairs them with (``check_fitted_on``). Any
other head (the graph heads) is described by the same record, so the same check covers it.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from ssgen.errors import CheckpointError
from ssgen.io import add_inputs, atomic_write, display_path
from ssgen.models.checkpoints import describe_version, module_version, version_mismatch

log = logging.getLogger("ssgen")

# Trusted types of a saved head: the loader refuses any file that would build anything else. skops names a type
# by the module that defines it, which for scikit-learn's classes is a private one (sklearn.svm._classes.SVC): read
# from the classes, not written out, so a scikit-learn that moves them still loads the heads it saves.
SKOPS_TRUSTED = [*(f"{cls.__module__}.{cls.__qualname__}" for cls in (Pipeline, StandardScaler, SVC)),
                 "numpy.ndarray", "numpy.dtype", "builtins.str", "builtins.int", "builtins.float", "builtins.list",
                 "builtins.dict", "builtins.tuple", "builtins.NoneType"]


@dataclass
class HeadFit:
    """A fitted head and how it was chosen (everything from the labelled subset only)."""

    model: Any
    params: dict[str, Any]
    cv_accuracy: float
    fit_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


def _cv(labels: np.ndarray, folds: int, seed: int, grouped: bool = False) -> StratifiedKFold | StratifiedGroupKFold:
    # fewer labelled images per class than folds (N=10) would make StratifiedKFold fail
    per_class = int(np.bincount(labels).min())
    if grouped:  # labels holds each image twice (it and its mirror): a pair never straddles folds
        per_class //= 2
    kind = StratifiedGroupKFold if grouped else StratifiedKFold
    return kind(n_splits=max(2, min(folds, per_class)), shuffle=True, random_state=seed)


def fit_svm(features: np.ndarray, labels: np.ndarray, seed: int = 0, cv_folds: int = 5,
            c_values: tuple[float, ...] = (1.0, 10.0, 100.0), gamma_factors: tuple[float, ...] = (0.3, 1.0, 3.0),
            n_jobs: int | None = None, mirrored: np.ndarray | None = None) -> HeadFit:
    """RBF-SVM with C, gamma and scaling (standardise or not) chosen by stratified CV on (features, labels).

    gamma is searched as multiples of sklearn's 'scale' heuristic 1 / (d * Var[X]) for each scaling,
    so the grid adapts to 50-d latents and 784-d pixels alike. Shapes: features (N, d), labels (N,).
    ``mirrored`` (N, d), the features of each labelled image flipped left-right, adds them as training images of
    the same class (a label-preserving augmentation on Fashion-MNIST); an image and its mirror share a CV fold.
    """
    start = time.time()
    features = np.asarray(features, dtype=np.float64)
    groups = None
    if mirrored is not None:
        groups = np.tile(np.arange(len(features)), 2)
        features = np.concatenate([features, np.asarray(mirrored, dtype=np.float64)])
        labels = np.tile(labels, 2)
    dim = features.shape[1]
    raw_scale = 1.0 / (dim * max(features.var(), 1e-12))
    param_grid = [
        {"scale": [StandardScaler()], "svc__C": list(c_values), "svc__gamma": [f / dim for f in gamma_factors]},
        {"scale": ["passthrough"], "svc__C": list(c_values), "svc__gamma": [f * raw_scale for f in gamma_factors]},
    ]
    pipeline = Pipeline([("scale", StandardScaler()), ("svc", SVC(kernel="rbf"))])
    search = GridSearchCV(pipeline, param_grid, cv=_cv(labels, cv_folds, seed, grouped=groups is not None),
                          scoring="accuracy", n_jobs=n_jobs, refit=True)
    search.fit(features, labels, groups=groups)
    best = search.best_params_
    params = {"C": best["svc__C"], "gamma": float(best["svc__gamma"]),
              "scaling": "standard" if isinstance(best["scale"], StandardScaler) else "none"}
    return HeadFit(search.best_estimator_, params, float(search.best_score_), time.time() - start)


def classification_metrics(labels: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """Accuracy, macro-F1 and the confusion matrix (rows = true class) of predictions (N,) against labels (N,)."""
    return {"accuracy": float(accuracy_score(labels, predicted)),
            "macro_f1": float(f1_score(labels, predicted, average="macro")),
            "confusion_matrix": confusion_matrix(labels, predicted, labels=list(range(10))).tolist()}


def predict(model: Any, features: np.ndarray, mirrored: np.ndarray | None = None) -> np.ndarray:
    """Class indices (N,) int64 a fitted head gives features (N, d); with ``mirrored`` (N, d), the features of the
    same images flipped left-right, the head's decision scores of both views are averaged (an SVM's one-vs-rest
    ``decision_function``; a head without one, e.g. label spreading, is given ``features`` alone)."""
    if mirrored is None or not hasattr(model, "decision_function"):
        return np.asarray(model.predict(features)).astype(np.int64)
    scores = model.decision_function(features) + model.decision_function(mirrored)
    return np.asarray(model.classes_)[scores.argmax(axis=1)].astype(np.int64)


def score(fit: HeadFit, features: np.ndarray, labels: np.ndarray, mirrored: np.ndarray | None = None) -> dict[str, Any]:
    """Test-set metrics of a fitted head (``predict``, both views averaged with ``mirrored``), with how it was chosen."""
    return {**classification_metrics(labels, predict(fit.model, features, mirrored)),
            "params": fit.params, "cv_accuracy": fit.cv_accuracy, "fit_seconds": round(fit.fit_seconds, 2)}


def save_svm(model: Any, path: str | Path) -> Path:
    """Write a fitted head as a skops file, atomically; returns the path. Raises StorageError."""
    import skops.io as sio

    return atomic_write(path, lambda tmp: sio.dump(model, tmp))


def load_svm(path: str | Path) -> Any:
    """Load a saved SVM head without unpickling: skops refuses any type outside ``SKOPS_TRUSTED``."""
    import skops.io as sio

    path = Path(path)
    add_inputs([path], f"the SVM head {display_path(path)}")
    if not path.is_file():
        raise CheckpointError(f"no SVM head at {path}; train with method=m1 (the svm_head callback writes it)")
    try:
        untrusted = sio.get_untrusted_types(file=path)
        unexpected = [t for t in untrusted if t not in SKOPS_TRUSTED]
        if unexpected:
            raise CheckpointError(f"{path} contains unexpected types {unexpected}; refusing to load it")
        return sio.load(path, trusted=untrusted)
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(f"{path} is not a readable skops file ({type(exc).__name__}); retrain or re-copy it") from exc


HEAD_RECORD = "svm_head.json"  # in <run_dir>/checkpoints/: the SVM heads' record


def head_record_path(run_dir: str | Path) -> Path:
    """Where a run dir keeps the SVM heads' record (``svm_head.json``)."""
    return Path(run_dir) / "checkpoints" / HEAD_RECORD


def read_head_metadata(run_dir: str | Path) -> dict[str, Any]:
    """The SVM heads' record of a run dir: latent units, mirror, seed, N list, each head's parameters and
    ``fitted_on``. Raises CheckpointError when there is none or it cannot be read."""
    path = head_record_path(run_dir)
    add_inputs([path], f"the heads' record {display_path(path)}")
    if not path.is_file():
        raise CheckpointError(f"{path} is missing; {run_dir} is not a finished method=m1 run")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path} cannot be read ({type(exc).__name__}); refit the heads: relaunch the run "
                              "with a larger trainer.max_epochs, or retrain") from exc


def fitted_on_record(pl_module: Any, global_step: int | None) -> dict[str, Any]:
    """What every head record stores as ``fitted_on``: the version of the weights the heads are fitted on now
    (``ssgen.models.checkpoints.module_version``)."""
    return module_version(pl_module, global_step)


def check_fitted_on(record_path: Path, metadata: dict[str, Any], checkpoint: Path, loaded: dict[str, Any],
                    fix: str) -> None:
    """Refuse heads (their record ``metadata``, read from ``record_path``) made from other weights than the
    checkpoint they would be paired with (``loaded``: its ``weights_version``): one CheckpointError line naming both
    versions and ending with ``fix``. A record from before ``fitted_on`` existed is compared by time: a checkpoint
    written after the heads cannot be the one they were fitted on."""
    fitted_on = metadata.get("fitted_on")
    if fitted_on is None:
        try:
            newer = checkpoint.stat().st_mtime > record_path.stat().st_mtime + 1.0
        except OSError:
            return
        if newer:
            raise CheckpointError(f"the heads in {display_path(record_path.parent)} were fitted before "
                                  f"{display_path(checkpoint)} was written ({describe_version(loaded)}): they belong to "
                                  f"other weights; {fix}")
        return
    if version_mismatch(fitted_on, loaded):
        raise CheckpointError(f"the heads in {display_path(record_path.parent)} were fitted on "
                              f"{describe_version(fitted_on)}, but {display_path(checkpoint)} holds "
                              f"{describe_version(loaded)}; pairing them would score other weights than the heads "
                              f"were fitted on: {fix}")
