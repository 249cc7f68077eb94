"""A run dir's lifecycle around ``ssgen.train.train``: results.json, relaunches, and Hydra's launch of jobs.

    ssgen-train hydra.run.dir=outputs/x            # twice: the second says "already finished" and changes nothing
    ssgen-train hydra.run.dir=outputs/x trainer.max_epochs=60   # trains on, then recomputes every end-of-run score
    ssgen-train -m seed=0,1,2 method.kl_weight=1,0.1            # refused as a whole if any job's config is; a failed
                                                                # job is listed at the end and the exit status is 1

results.json's ``status`` is ``running`` while a run trains, then ``ok``, ``interrupted`` (SIGTERM, Ctrl-C: resume by
relaunching) or ``failed: <why>`` (a crash, failed convergence, or an end-of-run step that raised: ``steps`` says
which). ``PreflightChecks`` (``conf/hydra/default.yaml``: ``hydra.callbacks``) runs before Hydra creates any dir:
a config that ``validate()`` refuses leaves nothing behind, and a finished run is left untouched.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra import compose
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

from ssgen.audit import retry_hint
from ssgen.cli import hydra_value, shell_word
from ssgen.config import to_plain, validate
from ssgen.data import data_record, parse_n_labels
from ssgen.errors import Interrupted, SSGenError, exit_with_error
from ssgen.io import check_writable
from ssgen.results import (
    RUNNING,
    RunResults,
    failure_status,
    has_results,
    is_failed,
    is_ok,
    objective,
    read_results,
    sweep_jobs,
    write_results,
)
from ssgen.stops import sweep_stop

log = logging.getLogger("ssgen")


def config_hash(cfg: DictConfig) -> str:
    """Short stable hash of the resolved config minus paths: equal hashes mean equal experiments.

    Where the run and its data live is not the experiment: ``run_dir``, ``data.run_dir`` and ``data.root`` are
    left out, and values resolved from them (``logger.save_dir``, a checkpoint callback's ``dirpath``) enter as
    ``${run_dir}/...``, so the same command gives the same hash in any run dir.
    """
    plain = to_plain(cfg)
    places = []  # (a path as it may appear in a value, the name it enters the hash as)
    for name, place in (("${run_dir}", plain.get("run_dir")), ("${data.root}", plain.get("data", {}).get("root"))):
        if place:
            places += [(str(place), name), (str(Path(str(place)).expanduser().resolve()), name)]
    places.sort(key=lambda item: len(item[0]), reverse=True)  # the longest first: an absolute form contains a relative one

    def relative(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: relative(item) for key, item in value.items()}
        if isinstance(value, list):
            return [relative(item) for item in value]
        if isinstance(value, str):
            for place, name in places:
                if value == place or value.startswith(place.rstrip("/") + "/"):
                    return name + value[len(place.rstrip("/")):]
        return value

    for key in ("run_dir", "ckpt_path", "task_name"):
        plain.pop(key, None)
    for key in ("run_dir", "root"):
        plain.get("data", {}).pop(key, None)
    plain = relative(plain)
    return hashlib.sha256(json.dumps(plain, sort_keys=True, default=str).encode()).hexdigest()[:12]


def finished_message(cfg: DictConfig, run_dir: Path) -> str | None:
    """'<dir> already finished ...' when ``run_dir`` holds a run that ended ``ok`` at (or past) ``cfg``'s budget.

    Relaunching such a run would only rewrite what it produced, so ``train`` leaves it untouched. A run that
    ended with a failed end-of-run step, was interrupted or crashed is not finished: relaunching resumes it.
    """
    results = read_results(run_dir)
    if not results or not is_ok(results) or not (run_dir / "checkpoints" / "last.ckpt").is_file():
        return None
    max_epochs = cfg.trainer.get("max_epochs")
    max_steps = cfg.trainer.get("max_steps")
    if max_epochs not in (None, -1):
        done = (results.get("epochs") or 0) >= max_epochs
    elif max_steps not in (None, -1):
        done = (results.get("optimizer_steps") or 0) >= max_steps
    else:
        done = False
    if not done:
        return None
    epochs = results.get("epochs")
    message = (f"{run_dir} already finished ({epochs} epoch{'' if epochs == 1 else 's'}, {results.get('optimizer_steps')} "
               "optimizer steps) and is left as it is; raise trainer.max_epochs to train it on, or use a new hydra.run.dir")
    try:
        differs = results.get("config_hash") not in (None, config_hash(cfg))
    except Exception:  # a partial config (e.g. only trainer.max_epochs) cannot be hashed like a run's
        differs = False
    if differs:
        message += " (this command's settings differ from the run's and were NOT used)"
    return message


def record_failure(cfg: DictConfig, exc: BaseException) -> None:
    """A failed sweep job still leaves results.json saying why, so the report can mark it.

    Only where the job left none: a job that started training wrote its own (``train`` records the
    failure with its config hash and wall time), and a job that failed before starting (e.g. a bad value
    relaunched into a finished run's dir) must not overwrite the results of the run that is there.
    """
    try:
        run_dir = Path(cfg.run_dir)
        if has_results(run_dir):
            return
        write_results(run_dir, {"method": cfg.method.name, "arch": cfg.arch.name, "n_labels": str(cfg.data.n_labels),
                                "seed": cfg.seed, "status": failure_status(exc)})
    except Exception:  # the config itself may be what is broken; the log still has the error
        pass


def resume_command(run_dir: str | Path, overrides: list[str], config_name: str | None = None) -> str:
    """The single-run command line that resumes the run in ``run_dir``: ``ssgen-train <overrides>
    hydra.run.dir=<run_dir>``, each word quoted so that the shell hands ssgen-train exactly these arguments and
    Hydra parses ``run_dir`` back to itself, whatever characters it holds."""
    words = ["ssgen-train", *([f"--config-name={config_name}"] if config_name not in (None, "train") else []),
             *overrides, f"hydra.run.dir={hydra_value(str(run_dir))}"]
    return " ".join(shell_word(word) for word in words)


def relaunch_command(run_dir: str | Path) -> str:
    """The command that resumes this process's run in ``run_dir`` (``resume_command``). Under Hydra, from the job's
    own task overrides: for a sweep job those of that job (``seed=1``, not the sweep's ``seed=0,1``), without
    ``-m`` and without the launcher's settings. Called outside Hydra, from ``sys.argv``."""
    if HydraConfig.initialized():
        hydra_cfg = HydraConfig.get()
        return resume_command(run_dir, list(hydra_cfg.overrides.task), hydra_cfg.job.config_name)
    args = [arg for arg in sys.argv[1:] if not arg.startswith(("hydra.", "hydra/", "-m", "--multirun"))]
    return resume_command(run_dir, args)


def interrupted_message(signal_name: str, run_dir: str | Path) -> str:
    """The one line an interrupted run ends with (exit 2): what happened and the command that resumes it."""
    saved = (Path(run_dir) / "checkpoints" / "last.ckpt").is_file()  # a stop before the first batch saves nothing
    return (f"interrupted ({signal_name}); {'last.ckpt saved' if saved else 'nothing trained yet'}: resume with "
            f"`{relaunch_command(run_dir)}`")


def new_record(cfg: DictConfig) -> RunResults:
    """What results.json says while the run in ``cfg.run_dir`` trains (status ``running``): its identity, the
    precision it trains in and which data files it reads (their digests; None before a download)."""
    return {
        "method": cfg.method.name, "family": cfg.method.family, "arch": cfg.arch.name,
        "n_labels": parse_n_labels(cfg.data.n_labels), "seed": cfg.seed, "config_hash": config_hash(cfg),
        "trainer_precision": str(cfg.trainer.precision),  # "precision" is the improved-precision metric
        "data": data_record(cfg.data.root, cfg.data.get("allow_unknown", False)),
        "status": RUNNING,
    }


def in_multirun() -> bool:
    """Whether this process runs the jobs of a Hydra multirun (``ssgen-train -m``); False outside Hydra."""
    try:
        return HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:
        return False


def hydra_task(task: Callable[[DictConfig], dict[str, Any]]) -> Callable[[DictConfig], float | None]:
    """Decorator for the function under ``@hydra.main``: ``task(cfg)`` returns the run's results, the wrapper what a
    sweeper (e.g. optuna) optimises, the test-free ``objective`` (never a test number), or None.

    Outside a multirun an SSGenError, a failed run and an interruption end the process with one line (exit 2),
    where Hydra would print a traceback. In a multirun one bad job must not cost the rest of the sweep: its error is
    logged and recorded (``record_failure``); an interrupted job of a basic-launcher sweep stops the sweep.
    """

    @functools.wraps(task)
    def wrapper(cfg: DictConfig) -> float | None:
        try:
            results = task(cfg)
        except Interrupted as exc:  # a stopped job of a basic-launcher sweep stops the sweep: no further job starts
            exit_with_error("ssgen-train", sweep_stop(exc) or exc)
        except SSGenError as exc:
            if not in_multirun():
                exit_with_error("ssgen-train", exc)  # a SystemExit passes through Hydra
            log.error("job failed: %s", exc)
            record_failure(cfg, exc)
            return None
        except Exception as exc:
            if not in_multirun():
                raise
            log.error("job failed: %s\n%s", exc, traceback.format_exc())
            record_failure(cfg, exc)
            return None
        if not in_multirun() and is_failed(results):
            exit_with_error("ssgen-train", SSGenError(f"{results['status']} ({retry_hint(results['status'], cfg.run_dir)})"))
        search = objective(results)
        return search[1] if search else None

    return wrapper

def sweep_failure_lines(failures: list[str]) -> list[str]:
    """What a multirun with failed jobs prints last (then exits 1): a header and one line per failed job."""
    return [f"ssgen-train: {len(failures)} job(s) of the sweep failed:", *(f"  {line}" for line in failures)]


# ------------------------------------------------------------------------------------------------ Hydra callbacks
class PreflightChecks(Callback):
    """Checks before Hydra creates any dir, and a verdict after a sweep (``hydra.callbacks.preflight``).

    * a single run: ``validate()`` the config (a refusal is one line, exit 2, nothing written), and leave a run
      dir that holds a finished run untouched (one line, exit 0);
    * a multirun (basic sweeper): every job's config is composed and validated before the first job starts;
    * after a multirun: one line per job that failed, and ``ssgen-train`` exits 1 (``sweep_failures``).
    """

    def __init__(self) -> None:
        self.started = 0.0
        self.stops: Any = None  # ssgen.stops.SweepStops while a basic-launcher sweep runs

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        task = _task_config(config)
        try:
            validate(task)
            check_writable(str(config.hydra.run.dir))  # Hydra writes .hydra/ there first: a traceback otherwise
        except SSGenError as exc:
            exit_with_error("ssgen-train", exc)
        message = finished_message(task, Path(str(config.hydra.run.dir)))
        if message:
            print(f"ssgen-train: {message}", file=sys.stderr)
            raise SystemExit(0)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.started = time.time()
        sweep_failures.clear()
        try:
            check_writable(str(config.hydra.sweep.dir), fix="free space or choose another hydra.sweep.dir")
        except SSGenError as exc:
            exit_with_error("ssgen-train", exc)
        from ssgen.stops import SweepStops, basic_launcher

        if basic_launcher(config.hydra):  # a stop between two jobs ends the sweep, as one inside a job does
            self.stops = SweepStops(str(config.hydra.sweep.dir))
            self.stops.install()
        if config.hydra.sweeper.get("_target_", "").endswith("BasicSweeper"):
            for overrides in expand_sweep(list(config.hydra.overrides.task)):
                try:
                    validate(_task_config(compose(config_name=config.hydra.job.config_name, overrides=overrides)))
                except SSGenError as exc:
                    exit_with_error("ssgen-train", SSGenError(f"job {' '.join(overrides) or '(no overrides)'}: {exc}; "
                                                              "no job was started"))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.stops is not None:
            self.stops.restore()
        sweep_dir = Path(str(config.hydra.sweep.dir))
        # jobs of an earlier launch into the same sweep dir are older than this launch
        for run_dir, results in sweep_jobs(sweep_dir, modified_since=self.started - 1):
            if not is_ok(results):
                sweep_failures.append(f"{run_dir}: {results.get('status', '')}")


sweep_failures: list[str] = []  # filled by PreflightChecks.on_multirun_end in the launching process


def expand_sweep(overrides: list[str]) -> list[list[str]]:
    """The job override lists of a basic-sweeper multirun (``a=1,2 b=x,y`` -> four jobs), as Hydra expands them."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    batches = BasicSweeper.split_arguments(parsed, None)
    return [list(job) for batch in batches for job in batch]


def _task_config(config: DictConfig) -> DictConfig:
    """The task part of a composed config (without ``hydra``), with ``run_dir`` made resolvable before the run starts."""
    task = OmegaConf.masked_copy(config, [key for key in config if key != "hydra"])
    run_dir = config.hydra.run.dir if "hydra" in config and config.hydra.get("run") else "."
    with open_dict(task):
        task.run_dir = str(run_dir)
    return task
