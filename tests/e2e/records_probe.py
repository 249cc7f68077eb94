"""Callbacks the records end-to-end tests add to real ``ssgen-train`` runs (``+callbacks.<name>._target_=records_probe.X``,
with this folder on PYTHONPATH)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import lightning as L


class WaitInSetup(L.Callback):
    """Holds a run in its setup (as the evaluator training of a first GAN run does, for minutes) until ``release``
    exists: ``<run_dir>/probe_waiting`` says it got there. A live process that holds its run dir, for a test."""

    def __init__(self, release: str, timeout_s: float = 600.0) -> None:
        self.release, self.timeout_s = Path(release), timeout_s

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        (Path(trainer.default_root_dir) / "probe_waiting").write_text("waiting")
        deadline = time.time() + self.timeout_s
        while not self.release.exists() and time.time() < deadline:
            time.sleep(0.1)


class TerminalGoneAtBatch(L.Callback):
    """An ssh session that drops at the start of batch ``at_batch``: the console goes away (stdout and stderr become a
    pipe nobody reads) and the process gets SIGHUP, once per run dir."""

    def __init__(self, at_batch: int = 2) -> None:
        self.at_batch = at_batch

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        marker = Path(trainer.default_root_dir) / "terminal_gone"
        if batch_idx != self.at_batch or marker.exists():
            return
        marker.write_text("gone")
        read, write = os.pipe()
        os.close(read)  # nobody reads the console any more
        os.dup2(write, 1)
        os.dup2(write, 2)
        os.close(write)
        os.kill(os.getpid(), signal.SIGHUP)
