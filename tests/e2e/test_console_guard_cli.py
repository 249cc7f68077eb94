"""Issue 39, item 2, through the real console script: ``ssgen-train ... | head -1`` (and a closed stderr) never stops
training: the run goes on, its results are complete, exit 0, and the log file says the console went away. Before, it
died with exit 1, no word, and results.json ``running``."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import script_env
from records_e2e import DEBUG


@pytest.mark.slow
@pytest.mark.parametrize("closed", ["stdout", "stderr"])
def test_a_reader_that_stops_early_never_stops_training(tmp_path, closed):
    run_dir = tmp_path / "run"
    process = subprocess.Popen(["ssgen-train", *DEBUG, f"hydra.run.dir={run_dir}"], env=script_env(), text=True,
                               stdout=subprocess.PIPE if closed == "stdout" else subprocess.DEVNULL,
                               stderr=subprocess.PIPE if closed == "stderr" else subprocess.DEVNULL)
    stream = process.stdout if closed == "stdout" else process.stderr
    assert stream.readline()  # | head -1: one line, then the reader is gone
    stream.close()
    assert process.wait(timeout=600) == 0
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "ok" and results["optimizer_steps"] == 5 and (run_dir / "checkpoints" / "last.ckpt").is_file()
    log = (run_dir / "train.log").read_text()
    assert log.count("the console went away") == 1
    assert f"the console went away ({closed} can no longer be written: BrokenPipeError" in log
