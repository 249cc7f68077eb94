"""Issue 38, item 4: logger= as lightning-hydra-template users know it: tensorboard (default), csv, mlflow (a local
store, no server), wandb (offline works without a network) and several at once, each with the same scalars, the
run's hyper-parameters and the final numbers of results.json; a logger whose package is missing is refused in one
line naming the extra."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys

import pytest

TINY_M1 = ["experiment=debug", "arch=vae_mlp", "trainer.enable_progress_bar=false", "method.callbacks.svm_head.cv_folds=2",
           "method.callbacks.svm_head.graph_nodes=2000", "method.callbacks.svm_head.raw_pixel_baseline=false",
           "torch_threads=1"]


def ssgen_train(*args: str, cwd=None, env=None, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    env = {key: value for key, value in env.items() if value is not None}  # None: unset
    return subprocess.run(["ssgen-train", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


def tensorboard_scalars(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0})
    accumulator.Reload()
    return {tag: accumulator.Scalars(tag)[-1].value for tag in accumulator.Tags()["scalars"]}


@pytest.mark.slow
def test_four_loggers_at_once_log_the_same_scalars_hparams_and_final_metrics(tmp_path):
    pytest.importorskip("mlflow")
    pytest.importorskip("wandb")
    run_dir = tmp_path / "run"
    result = ssgen_train(*TINY_M1, "logger=[tensorboard,csv,mlflow,wandb]", "logger.wandb.offline=true",
                         "hydra.run.dir=run", cwd=tmp_path, env={"MLFLOW_TRACKING_URI": None, "WANDB_MODE": None})
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "ok"
    final = "hp/test_accuracy"
    # TensorBoard: the default's event files
    tb = tensorboard_scalars(run_dir)
    assert abs(tb[final] - results["test_accuracy"]) < 1e-6
    # CSV: the same tags, the final numbers in its last rows, the hyper-parameters beside them
    with (run_dir / "csv" / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    csv_tags = {tag for row in rows for tag, value in row.items() if value and tag not in ("step", "epoch")}
    # the same scalars (Lightning's epoch counter is a column of its own in the CSV; NaN numbers are left empty there)
    assert {tag for tag, value in tb.items() if math.isfinite(value)} - {"epoch"} <= csv_tags <= set(tb)
    assert abs(float(next(row[final] for row in rows if row.get(final))) - results["test_accuracy"]) < 1e-6
    assert "method.kl_weight" in (run_dir / "csv" / "hparams.yaml").read_text()
    # MLflow: the local store under the launch dir (outputs/mlflow), one experiment per task, the run dir as a tag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path}/outputs/mlflow/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("m1").experiment_id])
    # every scalar TensorBoard has (MLflow also keeps Lightning's epoch counter as a metric)
    finite = {tag for tag, value in tb.items() if math.isfinite(value)}  # MLflow drops a NaN (a baseline switched off)
    assert finite <= set(run.data.metrics) and abs(run.data.metrics[final] - results["test_accuracy"]) < 1e-6
    assert run.data.params["method.kl_weight"] == "0.1" and run.data.tags["run_dir"] == str(run_dir)
    assert any(a.path == "images" for a in client.list_artifacts(run.info.run_id))  # image grids as artifacts
    # W&B offline: the run in <run dir>/wandb (what `wandb sync` uploads), with the final numbers, the
    # hyper-parameters and the image grids (its run file is W&B's own binary log: the keys are in it as text)
    (offline,) = run_dir.glob("wandb/offline-run-*")
    (log,) = offline.glob("run-*.wandb")
    assert b"hp/test_accuracy" in log.read_bytes() and b"method.kl_weight" in log.read_bytes()
    assert list(offline.glob("files/media/images/**/*.png"))  # the image grids, under their tags

@pytest.mark.slow
def test_csv_alone_is_enough_for_the_curves_a_record_keeps(tmp_path):
    result = ssgen_train(*TINY_M1, "logger=csv", "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (tmp_path / "run" / "tb").exists()
    from ssgen.reporting.records import export_curves

    assert export_curves(tmp_path / "run", tmp_path / "curves.csv") > 0
    assert "hp/test_accuracy" in (tmp_path / "curves.csv").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("logger, extra", [("mlflow", "ssgen[mlflow]"), ("wandb", "ssgen[wandb]")])
def test_a_logger_whose_package_is_missing_is_refused_in_one_line(tmp_path, logger, extra):
    """The package is hidden (a module of its name that fails to import comes first on the path), as on a machine
    without the extra."""
    hidden = tmp_path / "hidden"
    (hidden / logger).mkdir(parents=True)
    (hidden / logger / "__init__.py").write_text(f"raise ImportError('no {logger} here')\n")
    path = os.pathsep.join([str(hidden), *sys.path[:0], os.environ.get("PYTHONPATH", "")])
    result = ssgen_train(f"logger={logger}", "hydra.run.dir=run", cwd=tmp_path, env={"PYTHONPATH": path})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0] == (f"ssgen-train: error: logger={logger} needs the {logger} package, which is "
                                            f"not installed: pip install '{extra}' (or choose another logger: "
                                            "logger=tensorboard, csv, ...)"), result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_wandb_online_without_credentials_is_refused_before_anything_is_made(tmp_path):
    pytest.importorskip("wandb")
    result = ssgen_train("logger=wandb", "hydra.run.dir=run", cwd=tmp_path,
                         env={"WANDB_API_KEY": "", "WANDB_MODE": "", "NETRC": str(tmp_path / "no-netrc"), "HOME": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.strip().endswith("or log offline: logger.wandb.offline=true (`wandb sync` uploads later)")
    assert not (tmp_path / "run").exists()
