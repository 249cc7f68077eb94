"""The end-of-run audit: a run is ``ok`` only if it trained as its record says, for every method, in one place.

    ssgen-train trainer.limit_train_batches=0      # failed: trained nothing: 0 optimizer steps (...)
    ssgen-train method.lr=1e4                      # failed: diverged: non-finite loss (nan) at batch 2

Three parts, all used by ``ssgen.train``:

* ``check_resume`` (before anything is written): a resume only from a checkpoint of the same method (the same
  LightningModule class: the class fixes the objective and the optimizer types, so another method's Adam or
  RMSprop state and step counts would train on under this run's name), with finite weights, and at the batch
  size it stopped at when it stopped mid-epoch (the data loader resumes by batch index: another size would
  skip or repeat images of that epoch). Each refusal is one ConfigError line.
* ``RunAudit`` (a callback every run gets): after a restore, the optimizers take this config's settings (a
  restored optimizer keeps its saved lr and betas, NOTES.md); non-finite training losses stop every method with
  automatic optimization as ``FailedConvergence`` stops the GANs; the images each epoch trains on are counted
  (kept in checkpoints, so a resumed epoch is counted whole).
* ``audit_fit`` (after ``trainer.fit``, before any end-of-run step): finite weights and buffers, optimizer steps
  > 0 and as many as the batches trained imply, every finished epoch as many images as the budget gives, and
  the optimizers' settings those of the config recorded. ``TrainingFailed`` for non-finite weights (a diverged
  run: restarts apply), ``AuditFailed`` for the rest; ``train`` records either as ``failed: <why>``, last.ckpt kept.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig

from ssgen.callbacks.checkpointing import LastCheckpoint
from ssgen.callbacks.failed_convergence import ACCELERATOR_READ_EVERY
from ssgen.compat import uncompiled
from ssgen.errors import ConfigError, SSGenError, TrainingFailed
from ssgen.models.checkpoints import MAX_NAMED, nonfinite_tensors, read_checkpoint
from ssgen.models.checkpoints import name_some as _named

log = logging.getLogger("ssgen")

# the optimizer settings a config sets (Adam, RMSprop, SGD); flags such as foreach / fused are how it runs, not what
HYPER_KEYS = ("lr", "betas", "eps", "weight_decay", "momentum", "alpha", "dampening", "nesterov", "centered",
              "amsgrad", "maximize")


class AuditFailed(SSGenError):
    """The end-of-run audit found that the run did not train as its record would say; results.json says why."""


# ------------------------------------------------------------------------------------------------ optimizers
def _optimizers(configured: Any) -> list[torch.optim.Optimizer]:
    """The optimizers in whatever ``configure_optimizers`` returned (one, a list, a dict, (optimizers, schedulers))."""
    if isinstance(configured, torch.optim.Optimizer):
        return [configured]
    if isinstance(configured, dict):
        return _optimizers(configured.get("optimizer"))
    if isinstance(configured, list | tuple):
        if len(configured) == 2 and all(isinstance(item, list | tuple) for item in configured):
            return _optimizers(configured[0])  # (optimizers, schedulers)
        return [optimizer for item in configured for optimizer in _optimizers(item)]
    return []


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple | list) else value


def optimizer_settings(optimizers: Iterable[torch.optim.Optimizer]) -> list[list[dict[str, Any]]]:
    """Per optimizer, per param group, the ``HYPER_KEYS`` it holds (betas as lists): what results.json records."""
    return [[{key: _plain(group[key]) for key in HYPER_KEYS if key in group} for group in optimizer.param_groups]
            for optimizer in optimizers]


def configured_settings(model: L.LightningModule) -> list[list[dict[str, Any]]]:
    """The settings this module's ``configure_optimizers`` gives now (from its hyper-parameters: the config's)."""
    return optimizer_settings(_optimizers(uncompiled(model).configure_optimizers()))


def apply_configured_settings(trainer: L.Trainer, model: L.LightningModule) -> list[str]:
    """Set the trainer's (possibly restored) optimizers to this config's settings; returns what changed.

    Lightning restores an optimizer with its saved param_groups, so ``method.lr=1e-6`` on a resume would
    otherwise train on at the old rate while the config, the checkpoint's hyper-parameters and config_hash
    all say 1e-6.
    """
    changes = []
    wanted = configured_settings(model)
    for index, (optimizer, groups) in enumerate(zip(trainer.optimizers, wanted, strict=False)):
        for group, settings in zip(optimizer.param_groups, groups, strict=False):
            for key, value in settings.items():
                if _plain(group.get(key)) != value:
                    changes.append(f"optimizer {index} {key} {_plain(group.get(key))} -> {value}")
                    group[key] = tuple(value) if isinstance(value, list) else value
    return changes


# ------------------------------------------------------------------------------------------------ the callback
class RunAudit(L.Callback):
    """Applies the config's optimizer settings after a restore, stops on a non-finite loss, counts images per epoch.

    Its state (the batch size, the current epoch's batches and images, the finished epochs' image counts) goes
    into every checkpoint, so ``check_resume`` can see a mid-epoch checkpoint's batch size and ``audit_fit``
    counts a resumed epoch whole.
    """

    def __init__(self) -> None:
        self.batch_size: int | None = None  # of the training stream, as last trained
        self.batches_per_epoch: int | None = None
        self.epoch, self.epoch_batches, self.epoch_images = -1, 0, 0  # the epoch being trained and what it saw
        self.epochs: dict[str, list[int | None]] = {}  # finished epoch -> [images seen, images the budget gives]
        self.fit_start_step, self.fit_batches = 0, 0
        self.changed_settings: list[str] = []
        self._losses: list[torch.Tensor] = []  # losses not yet read back (on a GPU each read waits for the device)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.changed_settings = apply_configured_settings(trainer, pl_module)
        if self.changed_settings:
            log.info("resumed optimizers set to this run's config: %s", "; ".join(self.changed_settings))
        self.fit_start_step, self.fit_batches = trainer.global_step, 0
        self.batches_per_epoch = int(trainer.num_training_batches) if math.isfinite(trainer.num_training_batches) else None
        self.batch_size = getattr(trainer.train_dataloader, "batch_size", None)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch != self.epoch:  # a resumed epoch keeps the counts its checkpoint brought
            self.epoch, self.epoch_batches, self.epoch_images = trainer.current_epoch, 0, 0

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self.fit_batches += 1
        self.epoch_batches += 1
        self.epoch_images += len(batch[0])
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs  # the GANs' losses: FailedConvergence
        if isinstance(loss, torch.Tensor):
            self._losses.append(loss.detach().float().reshape(()))
            if loss.device.type == "cpu" or len(self._losses) >= ACCELERATOR_READ_EVERY:
                self.judge_losses(trainer)

    def judge_losses(self, trainer: L.Trainer) -> None:
        """TrainingFailed naming the first batch whose loss is not finite, among those not yet read."""
        if not self._losses:
            return
        values, self._losses = torch.stack(self._losses).tolist(), []
        first = trainer.fit_loop.total_batch_idx + 2 - len(values)  # 1-based batch number of values[0]
        for offset, value in enumerate(values):
            if not math.isfinite(value):
                raise TrainingFailed(f"diverged: non-finite loss ({value}) at batch {first + offset}")

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.judge_losses(trainer)
        self.epochs[str(self.epoch)] = [self.epoch_images, expected_epoch_images(trainer)]

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.judge_losses(trainer)

    @property
    def mid_epoch(self) -> bool:
        """Whether the state stands inside an epoch (a batch of it trained, not all of them)."""
        return 0 < self.epoch_batches < (self.batches_per_epoch or 0)

    def state_dict(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size, "batches_per_epoch": self.batches_per_epoch, "epoch": self.epoch,
                "epoch_batches": self.epoch_batches, "epoch_images": self.epoch_images, "epochs": dict(self.epochs),
                "mid_epoch": self.mid_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.epoch = int(state_dict.get("epoch", -1))
        self.epoch_batches = int(state_dict.get("epoch_batches", 0))
        self.epoch_images = int(state_dict.get("epoch_images", 0))
        self.epochs = {str(key): list(value) for key, value in state_dict.get("epochs", {}).items()}


def expected_epoch_images(trainer: L.Trainer) -> int | None:
    """Images one epoch of the current budget trains on (``limit_train_batches`` included), per rank; None when
    the epoch may end early (``max_steps`` reached, ``max_time``, a callback's stop) or the loader is not ssgen's."""
    loader = trainer.train_dataloader
    if trainer.should_stop or not hasattr(loader, "images") or not math.isfinite(trainer.num_training_batches):
        return None
    if trainer.max_steps not in (None, -1) and trainer.global_step >= trainer.max_steps:
        return None
    per_rank = -(-len(loader.images) // max(1, getattr(loader, "world_size", 1)))
    return min(int(trainer.num_training_batches) * loader.batch_size, per_rank)


# ------------------------------------------------------------------------------------------------ before a resume
def _method_names() -> dict[str, str]:
    from ssgen.config.files import method_targets

    return {target: name for name, target in method_targets().items()}


def check_resume(cfg: DictConfig, ckpt_path: str | Path) -> None:
    """Refuse, before anything is written, a resume that could not train on as this command says (ConfigError):
    a checkpoint of another method, non-finite weights, or a changed ``data.batch_size`` at a mid-epoch stop.
    Raises CheckpointError for an unreadable checkpoint."""
    checkpoint = read_checkpoint(ckpt_path)
    given = f"ckpt_path={cfg.ckpt_path}" if cfg.get("ckpt_path") and cfg.ckpt_path != "last" else str(ckpt_path)
    fix = "drop ckpt_path" if cfg.get("ckpt_path") and cfg.ckpt_path != "last" else "give a new hydra.run.dir"
    saved_class = str(checkpoint.get("ssgen_module", ""))
    if saved_class and saved_class != cfg.method._target_:
        hparams = checkpoint.get("hyper_parameters") or {}
        arch = (hparams.get("arch") or {}).get("name", "?")
        method = _method_names().get(saved_class, "?")
        raise ConfigError(f"{given} holds a {method} ({saved_class.rsplit('.', 1)[-1]}, arch {arch}) checkpoint; "
                          f"this run is {cfg.method.name} on {cfg.arch.name}: give a checkpoint of the same method, "
                          f"or {fix}")
    bad = nonfinite_tensors(checkpoint.get("state_dict") or {})
    if bad:
        raise ConfigError(f"{given} holds non-finite weights ({_named(bad)}): a diverged run cannot be resumed; "
                          "change the config (e.g. a smaller learning rate) and give a new hydra.run.dir")
    state = (checkpoint.get("callbacks") or {}).get(RunAudit.__qualname__) or {}
    if state.get("mid_epoch") and state.get("batch_size") not in (None, cfg.data.batch_size):
        raise ConfigError(f"{given} stopped mid-epoch at data.batch_size={state['batch_size']}; resuming that epoch at "
                          f"data.batch_size={cfg.data.batch_size} would skip or repeat images: resume with "
                          f"data.batch_size={state['batch_size']}, or {fix}")


# ------------------------------------------------------------------------------------------------ after the fit
def _budget(cfg: DictConfig) -> str:
    keys = ("max_epochs", "max_steps", "max_time", "limit_train_batches")
    set_keys = [f"trainer.{key}={cfg.trainer.get(key)}" for key in keys if cfg.trainer.get(key) not in (None, -1)]
    return ", ".join(set_keys) or "the default budget"


def expected_steps(trainer: L.Trainer, model: L.LightningModule, batches: int) -> tuple[int | None, str]:
    """Optimizer steps ``batches`` training batches give (None when it cannot be told) and how that was counted.

    Automatic optimization: one per batch (``accumulate_grad_batches`` > 1 is not counted). The GANs: one critic
    step per batch and one generator step every ``n_critic``-th of the module's ``batches_seen``.
    """
    if model.automatic_optimization:
        if trainer.accumulate_grad_batches != 1:
            return None, f"not counted with accumulate_grad_batches={trainer.accumulate_grad_batches}"
        return batches, "one per batch"
    n_critic = model.hparams.get("n_critic")
    seen = getattr(model, "batches_seen", None)
    if not n_critic or seen is None:
        return None, "not counted: manual optimization without n_critic"
    if seen != batches:
        raise AuditFailed(f"the GAN counted {seen} batches but the trainer trained {batches}: its generator steps "
                          "do not match the record; give a new hydra.run.dir")
    return batches + seen // n_critic, f"one critic step per batch, a generator step every {n_critic}"


def audit_fit(trainer: L.Trainer, model: L.LightningModule, cfg: DictConfig) -> dict[str, Any]:
    """The end-of-run audit (see the module docstring): results.json's ``audit`` and ``optimizers``.

    Raises TrainingFailed for non-finite weights or buffers and AuditFailed for a run that trained nothing,
    fewer or more steps or images than its budget gives, or with other optimizer settings than its config.
    """
    module = uncompiled(model)
    audit = next((c for c in trainer.callbacks if isinstance(c, RunAudit)), None)
    if audit is not None:
        audit.judge_losses(trainer)
    bad = nonfinite_tensors(module.state_dict())
    if bad:
        raise TrainingFailed(f"diverged: non-finite weights after training ({_named(bad)})")
    where = f"results.json in {cfg.run_dir} says failed; what the run wrote is kept"
    if trainer.global_step == 0:
        raise AuditFailed(f"trained nothing: 0 optimizer steps ({_budget(cfg)}); give a budget that trains at least "
                          f"one batch ({where})")
    batches = int(trainer.fit_loop.epoch_loop.batch_progress.total.completed)
    steps, counted = expected_steps(trainer, module, batches)
    notes = [] if steps is not None else [f"optimizer steps {counted}"]
    if steps is not None and steps != trainer.global_step:
        raise AuditFailed(f"{trainer.global_step} optimizer steps for {batches} batches, where {counted} gives "
                          f"{steps} ({where})")
    epochs = audit.epochs if audit is not None else {}
    for epoch, (seen, wanted) in sorted(epochs.items(), key=lambda item: int(item[0])):
        if wanted is None:
            notes.append(f"epoch {epoch}: {seen} images, ended early by the budget or a callback ({_budget(cfg)})")
        elif seen != wanted:
            raise AuditFailed(f"epoch {epoch} trained on {seen} images where its budget gives {wanted} ({where})")
    used, wanted_settings = optimizer_settings(trainer.optimizers), configured_settings(module)
    if used != wanted_settings:  # e.g. a relaunch with a new method.lr of a run that had nothing left to train
        differ = [f"optimizer {index} {key} {groups[0].get(key)} where the config says {value}"
                  for index, (groups, wanted) in enumerate(zip(used, wanted_settings, strict=False))
                  for key, value in (wanted[0] if wanted else {}).items() if groups and groups[0].get(key) != value]
        raise AuditFailed(f"the run trained with {'; '.join(differ[:MAX_NAMED]) or 'other optimizers'} "
                          f"({batches - (audit.fit_batches if audit else 0)} of its {batches} batches before this "
                          "launch): raise the budget to train on with the new settings, or relaunch with those it "
                          f"trained with ({where})")
    if module.hparams.get("arch", {}).get("name", cfg.arch.name) != cfg.arch.name:
        raise AuditFailed(f"the networks are arch {module.hparams['arch'].get('name')}, the record says {cfg.arch.name}")
    # a fit with nothing left to train (ckpt_path= another run's finished checkpoint) saves nothing, but the run
    # dir must hold the model its results.json scores: ssgen-generate and ssgen-predict read it from there
    for callback in trainer.callbacks:
        if isinstance(callback, LastCheckpoint) and not callback.path.exists():
            callback.save(trainer)
    report: dict[str, Any] = {"batches": batches, "steps_counted": counted,
                              "images_per_epoch": {epoch: seen for epoch, (seen, _) in epochs.items()}}
    if audit is not None and audit.changed_settings:
        report["resumed_with_new_settings"] = audit.changed_settings
    if notes:
        report["notes"] = notes
    return {"audit": report, "optimizers": used}


def retry_hint(status: str, run_dir: str | Path) -> str:
    """What the failed-run line advises: a run that diverged, collapsed or stalled is not retried by resuming its
    checkpoint (``check_resume`` refuses non-finite weights; a collapsed generator would only train on)."""
    if re.match(r"failed: (seed \d+: )?(diverged|collapsed|stuck)", status):
        return (f"results.json in {run_dir}; the same command would fail the same way: change the config (e.g. a "
                "smaller method.lr) and give a new hydra.run.dir")
    return f"results.json in {run_dir}; relaunch the same command to retry what failed"
