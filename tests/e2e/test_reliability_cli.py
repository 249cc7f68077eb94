"""Reliability through the real ``ssgen-train``: a run killed mid-epoch (SIGTERM, SIGKILL) resumes to exactly an
uninterrupted run's step count, and a relaunch with settings that change the networks is refused in one line; the
end-to-end half of tests/unit/run/test_reliability.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import run_script, script_env

# 2 epochs of `batches` batches with a checkpoint every 20 optimizer steps: long enough to kill mid-epoch.
# the MLP VAE: a third of the default conv VAE's cost per batch, and what is tested (resume) is the same for both
RESUMABLE = ["trainer.max_epochs=2", "trainer.enable_progress_bar=false", "arch=vae_mlp",
             "callbacks.last_checkpoint.every_n_train_steps=20", "method.callbacks.svm_head=null"]


def launch(run_dir: Path, batches: int = 250) -> subprocess.Popen:
    return subprocess.Popen(["ssgen-train", *RESUMABLE, f"+trainer.limit_train_batches={batches}",
                             f"hydra.run.dir={run_dir}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=script_env())


def wait_for_checkpoint(process: subprocess.Popen, path: Path, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert process.poll() is None, f"run ended before its first checkpoint: {process.stderr.read()[-2000:]}"
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.2)


# Two console launches (40 s on a 2-core CPU): slow tier. The default tier stops and resumes runs in-process
# (tests/unit/run/test_stops.py, test_hangups.py).
@pytest.mark.slow
@pytest.mark.parametrize("kill_signal, batches", [(signal.SIGTERM, 100), (signal.SIGKILL, 250)])
def test_killed_run_resumes_to_the_same_step_count(tmp_path, kill_signal, batches):
    run_dir = tmp_path / "run"
    process = launch(run_dir, batches)
    wait_for_checkpoint(process, run_dir / "checkpoints" / "last.ckpt")
    os.kill(process.pid, kill_signal)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode != 0
    if kill_signal == signal.SIGTERM:
        assert "resume with `ssgen-train" in stderr and f"hydra.run.dir={run_dir}`" in stderr and "Traceback" not in stderr
        assert json.loads((run_dir / "results.json").read_text())["status"] == "interrupted"
    else:  # SIGKILL runs no handler: the status written at the start is what a reader sees
        assert json.loads((run_dir / "results.json").read_text())["status"] == "running"
    interrupted_at = json.loads(json.dumps(__import__("torch").load(run_dir / "checkpoints" / "last.ckpt",
                                                                      weights_only=True)["global_step"]))
    assert 0 < interrupted_at < 2 * batches, "the kill must land mid-run for this test to mean anything"
    relaunch = launch(run_dir, batches)  # same run dir: resumes by itself
    _, stderr = relaunch.communicate(timeout=600)
    assert relaunch.returncode == 0, stderr[-2000:]
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "ok"
    assert results["optimizer_steps"] == 2 * batches and results["epochs"] == 2  # exactly an uninterrupted run's
    assert {p.name for p in (run_dir / "checkpoints").iterdir()} == {"last.ckpt"}
    assert (run_dir / "labelled_indices.json").is_file() and list((run_dir / "tb").glob("events.*"))
    assert not list(run_dir.rglob("*.tmp*")), "a temp file was left behind"


@pytest.mark.slow
def test_resuming_with_settings_that_change_the_networks_is_refused_in_one_line(tmp_path):
    """A run dir trained with other networks (here: a batch-norm DCGAN critic, the method's default before it became
    spectral, and another width) relaunched with the current settings: one line naming what differs, exit 2,
    results.json and the checkpoint untouched."""
    run_dir = tmp_path / "run"
    tiny = ["experiment=debug", "method=dcgan", "torch_threads=1", "arch.networks.generator.width=8",
            "method.callbacks.quality=null", "method.callbacks.best_checkpoint=null", f"hydra.run.dir={run_dir}"]
    first = run_script("ssgen-train", *tiny, "method.critic_norm=batch", "arch.networks.critic.width=8")
    assert first.returncode == 0, first.stderr[-2000:]
    before = (run_dir / "results.json").read_bytes(), (run_dir / "checkpoints" / "last.ckpt").read_bytes()
    relaunch = run_script("ssgen-train", *tiny, "trainer.max_epochs=2", "arch.networks.critic.width=16")
    assert relaunch.returncode == 2
    error = [line for line in relaunch.stderr.splitlines() if line.startswith("ssgen-train: error:")]
    assert len(error) == 1 and "Traceback" not in relaunch.stderr
    assert "arch.networks.critic.width=8 there, 16 here" in error[0]
    assert "method.critic_norm=batch there, spectral here" in error[0]
    assert ((run_dir / "results.json").read_bytes(), (run_dir / "checkpoints" / "last.ckpt").read_bytes()) == before
