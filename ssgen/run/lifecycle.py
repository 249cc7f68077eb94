"""A run dir's lifecycle around ``ssgen.train.train``: relaunches, resumes, the precision a launch settles, and
Hydra's launch of jobs.

    ssgen-train hydra.run.dir=outputs/x            # twice: the second says "already finished" and changes nothing
    ssgen-train hydra.run.dir=outputs/x trainer.max_epochs=60   # trains on, then recomputes every end-of-run score
    ssgen-train ckpt_path=last hydra.run.dir=outputs/x          # resume, or one line if there is nothing to resume
    ssgen-train -m seed=0,1,2 method.kl_weight=1,0.1            # refused as a whole if any job's config is; a failed
                                                                # job is listed at the end and the exit status is 1
    ssgen-train method=dcgan                       # bf16-mixed on a CPU with native bf16, else 32-true

results.json's ``status`` is ``running`` while a run trains, then ``ok``, ``interrupted`` (SIGTERM, SIGHUP, Ctrl-C:
resume by relaunching) or ``failed: <why>`` (a crash, failed convergence, or an end-of-run step that raised: ``steps``
says which). ``PreflightChecks`` (``conf/hydra/default.yaml``: ``hydra.callbacks``) runs before Hydra creates any dir:
a config that ``validate()`` refuses leaves nothing behind, and a finished run is left untouched.

A run dir belongs to one process (``hold_run_dir``): a second launch into a dir that a live process holds (a run,
or the sweep whose job dir it is) is refused in one line naming that process, before Hydra writes anything there.
The lock is the kernel's (``ssgen.io.DirLock``), so a process that died, however, holds nothing.

Resumes: ``resolve_ckpt_path`` is the one place that decides whether a relaunch resumes; ``check_resumable`` refuses
a checkpoint whose networks this config would not rebuild (``ssgen.run.audit.check_resume`` refuses another method,
non-finite weights and a changed batch size mid-epoch). Both run before anything of the run is written.

Precision: a method's default (``default_precision``: bf16-mixed for the GANs, 32-true for M1/M2) is a wish that
``device_precision`` settles once per launch, before the config hash and the relaunch check (both describe the
precision that runs): a resumed run keeps the precision it trained in. The measurements behind ``bf16_pays``:
docs/design/performance.md.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from hydra import compose
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from ssgen.compat import cpu_has_native_bf16
from ssgen.config.command_line import hydra_error_line, sweep_job_overrides, sweeper_params
from ssgen.config.paths import absolute_path, resolve_paths
from ssgen.config.schemas import to_plain
from ssgen.config.validation import validate
from ssgen.data import data_record, parse_n_labels
from ssgen.errors import ConfigError, Interrupted, SSGenError, exit_with_error
from ssgen.io import RUN_DIR_FIX, DirBusy, DirLock, check_writable, make_dir
from ssgen.models.checkpoints import read_checkpoint
from ssgen.run.audit import check_resume, retry_hint
from ssgen.run.build import apply_run_settings, build_model, point_data_env
from ssgen.run.results import (
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
from ssgen.run.stops import sweep_stop

log = logging.getLogger("ssgen")


def config_hash(cfg: DictConfig, drop: tuple[str, ...] = ()) -> str:
    """Short stable hash of the resolved config minus paths: equal hashes mean equal experiments.

    Where the run and its data live is not the experiment: ``run_dir``, ``data.run_dir`` and ``data.root`` are
    left out, and values resolved from them (``logger.save_dir``, a checkpoint callback's ``dirpath``) enter as
    ``${run_dir}/...``, so the same command gives the same hash in any run dir. ``drop``: dotted keys also left out
    (after resolving, so what refers to them keeps its value).
    """
    plain = to_plain(cfg)
    for dotted in drop:
        *parents, key = dotted.split(".")
        node: Any = plain
        for parent in parents:
            node = node.get(parent) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(key, None)
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


# Settings that change how a run goes, not what it computes: a relaunch may add or drop them, and a table averages
# runs that differ only in them (threads, progress output, how many CV fits run at once)
RUN_ONLY_KEYS = ("torch_threads", "callbacks.thread_budget.fixed_threads", "trainer.enable_progress_bar",
                 "trainer.log_every_n_steps", "trainer.enable_model_summary", "method.callbacks.svm_head.n_jobs")
# Settings a table indexes its cells by (the label budgets N: columns of Table 1, a column or a key of the others)
BUDGET_KEYS = ("data.n_labels", "label_budgets", "method.callbacks.svm_head.n_labels",
               "method.callbacks.svm_head.headline")


def settings_hash(cfg: DictConfig) -> str:
    """Short stable hash of what a table may average over seeds: ``config_hash`` of the config with the seed (and
    every value drawn from it) set alike, the run-only settings (``RUN_ONLY_KEYS``) and the label budgets
    (``BUDGET_KEYS``, which index a table's cells) left out. Runs with equal settings hashes differ in seed and N
    only; results.json records it as ``settings_hash`` and every report keys its rows on it."""
    same = cfg.copy()
    with open_dict(same):
        same.seed = 0  # before resolving: ${seed} in a callback or a path resolves alike for every seed
    return config_hash(same, drop=(*RUN_ONLY_KEYS, *BUDGET_KEYS))


def task_overrides() -> list[str]:
    """This job's own command-line overrides (a sweep job's, not the sweep's), or [] outside Hydra: results.json
    ``overrides``, which names a row of a report when runs differ in them."""
    try:
        return [str(item) for item in HydraConfig.get().overrides.task]
    except ValueError:
        return []


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
    from ssgen.cli import (  # only when a run stops or fails: the run path does without it
        hydra_value,
        shell_word,
    )

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
        "settings_hash": settings_hash(cfg), "overrides": task_overrides(),
        "trainer_precision": str(cfg.trainer.precision),  # "precision" is the improved-precision metric
        "data": data_record(cfg.data.root, cfg.data.get("allow_unknown", False)),
        "status": RUNNING,
    }


def check_relaunch(cfg: DictConfig, run_dir: Path) -> None:
    """Before anything of the run is written: when this launch resumes (``resolve_ckpt_path``), refuse a checkpoint it
    cannot train on as the command says (another method, non-finite weights, a changed batch size mid-epoch, other
    networks), so a refused resume loses nothing. Raises ConfigError / CheckpointError."""
    ckpt_path = resolve_ckpt_path(cfg, run_dir)
    if ckpt_path is not None:
        check_resume(cfg, ckpt_path)
        check_resumable(cfg, ckpt_path)


def is_rank_zero() -> bool:
    """Whether this process is the run's first (under DDP every rank runs ``train``; one owns the run dir)."""
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def busy_error(exc: DirBusy, fix: str = "choose another hydra.run.dir") -> SSGenError:
    """The one line a launch into a held dir gets: who holds it and what to do."""
    pid = exc.holder.get("pid")
    stop = f" (or stop it: kill {pid})" if pid else ""
    return SSGenError(f"{exc}; wait for it to end{stop}, or {fix}")


def hold_run_dir(run_dir: Path, fix: str = "choose another hydra.run.dir") -> DirLock | None:
    """Make ``run_dir`` this process's (``ssgen.io.DirLock``; counted, so holding it twice is fine); returns the lock
    to release, None on ranks other than the first. Raises SSGenError naming the live process that holds it, and
    StorageError for a dir that cannot be made."""
    if not is_rank_zero():
        return None
    lock = DirLock(run_dir)
    try:
        lock.acquire(RUN_DIR_FIX)
    except DirBusy as exc:
        raise busy_error(exc, fix) from None
    return lock


def check_parent_sweep(run_dir: Path) -> None:
    """Refuse a single run into a job dir of a sweep that is still running (the sweep would reach that job later and
    write over the run): one line naming the sweep's process."""
    holder = DirLock(run_dir.parent).holder() if run_dir.parent != run_dir else None
    if holder:
        raise busy_error(DirBusy(run_dir.parent, holder), "choose a hydra.run.dir outside that sweep's dir")


def check_sources(cfg: DictConfig, run_dir: Path | None = None) -> None:
    """Refuse (ConfigError, one line, before anything is made) another run's weights that this run would build on
    (M1+M2's ``method.m1_checkpoint``) when they are not that run's finished version: a run trained on after it
    finished and stopped, or still training, or a checkpoint changed after its run ended
    (``ssgen.run.results.unfinished_problem``). A relaunch that resumes keeps the copy it froze, and is not asked."""
    source = cfg.method.get("m1_checkpoint") if "method" in cfg else None
    if not source or (run_dir is not None and resolve_ckpt_path(cfg, run_dir) is not None):
        return
    from ssgen.models.checkpoints import resolve_checkpoint, weights_version
    from ssgen.run.results import unfinished_problem

    path = resolve_checkpoint(source)
    problem = unfinished_problem(path, weights_version(read_checkpoint(path)))
    if problem:
        raise ConfigError(f"method.m1_checkpoint={source}: {problem}")


def keep_finished_version(cfg: DictConfig, run_dir: Path) -> Path | None:
    """Before a finished run is trained on (relaunched with a larger budget), keep its weights as they finished,
    weights only, in ``checkpoints/finished_step<N>.ckpt``: until training ends again its heads and scores belong to
    that version, and a loader that refuses the newer last.ckpt with them points there (the run as it was). Returns
    the file, or None when this launch does not train a finished run on."""
    previous = read_results(run_dir)
    last = run_dir / "checkpoints" / "last.ckpt"
    if not previous or not is_ok(previous) or resolve_ckpt_path(cfg, run_dir) != str(last) or not is_rank_zero():
        return None
    from ssgen.models.checkpoints import save_model_only, snapshot_name, weights_version

    version = (previous.get("weights") or {}).get("last.ckpt") or weights_version(read_checkpoint(last))
    kept = run_dir / "checkpoints" / snapshot_name(version)
    if not kept.is_file():
        save_model_only(last, kept)
        log.info("kept the finished run's weights (%s) in %s while it trains on", version.get("global_step"), kept)
    return kept


def record_writer() -> Callable[[Path, dict[str, Any]], Any]:
    """``write(run_dir, results)``: results.json in the run dir, rank 0 only (under DDP every rank runs ``train``; one
    writes), a full disk as the run dir's one-line StorageError."""
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    return rank_zero_only(functools.partial(write_results, fix=RUN_DIR_FIX))


def start_record(cfg: DictConfig, run_dir: Path) -> RunResults:
    """Make the run dir, apply the run's process-wide settings and write results.json ``running``; returns that record.

    A relaunch (a resume, or more epochs) must not leave the previous ``ok`` and its numbers on view while it trains,
    nor after a SIGKILL: until this run ends, results.json says it is running. A dir that cannot be made or written
    is one StorageError line before anything is."""
    make_dir(run_dir)
    apply_run_settings(cfg)
    point_data_env(cfg.data.root)
    results = new_record(cfg)
    record_writer()(run_dir, results)
    return results


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

    from ssgen.cli import flush_notes, quiet_log_file_errors

    @functools.wraps(task)
    def wrapper(cfg: DictConfig) -> float | None:
        quiet_log_file_errors("ssgen-train")  # Hydra has just opened this job's log file
        flush_notes()  # a console that went away before any log file was open is said in this one
        try:
            results = task(cfg)
        except Interrupted as exc:  # a stopped job of a basic-launcher sweep stops the sweep: no further job starts
            fail(sweep_stop(exc) or exc)
        except SSGenError as exc:
            if not in_multirun():
                fail(exc)  # a SystemExit passes through Hydra
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
            fail(SSGenError(f"{results['status']} ({retry_hint(results['status'], cfg.run_dir)})"))
        search = objective(results)
        return search[1] if search else None

    return wrapper

def fail(error: BaseException) -> None:
    """End ssgen-train with ``ssgen-train: error: <message>`` (exit 2), said in the log files too: after a hang-up the
    console, and the resume command printed there, may be gone."""
    from ssgen.cli import note_in_log_files

    note_in_log_files(f"ssgen-train: error: {error}")
    exit_with_error("ssgen-train", error)


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
        self.stops: Any = None  # ssgen.run.stops.SweepStops while a basic-launcher sweep runs

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        task = _task_config(config)
        run_dir = Path(absolute_path(str(config.hydra.run.dir)))  # where the job will run, chdir or not
        try:
            resolve_paths(task)  # as train() does inside the job: against the launch dir, chdir or not
            validate(task)
            # a resume this command cannot make (ckpt_path=last with nothing there, another method's checkpoint, ...)
            # is refused before Hydra writes .hydra/ over the record of how the run there was launched
            with said_once():  # train() says what these settle when it runs
                device_precision(task)
                check_relaunch(task, run_dir)
                check_sources(task, run_dir)
            check_writable(run_dir)  # Hydra writes .hydra/ there first: a traceback otherwise
            if is_rank_zero():  # Lightning's DDP ranks relaunch into the dir their first rank holds
                check_parent_sweep(run_dir)
                # held for the whole process, before Hydra writes .hydra/ or the log there
                hold_run_dir(run_dir)
        except SSGenError as exc:
            exit_with_error("ssgen-train", exc)
        message = finished_message(task, run_dir)
        if message:
            print(f"ssgen-train: {message}", file=sys.stderr)
            raise SystemExit(0)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.started = time.time()
        sweep_failures.clear()
        sweep_dir = Path(str(config.hydra.sweep.dir))
        fix = "free space or choose another hydra.sweep.dir"
        try:
            check_writable(sweep_dir, fix=fix)
        except SSGenError as exc:
            exit_with_error("ssgen-train", exc)
        from ssgen.run.stops import SweepStops, basic_launcher

        if basic_launcher(config.hydra):  # a stop between two jobs ends the sweep, as one inside a job does
            self.stops = SweepStops(str(sweep_dir))
            self.stops.install()
        if config.hydra.sweeper.get("_target_", "").endswith("BasicSweeper"):
            for overrides in expand_sweep(config):
                try:
                    try:
                        job = compose(config_name=config.hydra.job.config_name, overrides=overrides)
                    except (HydraException, OmegaConfBaseException) as exc:  # Hydra's page, as one line
                        raise ConfigError(hydra_error_line(exc, overrides)) from None
                    task = _task_config(job)
                    resolve_paths(task)
                    validate(task)
                    check_sources(task)
                except SSGenError as exc:
                    exit_with_error("ssgen-train", SSGenError(f"job {' '.join(overrides) or '(no overrides)'}: {exc}; "
                                                              "no job was started"))
        try:  # every job checked: only now is the sweep dir made, and held for this sweep (its jobs run under it)
            DirLock(sweep_dir).acquire(fix)
        except DirBusy as exc:
            exit_with_error("ssgen-train", busy_error(exc, "choose another hydra.sweep.dir"))
        except SSGenError as exc:
            exit_with_error("ssgen-train", exc)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.stops is not None:
            self.stops.restore()
        sweep_dir = Path(str(config.hydra.sweep.dir))
        # jobs of an earlier launch into the same sweep dir are older than this launch
        for run_dir, results in sweep_jobs(sweep_dir, modified_since=self.started - 1):
            if not is_ok(results):
                sweep_failures.append(f"{run_dir}: {results.get('status', '')}")


sweep_failures: list[str] = []  # filled by PreflightChecks.on_multirun_end in the launching process


@contextlib.contextmanager
def said_once() -> Iterator[None]:
    """Checks run again when the run starts: their info lines (the precision settled, the M1 VAE frozen) are left to
    that second time, so the console says each once."""
    previous = logging.root.manager.disable
    logging.disable(logging.INFO)
    try:
        yield
    finally:
        logging.disable(previous)


def expand_sweep(config: DictConfig) -> list[list[str]]:
    """The job override lists of the basic-sweeper multirun ``config`` describes (``a=1,2 b=x,y`` -> four jobs), as
    Hydra's BasicSweeper expands them: its ``hydra.sweeper.params`` and the command line, ``glob`` over the options
    on the search path of this launch."""
    from hydra.core.global_hydra import GlobalHydra

    loader = GlobalHydra.instance().config_loader() if GlobalHydra.instance().is_initialized() else None
    return sweep_job_overrides(list(config.hydra.overrides.task), loader, sweeper_params(config))


def _task_config(config: DictConfig) -> DictConfig:
    """The task part of a composed config (without ``hydra``), with ``run_dir`` made resolvable before the run starts."""
    task = OmegaConf.masked_copy(config, [key for key in config if key != "hydra"])
    run_dir = config.hydra.run.dir if "hydra" in config and config.hydra.get("run") else "."
    with open_dict(task):
        task.run_dir = str(run_dir)
    return task


# ------------------------------------------------------------------------------------------------ resumes
def resolve_ckpt_path(cfg: DictConfig, run_dir: Path) -> str | None:
    """'last' or an explicit path; and automatic resume when relaunched into a run dir that has a last.ckpt.

    The resume also serves a finished run: relaunched with a larger ``trainer.max_epochs`` it trains on from
    where it ended (optimizer state, step counts and the M2 labelled-batch order all continue). Raises SSGenError
    for ``ckpt_path=last`` without a last.ckpt and for a ``ckpt_path`` that is not a file.
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
        if "optimizer_states" not in checkpoint:  # Lightning would raise a KeyError traceback mid-restore
            raise ConfigError(f"{ckpt_path} is a weights-only copy (ssgen-export): it loads for inference and as "
                              "method.m1_checkpoint but holds no optimizer state to resume from; resume from the "
                              "run's own checkpoints/last.ckpt, or give a new hydra.run.dir to train afresh")
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


# ------------------------------------------------------------------------------------------------ precision
def bf16_pays(accelerator: str) -> bool:
    """Whether bf16 autocast is measured faster than fp32 for ssgen's networks on the device Lightning's
    ``accelerator`` picks: only on a CPU with native bf16 instructions (AVX512-BF16 or AMX). Not on a GPU (at
    28x28 the casts cost more than the tensor cores save); not on Apple's MPS (unmeasured); not on a CPU that only
    emulates bf16 (oneDNN runs bf16 on any AVX512BW CPU, converting in software). The measurements, CPU and GPU:
    docs/design/performance.md."""
    if accelerator not in ("auto", "cpu"):
        return False
    if accelerator == "auto" and (torch.cuda.is_available() or torch.backends.mps.is_available()):
        return False
    return cpu_has_native_bf16()


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
