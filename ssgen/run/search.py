"""Optuna searches that survive a stop: the study lives in a storage beside the sweep, and the same command, relaunched,
continues it (``experiment=m1_tune`` / ``gan_tune``: ``hydra.sweeper._target_`` names
``hydra_plugins.ssgen_search.resumable_optuna_sweeper.ResumableOptunaSweeper``, whose search is ``ResumableSearch``).

    ssgen-train -m experiment=m1_tune                      # 20 trials into outputs/m1_tune/multirun/m1_tune/optuna.db
    ^C, then the same command again                        # the finished trials stay; the stopped one resumes in its
                                                           # own dir (from its last.ckpt); the rest run
    ssgen-train -m experiment=m1_tune hydra.sweeper.n_trials=30   # 10 more trials on the same study

hydra-optuna-sweeper's own sweeper runs ``n_trials`` new trials at every launch, numbers its jobs from 0 again (a
relaunch into the same sweep dir would land new trials in finished trials' dirs) and leaves a stopped trial RUNNING in
the storage for good. ``ResumableSearch`` keeps Optuna's search as it is and adds what a relaunch needs:

* ``n_trials`` is the study's total: a relaunch runs only the trials it lacks (finished, pruned and failed ones count);
* job numbers go on from the study's trial count, so every trial has a dir of its own;
* a trial stopped by SIGTERM, SIGHUP or Ctrl-C is told FAIL in the storage as the search stops (its job dir says
  ``interrupted``), never left RUNNING; one the search could not see end (SIGKILL, a lost machine) is told FAIL at the
  relaunch. Either is asked again with the same parameters and runs in its own dir, where ssgen-train resumes it; it
  counts once towards ``n_trials``;
* a study started by another command (other fixed overrides or search space) is refused in one line.

A SQLite URL that is relative is the launch dir's; its dir is made. Several machines share one study through one
database server (``hydra.sweeper.storage=postgresql://...``, docs/loggers.md).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ssgen.compat import (
    optuna_alembic_dir,
    optuna_sweeper_directions,
    optuna_sweeper_impl,
    optuna_sweeper_params,
)
from ssgen.config.paths import absolute_path
from ssgen.errors import ConfigError, exit_with_error

log = logging.getLogger("ssgen")

COMMAND_ATTR = "ssgen_command"  # the study's user attribute: the overrides it was started with
RUN_ONLY = ("torch_threads", "trainer.enable_progress_bar")  # overrides that change how a trial runs, not what it is
ENDED = ("COMPLETE", "PRUNED", "FAIL")


class ResumableSearch(optuna_sweeper_impl()):  # type: ignore[misc]
    """``OptunaSweeperImpl`` whose ``sweep`` continues the study in its storage (see the module docstring)."""

    def sweep(self, arguments: list[str]) -> None:
        """Prepare the storage and the study for this launch, then run Optuna's own sweep for the trials left."""
        import optuna

        if isinstance(self.storage, str):
            self.storage = open_storage_url(self.storage)
        if self.storage is None:  # in memory: nothing to continue
            return super().sweep(arguments)
        command = sorted(word for word in [*arguments, *optuna_sweeper_params(self)]
                         if word.partition("=")[0].lstrip("+~") not in RUN_ONLY)
        try:
            study = optuna.load_study(study_name=self.study_name, storage=self.storage)
        except KeyError:  # a new study: created with what it was started by
            study = optuna.create_study(study_name=self.study_name, storage=self.storage, directions=optuna_sweeper_directions(self))
            study.set_user_attr(COMMAND_ATTR, command)
            return self._sweep_recording_stops(arguments)
        started_by = study.user_attrs.get(COMMAND_ATTR)
        if started_by is not None and started_by != command:
            there, here = sorted(set(started_by) - set(command)), sorted(set(command) - set(started_by))
            exit_with_error("ssgen-train", ConfigError(
                f"study {self.study_name} in {self.storage} was started by another search ({', '.join(there) or 'nothing'}"
                f" there, {', '.join(here) or 'nothing'} here); relaunch it with its overrides to continue it, or start "
                "another: hydra.sweeper.study_name=<new name> (or another hydra.sweep.dir)"))
        reruns = self._rerun_stopped(study)
        ended = sum(trial.state.name in ENDED and not superseded(trial, study.trials) for trial in study.trials)
        total = self.n_trials
        self.n_trials = max(0, total - ended)
        self.job_idx = len(study.trials)  # job dirs of this launch never reuse an earlier trial's number
        log.info("study %s in %s: %d of %d trials ended%s; running %d more", self.study_name, self.storage, ended, total,
                 f", {len(reruns)} stopped one(s) resumed in their own dirs" if reruns else "", self.n_trials)
        if reruns:
            self.launcher = _ResumeInPlace(self.launcher, reruns)
        return self._sweep_recording_stops(arguments)

    def _sweep_recording_stops(self, arguments: list[str]) -> None:
        """Optuna's sweep; when a stop ends it (``ssgen-train`` exits 2 after the stopped trial recorded
        ``interrupted``, or Ctrl-C reaches here), the stopped trial is told FAIL before the process ends: a record
        that said RUNNING for good would claim a trial still in progress."""
        try:
            return super().sweep(arguments)
        except (SystemExit, KeyboardInterrupt):
            if self.storage is not None:
                self._record_stops()
            raise

    def _record_stops(self) -> None:
        """Tell FAIL every RUNNING trial whose job dir in this sweep dir says ``interrupted``."""
        import optuna

        from ssgen.run.results import INTERRUPTED

        try:
            study = optuna.load_study(study_name=self.study_name, storage=self.storage)
            jobs = self._job_dirs()
            for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
                job = jobs.get(trial_overrides(trial))
                if job is not None and job[1] == INTERRUPTED:
                    study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        except Exception as exc:  # the stop's own line and exit status come first; the relaunch still resumes it
            log.warning("could not record the stopped trial in %s (%s); the relaunch resumes it all the same",
                        self.storage, exc)

    def _job_dirs(self) -> dict[frozenset[str], tuple[str, str | None]]:
        """{a job's overrides: (its dir's name, its results.json status or None)} for the job dirs of this sweep dir."""
        import yaml

        from ssgen.run.results import has_results, read_results

        jobs = {}
        for job in sorted(Path(self.sweep_dir).glob("*/.hydra/overrides.yaml")):
            run_dir = job.parent.parent
            results = read_results(run_dir) if has_results(run_dir) else None
            jobs[frozenset(yaml.safe_load(job.read_text()) or [])] = (run_dir.name, (results or {}).get("status"))
        return jobs

    def _rerun_stopped(self, study: Any) -> dict[frozenset[str], str]:
        """Ask again (enqueued, same parameters) each trial that stopped before it ended: RUNNING (told FAIL now) with
        a job dir in this sweep dir that has not ended, or told FAIL as it stopped (its job dir says ``interrupted``)
        and not asked again yet. Returns {its job's overrides: its dir's name}."""
        import optuna

        from ssgen.run.results import INTERRUPTED, is_failed, is_ok

        jobs = self._job_dirs()
        reruns = {}
        for trial in study.get_trials(deepcopy=False):
            overrides = trial_overrides(trial)
            if overrides not in jobs or overrides in reruns:
                continue
            name, status = jobs[overrides]
            running = trial.state == optuna.trial.TrialState.RUNNING
            if running and not (status is not None and (is_ok({"status": status}) or is_failed({"status": status}))):
                study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
            elif not (trial.state == optuna.trial.TrialState.FAIL and status == INTERRUPTED
                      and not superseded(trial, study.get_trials(deepcopy=False))):
                continue
            study.enqueue_trial(dict(trial.params))
            reruns[overrides] = name
        return reruns


def trial_overrides(trial: Any) -> frozenset[str]:
    """The overrides of a trial's job: its sampled parameters and the search's fixed ones (which hydra-optuna-sweeper
    keeps as the trial's user attributes; ours, ``ssgen_*``, are not overrides)."""
    return frozenset([*(f"{name}={value}" for name, value in trial.params.items()),
                      *(f"{name}={value}" for name, value in trial.user_attrs.items() if not name.startswith("ssgen_"))])


def superseded(trial: Any, trials: list[Any]) -> bool:
    """Whether ``trial`` stopped (FAIL) and a later trial asks its parameters again (its rerun): it is then not one of
    the study's ``n_trials``, the rerun is. An enqueued rerun not asked yet holds its parameters as ``fixed_params``."""
    if trial.state.name != "FAIL" or not trial.params:
        return False
    return any(other.number > trial.number
               and (other.params or other.system_attrs.get("fixed_params")) == trial.params for other in trials)


class _ResumeInPlace:
    """The launcher, with each job whose overrides are a stopped trial's sent to that trial's dir
    (``hydra.sweep.subdir``), where ssgen-train resumes it from its last.ckpt."""

    def __init__(self, launcher: Any, reruns: dict[frozenset[str], str]) -> None:
        self.launcher, self.reruns = launcher, dict(reruns)

    def launch(self, job_overrides: Any, initial_job_idx: int) -> Any:
        from ssgen.cli import hydra_value

        jobs = []
        for overrides in job_overrides:
            subdir = self.reruns.pop(frozenset(overrides), None)
            jobs.append([*overrides, f"hydra.sweep.subdir={hydra_value(subdir)}"] if subdir else list(overrides))
        return self.launcher.launch(jobs, initial_job_idx=initial_job_idx)


def open_storage_url(url: str) -> str:
    """``url`` ready for Optuna: a relative SQLite file made the launch dir's, its dir made, and a new SQLite file
    prepared for Optuna < 3.1 under SQLAlchemy 2 (their schema stamp is never committed there: optuna#4375, fixed by
    optuna#4304 in 3.1; hydra-optuna-sweeper pins optuna < 3)."""
    url = absolute_path(url)
    if not url.startswith("sqlite:///"):
        return url
    path = Path(url[len("sqlite:///"):])
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.stat().st_size == 0:
        _stamp_new_sqlite(url)
    return url


def _stamp_new_sqlite(url: str) -> None:
    """Write the alembic revision Optuna expects into a new, empty database, in a committed transaction."""

    import optuna
    import sqlalchemy
    from packaging.version import Version

    if Version(optuna.__version__) >= Version("3.1") or Version(sqlalchemy.__version__) < Version("2"):
        return
    import alembic.migration
    import alembic.script
    script = alembic.script.ScriptDirectory(optuna_alembic_dir())
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.begin() as connection:
            context = alembic.migration.MigrationContext.configure(connection)
            if context.get_current_revision() is None:
                context.stamp(script, script.get_current_head())
    finally:
        engine.dispose()
