"""A hang-up ends a run as SIGTERM does (issue 39, item 1): SIGHUP inside the training loop, in a callback's setup and
in an end-of-run step records ``interrupted`` with the resume command, keeps what was written, and the resume finishes
the run; a stopped sweep starts no new job. And the stop tests' own fault: they compare with the handler in force
before the run, so they pass in a background job (SIGINT ignored) as in the foreground."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import torch
from conftest import QUICK, compose_config

from ssgen.errors import Interrupted
from ssgen.train import train

TINY = [*QUICK, "+trainer.limit_train_batches=6", "method.callbacks.svm_head=null",
        "callbacks.last_checkpoint.every_n_train_steps=0"]


@pytest.fixture
def no_default_stops():
    """Python's default SIGTERM / SIGHUP would kill the test process; on code that leaves them to it, fail instead."""

    def would_have_died(signum, frame):
        raise RuntimeError(f"{signal.Signals(signum).name} reached the default handler: the process would have died")

    previous = {signum: signal.signal(signum, would_have_died) for signum in (signal.SIGTERM, signal.SIGHUP)}
    yield
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


@pytest.mark.parametrize(("probe", "saved"), [("SignalAtBatch", True), ("SignalInSetup", False),
                                              ("SignalAtEndOfRun", True)])
def test_a_hangup_anywhere_in_a_run_is_recorded_and_resumes(tmp_path, no_default_stops, probe, saved):
    run_dir = tmp_path / "run"
    cfg = compose_config([*TINY, f"run_dir={run_dir}", f"+callbacks.probe._target_=stop_probe.{probe}",
                          "+callbacks.probe.signal=SIGHUP"])
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    with pytest.raises(Interrupted) as error:
        train(cfg)
    message = str(error.value)
    assert message.startswith(f"interrupted (SIGHUPException); {'last.ckpt saved' if saved else 'nothing trained yet'}: "
                              "resume with `ssgen-train ") and "\n" not in message
    if probe != "SignalAtBatch":  # outside the loop a stop is at once; inside, at the batch boundary (checked below)
        assert not (run_dir / "went_on").exists(), "the hang-up did not stop the work"
    record = results(run_dir)
    assert record["status"] == "interrupted" and record["resume"] in message  # the record says how, too
    assert (run_dir / "checkpoints" / "last.ckpt").is_file() == saved
    if probe == "SignalAtBatch":  # inside the loop: at the batch boundary, as SIGTERM
        assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 3
    assert {signum: signal.getsignal(signum) for signum in before} == before  # the handlers in force before
    resumed = train(cfg)
    assert resumed["status"] == "ok" and resumed["optimizer_steps"] == 6


def test_a_stop_test_passes_in_a_background_job_where_sigint_is_ignored(tmp_path, no_default_stops):
    """What `nohup python -m pytest &` gives every test: SIGINT ignored. A Ctrl-C that reaches the run (kill -INT)
    still stops it, and afterwards SIGINT is ignored again: the handler in force before, not Python's default."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        run_dir = tmp_path / "run"
        cfg = compose_config([*TINY, f"run_dir={run_dir}", "+callbacks.probe._target_=stop_probe.SignalInSetup",
                              "+callbacks.probe.signal=SIGINT"])
        with pytest.raises(Interrupted, match=r"^interrupted \(KeyboardInterrupt\); nothing trained yet"):
            train(cfg)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert train(cfg)["optimizer_steps"] == 6
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_hangup_between_sweep_jobs_ends_the_sweep_in_one_line(capsys):
    from ssgen.run.stops import SweepStops

    with pytest.raises(SystemExit) as exit_info:
        SweepStops("/tmp/sweeps/s").handle(signal.SIGHUP, None)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "ssgen-train: error: interrupted (SIGHUP) between sweep jobs; the sweep stopped and started no further job: "
        "relaunch the same sweep command with hydra.sweep.dir=/tmp/sweeps/s to run the rest"]
