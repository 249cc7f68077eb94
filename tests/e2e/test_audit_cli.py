"""The end-of-run audit through the real ``ssgen-train`` (and ``ssgen-report``): a diverged run, a budget that trains
nothing and another method's checkpoint each end in one line; the end-to-end half of tests/unit/run/test_audit.py.

    python -m pytest tests/e2e/test_audit_cli.py -q -p no:cacheprovider -m slow
"""

from __future__ import annotations

import json

import pytest
from conftest import fake_checkpoint, run_script


def error_line(stderr: str) -> str:
    """The line ssgen-train ends with; nothing after it, and no traceback anywhere."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert lines[-1].startswith("ssgen-train: error:"), stderr
    return lines[-1]


# ------------------------------------------------------------------------------------------------ divergence
@pytest.mark.slow
def test_console_m1_diverging_ends_in_one_line_that_does_not_advise_resuming(tmp_path):
    result = run_script("ssgen-train", "experiment=debug", "method.lr=1e4", f"hydra.run.dir={tmp_path / 'run'}")
    line = error_line(result.stderr)
    assert result.returncode != 0 and "diverged: non-finite loss" in line
    assert "relaunch the same command" not in line and "new hydra.run.dir" in line
    assert json.loads((tmp_path / "run" / "results.json").read_text())["status"].startswith("failed: ")


# ------------------------------------------------------------------------------------------------ budget
@pytest.mark.slow
def test_console_a_budget_that_trains_nothing_fails_and_the_report_lists_it_as_failed(tmp_path):
    run_dir = tmp_path / "sweep" / "zero"
    result = run_script("ssgen-train", "experiment=debug", "trainer.limit_train_batches=0",
                        f"hydra.run.dir={run_dir}")
    assert result.returncode == 2 and "trained nothing: 0 optimizer steps" in error_line(result.stderr)
    report = run_script("ssgen-report", f"runs={tmp_path / 'sweep'}", timeout=120)
    assert report.returncode == 0, report.stderr
    assert "0 finished runs, 1 failed" in report.stdout and "trained nothing" in report.stdout
    assert "| M1 + RBF-SVM" not in report.stdout  # no table row for it


# ------------------------------------------------------------------------------------------------ resume, config
@pytest.mark.slow
def test_console_ckpt_path_of_another_method_is_one_line(tmp_path):
    path = fake_checkpoint(tmp_path / "dcgan.ckpt", ["method=dcgan", "arch=dcgan", "data.n_labels=all"])
    result = run_script("ssgen-train", "method=wgan_gp", "arch=dcgan_softplus", f"ckpt_path={path}",
                        f"hydra.run.dir={tmp_path / 'r'}")
    line = error_line(result.stderr)
    assert result.returncode == 2
    assert "holds a dcgan (DCGAN, arch dcgan) checkpoint; this run is wgan_gp on dcgan_softplus" in line
    assert not (tmp_path / "r" / "results.json").exists()
