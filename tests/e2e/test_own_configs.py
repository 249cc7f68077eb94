"""Issue 38, item 2: a user's own configs, from a --config-dir or hydra.searchpath, are choices of ssgen-train as
they are of any Hydra app (hydra#1259): a preset, a method (ssgen's m1 with another KL weight) and an arch."""

from __future__ import annotations

import json
import os
import subprocess

import pytest


def ssgen_train(*args: str, cwd=None, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(["ssgen-train", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


def write_user_configs(root):
    (root / "experiment").mkdir(parents=True)
    (root / "method").mkdir()
    (root / "arch").mkdir()
    (root / "experiment" / "mine.yaml").write_text(
        "# @package _global_\n# my preset: my method on my arch, a few batches\n"
        "defaults:\n  - override /method: m1_beta\n  - override /arch: vae_tiny\n  - _self_\n"
        "trainer:\n  max_epochs: 1\n  limit_train_batches: 3\n  enable_progress_bar: false\n"
        "label_budgets: [100]\nmethod:\n  callbacks:\n    svm_head:\n      cv_folds: 2\n      graph_nodes: 2000\n"
        "      raw_pixel_baseline: false\ntorch_threads: 1\n")
    (root / "method" / "m1_beta.yaml").write_text(
        "defaults:\n  - m1\n  - _self_\nname: m1_beta\nkl_weight: 0.25\n")
    (root / "arch" / "vae_tiny.yaml").write_text(
        "defaults:\n  - vae_mlp\n  - _self_\nname: vae_tiny\nnetworks:\n  encoder:\n    hidden_dims: [32]\n"
        "    latent_dim: 4\n  decoder:\n    hidden_dims: [32]\n")


@pytest.mark.slow
def test_a_preset_method_and_arch_from_a_config_dir_train(tmp_path):
    write_user_configs(tmp_path / "myconf")
    run_dir = tmp_path / "run"
    result = ssgen_train("--config-dir", str(tmp_path / "myconf"), "experiment=mine", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((run_dir / "results.json").read_text())
    assert (results["status"], results["method"], results["arch"]) == ("ok", "m1_beta", "vae_tiny")
    config = (run_dir / ".hydra" / "config.yaml").read_text()
    assert "kl_weight: 0.25" in config and "latent_dim: 4" in config


@pytest.mark.slow
def test_hydra_searchpath_finds_them_too_and_help_lists_them(tmp_path):
    write_user_configs(tmp_path / "myconf")
    searchpath = f"hydra.searchpath=[file://{tmp_path / 'myconf'}]"
    result = ssgen_train(searchpath, "experiment=mine", "--cfg", "job")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "name: m1_beta" in result.stdout and "name: vae_tiny" in result.stdout
    listed = ssgen_train("--config-dir", str(tmp_path / "myconf"), "--help")
    assert "m1_beta" in listed.stdout and "vae_tiny" in listed.stdout and "mine" in listed.stdout
