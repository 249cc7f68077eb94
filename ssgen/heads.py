"""Classifier heads on M1's encoder means, fitted by a Callback at the end of VAE training.

    ssgen-train method=m1 method.callbacks.svm_head.n_labels=[100,600,1000,3000]

For each label budget N the ``SVMHead`` callback draws the same class-balanced subset the data
module draws for that N and seed, then fits and scores on the 10k test set:

* ``m1_svm``: RBF ``SVC`` on the encoder means; C, gamma and feature scaling chosen by stratified
  cross-validation on the N labelled images only (the test set is touched once, to score);
* ``m1_spreading``: the transductive head: label spreading over a kNN graph of the labelled and
  unlabelled training encodings (the paper used a transductive SVM), its k and alpha chosen by the
  same cross-validation on the labelled images;
* ``raw_svm``: the same SVM model selection on raw pixels: the baseline M1 must beat.

The fitted SVM is saved as ``checkpoints/svm_head_n<N>.skops`` (skops: no pickle on load).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import LabelSpreading
from sklearn.svm import SVC

from ssgen.data import CLASS_NAMES, sample_label_subset
from ssgen.errors import CheckpointError
from ssgen.io import atomic_write, atomic_write_json, save_figure

log = logging.getLogger("ssgen")

# Trusted types of a saved head: the loader refuses any file that would build anything else.
SKOPS_TRUSTED = ["sklearn.pipeline.Pipeline", "sklearn.preprocessing._data.StandardScaler", "sklearn.svm._classes.SVC",
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


def _cv(labels: np.ndarray, folds: int, seed: int) -> StratifiedKFold:
    # fewer labelled images per class than folds (N=10) would make StratifiedKFold fail
    per_class = int(np.bincount(labels).min())
    return StratifiedKFold(n_splits=max(2, min(folds, per_class)), shuffle=True, random_state=seed)


def fit_svm(features: np.ndarray, labels: np.ndarray, seed: int = 0, cv_folds: int = 5,
            c_values: tuple[float, ...] = (1.0, 10.0, 100.0), gamma_factors: tuple[float, ...] = (0.3, 1.0, 3.0),
            n_jobs: int | None = None) -> HeadFit:
    """RBF-SVM with C, gamma and scaling (standardise or not) chosen by stratified CV on (features, labels).

    gamma is searched as multiples of sklearn's 'scale' heuristic 1 / (d * Var[X]) for each scaling,
    so the grid adapts to 50-d latents and 784-d pixels alike. Shapes: features (N, d), labels (N,).
    """
    start = time.time()
    features = np.asarray(features, dtype=np.float64)
    dim = features.shape[1]
    raw_scale = 1.0 / (dim * max(features.var(), 1e-12))
    param_grid = [
        {"scale": [StandardScaler()], "svc__C": list(c_values), "svc__gamma": [f / dim for f in gamma_factors]},
        {"scale": ["passthrough"], "svc__C": list(c_values), "svc__gamma": [f * raw_scale for f in gamma_factors]},
    ]
    pipeline = Pipeline([("scale", StandardScaler()), ("svc", SVC(kernel="rbf"))])
    search = GridSearchCV(pipeline, param_grid, cv=_cv(labels, cv_folds, seed), scoring="accuracy", n_jobs=n_jobs,
                          refit=True)
    search.fit(features, labels)
    best = search.best_params_
    params = {"C": best["svc__C"], "gamma": float(best["svc__gamma"]),
              "scaling": "standard" if isinstance(best["scale"], StandardScaler) else "none"}
    return HeadFit(search.best_estimator_, params, float(search.best_score_), time.time() - start)


def fit_label_spreading(features: np.ndarray, labels: np.ndarray, unlabelled: np.ndarray, seed: int = 0,
                        cv_folds: int = 5, neighbours: tuple[int, ...] = (10, 30), alphas: tuple[float, ...] = (0.2, 0.8)) -> HeadFit:
    """Transductive head: label spreading on a kNN graph over labelled + unlabelled encodings.

    k and alpha are chosen by stratified CV on the labelled images (held-out folds are spread to
    as if unlabelled, then scored). Shapes: features (N, d), labels (N,), unlabelled (M, d).
    """
    start = time.time()
    scaler = StandardScaler().fit(np.concatenate([features, unlabelled]))
    labelled_x, unlabelled_x = scaler.transform(features), scaler.transform(unlabelled)
    unknown = np.full(len(unlabelled_x), -1)
    best: tuple[float, dict[str, Any]] = (-1.0, {})
    for k in neighbours:
        for alpha in alphas:
            scores = []
            for train_idx, held_idx in _cv(labels, cv_folds, seed).split(labelled_x, labels):
                x = np.concatenate([labelled_x[train_idx], labelled_x[held_idx], unlabelled_x])
                y = np.concatenate([labels[train_idx], np.full(len(held_idx), -1), unknown])
                model = LabelSpreading(kernel="knn", n_neighbors=k, alpha=alpha, max_iter=100).fit(x, y)
                predicted = model.transduction_[len(train_idx) : len(train_idx) + len(held_idx)]
                scores.append(accuracy_score(labels[held_idx], predicted))
            if np.mean(scores) > best[0]:
                best = (float(np.mean(scores)), {"n_neighbors": k, "alpha": alpha})
    model = LabelSpreading(kernel="knn", max_iter=100, **best[1]).fit(
        np.concatenate([labelled_x, unlabelled_x]), np.concatenate([labels, unknown]))
    return HeadFit(Pipeline([("scale", scaler), ("spread", model)]), best[1], best[0], time.time() - start)


def classification_metrics(labels: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """Accuracy, macro-F1 and the confusion matrix (rows = true class) of predictions (N,) against labels (N,)."""
    return {"accuracy": float(accuracy_score(labels, predicted)),
            "macro_f1": float(f1_score(labels, predicted, average="macro")),
            "confusion_matrix": confusion_matrix(labels, predicted, labels=list(range(10))).tolist()}


def score(fit: HeadFit, features: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Test-set metrics of a fitted head, with how it was chosen."""
    return {**classification_metrics(labels, fit.model.predict(features)),
            "params": fit.params, "cv_accuracy": fit.cv_accuracy, "fit_seconds": round(fit.fit_seconds, 2)}


def save_svm(model: Any, path: str | Path) -> Path:
    import skops.io as sio

    return atomic_write(path, lambda tmp: sio.dump(model, tmp))


def load_svm(path: str | Path) -> Any:
    """Load a saved SVM head without unpickling: skops refuses any type outside ``SKOPS_TRUSTED``."""
    import skops.io as sio

    path = Path(path)
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


def confusion_figure(matrix: list[list[int]], title: str) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix_array = np.asarray(matrix)
    figure, axis = plt.subplots(figsize=(6.5, 5.5))
    image = axis.imshow(matrix_array, cmap="Blues")
    axis.set_xticks(range(10), CLASS_NAMES, rotation=60, ha="right", fontsize=8)
    axis.set_yticks(range(10), CLASS_NAMES, fontsize=8)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    for (row, column), value in np.ndenumerate(matrix_array):
        axis.text(column, row, str(value), ha="center", va="center", fontsize=6,
                  color="white" if value > matrix_array.max() / 2 else "black")
    axis.set_title(title, fontsize=10)
    figure.colorbar(image, ax=axis, fraction=0.046)
    figure.tight_layout()
    return figure


class SVMHead(L.Callback):
    """At the end of training: encode, fit the heads for every N in ``n_labels``, score on test, save.

    Args:
        n_labels: label budgets to score with this one VAE (e.g. [100, 600, 1000, 3000]).
        seed: draws each labelled subset (the data module's rule: same seed, same images) and the CV folds.
        cv_folds: stratified folds on the labelled subset for model selection.
        transductive: also fit the label-spreading head on labelled + unlabelled encodings.
        n_unlabelled: unlabelled training encodings the transductive head spreads over.
        raw_pixel_baseline: also fit the SVM on raw pixels of the same subset.
        active_units_only: feed only latent units active on the unlabelled training data (std of the mean > 0.1).
    """

    def __init__(self, n_labels: list[int] | tuple[int, ...] = (100,), seed: int = 0, cv_folds: int = 5,
                 transductive: bool = True, n_unlabelled: int = 10_000, raw_pixel_baseline: bool = True,
                 active_units_only: bool = False, n_jobs: int | None = None) -> None:
        from ssgen.data import parse_n_labels

        self.n_labels = [parse_n_labels(n) for n in n_labels]
        self.seed, self.cv_folds, self.transductive = seed, cv_folds, transductive
        self.n_unlabelled, self.raw_pixel_baseline = n_unlabelled, raw_pixel_baseline
        self.active_units_only, self.n_jobs = active_units_only, n_jobs
        self._results: dict[str, Any] = {}

    def results(self) -> dict[str, Any]:
        return self._results

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_rank != 0 or trainer.sanity_checking:
            return
        run_dir = Path(trainer.default_root_dir)
        datamodule = trainer.datamodule
        datamodule.setup("fit")
        train_labels = datamodule.labels("train").numpy()
        train_means = pl_module.encode_means(datamodule.images("train")).numpy()
        test_means = pl_module.encode_means(datamodule.images("test")).numpy()
        test_labels = datamodule.labels("test").numpy()
        train_pool = datamodule.unlabelled_indices  # training images outside the validation holdout
        unit_std = train_means[train_pool].std(axis=0)
        units = np.flatnonzero(unit_std > 0.1) if self.active_units_only else np.arange(train_means.shape[1])
        if len(units) == 0:
            units = np.arange(train_means.shape[1])
        heads: dict[str, Any] = {}
        for n in self.n_labels:
            if n == 0:
                continue
            indices = sample_label_subset(train_labels, n, self.seed, exclude=datamodule.val_indices)
            labels = train_labels[indices]
            entry: dict[str, Any] = {}
            svm = fit_svm(train_means[indices][:, units], labels, self.seed, self.cv_folds, n_jobs=self.n_jobs)
            entry["m1_svm"] = score(svm, test_means[:, units], test_labels)
            save_svm(svm.model, run_dir / "checkpoints" / f"svm_head_n{n}.skops")
            if self.transductive:
                rng = np.random.default_rng(self.seed)
                pool = np.setdiff1d(train_pool, indices)
                unlabelled = rng.choice(pool, min(self.n_unlabelled, len(pool)), replace=False)
                spread = fit_label_spreading(train_means[indices][:, units], labels, train_means[unlabelled][:, units],
                                             self.seed, self.cv_folds)
                entry["m1_spreading"] = score(spread, test_means[:, units], test_labels)
            if self.raw_pixel_baseline:
                pixels = datamodule.images("train")[torch.from_numpy(indices)].flatten(1).numpy() / 255.0
                test_pixels = datamodule.images("test").flatten(1).numpy() / 255.0
                raw = fit_svm(pixels, labels, self.seed, self.cv_folds, n_jobs=self.n_jobs)
                entry["raw_svm"] = score(raw, test_pixels, test_labels)
            heads[str(n)] = entry
            summary = ", ".join(f"{name} {value['accuracy']:.4f}" for name, value in entry.items())
            log.info("N=%d: %s", n, summary)
            self._log(trainer, run_dir, n, entry)
        metadata = {"latent_units": units.tolist(), "active_units": int((unit_std > 0.1).sum()), "seed": self.seed,
                    "n_labels": self.n_labels, "heads": {n: {k: v["params"] for k, v in e.items()} for n, e in heads.items()}}
        atomic_write_json(run_dir / "checkpoints" / "svm_head.json", metadata)
        primary = heads.get(str(self.n_labels[0]), {})
        self._results = {
            "test_accuracy": primary.get("m1_svm", {}).get("accuracy"),
            "macro_f1": primary.get("m1_svm", {}).get("macro_f1"),
            "transductive_accuracy": primary.get("m1_spreading", {}).get("accuracy"),
            "raw_pixel_accuracy": primary.get("raw_svm", {}).get("accuracy"),
            "active_units": metadata["active_units"],
            "heads": heads,
        }

    def _log(self, trainer: L.Trainer, run_dir: Path, n: int, entry: dict[str, Any]) -> None:
        figure = confusion_figure(entry["m1_svm"]["confusion_matrix"],
                                  f"M1 + RBF-SVM, N={n}: test accuracy {entry['m1_svm']['accuracy']:.3f}")
        save_figure(figure, run_dir / f"confusion_n{n}.png", dpi=120)
        logger = trainer.logger
        if logger is not None:
            if hasattr(logger.experiment, "add_figure"):
                logger.experiment.add_figure(f"heads/confusion_n{n}", figure, trainer.global_step)
            logger.log_metrics({f"heads/{name}_accuracy_n{n}": value["accuracy"] for name, value in entry.items()},
                               step=trainer.global_step)
        import matplotlib.pyplot as plt

        plt.close(figure)


def read_head_metadata(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / "checkpoints" / "svm_head.json"
    if not path.is_file():
        raise CheckpointError(f"{path} is missing; {run_dir} is not a finished method=m1 run")
    return json.loads(path.read_text())
