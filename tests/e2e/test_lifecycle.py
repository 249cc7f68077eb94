"""A run never loses what it produced: relaunches, failing end-of-run steps, checkpoints, Ctrl-C, sweeps, small kinds.

Every test runs the real ``ssgen-train`` (or ``ssgen-generate``) as a subprocess, as a user would meet it.
``lifecycle_probe`` (this folder, on PYTHONPATH) holds the callbacks the tests add to watch or break a run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from conftest import run_script, script_env

# M1, a few batches, cheap heads (2 CV folds, no transductive head): every end-of-run code path in seconds
M1_HEADS = ["trainer.enable_progress_bar=false", "arch=vae_mlp", "method.callbacks.svm_head.graph_nodes=2000",
            "method.callbacks.svm_head.cv_folds=2", "label_budgets=[100]"]
M1_TINY = ["+trainer.limit_train_batches=3", *M1_HEADS]
GAN_TINY = ["method=dcgan", "data.n_labels=all", "arch.networks.generator.width=8", "arch.networks.critic.width=8",
            "method.callbacks.quality=null", "method.callbacks.best_checkpoint=null", "trainer.enable_progress_bar=false"]


def results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("ssgen-train")]


# ------------------------------------------------------------------------------------------------ relaunch
@pytest.mark.slow
def test_relaunching_a_finished_run_leaves_it_alone_and_more_epochs_recompute_every_score(tmp_path):
    run_dir = tmp_path / "run"
    first = run_script("ssgen-train", *M1_TINY, "trainer.max_epochs=1", f"hydra.run.dir={run_dir}", timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    before = results(run_dir)
    assert before["status"] == "ok" and {"test_accuracy", "heads", "raw_pixel_accuracy"} <= set(before)
    files = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()}

    again = run_script("ssgen-train", *M1_TINY, "trainer.max_epochs=1", f"hydra.run.dir={run_dir}", timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert any("already finished" in line and "raise trainer.max_epochs" in line for line in again.stderr.splitlines())
    assert "NOT used" not in again.stderr
    assert results(run_dir) == before
    assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()} == files  # nothing rewritten
    changed = run_script("ssgen-train", *M1_TINY, "trainer.max_epochs=1", "method.lr=0.01",
                         f"hydra.run.dir={run_dir}", timeout=600)
    assert changed.returncode == 0 and "settings differ from the run's and were NOT used" in changed.stderr
    assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()} == files

    longer = run_script("ssgen-train", *M1_TINY, "trainer.max_epochs=2", f"hydra.run.dir={run_dir}", timeout=600)
    assert longer.returncode == 0, longer.stderr[-2000:]
    after = results(run_dir)
    assert after["status"] == "ok" and (after["epochs"], after["optimizer_steps"]) == (2, 6)
    assert {"test_accuracy", "heads", "raw_pixel_accuracy", "active_units"} <= set(after)  # every score recomputed
    assert after["steps"] == {"svm_head": "ok"}
    assert (run_dir / "checkpoints" / "svm_head_n100.skops").stat().st_mtime_ns > files[run_dir / "checkpoints" / "svm_head_n100.skops"]


# ------------------------------------------------------------------------------------------------ end-of-run steps
@pytest.mark.slow
def test_values_the_heads_cannot_fold_are_refused_before_training(tmp_path):
    for args in (["experiment=debug", "data.n_labels=10"],
                 ["experiment=debug", "method.callbacks.svm_head.n_labels=[100,10]"]):
        run_dir = tmp_path / "run"
        result = run_script("ssgen-train", *args, f"hydra.run.dir={run_dir}", timeout=600)
        assert result.returncode == 2, result.stderr[-2000:]
        assert error_lines(result) == [line for line in result.stderr.splitlines() if line.strip()]
        assert "cannot score N=10" in result.stderr and "at least 2 labelled images per class" in result.stderr
        assert not run_dir.exists()


@pytest.mark.slow
def test_a_failing_end_of_run_step_costs_neither_the_weights_nor_the_other_steps(tmp_path):
    run_dir = tmp_path / "run"
    result = run_script("ssgen-train", *M1_TINY, "trainer.max_epochs=1",
                        "+method.callbacks.broken._target_=lifecycle_probe.BrokenStep",
                        f"hydra.run.dir={run_dir}", timeout=600)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("ssgen-train: error:")]
    assert len(lines) == 1 and "end-of-run step broken" in lines[0] and "this step always fails" in lines[0]
    failed = results(run_dir)
    assert failed["status"] == "failed: end-of-run step broken: RuntimeError: this step always fails"
    assert failed["steps"] == {"svm_head": "ok", "broken": "failed: RuntimeError: this step always fails"}
    assert 0 < failed["test_accuracy"] <= 1 and "heads" in failed and "raw_pixel_accuracy" in failed
    assert (run_dir / "broken_step_saw_last_ckpt").read_text() == "True"  # the weights were on disk first
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 3

    # relaunched without the broken step: the end-of-run steps run again on the trained model, no more training
    fixed = run_script("ssgen-train", *M1_TINY, "trainer.max_epochs=1", f"hydra.run.dir={run_dir}", timeout=600)
    assert fixed.returncode == 0, fixed.stderr[-2000:]
    assert results(run_dir)["status"] == "ok" and results(run_dir)["optimizer_steps"] == 3


# ------------------------------------------------------------------------------------------------ checkpoints
@pytest.mark.slow
@pytest.mark.parametrize("method_args", [[*M1_HEADS, "method.callbacks.svm_head=null"], [*GAN_TINY, "method.n_critic=2"]],
                         ids=["m1", "dcgan_n_critic_2"])
def test_a_sigkill_costs_at_most_one_epoch_and_the_configured_interval(tmp_path, method_args):
    """The probe reads last.ckpt at every batch: the steps a SIGKILL there would lose never exceed the interval,
    and from the first epoch on there is a checkpoint of at least the previous epoch's end."""
    run_dir = tmp_path / "run"
    interval = 7
    result = run_script("ssgen-train", *method_args, "trainer.max_epochs=3", "+trainer.limit_train_batches=12",
                        f"callbacks.last_checkpoint.every_n_train_steps={interval}",
                        "+callbacks.probe._target_=lifecycle_probe.CheckpointProbe",
                        f"hydra.run.dir={run_dir}", timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    records = [json.loads(line) for line in (run_dir / "probe.jsonl").read_text().splitlines()]
    steps_per_epoch = records[12]["step"] if len(records) > 12 else None
    assert len(records) == 36 and steps_per_epoch
    for record in records:
        lost = record["step"] - max(record["saved_step"], 0)
        assert lost <= interval, record
        if record["epoch"] >= 1:
            assert record["saved_step"] >= record["epoch"] * steps_per_epoch - interval, record
        if record["batch"] == 0 and record["epoch"] >= 1:
            assert record["saved_step"] == record["step"], record  # the epoch's end was saved


# ------------------------------------------------------------------------------------------------ Ctrl-C
@pytest.mark.slow
def test_ctrl_c_is_recorded_like_sigterm_and_says_how_to_resume(tmp_path):
    run_dir = tmp_path / "run"
    process = subprocess.Popen(["ssgen-train", "trainer.max_epochs=2", "+trainer.limit_train_batches=250",
                                "trainer.enable_progress_bar=false", "callbacks.last_checkpoint.every_n_train_steps=20",
                                "method.callbacks.svm_head=null", f"hydra.run.dir={run_dir}"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=script_env())
    deadline = time.time() + 240
    while not (run_dir / "checkpoints" / "last.ckpt").exists():
        assert process.poll() is None and time.time() < deadline, process.stderr.read()[-2000:]
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 2, stderr[-2000:]
    assert results(run_dir)["status"] == "interrupted"
    line = next(line for line in stderr.splitlines() if line.startswith("ssgen-train: error:"))
    assert "interrupted (KeyboardInterrupt)" in line and f"hydra.run.dir={run_dir}" in line and "ssgen-train " in line
    assert "Traceback" not in stderr
    resumed = run_script("ssgen-train", "trainer.max_epochs=2", "+trainer.limit_train_batches=250",
                         "trainer.enable_progress_bar=false", "method.callbacks.svm_head=null",
                         f"hydra.run.dir={run_dir}", timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert results(run_dir)["status"] == "ok" and results(run_dir)["optimizer_steps"] == 500


# ------------------------------------------------------------------------------------------------ sweeps
@pytest.mark.slow
def test_a_sweep_with_many_overrides_gets_short_flat_job_dirs_and_keeps_the_overrides(tmp_path):
    from ssgen.data.files import FASHION_MNIST

    deep = tmp_path / ("deep/" * 30)  # a long data.root that holds the set (a named dir is never swapped for another)
    deep.parent.mkdir(parents=True)
    deep.symlink_to(FASHION_MNIST.system_dir, target_is_directory=True)
    long = ["method.callbacks.svm_head.n_labels=[100,600,1000,3000]", "method.kl_weight=0.5",
            "method.free_bits=0.01", "method.lr=0.0003", "method.binarize=true", "method.n_image_rows=2",
            "method.callbacks.svm_head.cv_folds=2",
            "method.callbacks.svm_head.graph_nodes=2000", "method.callbacks.svm_head.raw_pixel_baseline=false",
            f"data.root={deep}"]
    result = run_script("ssgen-train", "-m", "experiment=debug", "seed=0,1", *long,
                        f"hydra.sweep.dir={tmp_path / 'sweep'}", timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    jobs = sorted(p for p in (tmp_path / "sweep").iterdir() if p.is_dir())
    assert len(jobs) == 2 and all(len(job.name) <= 64 and job.parent == tmp_path / "sweep" for job in jobs)
    assert [job.name.split("_", 1)[0] for job in jobs] == ["0", "1"]
    assert "seed=0" in jobs[0].name and "seed=1" in jobs[1].name  # what the sweep varies stays readable
    for job in jobs:
        assert results(job)["status"] == "ok"
        recorded = (job / ".hydra" / "overrides.yaml").read_text()
        assert "method.free_bits=0.01" in recorded and "n_labels=[100,600,1000,3000]" in recorded


@pytest.mark.slow
def test_a_sweep_with_a_failed_job_runs_every_job_then_exits_non_zero(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_script("ssgen-train", "-m", "++trainer.gradient_clip_algorithm=norm,nope", "trainer.max_epochs=1",
                        *M1_TINY, "method.callbacks.svm_head.raw_pixel_baseline=false", f"hydra.sweep.dir={sweep}",
                        timeout=600)
    assert result.returncode == 1
    statuses = sorted(results(p.parent)["status"].split(":")[0] for p in sweep.glob("*/results.json"))
    assert statuses == ["failed", "ok"]  # the good job ran to the end
    lines = result.stderr.splitlines()
    summary = lines.index("ssgen-train: 1 job(s) of the sweep failed:")
    assert "failed: MisconfigurationException" in lines[summary + 1] and str(sweep) in lines[summary + 1]
    from ssgen.reporting.tables import write_m1_report

    assert "MisconfigurationException" in write_m1_report([str(sweep)], None)


@pytest.mark.slow
@pytest.mark.parametrize("multirun", [False, True])
def test_a_refused_config_leaves_nothing_behind(tmp_path, multirun):
    target = tmp_path / "out"
    args = (["-m", "seed=0,1", "method.kl_weight=1,-1", f"hydra.sweep.dir={target}"] if multirun
            else ["method.kl_weight=-1", f"hydra.run.dir={target}"])
    result = run_script("ssgen-train", *args, timeout=600)
    assert result.returncode == 2
    assert [line for line in result.stderr.splitlines() if line.strip()] == error_lines(result)
    assert "method.kl_weight=-1.0 must be >= 0" in result.stderr
    assert not target.exists()


@pytest.mark.slow
def test_a_refused_relaunch_does_not_touch_the_run_that_is_there(tmp_path):
    run_dir = tmp_path / "run"
    assert run_script("ssgen-train", *M1_TINY, "trainer.max_epochs=1", f"hydra.run.dir={run_dir}",
                      timeout=600).returncode == 0
    files = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    result = run_script("ssgen-train", *M1_TINY, "trainer.max_epochs=2", "method.lr=0",
                        f"hydra.run.dir={run_dir}", timeout=600)
    assert result.returncode == 2 and "method.lr=0.0 must be > 0" in result.stderr
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == files  # .hydra/ included


# ------------------------------------------------------------------------------------------------ small kinds
@pytest.mark.slow
@pytest.mark.parametrize("label, row", [("T-shirt/top", 0), ("Ankle boot", 9), ("ankle_boot", 9), ("8", 8), ("Bag", 8)])
def test_generate_takes_every_spelling_of_a_class(tmp_path, gan_run, label, row):
    npz = tmp_path / "x.npz"
    result = run_script("ssgen-generate", f"run={gan_run}", f"label={label}", "n=2", f"npz={npz}")
    assert result.returncode == 0, result.stderr[-2000:]
    import numpy as np

    assert np.load(npz)["labels"].tolist() == [row, row]


@pytest.mark.slow
def test_a_collapsed_posterior_is_said_in_the_log_and_results(tmp_path):
    """kl_weight=100 drives every encoder mean to the prior's: no active unit, which the run must say."""
    run_dir = tmp_path / "run"
    result = run_script("ssgen-train", *M1_HEADS, "trainer.max_epochs=1", "+trainer.limit_train_batches=30",
                        "method.kl_weight=100", "method.callbacks.svm_head.raw_pixel_baseline=false",
                        f"hydra.run.dir={run_dir}", timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    final = results(run_dir)
    assert final["status"] == "ok" and final["active_units"] == 0
    assert any("posterior collapse" in warning for warning in final["warnings"])
    assert "posterior collapse" in (run_dir / "train.log").read_text()  # the run's log (Hydra also prints it)
