"""Every stop of a run ends the same way, wherever it lands: SIGTERM (``kill``, a cluster's pre-emption), SIGHUP (an
ssh session that drops, a terminal tab that closes) and Ctrl-C.

Lightning handles SIGTERM only inside its training loop: it installs its handler after the ``setup`` hooks (where a
callback such as the GAN metrics trains the evaluator, minutes on a CPU) and puts the previous one back before the
end-of-run steps run. Outside the loop Python's default would kill the process at once (results.json left
``running``, no resume command) and a Ctrl-C would be swallowed; SIGHUP's default kills it anywhere (exit 129).
``StopSignals`` is installed for the whole of ``ssgen.train.train``:

* inside the training loop it leaves SIGTERM to Lightning (stop at the next batch boundary, ``last.ckpt`` saved by
  ``CheckpointOnInterrupt``; the resumed run ends with exactly the optimizer steps of an uninterrupted one), and
  turns a first Ctrl-C or a SIGHUP into the same stop (a second Ctrl-C stops at once);
* anywhere else it raises at once: ``SIGTERMException`` for SIGTERM, ``SIGHUPException`` for SIGHUP,
  ``KeyboardInterrupt`` for Ctrl-C, which ``train`` records as ``interrupted`` before it prints the resume command
  and exits 2.

A signal the process was started with set to be ignored stays ignored for SIGHUP and SIGTERM: ``nohup ssgen-train``
exists so that a hang-up does not stop the run. SIGINT is handled even then: a shell ignores it for every background
job (``ssgen-train ... &``) without being asked, and a ``kill -INT`` that reaches the run is a request to stop it.
Whatever was installed before is put back afterwards.

Under DDP (``trainer=ddp``) every rank must stop at the same batch: the save of last.ckpt that follows ends in a
barrier every rank has to reach. Lightning's own SIGTERM handling does not guarantee it (rank 0 forwards the signal
to the other ranks, each handler runs a collective inside the signal handler, and each rank raises at the end of
whichever batch it is in when its own signal lands: a rank left in the next batch's collective hangs the barrier,
or its exit fails it). So inside the loop under DDP the handler only notes the stop, and at the end of every batch
the ranks agree on it (one all-reduce of a flag: any rank's signal stops all); then every rank stops after that
same batch exactly as Lightning's stop does, saves last.ckpt together (``CheckpointOnInterrupt``) and records
``interrupted``. Outside the loop a signal to rank 0 is forwarded to the other ranks, which then stop too.

Between the jobs of a basic-launcher sweep (``SweepStops``, installed by ``ssgen.run.lifecycle.PreflightChecks``) a stop ends
the sweep with one line: no further job starts.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import signal
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, TypeVar

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException

from ssgen.compat import stop_at_batch_end
from ssgen.errors import Interrupted, exit_with_error

log = logging.getLogger("ssgen")
T = TypeVar("T")
SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# the stops a process keeps ignoring when it was started ignoring them (``nohup``): see the module docstring
RESPECT_IGNORED = (signal.SIGTERM, signal.SIGHUP)


class SIGHUPException(SIGTERMException):
    """SIGHUP outside Lightning's loop (and how a hang-up inside it reaches ``train``): a stop like SIGTERM's."""


def install(handler: Callable[[int, FrameType | None], Any]) -> dict[int, Any]:
    """Install ``handler`` for ``SIGNALS`` (those ``RESPECT_IGNORED`` that are ignored now stay ignored); returns
    the handlers it replaced, for ``restore``."""
    return {signum: signal.signal(signum, handler) for signum in SIGNALS
            if not (signum in RESPECT_IGNORED and signal.getsignal(signum) is signal.SIG_IGN)}


def restore(previous: dict[int, Any]) -> None:
    """Put back the handlers ``install`` replaced (one Python did not install, None, as the OS default)."""
    for signum, handler in previous.items():
        signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def signal_label(signum: int) -> str:
    """How a stop names its signal: Ctrl-C as Python's KeyboardInterrupt, the others by their names."""
    return "KeyboardInterrupt" if signum == signal.SIGINT else signal.Signals(signum).name


class StopSignals(L.Callback):
    """SIGTERM / SIGHUP / Ctrl-C handlers for a whole run (see the module docstring); also a callback, which is how
    it knows when Lightning's training loop runs and, under DDP, where the ranks agree on a stop.

    ``ctrl_c`` / ``hangup``: whether the stop came from Ctrl-C / SIGHUP (Lightning reports all as a SIGTERM stop).
    ``stop_requested``: under DDP, a signal arrived inside the loop and not every rank has acted on it yet.
    """

    active: StopSignals | None = None  # the instance whose handlers are installed now (signals are per process)

    def __init__(self) -> None:
        self.in_loop = False
        self.ctrl_c = False
        self.hangup = False
        self.stop_requested = False
        self.distributed = False
        self._trainer: L.Trainer | None = None
        self._previous: dict[int, Any] = {}

    # --- where Lightning's loop runs (its own SIGTERM handler is in place from before on_train_start until after
    # on_train_end)
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._trainer = trainer  # every rank exists from here on: a stop outside the loop is forwarded to them

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.in_loop = True
        self.distributed = trainer.world_size > 1
        if self.distributed and self._previous:
            # replaces the handler Lightning has just installed (it runs collectives inside the handler; see the
            # module docstring); Lightning puts ours back when the fit ends
            signal.signal(signal.SIGTERM, self.handle)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        # every rank runs the same number of batches, so this all-reduce pairs up across ranks
        if self.distributed and trainer.strategy.reduce_boolean_decision(self.stop_requested, all=False):
            self.stop_requested = False
            stop_at_batch_end(trainer)  # Lightning's own stop after this batch, on every rank at once

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # a signal during the last batch's epoch-end work had no batch end left to be agreed at
        if self.distributed:
            self.stop_requested = trainer.strategy.reduce_boolean_decision(self.stop_requested, all=False)
        self.in_loop = False

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self.in_loop = False

    # --- the handlers
    def handle(self, signum: int, frame: FrameType | None) -> None:
        """The handler of SIGTERM, SIGHUP and SIGINT while installed. Raises SIGTERMException / SIGHUPException /
        KeyboardInterrupt outside Lightning's loop (and on a second Ctrl-C inside it)."""
        if signum == signal.SIGHUP:
            first = not (self.ctrl_c or self.hangup)
            self.hangup = self.hangup or first
            if self.in_loop:  # as Ctrl-C: the SIGTERM stop waits for the batch boundary; a repeat changes nothing
                signal.raise_signal(signal.SIGTERM)
                return
            self._forward(signum)
            raise SIGHUPException
        if signum == signal.SIGINT:
            # A KeyboardInterrupt raised mid-step saves a batch counted as started but not finished, and the resumed
            # run ends one optimizer step short; Lightning's SIGTERM stop waits for the batch boundary instead.
            if self.in_loop and not self.ctrl_c:
                self.ctrl_c = True
                log.warning("Ctrl-C: stopping after this batch (press again to stop at once)")
                signal.raise_signal(signal.SIGTERM)  # the SIGTERM stop at the batch boundary
                return
            self.ctrl_c = True
            raise KeyboardInterrupt
        if self.in_loop:
            if self.distributed:
                self.stop_requested = True  # the ranks agree on it at the end of this batch
            return  # single process: Lightning's own handler, which calls this one too, stops at the batch boundary
        self._forward(signum)
        raise SIGTERMException

    def _forward(self, signum: int) -> None:
        """Send the signal on to the other ranks' processes (rank 0 launched them; elsewhere nothing to do): a rank
        that stopped alone outside the loop would leave the others waiting in a collective for it."""
        launcher = getattr(getattr(self._trainer, "strategy", None), "launcher", None)
        if launcher is not None:
            launcher.kill(signum)

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopSignals]:
        """Install the handlers (the main thread only: elsewhere Python cannot) for the ``with`` block, then put the
        previous ones back. Re-entrant: an inner ``with`` of the same instance changes nothing."""
        import threading

        if self._previous or threading.current_thread() is not threading.main_thread():
            yield self
            return
        self._previous = install(self.handle)
        outer, StopSignals.active = StopSignals.active, self
        try:
            yield self
        finally:
            restore(self._previous)
            self._previous = {}
            StopSignals.active = outer


    @contextlib.contextmanager
    def around_fit(self, interrupted: Callable[[], bool]) -> Iterator[StopSignals]:
        """``installed()`` around ``trainer.fit``, where a Ctrl-C reaches the caller as ``KeyboardInterrupt``
        whichever way Lightning reports it: as its SIGTERM stop (a first Ctrl-C inside the loop stops at the batch
        boundary), or as ``SystemExit`` after it saved last.ckpt (``interrupted()`` true: ``CheckpointOnInterrupt``
        saw the exception); a hang-up reaches it as ``SIGHUPException``."""
        with self.installed():
            try:
                yield self
            except SIGTERMException as exc:
                if self.ctrl_c:
                    raise KeyboardInterrupt from None
                if self.hangup and not isinstance(exc, SIGHUPException):
                    raise SIGHUPException from None
                raise
            except SystemExit:
                if interrupted():
                    raise KeyboardInterrupt from None
                raise
            if self.stop_requested:  # DDP: agreed at the end of the fit, after last.ckpt was saved
                self.stop_requested = False
                raise KeyboardInterrupt if self.ctrl_c else SIGHUPException if self.hangup else SIGTERMException


def with_stop_signals(function: Callable[..., T]) -> Callable[..., T]:
    """Decorator: ``function`` runs with a new ``StopSignals`` installed (``StopSignals.active`` while it runs)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        with StopSignals().installed():
            return function(*args, **kwargs)

    return wrapper


class SweepStops:
    """SIGTERM / SIGHUP / Ctrl-C between the jobs of a basic-launcher sweep (each job's ``train`` installs
    ``StopSignals`` over it): one line, exit 2, and no further job starts. ``install`` / ``restore`` from the Hydra
    callback."""

    def __init__(self, sweep_dir: str) -> None:
        self.sweep_dir = sweep_dir
        self._previous: dict[int, Any] = {}

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """Ends the process: ``ssgen-train: error: interrupted (<signal>) between sweep jobs ...``, exit 2."""
        from ssgen.cli import note_in_log_files  # only when a sweep stops

        error = Interrupted(f"interrupted ({signal_label(signum)}) between sweep jobs; {sweep_hint(self.sweep_dir)}")
        note_in_log_files(f"ssgen-train: error: {error}")  # a hang-up may have taken the console with it
        exit_with_error("ssgen-train", error)

    def install(self) -> None:
        """Install the handlers (the main thread only)."""
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous = install(self.handle)

    def restore(self) -> None:
        """Put back the handlers ``install`` replaced."""
        restore(self._previous)
        self._previous = {}


def sweep_hint(sweep_dir: str) -> str:
    """What a stopped sweep says about the jobs it did not run: relaunching the sweep into its dir runs them (a
    finished job is left as it is, an interrupted one resumes)."""
    from ssgen.cli import hydra_value, shell_word  # only when a sweep stops

    return ("the sweep stopped and started no further job: relaunch the same sweep command with "
            f"{shell_word('hydra.sweep.dir=' + hydra_value(sweep_dir))} to run the rest")


def basic_launcher(hydra_cfg: Any) -> bool:
    """Whether a Hydra config (``HydraConfig.get()`` or a composed config's ``hydra``) launches the jobs of a sweep
    one after the other in this process (Hydra's basic launcher): there a stop of one job ends the sweep."""
    return str(hydra_cfg.launcher.get("_target_", "")).endswith("BasicLauncher")


def sweep_stop(exc: Interrupted) -> Interrupted | None:
    """For an interrupted job of a basic-launcher sweep: the error that ends the sweep (the job's resume command,
    then ``sweep_hint``); None in a single run or under another launcher (whose jobs run on their own)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN or not basic_launcher(hydra_cfg):
        return None
    return Interrupted(f"{exc}; {sweep_hint(str(hydra_cfg.sweep.dir))}")
