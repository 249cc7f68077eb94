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
* a trial this sweep dir shows stopped (its job dir, with these parameters, not ended) is asked again with the same
  parameters and runs in its own dir, where ssgen-train resumes it; the stopped trial is marked FAIL in the storage;
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
            return super().sweep(arguments)
        started_by = study.user_attrs.get(COMMAND_ATTR)
        if started_by is not None and started_by != command:
            there, here = sorted(set(started_by) - set(command)), sorted(set(command) - set(started_by))
            exit_with_error("ssgen-train", ConfigError(
                f"study {self.study_name} in {self.storage} was started by another search ({', '.join(there) or 'nothing'}"
                f" there, {', '.join(here) or 'nothing'} here); relaunch it with its overrides to continue it, or start "
                "another: hydra.sweeper.study_name=<new name> (or another hydra.sweep.dir)"))
        reruns = self._rerun_stopped(study)
        ended = sum(trial.state.name in ENDED for trial in study.trials) - len(reruns)
        total = self.n_trials
        self.n_trials = max(0, total - ended)
        self.job_idx = len(study.trials)  # job dirs of this launch never reuse an earlier trial's number
        log.info("study %s in %s: %d of %d trials ended%s; running %d more", self.study_name, self.storage, ended, total,
                 f", {len(reruns)} stopped one(s) resumed in their own dirs" if reruns else "", self.n_trials)
        if reruns:
            self.launcher = _ResumeInPlace(self.launcher, reruns)
        return super().sweep(arguments)

    def _rerun_stopped(self, study: Any) -> dict[frozenset[str], str]:
        """For each RUNNING trial whose job dir in this sweep dir holds its parameters and has not ended: ask it again
        (enqueued, same parameters) and mark the stopped one FAIL. Returns {its job's overrides: its dir's name}."""
        import optuna
        import yaml

        from ssgen.run.results import has_results, is_failed, is_ok, read_results

        stopped_dirs = {}
        for job in sorted(Path(self.sweep_dir).glob("*/.hydra/overrides.yaml")):
            run_dir = job.parent.parent
            results = read_results(run_dir) if has_results(run_dir) else None
            if results is None or not (is_ok(results) or is_failed(results)):
                stopped_dirs[frozenset(yaml.safe_load(job.read_text()) or [])] = run_dir.name
        reruns = {}
        for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            overrides = frozenset([*(f"{name}={value}" for name, value in trial.params.items()),
                                   *(f"{name}={value}" for name, value in trial.user_attrs.items() if name != COMMAND_ATTR)])
            if overrides in stopped_dirs and overrides not in reruns:
                study.enqueue_trial(dict(trial.params))
                study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
                reruns[overrides] = stopped_dirs[overrides]
        return reruns


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
