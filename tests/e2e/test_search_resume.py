"""Issue 38, item 5: an Optuna search (experiment=m1_tune / gan_tune) keeps its study in SQLite beside the sweep, so
the same command, relaunched after a stop (here the hardest: SIGKILL), continues it: the finished trials stay, the stopped one resumes in its own
dir, n_trials counts them all (lightning-hydra-template#535)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

SEARCH = ["-m", "experiment=m1_tune", "hydra.sweeper.n_trials=2", "trainer.max_epochs=1", "+trainer.limit_train_batches=3",
          "trainer.enable_progress_bar=false", "method.callbacks.svm_head.cv_folds=2",
          "method.callbacks.svm_head.graph_nodes=2000", "method.callbacks.svm_head.raw_pixel_baseline=false",
          "arch=vae_mlp", "torch_threads=1"]


def command(sweep):
    return ["ssgen-train", *SEARCH, f"hydra.sweep.dir={sweep}"]


def env():
    return {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_a_stopped_search_continues_where_it_stopped(tmp_path):
    import optuna

    sweep = tmp_path / "tune"
    process = subprocess.Popen(command(sweep), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env())
    deadline = time.time() + 600
    while time.time() < deadline and not list(sweep.glob("1_*/results.json")):  # the second trial has started
        time.sleep(0.5)
    process.send_signal(signal.SIGKILL)  # a lost machine: the trial stays RUNNING in the study, "running" on disk
    process.communicate(timeout=300)
    (first,) = sweep.glob("0_*/results.json")
    assert json.loads(first.read_text())["status"] == "ok"
    stamp = first.stat().st_mtime_ns

    again = subprocess.run(command(sweep), capture_output=True, text=True, timeout=900, env=env())
    assert again.returncode == 0, again.stderr[-3000:]
    jobs = sorted(sweep.glob("*/results.json"))
    assert [path.parent.name[:2] for path in jobs] == ["0_", "1_"]  # the stopped trial resumed in its own dir
    assert all(json.loads(path.read_text())["status"] == "ok" for path in jobs)
    assert first.stat().st_mtime_ns == stamp  # the finished trial was left as it was
    study = optuna.load_study(study_name="m1_tune", storage=f"sqlite:///{sweep}/optuna.db")
    assert [trial.state.name for trial in study.trials] == ["COMPLETE", "FAIL", "COMPLETE"]  # the stop, then its rerun
    assert study.trials[1].params == study.trials[2].params
    assert (sweep / "optimization_results.yaml").is_file()

    # a search with other settings is not mixed into this study
    other = subprocess.run([*command(sweep), "data.n_labels=200"], capture_output=True, text=True, timeout=300, env=env())
    assert other.returncode == 2
    assert other.stderr.strip().startswith("ssgen-train: error: study m1_tune in sqlite:///") and \
        "data.n_labels=200 here" in other.stderr and "\n" not in other.stderr.strip()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_a_trial_stopped_by_a_signal_ends_interrupted_in_its_dir_and_in_the_study(tmp_path, name):
    """Issue 39: a stop inside a trial records ``interrupted`` (never ``running``) in the trial's results.json and tells
    the study the trial ended (FAIL, never RUNNING for good), exits 2 starting no further trial, and the same command
    resumes that trial in its own dir."""
    import optuna
    from conftest import run_script

    sweep = tmp_path / "tune"
    probe = ["+callbacks.probe._target_=stop_probe.SignalAtBatch", f"+callbacks.probe.signal={name}",
             "+callbacks.probe.dir_prefix=1_"]  # the second trial, at its third batch
    stopped = run_script(*command(sweep), *probe, timeout=900)
    assert stopped.returncode == 2, stopped.stderr[-3000:]
    assert f"ssgen-train: error: interrupted ({name}Exception); last.ckpt saved: resume with `ssgen-train " in stopped.stderr
    assert "the sweep stopped and started no further job" in stopped.stderr
    statuses = {path.parent.name[:2]: json.loads(path.read_text())["status"] for path in sweep.glob("*/results.json")}
    assert statuses == {"0_": "ok", "1_": "interrupted"}
    study = optuna.load_study(study_name="m1_tune", storage=f"sqlite:///{sweep}/optuna.db")
    assert [trial.state.name for trial in study.trials] == ["COMPLETE", "FAIL"]

    again = run_script(*command(sweep), *probe, timeout=900)  # the same command: the probe fires once per dir
    assert again.returncode == 0, again.stderr[-3000:]
    jobs = sorted(sweep.glob("*/results.json"))
    assert [path.parent.name[:2] for path in jobs] == ["0_", "1_"]  # resumed in its own dir, no third trial
    assert all(json.loads(path.read_text())["status"] == "ok" for path in jobs)
    study = optuna.load_study(study_name="m1_tune", storage=f"sqlite:///{sweep}/optuna.db")
    assert [trial.state.name for trial in study.trials] == ["COMPLETE", "FAIL", "COMPLETE"]
    assert study.trials[1].params == study.trials[2].params
    # a third launch finds the search complete: the stopped trial and its rerun count once
    third = run_script(*command(sweep), *probe, timeout=900)
    assert third.returncode == 0 and len(optuna.load_study(study_name="m1_tune", storage=f"sqlite:///{sweep}/optuna.db").trials) == 3
