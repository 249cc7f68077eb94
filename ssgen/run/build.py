"""The objects of one run, built from the composed Hydra config (the model, the callbacks, the logger, the Trainer),
and what a run sets for its whole process (torch's thread pool and matmul precision, ``$SSGEN_DATA``).

    from ssgen.run.build import build_model
    model = build_model(cfg)          # cfg.method's LightningModule with the networks of cfg.arch

    ssgen-train torch_threads=1 matmul_precision=high     # apply_run_settings
    ssgen-train data.root=/data/fashion                   # point_data_env: later loads that never see cfg.data
                                                          # (evaluator training, child processes) read the same files

Used by ``ssgen.train`` (and the resume check, the bench and the tests that rebuild a run's model).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from omegaconf import DictConfig

from ssgen.callbacks.checkpointing import AtomicCheckpointIO, CheckpointOnInterrupt, RecordModuleClass
from ssgen.config.schemas import METHOD_META_KEYS, to_plain
from ssgen.data import DATA_ENV
from ssgen.loggers import logger_specs
from ssgen.models import module_class
from ssgen.run.audit import RunAudit


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


def build_logger(cfg: DictConfig, model: L.LightningModule, run_dir: Path) -> list[Any] | bool:
    """Every logger of ``cfg.logger`` (``logger_specs``), those writing into the run dir writing under ``run_dir``
    (a restart's own dir), each given the run's hyper-parameters (TensorBoard's HParams tab also gets the model's
    ``hp_metric_names`` as NaN until the run ends); False for none."""
    loggers = []
    for _, spec in logger_specs(cfg):
        overrides = {}
        save_dir = spec.get("save_dir")
        if isinstance(save_dir, str) and save_dir.startswith(str(cfg.run_dir)):
            overrides["save_dir"] = str(run_dir) + save_dir[len(str(cfg.run_dir)):]
        uri = spec.get("tracking_uri")
        if isinstance(uri, str) and uri.startswith("sqlite:///"):  # SQLite makes the file, not its dir
            Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        loggers.append(hydra.utils.instantiate(spec, **overrides))
    params = hparams_for_logger(cfg)
    for logger in loggers:
        if type(logger).__name__ == "TensorBoardLogger":
            logger.log_hyperparams(params, {f"hp/{name}": math.nan for name in getattr(model, "hp_metric_names", ())})
        else:
            logger.log_hyperparams(params)
    return loggers or False


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


# ------------------------------------------------------------------------------------------------ process-wide
# $SSGEN_DATA as the user set it before this process started: ssgen-train never overrides that one.
_USER_DATA_ENV = os.environ.get(DATA_ENV)


def apply_run_settings(cfg: DictConfig) -> None:
    """Process-wide torch settings a run asks for: ``torch_threads`` (only when set: otherwise the ThreadBudget
    callback adapts the pool) and ``matmul_precision``."""
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    if cfg.matmul_precision:
        torch.set_float32_matmul_precision(cfg.matmul_precision)


def point_data_env(root: str | None) -> None:
    """Point ``$SSGEN_DATA`` at this run's ``data.root`` unless the user set it before the process started.

    Loads that never see cfg.data (evaluator training, the final report's fallback, child processes) read
    $SSGEN_DATA; without it they find nothing where the Debian package is missing. Each job of a sequential
    sweep sets its own root, so a sweep over data.root does not keep the first job's.
    """
    # a data.root that is not a dir holds no files (the run read another copy): pointing there would make every
    # such load fail, as a missing $SSGEN_DATA is refused rather than silently replaced
    if root and not _USER_DATA_ENV and Path(root).expanduser().is_dir():
        os.environ[DATA_ENV] = str(Path(root).expanduser().resolve())
