"""M2 / M1+M2's classifier q(y|x) scored once at the end of training: on the test set, or on held-out labels.

    ssgen-train method=m2 data.n_labels=100                            # test accuracy -> results.json
    ssgen-train method=m2 data.n_labels=600 data.labelled_holdout=0.2  # a selection run: never the test set

Configured in ``conf/callbacks/classifier_test_score.yaml`` (``method.callbacks.test_score`` of m2 / m1_m2).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np

from ssgen.callbacks import EndOfRunStep, log_confusion
from ssgen.models.heads import classification_metrics

log = logging.getLogger("ssgen")


class ClassifierTestScore(EndOfRunStep):
    """At the end of training, classify the 10k test set with q(y|x) once; ``results()`` feeds results.json.

    Nothing is chosen with these numbers (no early stopping, no checkpoint selection): the run trains
    for its epoch budget and the last weights are scored. The head is keyed by the module's
    ``head_key`` ('m2' or 'm1_m2') under ``heads[str(N)]`` with N = data.n_labels, as M1's SVM heads.

    A selection run (``data.labelled_holdout > 0``) is scored on its held-out labelled images instead,
    after every epoch (``val/labelled_holdout_accuracy``; results.json ``holdout_accuracy_by_epoch``), and
    never on the test set, so choosing alpha or the epoch count from it cannot peek at the test set.
    """

    step_name = "classifier_test_score"

    def __init__(self) -> None:
        self.holdout_curve: list[float] = []  # held-out accuracy after epoch 1, 2, ...; kept in checkpoints

    def state_dict(self) -> dict[str, Any]:
        return {"holdout_curve": list(self.holdout_curve)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.holdout_curve = list(state_dict.get("holdout_curve", []))

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        datamodule = trainer.datamodule
        if not getattr(datamodule, "n_labelled_holdout", 0) or trainer.sanity_checking:
            return
        accuracy = pl_module.split_accuracy(datamodule, "labelled_holdout")
        del self.holdout_curve[trainer.current_epoch:]  # a resumed run replays nothing twice
        self.holdout_curve.append(accuracy)
        pl_module.log("val/labelled_holdout_accuracy", accuracy, on_step=False, on_epoch=True)

    def end_of_run(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        """Test accuracy (or, for a selection run, the held-out curve); the keys results.json gets."""
        datamodule = trainer.datamodule
        datamodule.setup("fit")
        n = str(datamodule.n_labels)
        key = pl_module.head_key
        labelled_accuracy = pl_module.split_accuracy(datamodule, "labelled")
        if getattr(datamodule, "n_labelled_holdout", 0):
            curve = self.holdout_curve
            best_epoch = int(np.argmax(curve)) + 1 if curve else None
            results: dict[str, Any] = {"selection": {
                "head": key, "n_labels": int(n), "alpha": float(pl_module.alpha),
                # the rule to carry to the final run on all N labels (alpha itself depends on N_labelled)
                "alpha_factor": None if pl_module.hparams.alpha is not None else float(pl_module.hparams.alpha_factor),
                "n_labelled_holdout": int(datamodule.n_labelled_holdout), "labelled_accuracy": labelled_accuracy,
                "holdout_accuracy_by_epoch": list(curve),
                "best_epoch": best_epoch}}
            if curve:
                results["holdout_accuracy"] = curve[-1]
                log.info("%s, N=%s selection run: held-out accuracy %.4f after epoch %d (best %.4f at epoch %d); "
                         "the test set is not scored", key, n, curve[-1], len(curve), max(curve), best_epoch)
            return results
        test_labels = datamodule.labels("test").numpy()
        predicted = pl_module.predict_labels(datamodule.images("test")).numpy()
        entry = {**classification_metrics(test_labels, predicted), "params": {"alpha": float(pl_module.alpha)},
                 "labelled_accuracy": labelled_accuracy}
        log.info("%s, N=%s: test accuracy %.4f, macro-F1 %.4f", key, n, entry["accuracy"], entry["macro_f1"])
        self._write_figure(trainer, Path(trainer.default_root_dir), n, key, entry)
        return {"test_accuracy": entry["accuracy"], "macro_f1": entry["macro_f1"], "heads": {n: {key: entry}}}

    def _write_figure(self, trainer: L.Trainer, run_dir: Path, n: str, key: str, entry: dict[str, Any]) -> None:
        label = {"m2": "M2", "m1_m2": "M1 + M2"}.get(key, key)
        log_confusion(trainer, run_dir, n, entry["confusion_matrix"],
                      f"{label} classifier q(y|x), N={n}: test accuracy {entry['accuracy']:.3f}", {key: entry["accuracy"]})
