"""Train one model from the composed Hydra config; ``train(cfg)`` is importable, ``main`` is the CLI.

    ssgen-train                                   # M1 on 100 labels, default budget
    ssgen-train method=wgan_gp arch=mlp_generator trainer.max_epochs=5
    ssgen-train -m method=m1 data.n_labels=100,600,1000,3000 seed=0,1,2
    ssgen-train --cfg job                         # print the composed config and exit

Every run writes ``<run_dir>/results.json`` (status, metrics, wall time), ``.hydra/config.yaml``,
TensorBoard events under ``<run_dir>/tb`` and checkpoints under ``<run_dir>/checkpoints``. The path of one
run: validate -> data, model, callbacks, trainer -> ``trainer.fit`` (last.ckpt on disk when it returns) ->
each end-of-run step (``ssgen.callbacks.EndOfRunStep``) on its own -> results.json. Each step's detail lives in
its own module: the objects in ``ssgen.run.build``, whether and what it resumes in ``ssgen.run.lifecycle``, the precision in
``ssgen.run.lifecycle``, process-wide settings in ``ssgen.run.build``, stops in ``ssgen.run.stops``, the audit in
``ssgen.run.audit``, relaunches, sweeps and results.json's lifecycle in ``ssgen.run.lifecycle``, results.json itself (schema,
statuses, summary) in ``ssgen.run.results``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from functools import partial
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, open_dict

from ssgen.callbacks import EndOfRunStep
from ssgen.callbacks.checkpointing import CheckpointOnInterrupt
from ssgen.config.files import CONF_DIR, check_group_choices
from ssgen.config.schemas import register_configs
from ssgen.config.validation import validate
from ssgen.errors import Interrupted, SSGenError, TrainingFailed, exit_with_error
from ssgen.io import RUN_DIR_FIX, make_dir
from ssgen.run.audit import audit_fit, check_resume
from ssgen.run.build import (
    apply_run_settings,
    build_callbacks,
    build_logger,
    build_model,
    build_trainer,
    point_data_env,
)
from ssgen.run.lifecycle import (
    check_resumable,
    device_precision,
    finished_message,
    hydra_task,
    interrupted_message,
    new_record,
    resolve_ckpt_path,
    sweep_failure_lines,
    sweep_failures,
)
from ssgen.run.results import (
    FAILED,
    INTERRUPTED,
    failure_status,
    objective_entry,
    read_results,
    record_or_warn,
    run_summary,
    trained_status,
    write_results,
)
from ssgen.run.stops import StopSignals, with_stop_signals

log = logging.getLogger("ssgen")


def fit_once(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """One training run in ``run_dir``, then its end-of-run steps; returns what they report for results.json."""
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    with open_dict(cfg):
        cfg.data.run_dir = str(run_dir)
    datamodule = hydra.utils.instantiate(cfg.data)
    model = build_model(cfg)
    callbacks = build_callbacks(cfg, run_dir)
    logger = build_logger(cfg, model, run_dir)
    stops = StopSignals.active or StopSignals()  # train() installs them for the whole run; a direct call here
    # as a callback it tells its handlers where Lightning's loop runs
    trainer = build_trainer(cfg, [*callbacks, stops], logger, run_dir)
    if cfg.compile:
        model = torch.compile(model)
    interrupt = next(c for c in callbacks if isinstance(c, CheckpointOnInterrupt))
    with stops.around_fit(lambda: interrupt.interrupted):  # a Ctrl-C, however Lightning reports it: KeyboardInterrupt
        ckpt_path = resolve_ckpt_path(cfg, run_dir)
        if ckpt_path is not None:
            log.info("resuming from %s (a fresh run needs a new hydra.run.dir)", ckpt_path)
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
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


@with_stop_signals  # SIGTERM / Ctrl-C anywhere in the run: recorded as interrupted (ssgen.run.stops)
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
    if ckpt_path is not None:  # before results.json is touched: a refused resume loses nothing
        check_resume(cfg, ckpt_path)
        check_resumable(cfg, ckpt_path)
    make_dir(run_dir)  # a read-only or full disk: one line, before anything is written
    apply_run_settings(cfg)
    point_data_env(cfg.data.root)
    results = new_record(cfg)
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
        results.update(metrics, trained_seed=attempt_cfg.seed, trained_dir=str(attempt_dir))
        results["status"] = trained_status(metrics.get("steps", {}))
        break
    else:
        results["status"] = f"{FAILED}: {failures[-1]}"
    results.update(failed_runs=len(failures), failures=failures, wall_time_s=round(time.time() - start, 2))
    if objective_entry(results):
        results["objective"] = objective_entry(results)
    write(run_dir, results)
    log.debug("results: %s", json.dumps({k: v for k, v in results.items() if not isinstance(v, list | dict)}))
    log.info("summary:\n%s", run_summary(results, run_dir))
    return results


# CONF_DIR is absolute, so the console script finds conf/ whatever the working directory (editable install: see README).
@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
@hydra_task  # one line per error; one bad job does not cost the sweep; returns what a sweeper optimises
def hydra_main(cfg: DictConfig) -> dict[str, Any]:
    return train(cfg)


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
