"""ssgen-study: the CS5787 write-up's whole study in one resumable command (Q1, Q4 M1 and M1+M2, Q5 GANs).

    ssgen-study writeup budget=quick                 # every part reduced, 1 seed (what it took: docs/writeup.md)
    ssgen-study writeup budget=full                  # the write-up's budget, 3 seeds (the GANs: committed records)
    ssgen-study writeup budget=quick dry_run=true       # what each part runs, what is done, what is next
    ssgen-study writeup budget=full parts=m1,m1_m2 torch_threads=1 gan:trainer.precision=32-true
    ssgen-report writeup runs=outputs/writeup/quick/records out=docs/writeup.md

Each part but Q1 is one Hydra multirun of ``ssgen-train`` (so composition, overrides and launchers apply) into a
fixed sweep dir, ``<dir>/<part>``, with job dirs named by what they vary (``seed0``, ``n100_seed0``,
``wgan_gp_dcgan_softplus_seed0``). Relaunching the same command launches only the jobs that have not ended (``ok``,
or ``failed`` after training, e.g. a failed convergence): a finished job is not touched, an interrupted or killed one
resumes from its last.ckpt (ssgen-train's run lifecycle, ssgen.run.lifecycle), a crashed one runs again. A job the sweep dir
does not hold but ``records=`` does counts as ended, so the committed page's command retrains nothing. After each part, every ended job is copied as a small record (ssgen.reporting.records:
results.json, curves.csv, samples) into ``records=`` (default ``<dir>/records``), with ``study.json`` saying the
budget; ``ssgen-report writeup runs=<records>`` renders the page from these alone.

Overrides after the options go to every ssgen-train part; ``<part>:key=value`` to one part only (``m1:``,
``m1_m2:``, ``gan:``). Budgets (``BUDGETS``) only shrink or grow how long things train: the M1 recipe is whatever
``ssgen-train`` does by default, the GANs are ``experiment=gan`` (10 epochs, restarts on), M1+M2 is
``experiment=m2_study method=m1_m2`` on the M1 run of the same seed. The full budget counts a GAN job as ended when
``docs/records/gan_study/<job>`` holds its record (tools/gan_study.py made those at exactly this budget), so it
does not retrain hours of GANs. On a GPU, several jobs share the device with the joblib launcher:
``ssgen-study writeup budget=full trainer.accelerator=gpu hydra/launcher=joblib_local hydra.launcher.n_jobs=4``.

A study's dir belongs to one ``ssgen-study`` at a time (a second one into it is refused in one line naming the first),
its records dir may not be one of its run dirs (a record would be written over the run it records), and a stop
(SIGTERM, SIGHUP, Ctrl-C) ends it as it ends a run: the running ssgen-train job is asked to stop at its next batch
boundary (it records ``interrupted``), what ended is recorded, the command that resumes the study is printed, and
it exits 2 (``StudyStops``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from ssgen.errors import ConfigError, Interrupted, SSGenError, print_output
from ssgen.io import DirBusy, DirLock, atomic_write_json, display_path, file_identity
from ssgen.run.results import is_failed, is_ok, read_results, results_path

ROOT = Path(__file__).resolve().parents[2]
# The GAN study's committed records (tools/gan_study.py, 3 seeds x 10 epochs, experiment=gan): the full budget's Q5
COMMITTED_GAN_RECORDS = ROOT / "docs" / "records" / "gan_study"
MANIFEST = "study.json"
PARTS = ("q1", "m1", "m1_m2", "gan")
PART_TITLES = {"q1": "Q1: KL, JS and W1 on two parallel lines", "m1": "Q4: M1 + RBF-SVM",
               "m1_m2": "Q4: M1 + M2", "gan": "Q5: class-conditional GANs on arch A and B"}
GAN_METHODS = ("dcgan", "wgan_clip", "wgan_gp")
GAN_ARCHS = ("dcgan", "dcgan_softplus")  # the write-up's arch A and arch B
WRITEUP_N = (100, 600, 1000, 3000)


@dataclass(frozen=True)
class Budget:
    """How long each part trains; nothing here changes what a model is (see the module docstring).

    ``theory``: keyword arguments of ``ssgen.reporting.theory.sweep`` plus ``n_theta``; ``m1`` / ``m1_m2`` / ``gan``:
    ssgen-train overrides of that part; ``gan_records``: ``COMMITTED_GAN_RECORDS`` were made at exactly this budget,
    so ``reuse_committed=true`` may let them stand for the GAN jobs."""

    name: str
    description: str
    seeds: tuple[int, ...]
    n_labels: tuple[int, ...] = WRITEUP_N
    theory: dict[str, Any] = field(default_factory=lambda: {"n_theta": 21, "n_samples": 400, "critic_steps": 300})
    m1: tuple[str, ...] = ()
    m1_m2: tuple[str, ...] = ("experiment=m2_study",)
    gan: tuple[str, ...] = ("experiment=gan",)
    gan_records: bool = False
    # Equal terms for the GANs: each method gets this many generator steps (its epochs and batches follow from its
    # n_critic); None: every method gets the same epochs and batches (``gan``), so the critic-heavy ones get fewer.
    gan_generator_steps: int | None = None
    # Per-method settings that win at this budget (measured: docs/design/gans.md, "Levers on the quick budget")
    gan_method: dict[str, tuple[str, ...]] = field(default_factory=dict)


# Every budget in one place; what each took is in its records' study.json (elapsed_s), and the page shows it.
BUDGETS = {
    "full": Budget("full", "the write-up's budget: M1 as ssgen-train's default, M1+M2 10 epochs, GANs 10 epochs "
                   "with restarts, 3 seeds each", seeds=(0, 1, 2), gan_records=True),
    "quick": Budget("quick", "every part reduced, 1 seed: M1 5 epochs, M1+M2 2 epochs, GANs 300 generator steps "
                    "each; the numbers show the pipeline, not the write-up's",
                    seeds=(0,), m1=("trainer.max_epochs=5",),
                    m1_m2=("experiment=m2_study", "trainer.max_epochs=2"),
                    gan=("experiment=gan",), gan_generator_steps=300,
                    # in 300 steps DCGAN's generator still oscillates: sampling a weight average gained 2-10 FID and
                    # 0.05-0.30 class-consistency (2 seeds x 2 archs); it did not help the WGANs, TTUR helped none
                    gan_method={"dcgan": ("method.ema_decay=0.999",)}),
    "debug": Budget("debug", "seconds per part, for tests: a few batches, N = 100 only, small GANs",
                    seeds=(0,), n_labels=(100,), theory={"n_theta": 5, "n_samples": 100, "critic_steps": 20},
                    m1=("trainer.max_epochs=1", "+trainer.limit_train_batches=5", "method.callbacks.svm_head.cv_folds=2",
                        "method.callbacks.svm_head.graph_nodes=2000", "trainer.enable_progress_bar=false"),
                    m1_m2=("experiment=m2_study", "trainer.max_epochs=1", "+trainer.limit_train_batches=5",
                           "trainer.enable_progress_bar=false"),
                    gan=("experiment=gan", "trainer.max_epochs=1", "+trainer.limit_train_batches=3",
                         "++arch.networks.generator.width=8", "++arch.networks.critic.width=8",
                         "method.callbacks.quality.n_samples=100", "method.callbacks.quality.final_n_samples=200",
                         "trainer.enable_progress_bar=false")),
}


# The GANs' batches per epoch: 60k training images in batches of 64 (experiment=gan), the last one partial.
GAN_BATCHES_PER_EPOCH = math.ceil(60000 / 64)
GAN_EPOCHS = 10  # experiment=gan's trainer.max_epochs


def n_critic(method: str) -> int:
    """Critic steps per generator step of a GAN method, as its config (conf/method/<method>.yaml) sets it."""
    from omegaconf import OmegaConf

    from ssgen.config.files import CONF_DIR

    return int(OmegaConf.load(Path(CONF_DIR) / "method" / f"{method}.yaml").get("n_critic", 1))


def gan_schedule(budget: Budget, method: str) -> tuple[int, int]:
    """(epochs, batches per epoch) of ``method`` under ``budget``. A generator-step budget gives ``steps * n_critic``
    real batches in the fewest epochs of at most ``GAN_BATCHES_PER_EPOCH`` batches that divide them evenly;
    otherwise the budget's own ``trainer.max_epochs`` / ``+trainer.limit_train_batches`` (experiment=gan's 10
    epochs of every batch where it sets none)."""
    if budget.gan_generator_steps:
        batches = budget.gan_generator_steps * n_critic(method)
        epochs = next(e for e in range(math.ceil(batches / GAN_BATCHES_PER_EPOCH), batches + 1) if batches % e == 0)
        return epochs, batches // epochs
    given = dict(word.lstrip("+").split("=", 1) for word in budget.gan if "=" in word)
    return int(given.get("trainer.max_epochs", GAN_EPOCHS)), int(given.get("trainer.limit_train_batches",
                                                                           GAN_BATCHES_PER_EPOCH))


def generator_steps(budget: Budget, method: str) -> int:
    """Generator steps of one ``method`` run under ``budget``: one after every ``n_critic``-th real batch, counted
    across epochs (``ssgen.models.gan.ConditionalGAN.update``)."""
    epochs, batches = gan_schedule(budget, method)
    return epochs * batches // n_critic(method)


def gan_schedule_overrides(budget: Budget, method: str) -> tuple[str, ...]:
    """The ssgen-train overrides that give ``method`` its ``gan_schedule``, then the budget's own settings of it
    (``Budget.gan_method``)."""
    epochs, batches = gan_schedule(budget, method)
    schedule = (f"trainer.max_epochs={epochs}", f"+trainer.limit_train_batches={batches}")
    return (*(schedule if budget.gan_generator_steps else ()), *budget.gan_method.get(method, ()))


@dataclass(frozen=True)
class Part:
    """One multirun part: its fixed overrides, the axes it sweeps (key, values), and how a job dir is named."""

    name: str
    overrides: tuple[str, ...]
    axes: tuple[tuple[str, tuple[Any, ...]], ...]
    subdir: str  # hydra.sweep.subdir: an interpolation of the axes, e.g. seed${seed}
    # Axes given one value per multirun: Hydra composes a multirun's base config without its swept choices, so an
    # override of a method's own keys (method.callbacks.quality.*) fails unless the method is fixed in that launch.
    fixed: tuple[str, ...] = ()
    # overrides of one value of a fixed axis, e.g. a GAN method's epochs and batches under a generator-step budget
    per_value: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    def value_overrides(self, axes: tuple[tuple[str, tuple[Any, ...]], ...]) -> list[str]:
        """The ``per_value`` overrides of the axes that this launch gives one value."""
        given = {key: str(values[0]) for key, values in axes if len(values) == 1}
        return [word for key, value, words in self.per_value if given.get(key) == value for word in words]

    def job_name(self, values: tuple[Any, ...]) -> str:
        """The job dir name of one point of the axes (what ``subdir`` resolves to)."""
        name = self.subdir
        for (key, _), value in zip(self.axes, values, strict=True):
            name = name.replace("${" + {"method": "method.name", "arch": "arch.name"}.get(key, key) + "}", str(value))
        return name

    def jobs(self) -> list[tuple[Any, ...]]:
        """Every point of the axes, in sweep order."""
        return list(itertools.product(*(values for _, values in self.axes)))


def parts(budget: Budget, run_dir: str | Path) -> dict[str, Part]:
    """The multirun parts of ``budget`` with their sweep dirs under ``run_dir`` (M1+M2 reads M1's job dirs)."""
    seeds = budget.seeds
    n_list = "[" + ",".join(map(str, budget.n_labels)) + "]"
    m1_dir = f"{run_dir}/m1"
    return {
        "m1": Part("m1", (*budget.m1, f"label_budgets={n_list}"), (("seed", seeds),), "seed${seed}"),
        "m1_m2": Part("m1_m2", (*budget.m1_m2, "method=m1_m2", f"method.m1_checkpoint={m1_dir}/seed${{seed}}"),
                      (("data.n_labels", budget.n_labels), ("seed", seeds)), "n${data.n_labels}_seed${seed}"),
        "gan": Part("gan", budget.gan, (("method", GAN_METHODS), ("arch", GAN_ARCHS), ("seed", seeds)),
                    "${method.name}_${arch.name}_seed${seed}", fixed=("method",),
                    per_value=tuple(("method", method, words) for method in GAN_METHODS
                                    if (words := gan_schedule_overrides(budget, method)))),
    }


def part_overrides(overrides: list[str], part: str) -> list[str]:
    """The user's overrides that apply to ``part``: the unprefixed ones, then ``<part>:...`` ones without the prefix."""
    chosen = []
    for override in overrides:
        prefix, rest = part_prefix(override)
        if prefix not in PARTS:
            chosen.append(override)
        elif prefix == part:
            chosen.append(rest)
    return chosen


def part_prefix(override: str) -> tuple[str | None, str]:
    """``m1:key=value`` -> ``("m1", "key=value")``; an override without a prefix -> ``(None, override)``. The prefix
    is what precedes a ':' that comes before the '=' (a value may hold ':': ``+trainer.max_time=00:00:04:00``)."""
    prefix, sep, rest = override.partition(":")
    return (prefix, rest) if sep and "=" not in prefix else (None, override)


def sweep_overrides(part: Part, run_dir: str | Path, axes: tuple[tuple[str, tuple[Any, ...]], ...],
                    extra: list[str]) -> list[str]:
    """ssgen-train's arguments (after ``-m``) for the jobs ``axes`` span."""
    return [*part.overrides, *part.value_overrides(axes), *(f"{key}={','.join(map(str, values))}" for key, values in axes),
            f"hydra.sweep.dir={run_dir}/{part.name}", f"hydra.sweep.subdir={part.subdir}", *extra]


# Overrides that change how a job runs, not what it computes: a relaunch may add or drop them (threads, launcher)
RUN_ONLY_OVERRIDES = ("torch_threads=", "hydra/launcher=", "hydra.launcher.", "trainer.enable_progress_bar=")


def result_overrides(overrides: list[str]) -> list[str]:
    """``overrides`` minus the ``RUN_ONLY_OVERRIDES`` (with or without a ``<part>:`` prefix): what makes two launches
    the same study for ``Study.check_same_study``."""
    def body(word: str) -> str:
        prefix, rest = part_prefix(word)
        return (rest if prefix in PARTS else word).lstrip("+~")

    return [word for word in overrides if not body(word).startswith(RUN_ONLY_OVERRIDES)]


def command_line(arguments: list[str]) -> str:
    """The shell form of ``ssgen-train -m <arguments>`` (what the page quotes; ``${...}`` kept literal)."""
    return " ".join(["ssgen-train", "-m", *(shlex.quote(argument) for argument in arguments)])


def ended(run_dir: Path) -> bool:
    """A job that ran to its end: ``ok``, or ``failed`` after training (a failed convergence after its restarts, a
    failed end-of-run step: results, which ssgen-train marks with ``failed_runs``). A crash (``failed: <Error>``
    without ``failed_runs``: a bad value, a missing file, a backend error) has not ended: it is relaunched."""
    results = read_results(run_dir)
    return results is not None and (is_ok(results) or (is_failed(results) and "failed_runs" in results))


def covering_launches(axes: tuple[tuple[str, tuple[Any, ...]], ...], pending: set[tuple[Any, ...]],
                      fixed: tuple[str, ...] = ()) -> list[tuple[tuple[str, tuple[Any, ...]], ...]]:
    """Few multiruns that launch exactly the ``pending`` jobs: the whole grid when all are pending (one sweep, so a
    parallel launcher sees every job), else split on the first axis until each piece is a grid of its own. Axes
    named in ``fixed`` take one value per multirun."""
    if not pending:
        return []
    spans = tuple((key, tuple(v for v in values if any(job[i] == v for job in pending)))
                  for i, (key, values) in enumerate(axes))
    unfixed = next((i for i, (key, values) in enumerate(spans) if key in fixed and len(values) > 1), None)
    if unfixed is None and len(pending) == math.prod(len(values) for _, values in spans):
        return [spans]
    axis = unfixed if unfixed is not None else next(i for i, (_, values) in enumerate(spans) if len(values) > 1)
    launches = []
    for value in spans[axis][1]:
        one = tuple((key, (value,) if i == axis else values) for i, (key, values) in enumerate(spans))
        launches += covering_launches(one, {job for job in pending if job[axis] == value}, fixed)
    return launches


# ------------------------------------------------------------------------------------------------ stops
class StudyStops:
    """SIGTERM, SIGHUP and Ctrl-C while ``ssgen-study`` runs. While an ssgen-train job runs, the signal is passed on
    to it as SIGTERM (it stops at its next batch boundary and records ``interrupted``; it may have had a Ctrl-C or a
    hang-up of its own from the terminal, and a second stop there changes nothing); once it has ended, or when none
    runs (Q1 runs in this process), the study stops: ``stopped`` names the first signal. A SIGHUP or SIGTERM the
    study was started ignoring (``nohup``) stays ignored."""

    def __init__(self) -> None:
        self.stopped: str | None = None
        self.child: subprocess.Popen | None = None
        self._previous: dict[int, Any] = {}

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """Pass the stop on to the running job, or stop the study here (``StopSignal``)."""
        from ssgen.cli import StopSignal
        from ssgen.run.stops import signal_label

        self.stopped = self.stopped or signal_label(signum)
        if self.child is not None and self.child.poll() is None:
            with contextlib.suppress(OSError):
                self.child.send_signal(signal.SIGTERM)
            return
        raise StopSignal(self.stopped)

    @contextlib.contextmanager
    def installed(self) -> Iterator[StudyStops]:
        """The handlers for the ``with`` block (main thread only), then the previous ones."""
        import threading

        from ssgen.run.stops import install, restore

        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        self._previous = install(self.handle)
        try:
            yield self
        finally:
            restore(self._previous)
            self._previous = {}


# ------------------------------------------------------------------------------------------------ the study
class Study:
    """The write-up study of one budget: its run dir, records dir and the user's overrides."""

    def __init__(self, budget: str, run_dir: str | Path | None = None, records: str | Path | None = None,
                 overrides: list[str] | None = None, reuse_committed: bool = False,
                 config_dir: str | Path | None = None) -> None:
        if budget not in BUDGETS:
            raise ConfigError(f"budget={budget} is unknown; choose one of: {', '.join(BUDGETS)}")
        self.budget = BUDGETS[budget]
        if reuse_committed and not self.budget.gan_records:
            made_at = ", ".join(name for name, other in BUDGETS.items() if other.gan_records)
            raise ConfigError(f"reuse_committed=true: the committed GAN records ({relative_to_cwd(COMMITTED_GAN_RECORDS)}) "
                              f"were made at budget={made_at}, not budget={budget}; drop reuse_committed to train the GANs")
        # committed records stand for jobs only when asked: a study trains what it says it runs
        self.reuse_committed = reuse_committed
        self.run_dir = Path(run_dir or f"outputs/writeup/{budget}")
        self.records = Path(records) if records else self.run_dir / "records"
        self.overrides = list(overrides or [])
        # the user's own config groups, as ssgen-train's --config-dir: every part composes with them
        self.config_dir = Path(config_dir).resolve() if config_dir else None
        self.parts = parts(self.budget, self.run_dir)
        self.stops = StudyStops()

    def check_records_apart(self) -> None:
        """Refuse (ConfigError, one line) a records dir that is the study's dir or one of its parts' sweep dirs (or
        inside one), under any spelling: each record would be written into, or over, the run it records."""
        records = self.records.resolve()
        for place in [self.run_dir, *(self.run_dir / part for part in PARTS)]:
            same = file_identity(self.records) is not None and file_identity(self.records) == file_identity(place)
            if same or records == place.resolve() or (place != self.run_dir and place.resolve() in records.parents):
                raise ConfigError(f"records={display_path(self.records)} is {display_path(place)}, where the study's runs "
                                  "are (or inside it); records would be written over the runs they record: give "
                                  "records= a dir of its own (default <dir>/records)")

    def hold(self) -> DirLock:
        """Make the study's dir this process's (one ssgen-study at a time); raises SSGenError naming the one holding
        it."""
        lock = DirLock(self.run_dir)
        try:
            lock.acquire("free space or choose another dir=")
        except DirBusy as exc:
            pid = exc.holder.get("pid")
            raise SSGenError(f"{exc}; wait for that study to end{f' (or stop it: kill {pid})' if pid else ''}, or give "
                             "another dir=") from None
        return lock

    # --------------------------------------------------------------------------------- jobs and their state
    def committed_record(self, part: str, name: str) -> Path | None:
        """The committed record that stands for this job at this budget (the full GAN study), or None."""
        if part == "gan" and self.reuse_committed and ended(COMMITTED_GAN_RECORDS / name):
            return COMMITTED_GAN_RECORDS / name
        return None

    def recorded(self, part: str, name: str) -> bool:
        """Whether this job's record is in ``records=`` (an ended job of this study: ``check_same_study`` keeps a
        records dir to one budget and one set of overrides) or a committed record stands for it."""
        return ended(self.records / part / name) or self.committed_record(part, name) is not None

    def is_pending(self, part: str, name: str) -> bool:
        """A job the sweep dir holds is pending until it ends there (an interrupted one resumes); one it does not
        hold is pending unless recorded, so the committed page's study command on a fresh clone retrains nothing
        and overwrites no record."""
        run = self.run_dir / part / name
        return not ended(run) if run.exists() else not self.recorded(part, name)

    def pending(self, part: str) -> set[tuple[Any, ...]]:
        """The jobs of ``part`` that have neither ended in the sweep dir nor a record standing for them."""
        spec = self.parts[part]
        return {job for job in spec.jobs() if self.is_pending(part, spec.job_name(job))}

    def blocked(self, part: str, jobs: set[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
        """M1+M2 jobs whose seed has no finished M1 run in the sweep dir to start from (launched once it has; an
        M1 record holds no checkpoint)."""
        if part != "m1_m2":
            return set()
        m1 = self.parts["m1"]
        return {job for job in jobs if not is_ok(read_results(self.run_dir / "m1" / m1.job_name((job[1],))) or {})}

    def launches(self, part: str) -> list[list[str]]:
        """ssgen-train arguments (after ``-m``) of each multirun that would run now, for the pending jobs."""
        spec = self.parts[part]
        pending = self.pending(part)
        pending -= self.blocked(part, pending)
        extra = part_overrides(self.overrides, part)
        return [[*self.train_options(), *sweep_overrides(spec, self.run_dir, axes, extra)]
                for axes in covering_launches(spec.axes, pending, spec.fixed)]

    def train_options(self) -> list[str]:
        """ssgen-train's options (before the overrides) of every part: ``--config-dir`` when the study has one."""
        return ["--config-dir", str(self.config_dir)] if self.config_dir else []

    def job_names(self, part: str, arguments: list[str]) -> list[str]:
        """The job dirs a launch's ``arguments`` (from ``launches``) make: the axes' values it gives."""
        spec = self.parts[part]
        given = dict(word.split("=", 1) for word in arguments if "=" in word)
        spans = [given.get(key, ",".join(map(str, values))).split(",") for key, values in spec.axes]
        return [spec.job_name(tuple(job)) for job in itertools.product(*spans)]

    def command(self, part: str) -> str:
        """The command(s) that make every job of ``part``, one a line (what the page shows beside its numbers)."""
        if part == "q1":
            settings = self.budget.theory
            return (f"{self.study_command('q1')}  # ssgen.reporting.theory.sweep: "
                    f"{settings['n_theta']} thetas, {settings['n_samples']} samples, {settings['critic_steps']} critic "
                    f"steps, seeds {','.join(map(str, self.budget.seeds))}")
        spec = self.parts[part]
        extra = part_overrides(self.overrides, part)
        return "\n".join(command_line([*self.train_options(), *sweep_overrides(spec, self.run_dir, axes, extra)])
                         for axes in covering_launches(spec.axes, set(spec.jobs()), spec.fixed))

    def study_command(self, part: str | None = None) -> str:
        """The ``ssgen-study writeup`` command line of this study (its dirs and overrides as given), of one part
        with ``part``."""
        words = ["ssgen-study", "writeup", f"budget={self.budget.name}", f"dir={self.run_dir}"]
        if self.records != self.run_dir / "records":
            words += [f"records={self.records}"]
        if self.reuse_committed:
            words += ["reuse_committed=true"]
        if self.config_dir:
            words += [f"config_dir={self.config_dir}"]
        words += [f"parts={part}"] if part else []
        return " ".join(shlex.quote(word) for word in [*words, *self.overrides])

    # --------------------------------------------------------------------------------- running
    def run(self, selected: tuple[str, ...] = PARTS, dry_run: bool = False) -> int:
        """Run the ``selected`` parts in order, each only for what has not ended, and record them; returns 1 when
        jobs are left that have not ended, else 0. Raises SSGenError when ssgen-train refuses a part's config, and
        Interrupted (after recording what ended) when the study is stopped."""
        self.check_records_apart()
        self.check_same_study()  # a dry run too: it would otherwise count another budget's jobs as this one's
        if dry_run:
            return self._run(selected, dry_run)
        lock = self.hold()
        try:
            with self.stops.installed():
                return self._run(selected, dry_run)
        except KeyboardInterrupt as exc:  # Ctrl-C, or a stop while no job ran (StopSignal)
            raise Interrupted(self.interrupted_message(getattr(exc, "signal_name", "KeyboardInterrupt"))) from None
        finally:
            lock.release()

    def interrupted_message(self, signal_name: str) -> str:
        """The line a stopped study ends with: what happened, and the command that resumes it."""
        return (f"interrupted ({signal_name}); what ended is recorded in {display_path(self.records)}: resume with "
                f"`{self.study_command()}`")

    def _run(self, selected: tuple[str, ...], dry_run: bool) -> int:
        status = 0
        # study.json is written once something is recorded (add_elapsed, record): a launch that is refused or
        # runs nothing leaves it as it was (a bad override is not kept as the study's)
        for part in selected:
            started = time.time()
            if part == "q1":
                done = self.q1_done()
                print_output(f"{part}: {'recorded' if done else 'to run'} ({self.records / 'q1' / 'theory.json'})")
                if not done and not dry_run:
                    try:
                        self.run_q1()
                    except ImportError as exc:  # POT is an optional extra; the other parts need nothing of it
                        print_output(f"q1: not run: {exc}")
                        status = 1
                        continue
                    self.add_elapsed(part, time.time() - started)
                continue
            spec = self.parts[part]
            total, pending = len(spec.jobs()), self.pending(part)
            names = [spec.job_name(job) for job in spec.jobs()]  # the ended jobs the sweep dir does not hold:
            from_records = [name for name in names if not (self.run_dir / part / name).exists()
                            and self.recorded(part, name)]
            committed = sum(self.committed_record(part, name) is not None for name in from_records)
            recorded = len(from_records) - committed
            blocked = self.blocked(part, pending)
            print_output(f"{part}: {total - len(pending)}/{total} jobs ended"
                         + (f" ({committed} from {relative_to_cwd(COMMITTED_GAN_RECORDS)})" if committed else "")
                         + (f" ({recorded} recorded in {self.records}, not in {self.run_dir})" if recorded else "")
                         + (f"; {len(blocked)} wait for their M1 run" if blocked else ""))
            launches = self.launches(part)
            refused = False
            try:
                self.launch(part, launches, dry_run)
            except SSGenError:  # ssgen-train refused the config and started nothing: no time to count
                refused = True
                raise
            finally:  # on Ctrl-C too: what ended, and the time taken, are recorded before the interrupt shows
                if not dry_run:
                    self.record(part)
                    if launches and not refused:
                        self.add_elapsed(part, time.time() - started)
            if not dry_run:
                left = self.pending(part)
                waiting = self.blocked(part, left)
                if left - waiting:
                    print_output(f"{part}: {len(left - waiting)} job(s) not ended; the same command resumes them")
                if waiting:
                    m1 = self.parts["m1"]
                    seeds = sorted({m1.job_name((job[1],)) for job in waiting})
                    only_recorded = [name for name in seeds if ended(self.records / "m1" / name)]
                    print_output(f"{part}: {len(waiting)} job(s) start from the M1 run of their seed in "
                                 f"{self.run_dir / 'm1'} ({', '.join(seeds)}): "
                                 + (f"{', '.join(only_recorded)} ended in the records only, which hold no "
                                    f"checkpoint; remove {', '.join(str(self.records / 'm1' / n) for n in only_recorded)}"
                                    " and run parts=m1,m1_m2"
                                    if only_recorded else "run parts=m1 first"))
                status = 1 if left else status
        if not dry_run:
            print_output(f"records: {self.records}; page: ssgen-report writeup runs={self.records} out=<page>.md")
        return status

    def launch(self, part: str, launches: list[list[str]], dry_run: bool) -> None:
        """Run (or with ``dry_run`` only print) each of ``part``'s multiruns; raises SSGenError when one is refused."""
        for arguments in launches:
            print_output(f"$ {command_line(arguments)}")
            if dry_run:
                continue
            child = subprocess.Popen([sys.executable, "-m", "ssgen.train", "-m", *arguments], env={**os.environ})
            self.stops.child = child
            try:
                code = child.wait()
            finally:
                self.stops.child = None
            if self.stops.stopped:  # passed on to the job, which recorded itself interrupted: the study stops here
                raise Interrupted(self.interrupted_message(self.stops.stopped))
            started_any = any((self.run_dir / part / name / "tb").exists() or ended(self.run_dir / part / name)
                              for name in self.job_names(part, arguments))
            if code == 2 or (code != 0 and not started_any):  # refused (a bad override) or stopped
                raise SSGenError(f"{part}: ssgen-train stopped (exit {code}; its message is above) and nothing "
                                 "after it was launched; fix what it names and run the command again (what "
                                 "ended is kept)")
            # exit 1: some jobs failed; they are results (failed convergences count) and are recorded

    def record(self, part: str) -> None:
        """Copy every ended job of ``part`` into ``<records>/<part>/<job>`` (new or changed since the last copy)."""
        from ssgen.reporting.records import write_record

        spec = self.parts[part]
        for job in spec.jobs():
            name = spec.job_name(job)
            run = self.run_dir / part / name
            record = self.records / part / name
            if not ended(run):
                continue
            if results_path(record).is_file() and results_path(record).stat().st_mtime >= results_path(run).stat().st_mtime:
                continue
            write_record(run, record)
            if not (self.records / MANIFEST).is_file():  # a record without study.json is a page of no budget
                self.write_manifest()

    # --------------------------------------------------------------------------------- Q1
    def q1_settings(self) -> dict[str, Any]:
        return {**self.budget.theory, "seeds": list(self.budget.seeds)}

    def q1_done(self) -> bool:
        path = self.records / "q1" / "theory.json"
        try:
            return json.loads(path.read_text()).get("settings") == self.q1_settings()
        except (OSError, ValueError):
            return False

    def run_q1(self) -> None:
        """ssgen.reporting.theory's sweep for each seed (KL, JS from histograms, W1 by exact OT and by a WGAN-GP critic)
        and the sample-size growth at theta = 0.5 and 0, into ``<records>/q1/theory.json``."""
        import numpy as np

        from ssgen.reporting import theory

        settings = self.budget.theory
        thetas = np.linspace(-1.0, 1.0, settings["n_theta"])
        by_seed = {}
        for seed in self.budget.seeds:
            result = theory.sweep(thetas, n_samples=settings["n_samples"], seed=seed, critic_steps=settings["critic_steps"])
            by_seed[str(seed)] = {key: result[key].tolist() for key in ("theta", "kl", "js", "w1", "critic_w1")}
        sizes = np.unique(np.geomspace(50, 20 * settings["n_samples"], 6).astype(int))
        growth = {str(theta): {key: value.tolist() for key, value in
                               theory.sample_size_growth(theta, sizes, seed=self.budget.seeds[0]).items()}
                  for theta in (0.5, 0.0)}
        atomic_write_json(self.records / "q1" / "theory.json",
                          {"settings": self.q1_settings(), "seeds": by_seed, "growth": growth})

    # --------------------------------------------------------------------------------- manifest
    def manifest(self) -> dict[str, Any]:
        """What ``ssgen-report writeup`` needs besides the records: the budget, dirs, overrides, time spent."""
        path = self.records / MANIFEST
        try:
            previous = json.loads(path.read_text())
        except (OSError, ValueError):
            previous = {}
        return {"budget": self.budget.name, "run_dir": str(self.run_dir), "overrides": self.overrides,
                **({"config_dir": str(self.config_dir)} if self.config_dir else {}),
                "reuse_committed": self.reuse_committed or bool(previous.get("reuse_committed")),
                "elapsed_s": previous.get("elapsed_s", {}) if previous.get("budget") == self.budget.name else {}}

    def add_elapsed(self, part: str, seconds: float) -> None:
        """Add ``seconds`` of ``part`` to study.json (written then with this launch's dir and overrides: the last
        runs were made there)."""
        manifest = self.manifest()
        manifest["elapsed_s"][part] = round(manifest["elapsed_s"].get(part, 0.0) + seconds, 1)
        atomic_write_json(self.records / MANIFEST, manifest)

    def check_same_study(self) -> None:
        """Refuse (ConfigError, one line) a launch into records of another budget or other overrides: the records
        and the page would otherwise claim settings that did not make the runs already there."""
        try:
            previous = json.loads((self.records / MANIFEST).read_text())
        except (OSError, ValueError):
            return
        then, now = (previous.get("budget"), previous.get("overrides") or []), (self.budget.name, self.overrides)
        if (then[0], result_overrides(then[1])) != (now[0], result_overrides(now[1])):
            raise ConfigError(f"{self.records / MANIFEST} records the {then[0]} budget with overrides {then[1]}, not "
                              f"the {now[0]} budget with {now[1]}; relaunch with those to resume it, or give another "
                              "dir= (and records=)")
        then_dir, now_dir = previous.get("config_dir"), str(self.config_dir) if self.config_dir else None
        if then_dir != now_dir:  # other config files: other runs, whatever the overrides say
            then_said = f"config_dir={then_dir}" if then_dir else "no config_dir"
            now_said = f"config_dir={now_dir}" if now_dir else "none"
            fix = f"relaunch with config_dir={then_dir}" if then_dir else "relaunch without config_dir="
            raise ConfigError(f"{self.records / MANIFEST} records the study with {then_said}, not {now_said}; {fix} to "
                              "resume it, or give another dir= (and records=)")

    def write_manifest(self) -> None:
        atomic_write_json(self.records / MANIFEST, self.manifest())

    def sources(self, part: str) -> list[Path]:
        """Where the report finds the records of ``part``: this study's records, then committed ones standing in."""
        own = [self.records / part]
        return own + ([COMMITTED_GAN_RECORDS] if part == "gan" and self.reuse_committed else [])


def relative_to_cwd(path: Path) -> str:
    """``path`` relative to the working directory when below it (the form pages and messages quote), else as is."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_study(records: str | Path) -> Study:
    """The Study whose ``records`` dir this is, from its study.json. Raises ConfigError (one line) for a study's
    run dir (naming its records dir), and for a dir without a readable study.json (a run dir, an empty dir): a
    page from it would claim a budget nothing recorded."""
    records = Path(records)
    if not (records / MANIFEST).is_file() and (records / "records" / MANIFEST).is_file():
        raise ConfigError(f"{records} is a study's run dir; its records are {records / 'records'}: give that")
    try:
        manifest = json.loads((records / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{records} has no readable {MANIFEST} ({type(exc).__name__}), so it is not the records "
                          "dir of ssgen-study writeup; give that (<dir>/records, or its records=)") from None
    budget = manifest.get("budget", "full")
    budget = budget if budget in BUDGETS else "full"
    return Study(budget, manifest.get("run_dir"), records, manifest.get("overrides"),
                 reuse_committed=bool(manifest.get("reuse_committed")) and BUDGETS[budget].gan_records,
                 config_dir=manifest.get("config_dir"))


