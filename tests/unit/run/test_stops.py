"""Every stop ends the same way: SIGTERM and Ctrl-C in a callback's setup (where the evaluator trains, before Lightning
installs its handlers), inside the training loop and in the end-of-run steps record ``interrupted``, keep what was
written, say how to resume, and the resume finishes the run; the resume command quotes any path. The stops come from
the callbacks of tests/stop_probe.py. A stopped sweep through the real ssgen-train: tests/e2e/test_stops_cli.py."""

from __future__ import annotations

import json
import shlex
import signal
from pathlib import Path

import pytest
import torch
from conftest import QUICK, compose_config
from hydra.core.override_parser.overrides_parser import OverridesParser

from ssgen.cli import hydra_value
from ssgen.errors import Interrupted
from ssgen.run.lifecycle import relaunch_command, resume_command
from ssgen.train import train

TINY = [*QUICK, "+trainer.limit_train_batches=6", "method.callbacks.svm_head=null",
        "callbacks.last_checkpoint.every_n_train_steps=0"]


@pytest.fixture
def no_default_sigterm():
    """Python's default SIGTERM would kill the test process; on code that leaves SIGTERM to it, fail instead."""

    def would_have_died(signum, frame):
        raise RuntimeError("SIGTERM reached the default handler: the process would have died here")

    previous = signal.signal(signal.SIGTERM, would_have_died)
    yield
    signal.signal(signal.SIGTERM, previous)


def results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


def stop_and_resume(tmp_path: Path, probe: str, name: str, saved: bool) -> tuple[str, Path]:
    run_dir = tmp_path / "run"
    cfg = compose_config([*TINY, f"run_dir={run_dir}", f"+callbacks.probe._target_=stop_probe.{probe}",
                          f"+callbacks.probe.signal={name}"])
    # the handlers in force before the run: Python's own in a foreground shell, SIG_IGN for SIGINT when pytest was
    # started as a background job (`nohup ... &`), which must pass all the same
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    with pytest.raises(Interrupted) as error:
        train(cfg)
    message = str(error.value)
    assert not (run_dir / "went_on").exists(), "the signal did not stop the work"
    assert results(run_dir)["status"] == "interrupted"
    signal_name = "KeyboardInterrupt" if name == "SIGINT" else "SIGTERMException"
    assert message.startswith(f"interrupted ({signal_name}); {'last.ckpt saved' if saved else 'nothing trained yet'}: "
                              "resume with `ssgen-train ") and "\n" not in message
    assert (run_dir / "checkpoints" / "last.ckpt").is_file() == saved
    assert {signum: signal.getsignal(signum) for signum in before} == before  # train() put the handlers back
    resumed = train(cfg)  # the relaunch (the probe fires once per run dir)
    assert resumed["status"] == "ok" and resumed["optimizer_steps"] == 6
    return message, run_dir


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_a_stop_while_a_callback_sets_up_is_recorded_and_resumes(tmp_path, no_default_sigterm, name):
    stop_and_resume(tmp_path, "SignalInSetup", name, saved=False)


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_a_stop_in_the_end_of_run_steps_is_recorded_and_resumes(tmp_path, no_default_sigterm, name):
    _, run_dir = stop_and_resume(tmp_path, "SignalAtEndOfRun", name, saved=True)
    assert results(run_dir)["steps"]["signal_probe"] == "ok"


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_a_stop_inside_the_loop_still_waits_for_the_batch_boundary(tmp_path, no_default_sigterm, name):
    run_dir = tmp_path / "run"
    cfg = compose_config([*TINY, f"run_dir={run_dir}", "+callbacks.probe._target_=stop_probe.SignalAtBatch",
                          f"+callbacks.probe.signal={name}"])
    with pytest.raises(Interrupted, match="last.ckpt saved"):
        train(cfg)
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 3  # batches 0-2
    assert train(cfg)["optimizer_steps"] == 6  # exactly an uninterrupted run's


# ------------------------------------------------------------------------------------------------ resume commands
PATHS = ["/tmp/runs/plain", "/tmp/multirun/2026-12-03_10-00-00/0_seed=0", "/tmp/ré sumé/run 1", "/tmp/it's",
         "/tmp/a,b", "/tmp/${oops}", "/tmp/$HOME `x` \"q\" !", "/tmp/trailing\\", "/tmp/mid\\'quote"]


@pytest.mark.parametrize("path", PATHS)
def test_the_resume_command_parses_back_to_the_run_dir_whatever_it_holds(path):
    command = resume_command(path, ["seed=0", "method.kl_weight=0.5", "data.root='/data/ré sumé'"])
    argv = shlex.split(command)
    assert argv[:4] == ["ssgen-train", "seed=0", "method.kl_weight=0.5", "data.root='/data/ré sumé'"]
    assert len(argv) == 5 and argv[4].startswith("hydra.run.dir=")
    override = OverridesParser.create().parse_override(argv[4])
    from omegaconf import OmegaConf

    assert OmegaConf.create({"dir": override.value()}).dir == path  # as Hydra and then OmegaConf read it
    assert argv[4] == f"hydra.run.dir={hydra_value(path)}"


def test_a_sweep_job_resumes_with_its_own_overrides_not_the_sweeps(monkeypatch):
    from hydra.core.hydra_config import HydraConfig

    monkeypatch.setattr("sys.argv", ["ssgen-train", "-m", "seed=0,1", "method.kl_weight=0.5", "hydra.sweep.dir=/s"])
    cfg = compose_config(["seed=1", "method.kl_weight=0.5"], return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    try:
        command = relaunch_command("/s/1_seed=1")
    finally:
        HydraConfig.instance().cfg = None
    assert shlex.split(command) == ["ssgen-train", "seed=1", "method.kl_weight=0.5", "hydra.run.dir='/s/1_seed=1'"]


def test_a_stop_between_sweep_jobs_ends_the_sweep_in_one_line(capsys):
    from ssgen.run.stops import SweepStops

    with pytest.raises(SystemExit) as exit_info:
        SweepStops("/tmp/sweeps/ré sumé").handle(signal.SIGTERM, None)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "ssgen-train: error: interrupted (SIGTERM) between sweep jobs; the sweep stopped and started no further job: "
        "relaunch the same sweep command with \"hydra.sweep.dir='/tmp/sweeps/ré sumé'\" to run the rest"]
