"""Issue 38, item 1: ssgen-train takes Hydra's whole sweep grammar (glob, choice, range, lists, quoted values), as plain
Hydra does, and the one-line refusals for real mistakes stay (hydra#1052, #1942)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

# a tiny M1: a few batches, one head at N=100 with 2 CV folds, no raw-pixel baseline
TINY_M1 = ["experiment=debug", "trainer.enable_progress_bar=false", "method.callbacks.svm_head.cv_folds=2",
           "method.callbacks.svm_head.graph_nodes=2000", "method.callbacks.svm_head.raw_pixel_baseline=false",
           "torch_threads=1"]


def ssgen_train(*args: str, cwd=None, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(["ssgen-train", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


@pytest.mark.slow  # two trainings: about a minute on an idle 2-core CPU
def test_a_sweep_of_every_grammar_form_runs(tmp_path):
    """glob() and choice() over config groups, range() over a value, a quoted value and a [a,b] list, in one sweep
    of two jobs: the old pre-flight check split each override on commas and refused glob(vae_*)."""
    sweep = tmp_path / "sweep"
    result = ssgen_train("-m", "arch=glob(vae_*)", "method=choice(m1)", "data.n_labels=range(100,101)",
                         "label_budgets=[100]", "seed='0'",
                         *TINY_M1, f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = [json.loads(path.read_text()) for path in sorted(sweep.glob("*/results.json"))]
    assert sorted(job["arch"] for job in jobs) == ["vae_conv", "vae_mlp"]  # glob(vae_*) over conf/arch
    assert {(job["status"], job["method"], job["n_labels"], job["seed"]) for job in jobs} == {("ok", "m1", 100, 0)}


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["-m", "arch=choice(vae_mlp,nope)"], "arch=nope is unknown; choose one of: dcgan, dcgan_softplus, m1_m2_mlp, m2_mlp, "
                                          "mlp_generator, vae_conv, vae_mlp"),
    (["-m", "arch=glob(nothing*)"], "arch=glob(nothing*) matches no option of arch; choose from: dcgan, dcgan_softplus, "
                                    "m1_m2_mlp, m2_mlp, mlp_generator, vae_conv, vae_mlp"),
    (["arch=choice(vae_mlp"], "arch=choice(vae_mlp is not an override Hydra can parse: no viable alternative at input "
                              "'choice(vae_mlp' (quote a value that holds spaces or brackets"),
    (["-m", "hydra/launcher=jobilb"], "hydra/launcher=jobilb is unknown; choose one of: basic, joblib, joblib_local, slurm, "
                                      "submitit_local, submitit_slurm"),
])
def test_a_real_mistake_is_still_one_line_and_writes_nothing(tmp_path, args, message):
    result = ssgen_train(*args, f"hydra.run.dir={tmp_path / 'run'}", f"hydra.sweep.dir={tmp_path / 'sweep'}")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"ssgen-train: error: {message}"), result.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_a_search_takes_interval_and_choice_from_the_command_line(tmp_path):
    """The sweeper forms: interval() and choice() go to Optuna (a config group's choice() too) and the search runs."""
    sweep = tmp_path / "tune"
    result = ssgen_train("-m", "experiment=m1_tune", "hydra.sweeper.n_trials=1", "method.kl_weight=interval(0.2,0.3)",
                         "arch=choice(vae_mlp)", "trainer.max_epochs=1", "+trainer.limit_train_batches=3",
                         *TINY_M1[1:], f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr[-3000:]
    (trial,) = [json.loads(path.read_text()) for path in sweep.glob("*/results.json")]
    assert trial["status"] == "ok" and trial["arch"] == "vae_mlp"
    config = (next(sweep.glob("*/.hydra/config.yaml"))).read_text()
    kl_weight = float(config.split("kl_weight: ")[1].split()[0])
    assert 0.2 <= kl_weight <= 0.3
