"""Train one model from the composed Hydra config; ``train(cfg)`` is importable, ``main`` is the CLI.

    ssgen-train                                   # M1 on 100 labels, default budget
    ssgen-train method=wgan_gp arch=mlp_generator trainer.max_epochs=5
    ssgen-train -m method=m1 data.n_labels=100,600,1000,3000 seed=0,1,2
    ssgen-train --cfg job                         # print the composed config and exit

Every run writes ``<run_dir>/results.json`` (status, metrics, wall time), ``.hydra/config.yaml``,
TensorBoard events under ``<run_dir>/tb`` and checkpoints under ``<run_dir>/checkpoints``. The path of one
run: validate -> data, model, callbacks, trainer -> ``trainer.fit`` (last.ckpt on disk when it returns) ->
each end-of-run step (``ssgen.callbacks.EndOfRunStep``) on its own -> results.json. Relaunches, sweeps and
results.json's lifecycle are in ``ssgen.runs``; results.json itself (schema, statuses, summary) in ``ssgen.results``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
import traceback
from functools import partial
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict

from ssgen.audit import RunAudit, audit_fit, check_resume, retry_hint
from ssgen.callbacks import EndOfRunStep
from ssgen.callbacks.checkpointing import CheckpointOnInterrupt, RecordModuleClass
from ssgen.checkpoints import AtomicCheckpointIO, read_checkpoint
from ssgen.conf_files import CONF_DIR
from ssgen.config import METHOD_META_KEYS, register_configs, to_plain, validate
from ssgen.data import DATA_ENV, data_record, parse_n_labels
from ssgen.errors import ConfigError, Interrupted, SSGenError, StorageError, TrainingFailed, exit_with_error
from ssgen.io import RUN_DIR_FIX, make_dir
from ssgen.models import module_class
from ssgen.results import (
    FAILED,
    INTERRUPTED,
    OK,
    RUNNING,
    RunResults,
    failure_status,
    is_failed,
    objective,
    read_results,
    run_summary,
    write_results,
)
from ssgen.runs import (
    config_hash,
    finished_message,
    interrupted_message,
    record_failure,
    sweep_failure_lines,
    sweep_failures,
)
from ssgen.stops import StopSignals, sweep_stop, with_stop_signals

log = logging.getLogger("ssgen")


def build_model(cfg: DictConfig) -> L.LightningModule:
    """Instantiate ``cfg.method`` (a LightningModule of ``ssgen.models``) with the networks of ``cfg.arch``."""
    method = to_plain(cfg.method)
    for key in METHOD_META_KEYS:
        method.pop(key, None)
    # Called directly rather than through instantiate(), which would hand over DictConfigs: hparams must be
    # plain containers so checkpoints load with torch.load(weights_only=True).
    # the method models the run's data set: its classes and image shape (ssgen.data.DatasetInfo) shape the networks
    return module_class(method.pop("_target_"))(arch=to_plain(cfg.arch), dataset=cfg.data.dataset, **method)


def build_callbacks(cfg: DictConfig) -> list[L.Callback]:
    """cfg.callbacks plus the method's own (e.g. the SVM head); a None entry switches one off."""
    specs = {**to_plain(cfg.callbacks), **to_plain(cfg.method.callbacks)}
    callbacks = [hydra.utils.instantiate(spec) for spec in specs.values() if spec is not None]
    # RunAudit first: it counts a batch before any callback can save a checkpoint at that batch's end
    callbacks = [RunAudit(), *callbacks, RecordModuleClass(), CheckpointOnInterrupt()]
    if not cfg.trainer.get("enable_progress_bar", True):  # Lightning refuses a progress bar it was told not to show
        callbacks = [c for c in callbacks if not isinstance(c, L.pytorch.callbacks.ProgressBar)]
    return callbacks


def hparams_for_logger(cfg: DictConfig) -> dict[str, Any]:
    """Flat scalars for TensorBoard's HParams tab: the knobs a sweep varies."""
    flat = {f"method.{k}": v for k, v in to_plain(cfg.method).items() if isinstance(v, int | float | str | bool)}
    flat.update({"arch": cfg.arch.name, "data.dataset": cfg.data.dataset, "data.n_labels": str(cfg.data.n_labels), "seed": cfg.seed,
                 "trainer.max_epochs": cfg.trainer.get("max_epochs", -1), "data.batch_size": cfg.data.batch_size})
    return flat


def resolve_ckpt_path(cfg: DictConfig, run_dir: Path) -> str | None:
    """'last' or an explicit path; and automatic resume when relaunched into a run dir that has a last.ckpt.

    The resume also serves a finished run: relaunched with a larger ``trainer.max_epochs`` it trains on from
    where it ended (optimizer state, step counts and the M2 labelled-batch order all continue).
    """
    last = run_dir / "checkpoints" / "last.ckpt"
    if cfg.ckpt_path == "last":
        if not last.exists():
            raise SSGenError(f"ckpt_path=last but {last} does not exist; drop ckpt_path to start afresh")
        return str(last)
    if cfg.ckpt_path:
        if not Path(cfg.ckpt_path).is_file():
            raise SSGenError(f"ckpt_path={cfg.ckpt_path} does not exist; give a .ckpt file, or 'last'")
        return str(cfg.ckpt_path)
    if last.exists():  # fit_once says so when it resumes: this is asked more than once a launch
        return str(last)
    return None


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as {'a.b.c': leaf}."""
    if isinstance(value, dict) and value:
        return {key: leaf for name, item in value.items() for key, leaf in _flatten(item, f"{prefix}{name}.").items()}
    return {prefix.rstrip("."): value}


def check_resumable(cfg: DictConfig, ckpt_path: str | Path) -> None:
    """Refuse a resume whose checkpoint holds other networks than ``cfg`` builds (a setting that shapes them,
    e.g. ``method.critic_norm`` or a width, changed since it was trained, or the method's default did), before
    anything is written: a ConfigError naming the settings that differ, where Lightning would raise a
    state_dict traceback mid-fit. Same weight names and shapes: nothing to say. Raises CheckpointError for an
    unreadable checkpoint."""
    checkpoint = read_checkpoint(ckpt_path)
    model = build_model(cfg)
    expected = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    saved = {name: tuple(tensor.shape) for name, tensor in checkpoint.get("state_dict", {}).items()}
    if expected == saved:
        return
    there = _flatten(dict(checkpoint.get("hyper_parameters", {})))
    here = _flatten(dict(model.hparams))
    differ = [f"{key if key.startswith('arch.') else 'method.' + key}={str(there.get(key, 'unset'))[:40]} there, "
              f"{str(here.get(key, 'unset'))[:40]} here" for key in sorted(set(there) | set(here))
              if there.get(key) != here.get(key)]
    if len(differ) > 3:  # a line, not a page: the first few name what to set back
        differ = [*differ[:3], f"{len(differ) - 3} more"]
    what = "; ".join(differ) if differ else f"{len(set(expected) ^ set(saved))} weight names differ"
    fix = "drop ckpt_path" if cfg.get("ckpt_path") and cfg.ckpt_path != "last" else "give a new hydra.run.dir"
    raise ConfigError(f"{ckpt_path} was trained with other networks than this command builds ({what}); "
                      f"resume with the settings it trained with, or {fix}")


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


def fit_once(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """One training run in ``run_dir``, then its end-of-run steps; returns what they report for results.json."""
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    with open_dict(cfg):
        cfg.data.run_dir = str(run_dir)
    datamodule = hydra.utils.instantiate(cfg.data)
    model = build_model(cfg)
    callbacks = build_callbacks(cfg)
    for callback in callbacks:  # a restart trains in run_dir/restart_<k>: its checkpoints go there
        if hasattr(callback, "dirpath") and str(getattr(callback, "dirpath", "")).startswith(str(cfg.run_dir)):
            callback.dirpath = str(run_dir / "checkpoints")
    logger = hydra.utils.instantiate(cfg.logger, save_dir=str(run_dir)) if cfg.logger else False
    if logger:
        hp_metrics = {f"hp/{name}": math.nan for name in getattr(model, "hp_metric_names", ())}
        logger.log_hyperparams(hparams_for_logger(cfg), hp_metrics)
    trainer_kwargs = to_plain(cfg.trainer)
    if not cfg.data.val_size:  # no holdout, no validation loop (the test set is never a validation set)
        trainer_kwargs.setdefault("limit_val_batches", 0)
    stops = StopSignals.active or StopSignals()  # train() installs them for the whole run; a direct call here
    callbacks.append(stops)  # as a callback it tells its handlers where Lightning's loop runs
    trainer = L.Trainer(**trainer_kwargs, callbacks=callbacks, logger=logger, default_root_dir=str(run_dir),
                        plugins=[AtomicCheckpointIO()])
    if cfg.compile:
        model = torch.compile(model)
    interrupt = next(c for c in callbacks if isinstance(c, CheckpointOnInterrupt))
    with stops.installed():
        try:
            ckpt_path = resolve_ckpt_path(cfg, run_dir)
            if ckpt_path is not None:
                log.info("resuming from %s (a fresh run needs a new hydra.run.dir)", ckpt_path)
            trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
        except SIGTERMException:
            if stops.ctrl_c:  # Ctrl-C inside the loop stops as SIGTERM does, at the batch boundary
                raise KeyboardInterrupt from None
            raise
        except SystemExit:
            if interrupt.interrupted:  # Lightning turns Ctrl-C into exit(1) after last.ckpt was saved
                raise KeyboardInterrupt from None
            raise
    metrics: dict[str, Any] = {"epochs": trainer.current_epoch, "optimizer_steps": trainer.global_step,
                               "trainer_precision": str(trainer.precision)}  # what ran: 16-mixed is bf16-mixed on a CPU
    metrics.update(audit_fit(trainer, model, cfg))  # raises before any end-of-run step runs on what failed it
    if getattr(datamodule, "identity", None) is not None:  # what was read, also after a download
        metrics["data"] = datamodule.identity
    if trainer.global_rank == 0:
        metrics.update(run_end_of_run_steps(trainer, model, callbacks))
    if logger:
        hp = {f"hp/{k}": float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        logger.log_metrics(hp, step=trainer.global_step)
        logger.finalize("success")
    return metrics


# $SSGEN_DATA as the user set it before this process started: ssgen-train never overrides that one.
_USER_DATA_ENV = os.environ.get(DATA_ENV)


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


def apply_run_settings(cfg: DictConfig) -> None:
    """Process-wide torch settings a run asks for: ``torch_threads`` (only when set: otherwise the ThreadBudget
    callback adapts the pool) and ``matmul_precision``. The bench's copies call this too, to run as ssgen-train."""
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    if cfg.matmul_precision:
        torch.set_float32_matmul_precision(cfg.matmul_precision)


def bf16_pays(accelerator: str) -> bool:
    """Whether bf16 autocast is measured faster than fp32 for ssgen's networks on the device Lightning's
    ``accelerator`` picks: only on a CPU with native bf16 instructions (AVX512-BF16 or AMX). Not on a GPU (at
    28x28 the casts cost more than the tensor cores save); not on Apple's MPS (unmeasured); not on a CPU that only
    emulates bf16 (oneDNN runs bf16 on any AVX512BW CPU, converting in software). The measurements, CPU and GPU:
    docs/performance.md."""
    if accelerator not in ("auto", "cpu"):
        return False
    if accelerator == "auto" and (torch.cuda.is_available() or torch.backends.mps.is_available()):
        return False
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # private probes: a torch without them gets fp32
        return False


def device_precision(cfg: DictConfig) -> None:
    """Settles ``trainer.precision`` while it is still the method's default (``${method.default_precision}``,
    bf16-mixed for the GANs): a run being resumed keeps the precision it trained in (results.json
    ``trainer_precision``; a run from before the bf16 default, without that field, trained in 32-true), else
    bf16 falls back to 32-true where it does not pay (``bf16_pays``). A precision set on the command line or in
    a preset is left as it is. Logs each change."""
    if not OmegaConf.is_interpolation(cfg.trainer, "precision"):
        return
    precision = str(cfg.trainer.precision)
    previous = read_results(Path(cfg.run_dir)) if cfg.get("run_dir") else None
    # resolve_ckpt_path is the one place that decides whether a relaunch resumes
    if previous and resolve_ckpt_path(cfg, Path(cfg.run_dir)) is not None:
        trained_in = str(previous.get("trainer_precision", "32-true"))
        if trained_in != precision:
            log.info("trainer.precision: %s, the precision this run trained in (the method's default is now %s; "
                     "set trainer.precision to change it)", trained_in, precision)
        chosen = trained_in
    elif precision.startswith("bf16") and not bf16_pays(str(cfg.trainer.accelerator)):
        log.info("trainer.precision: the method's default %s is not faster on this device; training in 32-true "
                 "(set trainer.precision=%s to force it)", precision, precision)
        chosen = "32-true"
    else:
        return
    with open_dict(cfg):
        cfg.trainer.precision = chosen


def record_or_warn(write: Any, run_dir: Path, results: dict[str, Any]) -> None:
    """Write results.json on the way out of a failed or stopped run; a write that fails too (the disk that is full)
    is a warning, so the error the user sees is the one that stopped the run (the old results.json stays)."""
    try:
        write(run_dir, results)
    except StorageError as exc:
        log.warning("%s (results.json still says %r)", exc, (read_results(run_dir) or {}).get("status"))


@with_stop_signals  # SIGTERM / Ctrl-C anywhere in the run: recorded as interrupted (ssgen.stops)
def train(cfg: DictConfig) -> dict[str, Any]:
    """Validate, train (with restarts for GANs), run the end-of-run steps, write ``results.json``; returns its content.

    A run dir holding a finished run at this budget is left untouched (its results are returned). Raises
    SSGenError for a refused config (before anything is written) and for an interruption (after results.json
    says ``interrupted`` and last.ckpt is saved); TrainingFailed is caught and restarts with the next seed.
    """
    start = time.time()
    validate(cfg)
    device_precision(cfg)  # before the hash and the relaunch check: both describe the precision that runs
    run_dir = Path(cfg.run_dir)
    finished = finished_message(cfg, run_dir)
    if finished:
        log.info(finished)
        return read_results(run_dir) or {}
    ckpt_path = resolve_ckpt_path(cfg, run_dir)
    if ckpt_path is not None:
        check_resume(cfg, ckpt_path)  # before results.json is touched: a refused resume loses nothing
        check_resumable(cfg, ckpt_path)
    make_dir(run_dir)  # a read-only or full disk: one line, before anything is written
    apply_run_settings(cfg)
    point_data_env(cfg.data.root)
    results: RunResults = {
        "method": cfg.method.name, "family": cfg.method.family, "arch": cfg.arch.name,
        "n_labels": parse_n_labels(cfg.data.n_labels), "seed": cfg.seed, "config_hash": config_hash(cfg),
        "trainer_precision": str(cfg.trainer.precision),  # "precision" is the improved-precision metric
        "data": data_record(cfg.data.root, cfg.data.get("allow_unknown", False)),  # which files, their digests (None before a download)
        "status": RUNNING,
    }
    write = rank_zero_only(partial(write_results, fix=RUN_DIR_FIX))  # under DDP every rank runs train(); one writes
    # A relaunch (resume, or more epochs) must not leave the previous "ok" and its numbers on view while it
    # trains, nor after a SIGKILL: until this run ends, results.json says it is running.
    write(run_dir, results)
    failures: list[str] = []
    for attempt in range(cfg.restarts + 1):
        attempt_cfg = cfg.copy()
        with open_dict(attempt_cfg):
            attempt_cfg.seed = cfg.seed + attempt
        attempt_dir = run_dir if attempt == 0 else run_dir / f"restart_{attempt}"
        try:
            metrics = fit_once(attempt_cfg, attempt_dir)
        except (SIGTERMException, KeyboardInterrupt) as exc:
            results.update(status=INTERRUPTED, wall_time_s=round(time.time() - start, 2))
            record_or_warn(write, run_dir, results)
            raise Interrupted(interrupted_message(type(exc).__name__, attempt_dir)) from None
        except TrainingFailed as exc:
            failures.append(f"seed {attempt_cfg.seed}: {exc}")
            log.warning("run failed to converge (%s)%s", exc, "; restarting with the next seed" if attempt < cfg.restarts else "")
            continue
        except Exception as exc:
            # a crash (bad checkpoint, a backend error, ...) must not leave "running" on view for good
            results.update(status=failure_status(exc), wall_time_s=round(time.time() - start, 2))
            record_or_warn(write, run_dir, results)
            raise
        results.update(metrics)
        failed_steps = {name: status for name, status in metrics.get("steps", {}).items() if status != "ok"}
        results.update(status=OK, trained_seed=attempt_cfg.seed, trained_dir=str(attempt_dir))
        if failed_steps:
            name, status = next(iter(failed_steps.items()))
            results["status"] = f"{FAILED}: end-of-run step {name}: {status.removeprefix(FAILED + ': ')}"
        break
    else:
        results["status"] = f"{FAILED}: {failures[-1]}"
    results.update(failed_runs=len(failures), failures=failures, wall_time_s=round(time.time() - start, 2))
    search = objective(results)
    if search:
        results["objective"] = dict(zip(("name", "value", "direction"), search, strict=True))
    write(run_dir, results)
    log.debug("results: %s", json.dumps({k: v for k, v in results.items() if not isinstance(v, list | dict)}))
    log.info("summary:\n%s", run_summary(results, run_dir))
    return results


def _in_multirun() -> bool:
    try:
        return HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:
        return False


# CONF_DIR is absolute, so the console script finds conf/ whatever the working directory (editable install: see README).
@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def hydra_main(cfg: DictConfig) -> float | None:
    try:
        results = train(cfg)
    except Interrupted as exc:  # a stopped job of a basic-launcher sweep stops the sweep: no further job starts
        exit_with_error("ssgen-train", sweep_stop(exc) or exc)
    except SSGenError as exc:
        if _in_multirun():  # one bad job must not cost the rest of the sweep
            log.error("job failed: %s", exc)
            record_failure(cfg, exc)
            return None
        # Hydra would print a traceback for any Exception escaping the task; a SystemExit passes through.
        exit_with_error("ssgen-train", exc)
    except Exception as exc:
        if _in_multirun():
            log.error("job failed: %s\n%s", exc, traceback.format_exc())
            record_failure(cfg, exc)
            return None
        raise
    if not _in_multirun() and is_failed(results):
        exit_with_error("ssgen-train", SSGenError(f"{results['status']} ({retry_hint(results['status'], cfg.run_dir)})"))
    # what a sweeper (e.g. optuna) optimises: a test-free score (results.objective), never a test number
    search = objective(results)
    return search[1] if search else None


def check_group_choices(argv: list[str], conf_dir: str | Path = CONF_DIR) -> None:
    """``method=nope`` (or ``arch=a,nope`` in a sweep) -> one ConfigError line listing the real options.

    Hydra would say the same over a dozen lines, listing the schema entries (base_*) beside the options.
    """
    conf_dir = Path(conf_dir)
    for arg in argv:
        key, sep, value = arg.partition("=")
        group = key.lstrip("+~")
        if not sep or "." in group or not (conf_dir / group).is_dir() or group == "hydra":
            continue
        options = sorted(path.stem for path in (conf_dir / group).glob("*.yaml"))
        for choice in value.split(","):
            if choice and choice != "null" and choice not in options:
                raise ConfigError(f"{group}={choice} is unknown; choose one of: {', '.join(options)}")


def main() -> None:
    """Console entry point: SSGenErrors become one line on stderr and exit code 2; a sweep with failed jobs exits 1."""
    register_configs()
    try:
        check_group_choices(sys.argv[1:])
        hydra_main()
    except SSGenError as exc:
        exit_with_error("ssgen-train", exc)
    if sweep_failures:
        print("\n".join(sweep_failure_lines(sweep_failures)), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
