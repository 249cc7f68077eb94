"""Every Lightning Callback of ssgen, one concern per file; each has its YAML in ``conf/callbacks/``.

    checkpointing.py        LastCheckpoint, RecordModuleClass, CheckpointOnInterrupt: nothing is lost
    thread_budget.py        ThreadBudget: the CPU thread pool sized to the cores other processes leave free
    svm_head.py             SVMHead: M1's RBF-SVM (and transductive, raw-pixel) heads on the encoder means
    classifier_test_score.py ClassifierTestScore: M2's q(y|x) on the test set (or on held-out labels)
    generative_metrics.py   GenerativeMetrics: FID / KID / class-consistency / precision / recall / class spread
                            during and after training
    failed_convergence.py   FailedConvergence: stop a GAN that diverged, collapsed or stalled; flag (not stop)
                            partial collapse in results.json

How results reach results.json: a callback that contributes to it is an ``EndOfRunStep``. After training
has ended and ``checkpoints/last.ckpt`` is on disk, ``ssgen.train.run_end_of_run_steps`` calls ``end_of_run`` of
each such callback in config order, each on its own: the dict it returns is merged into results.json, and one that raises is
recorded as ``steps[<step_name>] = "failed: <Type>: <why>"`` without costing the weights or the results of
the other steps (``steps[<step_name>] = "ok"`` for the others). A relaunch of the same command into the run
dir re-runs the steps on the trained model.

``log_confusion`` draws a head's test confusion matrix (a PNG in the run dir and an image in TensorBoard) for the
steps that score a classifier on the test set (``svm_head``, ``classifier_test_score``). It lives with them, not in
``ssgen.reporting``, because training never imports the reporting layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np

from ssgen.io import save_figure
from ssgen.loggers import log_figure


class EndOfRunStep(L.Callback):
    """A callback whose end-of-run work feeds results.json (see the module docstring).

    Subclasses set ``step_name`` (its key in results.json ``steps``) and implement ``end_of_run``; it runs on
    global rank 0 only, after ``trainer.fit`` returned, so ``self.log`` is not available there (use
    ``trainer.logger`` directly). Raise anything to mark the step failed: the others still run.
    """

    step_name = "end_of_run"

    def end_of_run(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        """Do the step; return the keys it adds to results.json (an empty dict for none)."""
        raise NotImplementedError


# ------------------------------------------------------------------------------------------------ confusion matrices
def confusion_figure(matrix: list[list[int]], title: str, class_names: Sequence[str] | None = None) -> Any:
    """A matplotlib figure of a (K, K) confusion matrix of counts (rows: true class, columns: predicted), each
    cell labelled with its count, the axes with ``class_names`` (the data set's; None: the indices); the caller
    closes it."""
    import matplotlib  # imported here: a run whose heads draw nothing never loads matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix_array = np.asarray(matrix)
    names = list(class_names) if class_names is not None else [str(index) for index in range(len(matrix_array))]
    figure, axis = plt.subplots(figsize=(6.5, 5.5))
    image = axis.imshow(matrix_array, cmap="Blues")
    axis.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    axis.set_yticks(range(len(names)), names, fontsize=8)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    for (row, column), value in np.ndenumerate(matrix_array):
        axis.text(column, row, str(value), ha="center", va="center", fontsize=6,
                  color="white" if value > matrix_array.max() / 2 else "black")
    axis.set_title(title, fontsize=10)
    figure.colorbar(image, ax=axis, fraction=0.046)
    figure.tight_layout()
    return figure


def log_confusion(trainer: L.Trainer, run_dir: Path, n: int | str, confusion: Any, title: str,
                  accuracies: dict[str, float]) -> None:
    """A head's test confusion matrix as ``<run_dir>/confusion_n<n>.png`` and in TensorBoard (``heads/confusion_n<n>``),
    with ``heads/<name>_accuracy_n<n>`` scalars for each entry of ``accuracies`` (fractions in [0, 1])."""
    import matplotlib.pyplot as plt

    info = getattr(trainer.datamodule, "info", None)  # the run's data set names the classes
    figure = confusion_figure(confusion, title, info.class_names if info is not None else None)
    try:
        save_figure(figure, run_dir / f"confusion_n{n}.png", dpi=120)
        # every tracker gets the scalars (a stand-in trainer may have only ``logger``)
        loggers = getattr(trainer, "loggers", None) or [logger for logger in [getattr(trainer, "logger", None)] if logger]
        log_figure(loggers, f"heads/confusion_n{n}", figure, trainer.global_step)
        for logger in loggers:
            logger.log_metrics({f"heads/{name}_accuracy_n{n}": value for name, value in accuracies.items()},
                               step=trainer.global_step)
    finally:
        plt.close(figure)
