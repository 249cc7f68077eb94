"""A stop under DDP (``trainer=ddp``, two CPU processes over gloo): every rank stops after the same batch, last.ckpt
is saved, the run is recorded ``interrupted`` (exit 2), no rank is left running, and the printed command resumes it
to exactly the optimizer steps of an uninterrupted run (ssgen.run.stops, ssgen.callbacks.checkpointing).

    python -m pytest -m slow tests/e2e/test_ddp_stop.py     # a few minutes on a 2-core CPU

Two ways a stop arrives: SIGTERM to the launched process only (rank 0: ``kill``), and to every rank at once (the
process group: a cluster's pre-emption, Ctrl-C's SIGINT in a terminal).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

BATCHES = 40  # per rank; n_critic=2: 40 critic + 20 generator steps uninterrupted
TINY_GAN_DDP = ["trainer=ddp", "trainer.accelerator=cpu", "method=wgan_gp", "data.n_labels=all",
                "method.callbacks.quality=null", "method.callbacks.best_checkpoint=null",
                "arch.networks.generator.width=8", "arch.networks.critic.width=8", "method.latent_dim=16",
                "method.n_critic=2", "trainer.max_epochs=1", f"+trainer.limit_train_batches={BATCHES}",
                "trainer.enable_progress_bar=false", "callbacks.last_checkpoint.every_n_train_steps=6",
                "torch_threads=1"]
UNINTERRUPTED_STEPS = BATCHES + BATCHES // 2


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert process.poll() is None, f"the run ended before {path.name}: {process.stderr.read()[-3000:]}"
        assert time.time() < deadline, f"no {path.name} after {timeout} s"
        time.sleep(0.2)


def saved_progress(checkpoint: Path) -> dict:
    state = torch.load(checkpoint, weights_only=False, map_location="cpu")
    return {"global_step": state["global_step"],
            "batches": state["loops"]["fit_loop"]["epoch_loop.batch_progress"]["total"]}


@pytest.mark.slow
@pytest.mark.parametrize("to", ["rank 0", "every rank"])
def test_a_sigterm_under_ddp_stops_every_rank_saves_and_resumes(tmp_path, to):
    run_dir = tmp_path / "run"
    process = subprocess.Popen(["ssgen-train", *TINY_GAN_DDP, f"hydra.run.dir={run_dir}"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_for(run_dir / "checkpoints" / "last.ckpt", process)  # the loop runs on both ranks
        first_save = saved_progress(run_dir / "checkpoints" / "last.ckpt")["global_step"]
        if to == "rank 0":
            os.kill(process.pid, signal.SIGTERM)
        else:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            pytest.fail("a rank hung after SIGTERM under DDP")
        deadline = time.time() + 30
        while group_alive(process.pid) and time.time() < deadline:
            time.sleep(0.2)
        assert not group_alive(process.pid), "a rank is still running after the launched process exited"
    finally:
        if group_alive(process.pid):
            os.killpg(process.pid, signal.SIGKILL)

    assert process.returncode == 2, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert json.loads((run_dir / "results.json").read_text())["status"] == "interrupted"
    progress = saved_progress(run_dir / "checkpoints" / "last.ckpt")
    assert progress["batches"]["completed"] == progress["batches"]["started"], "saved mid-batch"
    assert first_save <= progress["global_step"] < UNINTERRUPTED_STEPS, progress
    assert "interrupted: saved" in (run_dir / "train.log").read_text(), "the save at the stop did not happen"
    resume = re.search(r"resume with `(ssgen-train [^`]*)`", stderr)
    assert resume, stderr[-3000:]

    relaunch = subprocess.run(shlex.split(resume.group(1)), capture_output=True, text=True, timeout=600,
                              start_new_session=True)
    assert relaunch.returncode == 0, relaunch.stderr[-3000:]
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "ok", results["status"]
    assert results["optimizer_steps"] == UNINTERRUPTED_STEPS  # exactly an uninterrupted run's
