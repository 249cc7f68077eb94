"""Reliability: interrupted runs resume exactly, same seed same numbers, safe writes, sweeps survive failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import compose_config, run_script, script_env

import ssgen.train
from ssgen.errors import CheckpointError
from ssgen.io import atomic_write, atomic_write_json
from ssgen.models.checkpoints import load_module
from ssgen.train import train

# 2 epochs of `batches` batches with a checkpoint every 20 optimizer steps: long enough to kill mid-epoch.
# the MLP VAE: a third of the default conv VAE's cost per batch, and what is tested (resume) is the same for both
RESUMABLE = ["trainer.max_epochs=2", "trainer.enable_progress_bar=false", "arch=vae_mlp",
             "callbacks.last_checkpoint.every_n_train_steps=20", "method.callbacks.svm_head=null"]


def launch(run_dir: Path, batches: int = 250) -> subprocess.Popen:
    return subprocess.Popen(["ssgen-train", *RESUMABLE, f"+trainer.limit_train_batches={batches}",
                             f"hydra.run.dir={run_dir}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=script_env())


def wait_for_checkpoint(process: subprocess.Popen, path: Path, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert process.poll() is None, f"run ended before its first checkpoint: {process.stderr.read()[-2000:]}"
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.2)


# SIGTERM is the default tier's resume smoke test (a shorter budget); SIGKILL runs in the slow tier
@pytest.mark.parametrize("kill_signal, batches", [(signal.SIGTERM, 100),
                                                  pytest.param(signal.SIGKILL, 250, marks=pytest.mark.slow)])
def test_killed_run_resumes_to_the_same_step_count(tmp_path, kill_signal, batches):
    run_dir = tmp_path / "run"
    process = launch(run_dir, batches)
    wait_for_checkpoint(process, run_dir / "checkpoints" / "last.ckpt")
    os.kill(process.pid, kill_signal)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode != 0
    if kill_signal == signal.SIGTERM:
        assert "resume with `ssgen-train" in stderr and f"hydra.run.dir={run_dir}`" in stderr and "Traceback" not in stderr
        assert json.loads((run_dir / "results.json").read_text())["status"] == "interrupted"
    else:  # SIGKILL runs no handler: the status written at the start is what a reader sees
        assert json.loads((run_dir / "results.json").read_text())["status"] == "running"
    interrupted_at = json.loads(json.dumps(__import__("torch").load(run_dir / "checkpoints" / "last.ckpt",
                                                                      weights_only=True)["global_step"]))
    assert 0 < interrupted_at < 2 * batches, "the kill must land mid-run for this test to mean anything"
    relaunch = launch(run_dir, batches)  # same run dir: resumes by itself
    _, stderr = relaunch.communicate(timeout=600)
    assert relaunch.returncode == 0, stderr[-2000:]
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "ok"
    assert results["optimizer_steps"] == 2 * batches and results["epochs"] == 2  # exactly an uninterrupted run's
    assert {p.name for p in (run_dir / "checkpoints").iterdir()} == {"last.ckpt"}
    assert (run_dir / "labelled_indices.json").is_file() and list((run_dir / "tb").glob("events.*"))
    assert not list(run_dir.rglob("*.tmp*")), "a temp file was left behind"


def tiny_m1(run_dir: Path, seed: int) -> dict:
    cfg = compose_config(["trainer.max_epochs=1", "+trainer.limit_train_batches=15", "trainer.enable_progress_bar=false",
                          f"run_dir={run_dir}", f"seed={seed}", "method.callbacks.svm_head.transductive=false",
                          "method.callbacks.svm_head.cv_folds=2"])
    return train(cfg)


@pytest.mark.slow
def test_same_seed_same_subset_and_metrics_on_cpu(tmp_path):
    first, second, other = tiny_m1(tmp_path / "a", 0), tiny_m1(tmp_path / "b", 0), tiny_m1(tmp_path / "c", 1)
    indices = [json.loads((tmp_path / d / "labelled_indices.json").read_text())["labelled_indices"] for d in "abc"]
    assert indices[0] == indices[1] != indices[2]
    for key in ("test_accuracy", "macro_f1", "raw_pixel_accuracy", "active_units"):
        assert first[key] == second[key], key
    for n, heads in first["heads"].items():
        for name, metrics in heads.items():
            timing_free = {k: v for k, v in metrics.items() if k != "fit_seconds"}
            assert timing_free == {k: v for k, v in second["heads"][n][name].items() if k != "fit_seconds"}
    assert first["test_accuracy"] != other["test_accuracy"] or first["heads"] != other["heads"]


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "results.json"
    atomic_write_json(path, {"status": "ok"})

    def crash(tmp: str) -> None:
        Path(tmp).write_text('{"status": "half')
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, crash)
    assert json.loads(path.read_text()) == {"status": "ok"}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_truncated_checkpoint_clear_error(tmp_path, m1_run):
    checkpoint = tmp_path / "last.ckpt"
    data = (m1_run / "checkpoints" / "last.ckpt").read_bytes()
    checkpoint.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or not a PyTorch checkpoint"):
        load_module(checkpoint)
    (tmp_path / "random.ckpt").write_bytes(os.urandom(1000))
    with pytest.raises(CheckpointError, match="truncated or not a PyTorch checkpoint"):
        load_module(tmp_path / "random.ckpt")


def test_checkpoint_write_removes_a_killed_writes_temp_file(tmp_path):
    """SIGKILL mid-save leaves `.last.ckpt.<random>.tmp.ckpt`; the next save of last.ckpt clears it."""
    from ssgen.callbacks.checkpointing import AtomicCheckpointIO

    leftover = tmp_path / ".last.ckpt.3jmb36rx.tmp.ckpt"
    leftover.write_bytes(b"half a checkpoint")
    other = tmp_path / ".epoch=1.ckpt.abcd1234.tmp.ckpt"  # another file's temp is not touched
    other.write_bytes(b"x")
    AtomicCheckpointIO().save_checkpoint({"global_step": 7}, tmp_path / "last.ckpt")
    assert {p.name for p in tmp_path.iterdir()} == {"last.ckpt", other.name}
    assert __import__("torch").load(tmp_path / "last.ckpt", weights_only=True)["global_step"] == 7


@pytest.mark.slow
def test_finished_run_trains_on_when_relaunched_with_more_epochs(tmp_path, caplog, monkeypatch):
    budget = ["+trainer.limit_train_batches=3", "trainer.enable_progress_bar=false", f"run_dir={tmp_path}",
              "method.callbacks.svm_head=null"]
    first = train(compose_config(["trainer.max_epochs=1", *budget]))
    assert (first["epochs"], first["optimizer_steps"]) == (1, 3)
    seen_when_training_starts = []
    fit_once = ssgen.train.fit_once

    def read_results_then_fit(cfg, run_dir):
        seen_when_training_starts.append(json.loads((run_dir / "results.json").read_text())["status"])
        return fit_once(cfg, run_dir)

    monkeypatch.setattr(ssgen.train, "fit_once", read_results_then_fit)
    with caplog.at_level("INFO", logger="ssgen"):
        longer = train(compose_config(["trainer.max_epochs=2", *budget]))
    assert "resuming from" in caplog.text  # from epoch 1's checkpoint, not a fresh 2-epoch run
    assert seen_when_training_starts == ["running"]  # not the first run's "ok" and numbers
    assert (longer["epochs"], longer["optimizer_steps"]) == (2, 6)
    assert json.loads((tmp_path / "results.json").read_text())["epochs"] == 2


@pytest.mark.slow
def test_resuming_with_settings_that_change_the_networks_is_refused_in_one_line(tmp_path):
    """A run dir trained with other networks (here: a batch-norm DCGAN critic, the method's default before it became
    spectral, and another width) relaunched with the current settings: one line naming what differs, exit 2,
    results.json and the checkpoint untouched."""
    run_dir = tmp_path / "run"
    tiny = ["experiment=debug", "method=dcgan", "torch_threads=1", "arch.networks.generator.width=8",
            "method.callbacks.quality=null", "method.callbacks.best_checkpoint=null", f"hydra.run.dir={run_dir}"]
    first = run_script("ssgen-train", *tiny, "method.critic_norm=batch", "arch.networks.critic.width=8")
    assert first.returncode == 0, first.stderr[-2000:]
    before = (run_dir / "results.json").read_bytes(), (run_dir / "checkpoints" / "last.ckpt").read_bytes()
    relaunch = run_script("ssgen-train", *tiny, "trainer.max_epochs=2", "arch.networks.critic.width=16")
    assert relaunch.returncode == 2
    error = [line for line in relaunch.stderr.splitlines() if line.startswith("ssgen-train: error:")]
    assert len(error) == 1 and "Traceback" not in relaunch.stderr
    assert "arch.networks.critic.width=8 there, 16 here" in error[0]
    assert "method.critic_norm=batch there, spectral here" in error[0]
    assert ((run_dir / "results.json").read_bytes(), (run_dir / "checkpoints" / "last.ckpt").read_bytes()) == before
    # with the settings it trained with it resumes: test_finished_run_trains_on_when_relaunched_with_more_epochs


def test_a_crash_during_training_is_recorded_not_left_running(tmp_path, monkeypatch):
    def crash(cfg, run_dir):
        raise RuntimeError("inductor: expected stride 1\nlong backend trace")

    monkeypatch.setattr(ssgen.train, "fit_once", crash)
    with pytest.raises(RuntimeError, match="expected stride"):
        train(compose_config([f"run_dir={tmp_path}", "method.callbacks.svm_head=null"]))
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["status"] == "failed: RuntimeError: inductor: expected stride 1"
    assert results["config_hash"] and results["wall_time_s"] >= 0


def test_a_sweep_job_failing_before_it_starts_keeps_the_results_already_there(tmp_path):
    from ssgen.errors import ConfigError
    from ssgen.run.lifecycle import record_failure as _record_failure

    cfg = compose_config([f"run_dir={tmp_path}"])
    _record_failure(cfg, ConfigError("data.n_labels=105 is not a multiple of 10"))  # nothing there: say why
    assert json.loads((tmp_path / "results.json").read_text())["status"] == (
        "failed: ConfigError: data.n_labels=105 is not a multiple of 10")
    atomic_write_json(tmp_path / "results.json", {"status": "ok", "test_accuracy": 0.8})
    _record_failure(cfg, ConfigError("method.n_critic=0 cannot train"))  # e.g. a bad relaunch of a finished run
    assert json.loads((tmp_path / "results.json").read_text()) == {"status": "ok", "test_accuracy": 0.8}
