"""Issue 39, item 1, through the real console script: an ssh session that drops while ssgen-train trains (SIGHUP, and
the console gone with it) records ``interrupted`` with the command that resumes it, says it in the log file, exits 2,
and that command, run as recorded, finishes the run. Before, SIGHUP ended the process at once (exit 129) and
results.json said ``running`` for good."""

from __future__ import annotations

import json
import shlex

import pytest
from conftest import run_script
from records_e2e import DEBUG


@pytest.mark.slow
def test_a_dropped_session_is_recorded_interrupted_and_its_recorded_command_resumes_it(tmp_path):
    run_dir = tmp_path / "ré sumé run"
    args = [*DEBUG, "+callbacks.probe._target_=records_probe.TerminalGoneAtBatch", f"hydra.run.dir='{run_dir}'"]
    stopped = run_script("ssgen-train", *args)
    assert stopped.returncode == 2, stopped.stderr[-3000:]
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "interrupted"
    log = (run_dir / "train.log").read_text()
    assert "the console went away (stdout can no longer be written" in log or "the console went away (stderr" in log
    last = log.strip().splitlines()[-1]
    assert last.endswith(f"ssgen-train: error: interrupted (SIGHUPException); last.ckpt saved: resume with "
                         f"`{results['resume']}`")
    assert "hydra.run.dir=" in results["resume"] and "-m" not in shlex.split(results["resume"])
    resumed = run_script(*shlex.split(results["resume"]))  # exactly as recorded
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "ok" and results["optimizer_steps"] == 5  # experiment=debug: 5 batches
