"""The console scripts as a user runs them: real subprocesses, real data, tiny budgets."""

from __future__ import annotations

import json
import sys
import time

import pytest
from conftest import assert_quiet_when_the_reader_stops_early, run_script

from ssgen.run.lifecycle import bf16_pays

QUICK = ["trainer.max_epochs=1", "+trainer.limit_train_batches=3", "trainer.enable_progress_bar=false", "label_budgets=[100]"]


@pytest.mark.slow  # 13 s of console start-up for Hydra's own --cfg; what it composes is test_config's (in-process)
def test_cfg_job_prints_composed_config():
    result = run_script("ssgen-train", "--cfg", "job")
    assert result.returncode == 0, result.stderr
    assert "method:" in result.stdout and "name: m1" in result.stdout
    # data.n_labels follows the method's default (M1: 100) unless set
    assert "n_labels: ${method.default_n_labels}" in result.stdout and "default_n_labels: 100" in result.stdout


@pytest.mark.slow
def test_paths_stay_out_of_sweep_job_dir_names():
    """A job dir is named by its overrides; a path's slashes would nest it (data.root=/a/b -> '.../data.root=/a/b/...')."""
    result = run_script("ssgen-train", "--cfg", "hydra", "method=m1_m2", "data.root=/tmp/fashion/raw",
                        "method.m1_checkpoint=/m1/seed0.ckpt", "seed=1")
    assert result.returncode == 0, result.stderr
    assert "override_dirname: method=m1_m2,seed=1\n" in result.stdout


@pytest.mark.slow
def test_python_dash_m_entry_point_works():
    result = run_script(sys.executable, "-m", "ssgen.train", "--cfg", "job", "method=wgan_gp")
    assert result.returncode == 0, result.stderr
    assert "name: wgan_gp" in result.stdout


@pytest.mark.parametrize("override, fragment", [
    ("method.lr=-1", "method.lr=-1.0 must be > 0"),  # the default tier's refused config; validate() is in test_config
    pytest.param("data.n_labels=105", "data.n_labels=105 is not a multiple of 10", marks=pytest.mark.slow),
    pytest.param("data.val_size=-5", "data.val_size=-5 is negative", marks=pytest.mark.slow),  # named as given
    pytest.param("trainer.precision=bf16-true", "trainer.precision=bf16-true is not one ssgen trains in",
                 marks=pytest.mark.slow),  # crashed after an epoch
    pytest.param("method.callbacks.svm_head.n_jobs=0", "method.callbacks.svm_head.n_jobs=0 must be != 0",
                 marks=pytest.mark.slow),  # failed at the heads, after the whole training
    pytest.param("trainer.max_epochs=abc", "trainer.max_epochs='abc' must be int or null",
                 marks=pytest.mark.slow),  # a TypeError traceback, and in a sweep a job recorded as failed
])
def test_bad_value_fails_fast_with_one_line(tmp_path, override, fragment):
    start = time.time()
    result = run_script("ssgen-train", override, f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert time.time() - start < 30
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert lines == [lines[-1]] and fragment in lines[-1] and lines[-1].startswith("ssgen-train: error:")
    assert "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("args, fragment", [
    (["method=nope"], "method=nope is unknown; choose one of: dcgan, m1, m1_m2, m2, wgan_clip, wgan_gp"),
    (["-m", "arch=dcgan,nope", "method=dcgan"],
     "arch=nope is unknown; choose one of: dcgan, dcgan_softplus, m1_m2_mlp, m2_mlp, mlp_generator, vae_conv, vae_mlp"),
])
def test_unknown_option_fails_with_one_line_listing_the_options(tmp_path, args, fragment):
    result = run_script("ssgen-train", *args, f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.strip() == f"ssgen-train: error: {fragment}"
    assert not list(tmp_path.iterdir())  # nothing written


def test_m1_end_to_end_subprocess(tmp_path):
    """fast run of ssgen-train for M1 writes every artifact a user relies on."""
    result = run_script("ssgen-train", *QUICK, f"hydra.run.dir={tmp_path}", "arch=vae_mlp",
                        "method.callbacks.svm_head.graph_nodes=2000", "method.callbacks.svm_head.cv_folds=2")
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["status"] == "ok" and results["method"] == "m1" and results["n_labels"] == 100
    assert 0.1 < results["test_accuracy"] <= 1 and "raw_pixel_accuracy" in results and results["wall_time_s"] > 0
    assert (tmp_path / ".hydra" / "config.yaml").is_file()
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "checkpoints" / "svm_head_n100.skops").is_file()
    assert (tmp_path / "confusion_n100.png").is_file()
    assert len(json.loads((tmp_path / "labelled_indices.json").read_text())["labelled_indices"]) == 100
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    # the run ends with a human summary, not a JSON line: scores beside the baseline, then where things are
    output = result.stdout + result.stderr
    summary = output[output.index("summary:"):]
    row = next(line.split() for line in summary.splitlines() if line.split()[:1] == ["100"])
    assert f"{results['test_accuracy']:.3f}" in row and f"{results['raw_pixel_accuracy']:.3f}" in row
    assert f"tensorboard --logdir {tmp_path / 'tb'}" in summary and "confusion_n100.png" in summary
    assert '"status": "ok"' not in output


@pytest.mark.parametrize("method", ["dcgan", *(pytest.param(m, marks=pytest.mark.slow) for m in ("wgan_clip", "wgan_gp", "m2"))])
def test_every_other_method_end_to_end_subprocess(tmp_path, method):
    """experiment=debug trains a few batches of each method through the real console script."""
    small = {"dcgan": ["arch.networks.generator.width=8", "arch.networks.critic.width=8"],
             "m2": ["data.n_labels=100"]}.get(method, ["arch.networks.generator.width=8", "arch.networks.critic.width=8"])
    # no data.n_labels for the GANs: typed as a new user would, method=<gan> trains on all 60k labelled images
    no_metrics = [] if method == "m2" else ["method.callbacks.quality=null", "method.callbacks.best_checkpoint=null"]
    result = run_script("ssgen-train", "experiment=debug", f"method={method}", *small, *no_metrics,
                        f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["status"] == "ok" and results["method"] == method and results["optimizer_steps"] > 0
    assert results["n_labels"] == (100 if method == "m2" else 60000)
    # each method's precision: bf16 autocast for the GANs where this machine has native bf16, else fp32
    assert results["trainer_precision"] == ("32-true" if method == "m2" or not bf16_pays("auto") else "bf16-mixed")
    assert "trains on only" not in result.stdout + result.stderr  # the small-data warning: explicit small n_labels
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file() and list((tmp_path / "tb").glob("events.*"))


@pytest.mark.slow
def test_an_explicit_n_labels_beats_the_gan_default(tmp_path):
    result = run_script("ssgen-train", "experiment=debug", "method=dcgan", "data.n_labels=100",
                        "arch.networks.generator.width=8", "arch.networks.critic.width=8",
                        "method.callbacks.quality=null", "method.callbacks.best_checkpoint=null",
                        f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((tmp_path / "results.json").read_text())["n_labels"] == 100
    assert "DCGAN trains on only 100 labelled images" in result.stdout  # the log's console handler


@pytest.mark.slow
@pytest.mark.parametrize("script, usage_fragment", [
    ("ssgen-predict", "ssgen-predict run="),
    ("ssgen-generate", "ssgen-generate run="),
    ("ssgen-evaluate", "ssgen-evaluate run="),
    ("ssgen-report", "ssgen-report"),
])
def test_help_prints_usage_and_survives_a_closed_pipe(script, usage_fragment):
    result = run_script(script, "--help")
    assert result.returncode == 0, result.stderr
    assert usage_fragment in result.stdout
    assert_quiet_when_the_reader_stops_early([script, "--help"])
