"""Every Lightning Callback of ssgen, one concern per file; each has its YAML in ``conf/callbacks/``.

    checkpointing.py        LastCheckpoint, RecordModuleClass, CheckpointOnInterrupt: nothing is lost
    svm_head.py             SVMHead: M1's RBF-SVM (and transductive, raw-pixel) heads on the encoder means
    classifier_test_score.py ClassifierTestScore: M2's q(y|x) on the test set (or on held-out labels)
    generative_metrics.py   GenerativeMetrics: FID / KID / class-consistency / precision / recall / class spread
                            during and after training
    failed_convergence.py   FailedConvergence: stop a GAN that diverged, collapsed or stalled; flag (not stop)
                            partial collapse in results.json

How results reach results.json: a callback that contributes to it is an ``EndOfRunStep``. After training
has ended and ``checkpoints/last.ckpt`` is on disk, ``ssgen.train`` calls ``end_of_run`` of each such callback
in config order, each on its own: the dict it returns is merged into results.json, and one that raises is
recorded as ``steps[<step_name>] = "failed: <Type>: <why>"`` without costing the weights or the results of
the other steps (``steps[<step_name>] = "ok"`` for the others). A relaunch of the same command into the run
dir re-runs the steps on the trained model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L


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


def log_confusion(trainer: L.Trainer, run_dir: Path, n: int | str, confusion: Any, title: str,
                  accuracies: dict[str, float]) -> None:
    """A head's test confusion matrix as ``<run_dir>/confusion_n<n>.png`` and in TensorBoard (``heads/confusion_n<n>``),
    with ``heads/<name>_accuracy_n<n>`` scalars for each entry of ``accuracies`` (fractions in [0, 1])."""
    import matplotlib.pyplot as plt

    from ssgen.figures import confusion_figure
    from ssgen.io import save_figure

    figure = confusion_figure(confusion, title)
    try:
        save_figure(figure, run_dir / f"confusion_n{n}.png", dpi=120)
        logger = trainer.logger
        if logger is not None:
            if hasattr(logger.experiment, "add_figure"):
                logger.experiment.add_figure(f"heads/confusion_n{n}", figure, trainer.global_step)
            logger.log_metrics({f"heads/{name}_accuracy_n{n}": value for name, value in accuracies.items()},
                               step=trainer.global_step)
    finally:
        plt.close(figure)
