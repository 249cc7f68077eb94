"""Hyper-parameter search through the real ``ssgen-train``: a 2-trial Optuna sweep (experiment=m1_tune) and
``ssgen-report tune`` on it; the end-to-end half of tests/unit/run/test_tune.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import plain_table, run_script


@pytest.mark.slow
def test_m1_tune_runs_a_search_and_reports_it(tmp_path: Path) -> None:
    sweep = tmp_path / "tune"
    run = run_script(
        "ssgen-train", "-m", "experiment=m1_tune", "hydra.sweeper.n_trials=2", "trainer.max_epochs=1",
        "+trainer.limit_train_batches=3", "trainer.enable_progress_bar=false",
        "method.callbacks.svm_head.graph_nodes=2000", "method.callbacks.svm_head.raw_pixel_baseline=false",
        f"hydra.sweep.dir={sweep}", "torch_threads=1")
    assert run.returncode == 0, run.stderr[-2000:]
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert set(best["best_params"]) == {"method.kl_weight", "method.lr"}  # max_epochs was fixed on the command line
    trials = sorted(sweep.glob("*/results.json"))
    assert len(trials) == 2
    values = []
    for path in trials:
        result = json.loads(path.read_text())
        assert result["objective"]["name"] == "cv_accuracy"
        assert result["objective"]["value"] == result["heads"]["100"]["m1_svm"]["cv_accuracy"]
        values.append(result["objective"]["value"])
    assert best["best_value"] == max(values)
    report = run_script("ssgen-report", "tune", f"runs={sweep}", timeout=120)
    assert report.returncode == 0, report.stderr
    assert "Best (maximize cv_accuracy, no test data)" in report.stdout
    assert plain_table(report.stdout).count("| 0 |") + plain_table(report.stdout).count("| 1 |") == 2
