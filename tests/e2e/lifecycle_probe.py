"""Callbacks the lifecycle tests add to real ``ssgen-train`` runs (``+callbacks.<name>._target_=lifecycle_probe.X``,
with this folder on PYTHONPATH): they observe or break a run from inside, as a user's own callback could."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning as L
import torch

from ssgen.callbacks import EndOfRunStep


class CheckpointProbe(L.Callback):
    """At the start of every batch, the optimizer step recorded in last.ckpt (-1: no file yet) beside the
    trainer's: appended to ``<run_dir>/probe.jsonl``, so a test sees what a SIGKILL at that moment would cost."""

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        path = Path(trainer.default_root_dir) / "checkpoints" / "last.ckpt"
        saved = torch.load(path, map_location="cpu", weights_only=True)["global_step"] if path.is_file() else -1
        record = {"epoch": trainer.current_epoch, "batch": batch_idx, "step": trainer.global_step, "saved_step": saved}
        with open(Path(trainer.default_root_dir) / "probe.jsonl", "a") as handle:
            handle.write(json.dumps(record) + "\n")


class BrokenStep(EndOfRunStep):
    """An end-of-run step that fails, and notes whether last.ckpt was on disk when it ran."""

    step_name = "broken"

    def end_of_run(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        last = Path(trainer.default_root_dir) / "checkpoints" / "last.ckpt"
        (Path(trainer.default_root_dir) / "broken_step_saw_last_ckpt").write_text(str(last.is_file()))
        raise RuntimeError("this step always fails")
