"""Reliability: interrupted runs resume exactly, same seed same numbers, safe writes, sweeps survive failures; a
run killed mid-epoch and relaunched through the real ssgen-train: tests/e2e/test_reliability_cli.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import compose_config

import ssgen.train
from ssgen.errors import CheckpointError
from ssgen.io import atomic_write, atomic_write_json
from ssgen.models.checkpoints import load_module
from ssgen.train import train


def tiny_m1(run_dir: Path, seed: int) -> dict:
    cfg = compose_config(["trainer.max_epochs=1", "+trainer.limit_train_batches=15", "trainer.enable_progress_bar=false",
                          f"run_dir={run_dir}", f"seed={seed}", "method.callbacks.svm_head.graph_nodes=2000",
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
