"""ssgen-train: train one model from the composed Hydra config, and record it; ``train(cfg)`` is importable.

    ssgen-train                                   # M1: the write-up's Q4 table for one seed
    ssgen-train method=wgan_gp arch=mlp_generator trainer.max_epochs=5
    ssgen-train -m method=m1 data.n_labels=100,600,1000,3000 seed=0,1,2
    ssgen-train --help                            # groups, main options, examples; --cfg job prints the config

The story of one run (``train``): validate -> hold the run dir -> build -> fit -> audit -> end-of-run steps -> record.
Every run writes ``<run_dir>/results.json`` (``running`` until it ends, then ``ok``, ``interrupted`` or ``failed: <why>``,
and ``weights``: the version of each checkpoint its scores and heads were made from),
``.hydra/config.yaml``, TensorBoard events under ``tb/`` and checkpoints under ``checkpoints/`` (``last.ckpt`` is on
disk before any end-of-run step starts). The detail of each step lives in ``ssgen.run``: the objects in ``build``,
relaunches, resumes and the precision a launch settles in ``lifecycle``, stops in ``stops``, the audit in ``audit``,
results.json in ``results``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, open_dict

from ssgen.callbacks import EndOfRunStep
from ssgen.callbacks.checkpointing import CheckpointOnInterrupt
from ssgen.cli import guarded_console
from ssgen.compat import register_own_hydra_plugins
from ssgen.config.command_line import check_command_line
from ssgen.config.files import CONF_DIR
from ssgen.config.paths import resolve_paths
from ssgen.config.schemas import register_configs
from ssgen.config.validation import validate
from ssgen.errors import Interrupted, SSGenError, TrainingFailed, exit_with_error
from ssgen.io import RUN_DIR_FIX, as_storage_error
from ssgen.run.audit import audit_fit
from ssgen.run.build import build_callbacks, build_logger, build_model, build_trainer
from ssgen.run.lifecycle import (
    check_relaunch,
    check_sources,
    device_precision,
    finished_message,
    hold_run_dir,
    hydra_task,
    interrupted_message,
    keep_finished_version,
    record_writer,
    relaunch_command,
    resolve_ckpt_path,
    start_record,
    sweep_failure_lines,
    sweep_failures,
)
from ssgen.run.results import (
    FAILED,
    INTERRUPTED,
    checkpoint_versions,
    failure_status,
    objective_entry,
    read_results,
    record_or_warn,
    run_summary,
    trained_status,
)
from ssgen.run.stops import StopSignals, with_stop_signals

log = logging.getLogger("ssgen")


@with_stop_signals  # SIGTERM / Ctrl-C anywhere in the run: recorded as interrupted (ssgen.run.stops)
def train(cfg: DictConfig) -> dict[str, Any]:
    """Validate, hold the run dir, build, fit (with restarts for GANs), audit, run the end-of-run steps, record;
    returns results.json.

    A run dir holding a finished run at this budget is left untouched (its results are returned). Raises
    SSGenError for a refused config (before anything is written), for a run dir another live process holds, and
    for an interruption (after results.json says ``interrupted`` and last.ckpt is saved); TrainingFailed is caught
    and restarts with the next seed.
    """
    start = time.time()
    resolve_paths(cfg)  # every path against the launch dir, as the pre-flight check saw it (hydra.job.chdir or not)
    validate(cfg)  # what cannot train is one line, before anything is made
    device_precision(cfg)  # before the hash and the relaunch check: both describe the precision that runs
    run_dir = Path(cfg.run_dir)
    lock = hold_run_dir(run_dir)  # before anything of the run is read or written: one process per run dir
    try:
        finished = finished_message(cfg, run_dir)
        if finished:
            log.info(finished)
            return read_results(run_dir) or {}
        check_relaunch(cfg, run_dir)  # a resume this command cannot make is refused before anything is written
        check_sources(cfg, run_dir)  # another run's weights it builds on must be that run's finished version
        keep_finished_version(cfg, run_dir)  # trained on: the version its heads and scores belong to is kept
        results = start_record(cfg, run_dir)  # results.json says "running" until the run ends
        results.update(fit_with_restarts(cfg, run_dir, results, start))
        results["wall_time_s"] = round(time.time() - start, 2)
        if objective_entry(results):
            results["objective"] = objective_entry(results)
        record_writer()(run_dir, results)
    finally:
        if lock is not None:
            lock.release()
    log.debug("results: %s", json.dumps({k: v for k, v in results.items() if not isinstance(v, list | dict)}))
    log.info("summary:\n%s", run_summary(results, run_dir))
    return results


def fit_with_restarts(cfg: DictConfig, run_dir: Path, results: dict[str, Any], start: float) -> dict[str, Any]:
    """``fit_once`` with seed, seed + 1, ... (``cfg.restarts`` more, each in ``restart_<k>/``) until one trains without
    a failed convergence; returns what results.json gets (metrics, status, the failures). A stop or a crash is recorded
    in results.json (``interrupted`` / ``failed: <why>``) before it reaches the caller."""
    write = record_writer()
    failures: list[str] = []
    for attempt in range(cfg.restarts + 1):
        attempt_cfg = cfg.copy()
        with open_dict(attempt_cfg):
            attempt_cfg.seed = cfg.seed + attempt
        attempt_dir = run_dir if attempt == 0 else run_dir / f"restart_{attempt}"
        try:
            metrics = fit_once(attempt_cfg, attempt_dir)
        except (SIGTERMException, KeyboardInterrupt) as exc:
            results.update(status=INTERRUPTED, wall_time_s=round(time.time() - start, 2),
                           resume=relaunch_command(attempt_dir))  # the record says how, if the console is gone
            record_or_warn(write, run_dir, results)
            raise Interrupted(interrupted_message(type(exc).__name__, attempt_dir)) from None
        except TrainingFailed as exc:
            failures.append(f"seed {attempt_cfg.seed}: {exc}")
            log.warning("run failed to converge (%s)%s", exc, "; restarting with the next seed" if attempt < cfg.restarts else "")
            continue
        except Exception as exc:
            # a crash (bad checkpoint, a backend error, ...) must not leave "running" on view for good; a full or
            # vanished disk is said as one line, whatever the writer raised
            storage = as_storage_error(exc, attempt_dir, RUN_DIR_FIX)
            results.update(status=failure_status(storage or exc), wall_time_s=round(time.time() - start, 2))
            record_or_warn(write, run_dir, results)
            if storage is not None and storage is not exc:
                raise storage from exc
            raise
        metrics["weights"] = checkpoint_versions(attempt_dir)  # what the scores and heads below were made from
        return {**metrics, "trained_seed": attempt_cfg.seed, "trained_dir": str(attempt_dir),
                "status": trained_status(metrics.get("steps", {})), "failed_runs": len(failures), "failures": failures}
    return {"status": f"{FAILED}: {failures[-1]}", "failed_runs": len(failures), "failures": failures}


def fit_once(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """One training run in ``run_dir`` (build -> fit -> audit), then its end-of-run steps; returns what they report."""
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
    if getattr(model, "built_from", None):  # another run's weights this model froze (M1+M2's M1)
        metrics["built_from"] = model.built_from
    if trainer.global_rank == 0:
        metrics.update(run_end_of_run_steps(trainer, model, callbacks))
    # the final numbers of results.json, in every logger (TensorBoard's HParams tab reads them as hp/<metric>)
    hp = {f"hp/{k}": float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    for each in trainer.loggers:
        each.log_metrics(hp, step=trainer.global_step)
        each.finalize("success")
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


# CONF_DIR is absolute, so the console script finds conf/ whatever the working directory (an editable install or a wheel: ssgen.config.files).
@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
@hydra_task  # one line per error; one bad job does not cost the sweep; returns what a sweeper optimises
def hydra_main(cfg: DictConfig) -> dict[str, Any]:
    return train(cfg)


def main() -> None:
    """Console entry point: SSGenErrors become one line on stderr and exit code 2; a sweep with failed jobs exits 1.
    A console that goes away (``| head``, a closed terminal) never stops the run (``ssgen.cli.guarded_console``)."""
    with guarded_console("ssgen-train"):
        register_configs()
        register_own_hydra_plugins()  # an editable install hides them from Hydra's scan
        try:
            # Hydra's own parser and config loader, asked before Hydra makes anything: its refusals in one line
            check_command_line(sys.argv[1:], str(CONF_DIR), "train", calling_file=__file__)
            hydra_main()
        except SSGenError as exc:
            exit_with_error("ssgen-train", exc)
        if sweep_failures:
            print("\n".join(sweep_failure_lines(sweep_failures)), file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
