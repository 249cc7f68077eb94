"""ssgen-report: Table 1 from a sweep's results.json files, split by the overrides that vary; the console script as
a subprocess: tests/e2e/test_report_cli.py."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import fake_run, plain_table

from ssgen.errors import SSGenError
from ssgen.report import main
from ssgen.reporting.figures import selection_figure
from ssgen.reporting.tables import write_m1_report
from ssgen.run.results import find_results


def test_table_means_stds_variants_and_failures(tmp_path):
    fake_run(tmp_path, "a", 0, 1.0, {"100": 0.60, "600": 0.70})
    # choosing which heads run is not a model variant: run b stays in run a's row
    fake_run(tmp_path, "b", 1, 1.0, {"100": 0.64, "600": 0.72}, extra=["method.callbacks.svm_head.transductive=false"])
    fake_run(tmp_path, "c", 0, 0.1, {"100": 0.70, "600": 0.80})
    fake_run(tmp_path, "e", 0, 0.1, {"100": 0.75}, extra=["method.m1_checkpoint=m1_seed$\\{seed\\}"])
    fake_run(tmp_path, "d", 1, 0.1, {}, status="failed: diverged")
    fake_run(tmp_path, "f", 1, 0.1, {"100": 0.99}, status="running")  # a relaunch still training: not in the table
    (tmp_path / "multirun.yaml").write_text(yaml.safe_dump(
        {"hydra": {"overrides": {"task": ["seed=0,1", "method.kl_weight=1.0,0.1"]}}}))
    written = write_m1_report([str(tmp_path)], str(tmp_path / "table.md"))
    text = plain_table(written)
    assert "| M1 + RBF-SVM (encoder means) [method.kl_weight=1.0] | 0.620 ± 0.028 | 0.710 ± 0.014 |" in text
    assert "| M1 + RBF-SVM (encoder means) [method.kl_weight=0.1] | 0.700 (1 seed) | 0.800 (1 seed) |" in text
    assert "ssgen-train -m seed=0,1 method.kl_weight=1.0,0.1" in text
    assert "[method.kl_weight=0.1, method.m1_checkpoint=m1_seed${seed}] | 0.750 (1 seed)" in text
    assert "Failed or unfinished jobs" in text and "diverged" in text and "seed=1): running" in text
    assert "4 finished runs, 1 failed, 1 unfinished" in text
    assert (tmp_path / "table.md").read_text() == written


def selection_run(root, name, seed, alpha_factor, curve, n=3000):
    run_dir = root / name
    (run_dir / ".hydra").mkdir(parents=True)
    overrides = [f"seed={seed}", "data.labelled_holdout=0.2", f"method.alpha_factor={alpha_factor}", f"data.n_labels={n}"]
    (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    payload = {"method": "m1_m2", "seed": seed, "status": "ok", "epochs": len(curve), "holdout_accuracy": curve[-1],
               "selection": {"head": "m1_m2", "n_labels": n, "holdout_accuracy_by_epoch": curve}}
    (run_dir / "results.json").write_text(json.dumps(payload))


def test_selection_sweep_picks_setting_and_epoch_by_mean_held_out_accuracy(tmp_path):
    selection_run(tmp_path, "a", 0, 0.1, [0.80, 0.84, 0.85])
    selection_run(tmp_path, "b", 1, 0.1, [0.80, 0.86, 0.85])
    selection_run(tmp_path, "c", 0, 0.5, [0.82, 0.86, 0.84, 0.83])  # longer than its other seed: cut to 3 epochs
    selection_run(tmp_path, "d", 1, 0.5, [0.84, 0.87, 0.85])
    selection_run(tmp_path, "e", 0, 0.5, [0.50, 0.60], n=100)
    text = plain_table(write_m1_report([str(tmp_path)], None))
    assert "| m1_m2 | 3000 | method.alpha_factor=0.1 | 2 | 0.850 (epoch 3) | 0.850 (2) |" in text
    assert "| m1_m2 | 3000 | method.alpha_factor=0.5 | 2 | 0.845 (epoch 3) | 0.865 (2) |" in text
    assert "- m1_m2, N = 3000: method.alpha_factor=0.5, trainer.max_epochs=2 (mean held-out accuracy 0.865)" in text
    assert "- m1_m2, N = 100: method.alpha_factor=0.5, trainer.max_epochs=2 (mean held-out accuracy 0.600)" in text
    assert "test accuracy by number of labels" not in text  # no Table 1 from selection runs
    main([str(tmp_path), "--selection-figure", str(tmp_path / "curves.png")])
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_selection_figure_without_selection_runs_says_so(tmp_path):
    fake_run(tmp_path, "a", 0, 1.0, {"100": 0.60})
    with pytest.raises(SSGenError, match=r"no selection runs \(data.labelled_holdout > 0\)"):
        selection_figure(find_results([tmp_path]), tmp_path / "curves.png")
    assert not (tmp_path / "curves.png").exists()
