"""ssgen-evaluate as a user runs it: a round trip on the session's tiny real WGAN-GP run (conftest ``gan_run``) with
the tiny evaluator; the end-to-end half of tests/unit/test_evaluate.py.

    python -m pytest tests/e2e/test_evaluate_cli.py -q -p no:cacheprovider -m slow
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import TINY_EVALUATOR, run_script


@pytest.mark.slow
def test_round_trip_as_a_subprocess(gan_run: Path, tiny_evaluator_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "metrics.json"
    env = {"SSGEN_CACHE": str(tmp_path / "empty-cache")}
    command = [sys.executable, "-m", "ssgen.evaluate", f"run={gan_run}", "n_samples=200", f"out={out}",
               f"evaluator={tiny_evaluator_file}"]
    done = run_script(*command, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["checkpoint"].endswith("last.ckpt") and report["model"] == "WGANGP" and report["n"] == 200
    for key in ("fid", "kid", "kid_std", "class_consistency", "fid_floor", "kid_floor", "class_consistency_floor"):
        assert isinstance(report[key], float), key
    assert len(report["per_class_fid"]) == 10
    assert report["evaluator_config_hash"] == TINY_EVALUATOR.config_hash
    assert "fid" in done.stdout and "floor" in done.stdout
    assert not (tmp_path / "empty-cache").exists()  # the given evaluator was used, nothing trained
