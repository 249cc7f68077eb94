"""Callbacks the stop tests add to real runs (``+callbacks.<name>._target_=stop_probe.X``, this folder on
PYTHONPATH): each sends a signal to its own process at one point of a run, once per run dir (a marker file), and then
works on as the code there would (the evaluator training in a callback's setup, an end-of-run step)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import lightning as L

from ssgen.callbacks import EndOfRunStep


def fire(run_dir: str, name: str, seconds: float) -> None:
    """Send ``name`` (SIGTERM, SIGINT) to this process once per run dir, then keep busy for ``seconds``; a
    ``<run_dir>/went_on`` file says the signal did not stop the work."""
    marker = Path(run_dir) / "stop_probe_fired"
    if marker.exists():
        return
    marker.write_text(name)
    os.kill(os.getpid(), getattr(signal, name))
    deadline = time.time() + seconds
    while time.time() < deadline:
        time.sleep(0.01)
    (Path(run_dir) / "went_on").write_text(name)


class SignalInSetup(L.Callback):
    """The signal in ``setup``: where GenerativeMetrics trains the evaluator, before Lightning installs its handlers."""

    def __init__(self, signal: str = "SIGTERM", seconds: float = 20.0) -> None:
        self.signal, self.seconds = signal, seconds

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        fire(trainer.default_root_dir, self.signal, self.seconds)


class SignalAtEndOfRun(EndOfRunStep):
    """The signal in an end-of-run step: after Lightning put the previous handlers back."""

    step_name = "signal_probe"

    def __init__(self, signal: str = "SIGTERM", seconds: float = 20.0) -> None:
        self.signal, self.seconds = signal, seconds

    def end_of_run(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        fire(trainer.default_root_dir, self.signal, self.seconds)
        return {}


class SignalAtBatch(L.Callback):
    """The signal at the start of batch ``at_batch`` of the first epoch, in run dirs whose name starts with
    ``dir_prefix`` (a sweep's job 0: '0_'), inside Lightning's loop."""

    def __init__(self, at_batch: int = 2, signal: str = "SIGTERM", dir_prefix: str = "") -> None:
        self.at_batch, self.signal, self.dir_prefix = at_batch, signal, dir_prefix

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if batch_idx == self.at_batch and Path(trainer.default_root_dir).name.startswith(self.dir_prefix):
            fire(trainer.default_root_dir, self.signal, 0.0)
