"""A stopped basic-launcher sweep through the real ``ssgen-train``: it starts no new job, and the resume command it
prints works as printed (quoted for any path); the end-to-end half of tests/unit/run/test_stops.py. The stop comes from
``stop_probe.SignalAtBatch`` (tests/stop_probe.py, on the run's PYTHONPATH: conftest ``run_script``)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from conftest import QUICK, run_script

# as in tests/unit/run/test_stops.py: 6 batches, no head, no step-interval checkpoint
TINY = [*QUICK, "+trainer.limit_train_batches=6", "method.callbacks.svm_head=null",
        "callbacks.last_checkpoint.every_n_train_steps=0"]


def results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


@pytest.mark.slow
def test_a_stopped_sweep_starts_no_new_job_and_its_printed_command_resumes_the_job(tmp_path):
    sweep = tmp_path / "ré sumé sweep"
    args = ["-m", "seed=0,1", *TINY, "+callbacks.probe._target_=stop_probe.SignalAtBatch", "+callbacks.probe.dir_prefix=0_",
            f"hydra.sweep.dir='{sweep}'"]
    stopped = run_script("ssgen-train", *args, timeout=600)
    assert stopped.returncode == 2, stopped.stderr[-3000:]
    line = stopped.stderr.strip().splitlines()[-1]
    assert line.startswith("ssgen-train: error: interrupted (SIGTERMException); last.ckpt saved: resume with `")
    assert "the sweep stopped and started no further job" in line
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert len(jobs) == 1 and jobs[0].name.startswith("0_seed=0"), jobs  # job 1 never started
    job = jobs[0]
    assert results(job)["status"] == "interrupted"
    command = line.split("`")[1]
    argv = shlex.split(command)
    assert argv[0] == "ssgen-train" and "-m" not in argv and "seed=0" in argv and "seed=0,1" not in argv
    resumed = run_script(*argv, timeout=600)  # exactly as printed
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert results(job)["status"] == "ok" and results(job)["optimizer_steps"] == 6
    assert [p for p in sweep.iterdir() if p.is_dir()] == [job]  # resumed in place, no new dir
    rest = run_script("ssgen-train", *args, timeout=600)  # the hint
    assert rest.returncode == 0, rest.stderr[-3000:]
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert len(jobs) == 2 and jobs[0] == job and results(jobs[1])["status"] == "ok"
    assert results(job)["optimizer_steps"] == 6 and "already finished" in rest.stdout + rest.stderr
