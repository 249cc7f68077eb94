"""Every Lightning Callback of ssgen, one concern per file; each has its YAML in ``conf/callbacks/``.

    checkpointing.py        LastCheckpoint, RecordModuleClass, CheckpointOnInterrupt: nothing is lost
    thread_budget.py        ThreadBudget: the CPU thread pool sized to the cores other processes leave free
    svm_head.py             SVMHead: M1's RBF-SVM (and transductive, raw-pixel) heads on the encoder means
    classifier_test_score.py ClassifierTestScore: M2's q(y|x) on the test set (or on held-out labels)
    generative_metrics.py   GenerativeMetrics: FID / KID / class-consistency / precision / recall / class spread
                            during and after training
    failed_convergence.py   FailedConvergence: stop a GAN that diverged, collapsed or stalled; flag (not stop)
                            partial collapse in results.json
    confusion.py            a head's test confusion matrix as a PNG and in TensorBoard (not a callback)

How results reach results.json: a callback that contributes to it is an ``EndOfRunStep``. After training
has ended and ``checkpoints/last.ckpt`` is on disk, ``ssgen.train`` calls ``end_of_run`` of each such callback
in config order, each on its own: the dict it returns is merged into results.json, and one that raises is
recorded as ``steps[<step_name>] = "failed: <Type>: <why>"`` without costing the weights or the results of
the other steps (``steps[<step_name>] = "ok"`` for the others). A relaunch of the same command into the run
dir re-runs the steps on the trained model.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

import lightning as L

from ssgen.results import failure_status

log = logging.getLogger("ssgen")


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



def run_end_of_run_steps(trainer: L.Trainer, model: L.LightningModule, callbacks: list[L.Callback]) -> dict[str, Any]:
    """Each ``EndOfRunStep`` on its own, in config order: results merged, a raising step recorded in ``steps``."""
    results: dict[str, Any] = {"steps": {}}
    for callback in callbacks:
        if not isinstance(callback, EndOfRunStep):
            continue
        try:
            contributed = callback.end_of_run(trainer, model) or {}
        except Exception as exc:  # one step's failure must cost neither the weights nor the other steps' results
            results["steps"][callback.step_name] = failure_status(exc)
            log.error("end-of-run step %s failed: %s\n%s", callback.step_name, exc, traceback.format_exc())
            continue
        warnings = results.get("warnings", []) + contributed.pop("warnings", [])
        results.update(contributed)
        if warnings:
            results["warnings"] = warnings
        results["steps"][callback.step_name] = "ok"
    return results
