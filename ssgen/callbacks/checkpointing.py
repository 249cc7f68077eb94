"""Nothing a run trained is lost: ``last.ckpt`` every epoch and every N optimizer steps, and on SIGTERM / Ctrl-C.

    ssgen-train ... callbacks.last_checkpoint.every_n_train_steps=200     # a SIGKILL costs at most 200 steps

``LastCheckpoint`` (``conf/callbacks/last_checkpoint.yaml``) replaces Lightning's ``ModelCheckpoint(save_last=True,
save_top_k=0)``, which in Lightning 2.6 writes ``last.ckpt`` only at the end of fit (it saves 'last' only when a
top-k file was saved), and whose ``every_n_train_steps`` tests ``global_step % N == 0``: a GAN's global step
grows by 1 + 1/n_critic per batch, so with ``n_critic=2`` it jumps over every third multiple of 500.
``RecordModuleClass`` and ``CheckpointOnInterrupt`` are added to every run by ``ssgen.train``; every checkpoint is
written through ``AtomicCheckpointIO`` (a temp file beside it, renamed into place).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.exceptions import SIGTERMException

from ssgen.compat import uncompiled
from ssgen.io import RUN_DIR_FIX, atomic_write

log = logging.getLogger("ssgen")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints go to a temp file beside their destination and are renamed into place: a crash never leaves a
    half-written .ckpt, and nothing passes through the system temp dir (Lightning's own save writes the whole
    checkpoint there first, so a small ``$TMPDIR`` fails every save whatever room the run dir has). A disk that is
    full or read-only is one StorageError line naming the file; the previous checkpoint stays as it was."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        """Write ``checkpoint`` to ``path`` atomically. Raises StorageError (disk full, read-only dir) and, as
        Lightning's does, TypeError for ``storage_options``."""
        if storage_options is not None:
            raise TypeError(f"storage_options are not supported by {type(self).__name__}")
        # one trainer owns its checkpoint dir, so any other temp of this file is a killed save's leftover; a run dir
        # that vanished (deleted, unmounted) is a StorageError, not made anew around a lone checkpoint; a full disk is
        # one line even though torch.save raises RuntimeError for it (ssgen.io.storage_fault)
        atomic_write(path, lambda tmp: torch.save(checkpoint, tmp), clear_leftovers=True, fix=RUN_DIR_FIX,
                     within=Path(path).parent.parent)


class LastCheckpoint(Checkpoint):
    """Keep ``<dirpath>/last.ckpt`` current: at the end of every epoch, whenever the optimizer step count has
    crossed a multiple of ``every_n_train_steps`` since the last save (whatever it grows by per batch), and
    at the end of fit. Written atomically by the trainer's checkpoint IO (``AtomicCheckpointIO``).

    Args:
        dirpath: the checkpoint directory (``<run_dir>/checkpoints``).
        every_n_train_steps: optimizer steps between mid-epoch saves; 0 = only at epoch ends.
        every_n_epochs: epochs between epoch-end saves (1 = every epoch); 0 = none.
    """

    FILE_NAME = "last.ckpt"

    def __init__(self, dirpath: str, every_n_train_steps: int = 500, every_n_epochs: int = 1) -> None:
        if every_n_train_steps < 0 or every_n_epochs < 0:
            raise ValueError("every_n_train_steps and every_n_epochs must be >= 0")
        self.dirpath = dirpath
        self.every_n_train_steps, self.every_n_epochs = every_n_train_steps, every_n_epochs
        self.last_saved_step: int | None = None

    @property
    def path(self) -> Path:
        return Path(self.dirpath) / self.FILE_NAME

    def _skip(self, trainer: L.Trainer) -> bool:
        return bool(trainer.fast_dev_run) or trainer.sanity_checking or self.last_saved_step == trainer.global_step

    def save(self, trainer: L.Trainer) -> None:
        """Write last.ckpt now (all ranks call it: the strategy lets rank 0 write)."""
        trainer.save_checkpoint(self.path, weights_only=False)  # the full state: a relaunch resumes from it
        self.last_saved_step = trainer.global_step

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # a resumed run: its checkpoint was written at this step, no need to write it again
        self.last_saved_step = trainer.global_step if trainer.ckpt_path else None

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if self.every_n_train_steps < 1 or self._skip(trainer):
            return
        previous = self.last_saved_step or 0
        if trainer.global_step // self.every_n_train_steps > previous // self.every_n_train_steps:
            self.save(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.every_n_epochs >= 1 and (trainer.current_epoch + 1) % self.every_n_epochs == 0 and not self._skip(trainer):
            self.save(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._skip(trainer):  # a step budget (max_steps) can end mid-epoch
            self.save(trainer)


class RecordModuleClass(L.Callback):
    """Stores the LightningModule's import path in every checkpoint, so commands can rebuild it safely."""

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        cls = type(uncompiled(pl_module))
        checkpoint["ssgen_module"] = f"{cls.__module__}.{cls.__qualname__}"


class CheckpointOnInterrupt(L.Callback):
    """On SIGTERM (cluster pre-emption, ``kill``) or Ctrl-C, save last.ckpt before Lightning stops the run.

    The data loaders are stateful, so a relaunch into the same run dir continues at the next batch and ends
    with the same number of optimizer steps as an uninterrupted run. ``interrupted`` names the signal's
    exception afterwards: Lightning turns Ctrl-C into ``sys.exit(1)``, and ``ssgen.train`` reads this to
    record the run as interrupted rather than let the exit through.
    """

    def __init__(self) -> None:
        self.interrupted: str | None = None
        self.training = False  # a stop before the loop (setup: the evaluator trains) has nothing to save

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.training = True

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException | KeyboardInterrupt):
            self.interrupted = type(exception).__name__
            # before the loop the weights are not yet trained, nor restored on a resume: saving them would overwrite
            # the last.ckpt being resumed
            if self.training and self.all_ranks_stopped_here(trainer):
                # every rank calls it: rank 0 writes, and the save ends in a barrier that all ranks must reach
                path = Path(trainer.default_root_dir) / "checkpoints" / LastCheckpoint.FILE_NAME
                trainer.save_checkpoint(path, weights_only=False)
                if trainer.global_rank == 0:
                    log.warning("interrupted: saved %s at optimizer step %d", path, trainer.global_step)

    @staticmethod
    def all_ranks_stopped_here(trainer: L.Trainer) -> bool:
        """Whether every rank is in this same stop: always in one process; under DDP only for the stop the ranks
        agreed on after a batch (``ssgen.run.stops.StopSignals`` sets Lightning's SIGTERM flag on all of them at
        once). A stop at once (a second Ctrl-C) saves nothing there: the other ranks never reach the save's
        barrier; the last periodic last.ckpt stays."""
        return trainer.world_size == 1 or trainer.received_sigterm
