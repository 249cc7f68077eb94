"""The objects of one run, built from the composed Hydra config: the model, the callbacks, the logger, the Trainer.

    from ssgen.build import build_model
    model = build_model(cfg)          # cfg.method's LightningModule with the networks of cfg.arch

Used by ``ssgen.train`` (and the resume check, the bench and the tests that rebuild a run's model).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from omegaconf import DictConfig

from ssgen.audit import RunAudit
from ssgen.callbacks.checkpointing import CheckpointOnInterrupt, RecordModuleClass
from ssgen.checkpoints import AtomicCheckpointIO
from ssgen.config import METHOD_META_KEYS, to_plain
from ssgen.models import module_class


def build_model(cfg: DictConfig) -> L.LightningModule:
    """Instantiate ``cfg.method`` (a LightningModule of ``ssgen.models``) with the networks of ``cfg.arch``."""
    method = to_plain(cfg.method)
    for key in METHOD_META_KEYS:
        method.pop(key, None)
    # Called directly rather than through instantiate(), which would hand over DictConfigs: hparams must be
    # plain containers so checkpoints load with torch.load(weights_only=True).
    # the method models the run's data set: its classes and image shape (ssgen.data.DatasetInfo) shape the networks
    return module_class(method.pop("_target_"))(arch=to_plain(cfg.arch), dataset=cfg.data.dataset, **method)


def build_callbacks(cfg: DictConfig, run_dir: Path | None = None) -> list[L.Callback]:
    """cfg.callbacks plus the method's own (e.g. the SVM head); a None entry switches one off. ``run_dir``: where
    this attempt trains when it is not ``cfg.run_dir`` (a restart, in run_dir/restart_<k>): its checkpoints go there."""
    specs = {**to_plain(cfg.callbacks), **to_plain(cfg.method.callbacks)}
    callbacks = [hydra.utils.instantiate(spec) for spec in specs.values() if spec is not None]
    # RunAudit first: it counts a batch before any callback can save a checkpoint at that batch's end
    callbacks = [RunAudit(), *callbacks, RecordModuleClass(), CheckpointOnInterrupt()]
    if not cfg.trainer.get("enable_progress_bar", True):  # Lightning refuses a progress bar it was told not to show
        callbacks = [c for c in callbacks if not isinstance(c, L.pytorch.callbacks.ProgressBar)]
    for callback in callbacks if run_dir is not None else ():
        if hasattr(callback, "dirpath") and str(callback.dirpath).startswith(str(cfg.run_dir)):
            callback.dirpath = str(run_dir / "checkpoints")
    return callbacks


def build_logger(cfg: DictConfig, model: L.LightningModule, run_dir: Path) -> Any:
    """``cfg.logger`` (TensorBoard) writing under ``run_dir``, the sweep's knobs already in its HParams tab (the
    model's ``hp_metric_names`` as NaN until the run ends); False for ``logger=null``."""
    if not cfg.logger:
        return False
    logger = hydra.utils.instantiate(cfg.logger, save_dir=str(run_dir))
    logger.log_hyperparams(hparams_for_logger(cfg), {f"hp/{name}": math.nan for name in getattr(model, "hp_metric_names", ())})
    return logger


def build_trainer(cfg: DictConfig, callbacks: list[L.Callback], logger: Any, run_dir: Path) -> L.Trainer:
    """The Trainer of ``cfg.trainer`` in ``run_dir``, checkpoints written atomically (``AtomicCheckpointIO``)."""
    kwargs = to_plain(cfg.trainer)
    if not cfg.data.val_size:  # no holdout, no validation loop (the test set is never a validation set)
        kwargs.setdefault("limit_val_batches", 0)
    return L.Trainer(**kwargs, callbacks=callbacks, logger=logger, default_root_dir=str(run_dir),
                     plugins=[AtomicCheckpointIO()])


def hparams_for_logger(cfg: DictConfig) -> dict[str, Any]:
    """Flat scalars for TensorBoard's HParams tab: the knobs a sweep varies."""
    flat = {f"method.{k}": v for k, v in to_plain(cfg.method).items() if isinstance(v, int | float | str | bool)}
    flat.update({"arch": cfg.arch.name, "data.dataset": cfg.data.dataset, "data.n_labels": str(cfg.data.n_labels), "seed": cfg.seed,
                 "trainer.max_epochs": cfg.trainer.get("max_epochs", -1), "data.batch_size": cfg.data.batch_size})
    return flat
