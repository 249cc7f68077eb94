"""M1's heads (Kingma et al. 2014, Algorithm 1): fitted on the trained VAE's encoder means, scored on the test set.

    ssgen-train method=m1 'method.callbacks.svm_head.n_labels=[100,600,1000,3000]'

For each label budget N the ``SVMHead`` callback draws the same class-balanced subset the data module draws
for that N and seed, then fits the heads of ``ssgen.models.heads`` on it (model selection by cross-validation on
the N labelled images only) and scores them once on the 10k test set. Configured in
``conf/callbacks/svm_head.yaml`` (``method.callbacks.svm_head``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig

from ssgen.callbacks import EndOfRunStep, log_confusion
from ssgen.data import dataset_info, parse_n_labels, sample_label_subset
from ssgen.errors import ConfigError
from ssgen.io import atomic_write, atomic_write_json
from ssgen.models import graph_heads
from ssgen.models.heads import (
    HEAD_RECORD,
    _cv,
    classification_metrics,
    fit_svm,
    fitted_on_record,
    predict,
    save_svm,
    score,
)
from ssgen.models.m1 import ACTIVE_UNIT_STD
from ssgen.nets import eval_mode

log = logging.getLogger("ssgen")

EXAMPLES_FILE = "m1_examples.npz"  # a few test images, their reconstructions, true and predicted labels
MIN_LABELS_PER_CLASS = 2  # stratified cross-validation needs at least two folds, each holding every class
RETIRED_TRANSDUCTIVE = ("method.callbacks.svm_head.transductive=true (label spreading) is retired: it scored 0.59 at "
                        "N=100, below every other head; the graph heads replace it (graph_heads=true, the default: "
                        "results.json's m1_best); drop the key")


def head_jobs(n_jobs: int | None) -> int:
    """Cross-validation fits the heads run at once: ``n_jobs`` (-1: all cores), or when None torch's intra-op
    thread count as the heads start (``torch_threads`` when set, else torch's default, the cores). libsvm is
    single-threaded, so the grid's fits are what can use the run's cores; a job a parallel launcher gave one thread
    keeps to one."""
    return int(n_jobs) if n_jobs is not None else max(1, torch.get_num_threads())


def neighbour_counts(value: Any) -> list[int]:
    """``graph_k`` as a list: one count (``graph_k=10``) or several (``graph_k=[10,20]``); None is none."""
    if value is None:
        return []
    return [int(value)] if isinstance(value, int | str) else [int(k) for k in value]


class SVMHead(EndOfRunStep):
    """At the end of training: encode, fit the heads for every N in ``n_labels``, score on test, save.

    Args:
        n_labels: label budgets to score with this one VAE (the config's ``label_budgets``: 100, 600, 1000, 3000).
        headline: the budget results.json's ``test_accuracy`` reports (the run's ``data.n_labels``); scored too
            when not in ``n_labels``. None: the first of ``n_labels``.
        seed: draws each labelled subset (the data module's rule: same seed, same images) and the CV folds.
        cv_folds: stratified folds on the labelled subset for model selection.
        transductive: retired (label spreading, 0.59 at N=100: below every other head); true is refused with a
            line pointing at ``graph_heads``. False, the default, changes nothing.
        n_unlabelled: retired with ``transductive`` (label spreading's unlabelled encodings); ignored.
        graph_heads: also fit the graph heads of ``ssgen.models.graph_heads`` (Poisson learning, with and without
            class priors, and Laplace learning on a kNN graph; Calder et al. 2020) and pick, by CV on the labelled
            images, the best of them and the SVM: results.json's ``m1_best`` (and ``raw_best`` on raw pixels).
        graph_nodes: training images that are the graph's nodes (every budget's labelled ones among them; 0: all).
        graph_k: the neighbour counts the CV tries.
        graph_transductive: also score M1's chosen graph head with the test images as unlabelled nodes of the
            graph (the paper's transductive setting), as ``m1_best.transductive_accuracy``.
        raw_pixel_baseline: also fit the SVM on raw pixels of the same subset.
        active_units_only: feed only latent units active on the unlabelled training data (std of the mean > 0.1).
        n_jobs: cross-validation fits run at once (processes; -1: all cores, as in sklearn); None: torch's intra-op
            thread count when the heads start (``torch_threads`` when set, else torch's default, the cores), so a job
            a parallel launcher gave one thread keeps to one.
        mirror: train each SVM on the labelled images and their left-right mirrors (Fashion-MNIST's classes survive
            a flip) and score a test image by the mean of its and its mirror's decision scores; the raw-pixel
            baseline gets the same, so the comparison stays fair. Off by default: docs/results.md measured it.
        examples_per_class: test images per class saved with their reconstructions and the SVM head's predicted
            labels in ``m1_examples.npz`` (the write-up's Q4 figure, drawn by ``ssgen-report writeup``); 0: none.
    """

    step_name = "svm_head"

    def __init__(self, n_labels: list[int] | tuple[int, ...] = (100, 600, 1000, 3000), headline: int | str | None = None,
                 seed: int = 0, cv_folds: int = 5, transductive: bool = False, n_unlabelled: int = 10_000,
                 raw_pixel_baseline: bool = True, active_units_only: bool = False, n_jobs: int | None = None,
                 mirror: bool = False, examples_per_class: int = 2, graph_heads: bool = True,
                 graph_nodes: int = 20_000, graph_k: list[int] | tuple[int, ...] = (10,),
                 graph_transductive: bool = True) -> None:
        if transductive:
            raise ConfigError(RETIRED_TRANSDUCTIVE)
        # parsed once the data set is known (end_of_run): 'all' and the class count are the data set's
        self.n_labels: list[Any] = list(dict.fromkeys(([] if headline is None else [headline]) + list(n_labels)))
        self.seed, self.cv_folds, self.transductive = seed, cv_folds, transductive
        self.n_unlabelled, self.raw_pixel_baseline = n_unlabelled, raw_pixel_baseline
        self.active_units_only, self.n_jobs, self.mirror = active_units_only, n_jobs, mirror
        self.examples_per_class = examples_per_class
        self.graph_heads, self.graph_nodes = graph_heads, graph_nodes
        self.graph_k, self.graph_transductive = tuple(neighbour_counts(graph_k)), graph_transductive

    @staticmethod
    def label_budgets(n_labels: list[Any] | tuple[Any, ...], headline: Any = None, info: Any = None) -> list[int]:
        """The budgets to score, the headline first, each once (``parse_n_labels`` of each, on the data set ``info``
        describes, Fashion-MNIST if None; ConfigError if unreadable)."""
        info = info or dataset_info("fashion_mnist")
        budgets = ([] if headline is None else [parse_n_labels(headline, info=info)])
        budgets += [parse_n_labels(n, "label_budgets", info=info) for n in n_labels or ()]  # errors name the key set
        return list(dict.fromkeys(budgets))

    @staticmethod
    def check_config(spec: dict[str, Any], cfg: DictConfig) -> None:
        """Refuse, before training, label budgets whose cross-validation cannot be folded and head options the heads
        would fail on (``validate()`` calls this): a fault here would otherwise surface only after the whole training."""
        key = "method.callbacks.svm_head"
        if spec.get("transductive"):
            raise ConfigError(RETIRED_TRANSDUCTIVE)
        graph_k = neighbour_counts(spec.get("graph_k", (10,)))
        if not graph_k or any(k < 1 for k in graph_k):
            raise ConfigError(f"{key}.graph_k={spec.get('graph_k')} must be a neighbour count >= 1 or a non-empty list "
                              "of them, e.g. graph_k=10 or 'graph_k=[10,20]'")
        limits = {"n_jobs": ("!= 0 (a count of processes; -1: all cores; null: the run's torch threads)",
                             lambda v: v != 0),
                  "cv_folds": (">= 2", lambda v: v >= 2), "n_unlabelled": (">= 0", lambda v: v >= 0),
                  "examples_per_class": (">= 0", lambda v: v >= 0)}
        for name, (rule, ok) in limits.items():
            value = spec.get(name)
            if value is not None and not ok(value):
                raise ConfigError(f"{key}.{name}={value} must be {rule}")
        info = dataset_info(cfg.data.get("dataset", "fashion_mnist"))
        least = MIN_LABELS_PER_CLASS * info.n_classes
        # the validation holdout is not drawn from: a budget must fit in what is left, or the run would train and
        # then fail at its heads
        available = info.n_train - parse_n_labels(cfg.data.get("val_size") or 0, "data.val_size", info=info)
        for count in SVMHead.label_budgets(spec.get("n_labels") or (), spec.get("headline"), info):
            if count > available:
                raise ConfigError(f"the SVM head cannot score N={count}: data.val_size={cfg.data.val_size} leaves "
                                  f"{available} training images to draw labels from; lower label_budgets or data.val_size")
            if 0 < count < least:
                raise ConfigError(
                    f"the SVM head cannot score N={count}: its cross-validation needs at least {MIN_LABELS_PER_CLASS} "
                    f"labelled images per class (N >= {least}); raise data.n_labels or "
                    "label_budgets")

    def end_of_run(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        """Fit and score the heads for every N; returns results.json's test_accuracy, heads, active_units, ..."""
        run_dir = Path(trainer.default_root_dir)
        datamodule = trainer.datamodule
        datamodule.setup("fit")
        info = datamodule.info
        self.n_labels = self.label_budgets(self.n_labels, None, info)  # 'all' is this data set's training set
        headline = self.n_labels[0]
        train_labels = datamodule.labels("train").numpy()
        train_means = pl_module.encode_means(datamodule.images("train")).numpy()
        test_means = pl_module.encode_means(datamodule.images("test")).numpy()
        # the mirrors' encodings (None unless mirror): images are (N, H, W), so the last axis is left-right
        mirrored = (lambda array: array[..., ::-1].copy()) if self.mirror else None
        test_mirror_means = pl_module.encode_means(datamodule.images("test").flip(-1)).numpy() if self.mirror else None
        test_labels = datamodule.labels("test").numpy()
        flat = lambda array: array.reshape(len(array), -1)  # noqa: E731
        if self.raw_pixel_baseline:  # the same for every N: once, not once per N
            test_pixels = datamodule.images("test").numpy() / 255.0
            test_views = (flat(test_pixels), flat(mirrored(test_pixels)) if mirrored else None)
        train_pool = datamodule.unlabelled_indices  # training images outside the validation holdout
        unit_std = train_means[train_pool].std(axis=0)
        units = np.flatnonzero(unit_std > ACTIVE_UNIT_STD) if self.active_units_only else np.arange(train_means.shape[1])
        if len(units) == 0:
            units = np.arange(train_means.shape[1])
        jobs = head_jobs(self.n_jobs)
        fitted_on = fitted_on_record(pl_module, trainer.global_step)  # the weights every head below is fitted on
        heads: dict[str, Any] = {}
        examples = first_per_class(test_labels, self.examples_per_class, info.n_classes)
        predicted: dict[str, np.ndarray] = {}
        subsets = {n: sample_label_subset(train_labels, n, self.seed, exclude=datamodule.val_indices, info=info)
                   for n in self.n_labels if n != 0}
        graphs = self._graphs(train_means[:, units], test_means[:, units], datamodule, train_pool, subsets)
        if "m1" in graphs:  # what predict() joins new images to
            graph_heads.save_nodes(run_dir / "checkpoints", graphs["m1"].graph.features, graphs["m1"].nodes)
        for n, indices in subsets.items():
            labels = train_labels[indices]
            entry: dict[str, Any] = {}
            mirror_means = (pl_module.encode_means(datamodule.images("train")[torch.from_numpy(indices)].flip(-1)).numpy()[:, units]
                            if self.mirror else None)
            svm = fit_svm(train_means[indices][:, units], labels, self.seed, self.cv_folds, n_jobs=jobs,
                          mirrored=mirror_means)
            entry["m1_svm"] = score(svm, test_means[:, units], test_labels,
                                    None if test_mirror_means is None else test_mirror_means[:, units])
            # the examples' labels as the head scores the test set (both views averaged when mirror is on);
            # examples_per_class=0 asks for none (a head cannot predict an empty batch)
            if len(examples):
                predicted[f"predicted_n{n}"] = predict(svm.model, test_means[examples][:, units],
                                                       None if test_mirror_means is None
                                                       else test_mirror_means[examples][:, units])
            save_svm(svm.model, run_dir / "checkpoints" / f"svm_head_n{n}.skops")
            if "m1" in graphs:
                entry["m1_best"] = self._best_head(graphs["m1"], indices, labels, svm, entry["m1_svm"], test_labels,
                                                   info.n_classes, run_dir / "checkpoints", n)
                if entry["m1_best"]["params"]["head"] != "svm":
                    predicted[f"predicted_n{n}"] = entry["m1_best"].pop("_predicted")[examples]
                entry["m1_best"].pop("_predicted", None)
            if self.raw_pixel_baseline:
                pixels = datamodule.images("train")[torch.from_numpy(indices)].numpy() / 255.0
                raw = fit_svm(flat(pixels), labels, self.seed, self.cv_folds, n_jobs=jobs,
                              mirrored=flat(mirrored(pixels)) if mirrored else None)
                entry["raw_svm"] = score(raw, test_views[0], test_labels, test_views[1])
                if "raw" in graphs:
                    entry["raw_best"] = self._best_head(graphs["raw"], indices, labels, raw, entry["raw_svm"],
                                                        test_labels, info.n_classes, None, n)
                    entry["raw_best"].pop("_predicted", None)
            heads[str(n)] = entry
            summary = ", ".join(f"{name} {value['accuracy']:.4f}" for name, value in entry.items())
            log.info("N=%d: %s", n, summary)
            self._log(trainer, run_dir, n, entry)
        if graphs:
            metadata_graph = {"nodes": len(graphs["m1"].nodes) if "m1" in graphs else None, "k": list(self.graph_k),
                              "setting": graph_heads.INDUCTIVE.format(nodes=f"{len(next(iter(graphs.values())).nodes):,}"),
                              "transductive": graph_heads.TRANSDUCTIVE if self.graph_transductive else None,
                              "raw_features": "the raw pixels' 50 principal components" if "raw" in graphs else None,
                              "seconds": {name: round(g.seconds, 1) for name, g in graphs.items()}}
        metadata = {"latent_units": units.tolist(), "mirror": self.mirror, "active_units": int((unit_std > ACTIVE_UNIT_STD).sum()), "seed": self.seed,
                    "n_labels": self.n_labels, "heads": {n: {k: v["params"] for k, v in e.items()} for n, e in heads.items()},
                    "fitted_on": fitted_on}
        if graphs:
            metadata["graph"] = metadata_graph
        atomic_write_json(run_dir / "checkpoints" / HEAD_RECORD, metadata)
        if len(examples):
            save_examples(run_dir / EXAMPLES_FILE, pl_module, datamodule.images("test")[torch.from_numpy(examples)],
                          test_labels[examples], predicted)
        primary = heads.get(str(headline), {})
        main = "m1_best" if "m1_best" in primary else "m1_svm"  # the head predict() uses
        results: dict[str, Any] = {
            "test_accuracy": primary.get(main, {}).get("accuracy"),
            "macro_f1": primary.get(main, {}).get("macro_f1"),
            "transductive_accuracy": primary.get("m1_best", {}).get("transductive_accuracy"),
            "raw_pixel_accuracy": primary.get("raw_best" if "raw_best" in primary else "raw_svm", {}).get("accuracy"),
            "active_units": metadata["active_units"],
            "heads": heads,
        }
        if graphs:
            results["graph"] = metadata_graph
        if metadata["active_units"] == 0:
            warning = (f"posterior collapse: no latent unit of the VAE is active (encoder-mean std > {ACTIVE_UNIT_STD} "
                       "over the training images): the encoder means carry little information for the heads; try method.kl_weight < 1 "
                       "or method.free_bits > 0")
            log.warning(warning)
            results["warnings"] = [warning]
        return results

    def _graphs(self, train_means: np.ndarray, test_means: np.ndarray, datamodule: Any, pool: np.ndarray,
                subsets: dict[int, np.ndarray]) -> dict[str, graph_heads.FeatureGraph]:
        """The graphs the heads of every N share: M1's encoder means and (with the raw-pixel baseline) the raw pixels'
        50 principal components (fit on the graph's nodes; a 784-d search costs about 6x), over the same nodes."""
        if not self.graph_heads or not subsets:
            return {}
        labelled = np.unique(np.concatenate(list(subsets.values())))
        nodes = graph_heads.choose_nodes(pool, labelled, self.graph_nodes, self.seed)
        k_max = max(self.graph_k)
        graphs = {"m1": graph_heads.FeatureGraph(train_means, test_means, nodes, k_max, self.seed)}
        log.info("graph heads: kNN graph over %d training encodings in %.1f s", len(nodes), graphs["m1"].seconds)
        if self.raw_pixel_baseline:
            from sklearn.decomposition import PCA

            flat = lambda images: images.reshape(len(images), -1).numpy().astype(np.float32) / 255.0  # noqa: E731
            train_pixels = flat(datamodule.images("train"))
            pca = PCA(50, svd_solver="randomized", random_state=self.seed).fit(train_pixels[nodes])
            graphs["raw"] = graph_heads.FeatureGraph(pca.transform(train_pixels), pca.transform(flat(datamodule.images("test"))),
                                                     nodes, k_max, self.seed)
        return graphs

    def _best_head(self, graph: graph_heads.FeatureGraph, indices: np.ndarray, labels: np.ndarray, svm: Any,
                   svm_entry: dict[str, Any], test_labels: np.ndarray, n_classes: int, checkpoints: Path | None,
                   n: int) -> dict[str, Any]:
        """The best of the graph heads and the SVM by CV on the labelled images (the SVM's folds); its test metrics,
        the images' setting, and (``checkpoints``) the chosen graph head saved for predict()."""
        splits = list(_cv(labels, self.cv_folds, self.seed).split(np.zeros(len(labels)), labels))
        choice = graph.choose(indices, labels, splits, self.graph_k, svm.cv_accuracy, n_classes)
        if choice.head == "svm":
            entry = {key: svm_entry[key] for key in ("accuracy", "macro_f1", "confusion_matrix")}
            entry["setting"] = "inductive: the SVM"
        else:
            test_predicted = graph.test_scores(choice).argmax(axis=1)
            if checkpoints is not None:  # scored by the saved head itself: what predict() gives the test images
                graph_heads.save_head(checkpoints, n, choice, graph_heads.NODES_FILE)
                test_predicted = graph_heads.StoredGraphHead.load(checkpoints, n).predict(graph.test_features)
            entry = {**classification_metrics(test_labels, test_predicted), "setting": "inductive", "_predicted": test_predicted}
            if checkpoints is not None:
                if self.graph_transductive:
                    transductive = graph.transductive_test_scores(choice, indices, labels, n_classes).argmax(axis=1)
                    entry["transductive_accuracy"] = float((transductive == test_labels).mean())
        return {**entry, "params": choice.params, "cv_accuracy": choice.cv_accuracy, "fit_seconds": round(choice.seconds, 2)}

    def _log(self, trainer: L.Trainer, run_dir: Path, n: int, entry: dict[str, Any]) -> None:
        log_confusion(trainer, run_dir, n, entry["m1_svm"]["confusion_matrix"],
                      f"M1 + RBF-SVM, N={n}: test accuracy {entry['m1_svm']['accuracy']:.3f}",
                      {name: value["accuracy"] for name, value in entry.items()})


def first_per_class(labels: np.ndarray, per_class: int, n_classes: int) -> np.ndarray:
    """Indices of the first ``per_class`` images of each class in ``labels`` (int64, class by class): a fixed,
    seed-free choice, so runs of different seeds show the same test images."""
    return np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in range(n_classes)]).astype(np.int64)


@torch.no_grad()
def save_examples(path: Path, pl_module: L.LightningModule, images: torch.Tensor, labels: np.ndarray,
                  predicted: dict[str, np.ndarray]) -> None:
    """``path`` (npz): ``images`` and ``reconstructions`` uint8 (K, H, W) (the decoder's Bernoulli means at the
    encoder means), ``labels`` int64 (K,) and, per scored N, ``predicted_n<N>`` int64 (K,): the SVM head's labels."""
    means = pl_module.encode_means(images).to(pl_module.device)
    with eval_mode(pl_module):
        reconstructions = torch.sigmoid(pl_module.decoder(means).float()).cpu().reshape(images.shape)
    arrays = {"images": images.numpy().astype(np.uint8), "labels": labels.astype(np.int64),
              "reconstructions": (reconstructions * 255).round().clamp(0, 255).to(torch.uint8).numpy(), **predicted}

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:  # a file object: given a name, numpy would append .npz to the temp file's
            np.savez_compressed(handle, **arrays)

    atomic_write(path, write)
