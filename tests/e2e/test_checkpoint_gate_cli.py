"""The checkpoint gate through every command: a crafted checkpoint runs no code in ssgen-generate, ssgen-evaluate,
ssgen-predict, ssgen-train (M1+M2's frozen M1), ssgen-report's figures or the weights-only copy, and an old checkpoint
still generates; the end-to-end half of tests/unit/models/test_checkpoint_gate.py.

Each crafted file (conftest ``crafted``) asks for ``subprocess.Popen(["touch", <marker>])``: if anything called it, the
marker exists.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pytest
import torch
from conftest import ROUTES, compose_config, crafted, gan_checkpoint, popen, run_script

from ssgen.models.checkpoints import load_module
from ssgen.run.build import build_model


def assert_refused(result: subprocess.CompletedProcess, program: str, path: Path, marker: Path) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith(f"{program}: error: "), result.stderr[-2000:]
    assert str(path) in lines[0] and "which is not one of ssgen's" in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    assert not marker.exists(), "the crafted checkpoint ran code"


@pytest.mark.slow
@pytest.mark.parametrize("route", ROUTES)
def test_generate_refuses_a_crafted_checkpoint(tmp_path, route):
    path, marker = crafted(tmp_path, route)
    out = tmp_path / "samples.png"
    result = run_script("ssgen-generate", f"run={path}", "n=2", f"out={out}")
    assert_refused(result, "ssgen-generate", path, marker)
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("route", ROUTES)
def test_evaluate_refuses_a_crafted_checkpoint(tmp_path, route):
    path, marker = crafted(tmp_path, route)
    out = tmp_path / "metrics.json"
    result = run_script("ssgen-evaluate", f"run={path}", "n_samples=20", f"out={out}")
    assert_refused(result, "ssgen-evaluate", path, marker)
    assert not out.exists()


@pytest.mark.slow
def test_evaluate_refuses_a_crafted_class_in_the_run_dirs_config(tmp_path):
    """A checkpoint without ssgen_module takes its class from .hydra/config.yaml: that name is gated too."""
    marker = tmp_path / "pwned_config"
    path = gan_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt", lambda c: c.pop("ssgen_module"))
    (tmp_path / "run" / ".hydra").mkdir()
    (tmp_path / "run" / ".hydra" / "config.yaml").write_text("method:\n  _target_: subprocess.Popen\n")
    result = run_script("ssgen-evaluate", f"run={path}", "n_samples=20")
    assert_refused(result, "ssgen-evaluate", path, marker)


@pytest.mark.slow
def test_predict_refuses_a_crafted_checkpoint(tmp_path):
    marker = tmp_path / "pwned_predict"
    model_hparams = copy.deepcopy(dict(build_model(compose_config(["method=m2", "run_dir=/tmp/unused"])).hparams))
    model_hparams["arch"]["networks"]["classifier"] = popen(marker)
    path = tmp_path / "run" / "checkpoints" / "last.ckpt"
    path.parent.mkdir(parents=True)
    torch.save({"ssgen_module": "ssgen.models.m2.M2", "hyper_parameters": model_hparams, "state_dict": {}}, path)
    images = tmp_path / "images.npz"
    import numpy as np

    np.savez(images, images=np.random.default_rng(0).integers(0, 256, (2, 28, 28), dtype=np.uint8))  # not blank
    out = tmp_path / "labels.npz"
    result = run_script("ssgen-predict", f"run={tmp_path / 'run'}", f"images={images}", f"out={out}")
    assert_refused(result, "ssgen-predict", path, marker)
    assert not out.exists() and not out.with_suffix(".csv").exists()


@pytest.mark.slow
def test_m1_m2_refuses_a_crafted_m1_checkpoint_before_writing_anything(tmp_path):
    path, marker = crafted(tmp_path, "module")
    run_dir = tmp_path / "m1_m2_run"
    result = run_script("ssgen-train", "method=m1_m2", f"method.m1_checkpoint={path}",
                        f"hydra.run.dir={run_dir}")
    assert_refused(result, "ssgen-train", path, marker)
    assert not run_dir.exists()


@pytest.mark.slow
def test_report_figures_refuse_a_crafted_checkpoint(tmp_path):
    path, marker = crafted(tmp_path, "network")
    run_dir = path.parent.parent
    (run_dir / "results.json").write_text(json.dumps({"method": "dcgan", "family": "gan", "arch": "dcgan",
                                                      "status": "ok", "fid": 5.0, "seed": 0}))
    result = run_script("ssgen-report", "figures", f"runs={tmp_path}", f"out={tmp_path / 'figures'}")
    assert_refused(result, "ssgen-report", path, marker)


@pytest.mark.slow
def test_weights_only_copy_refuses_a_crafted_checkpoint(tmp_path):
    path, marker = crafted(tmp_path, "module")
    result = run_script("python", "-m", "ssgen.models.checkpoints", str(path), str(tmp_path / "copy.ckpt"))
    assert_refused(result, "ssgen.models.checkpoints", path, marker)
    assert not (tmp_path / "copy.ckpt").exists()


@pytest.mark.slow
def test_a_checkpoint_written_before_the_networks_moved_still_loads(tmp_path):
    """Checkpoints of 749c38e-era code name networks at their old homes (ssgen.models.gan.DCGANGenerator, ...)."""
    old_names = {"generator": "ssgen.models.gan.DCGANGenerator", "critic": "ssgen.models.gan.DCGANCritic"}

    def old_layout(checkpoint: dict) -> None:
        for name, target in old_names.items():
            checkpoint["hyper_parameters"]["arch"]["networks"][name]["_target_"] = target

    path = gan_checkpoint(tmp_path / "old.ckpt", old_layout)
    model = load_module(path)
    labels = torch.arange(10)
    assert model.sample(labels, seed=0).shape == (10, 1, 28, 28)
    out = tmp_path / "old.png"
    result = run_script("ssgen-generate", f"run={path}", "n=2", f"out={out}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert out.stat().st_size > 0

    m2 = copy.deepcopy(dict(build_model(compose_config(["method=m2", "run_dir=/tmp/unused"])).hparams))
    for name in ("classifier", "encoder", "decoder"):
        target = m2["arch"]["networks"][name]["_target_"]
        m2["arch"]["networks"][name]["_target_"] = target.replace("ssgen.nets.m2_mlp.", "ssgen.models.m2.")
    state = build_model(compose_config(["method=m2", "run_dir=/tmp/unused"])).state_dict()
    torch.save({"ssgen_module": "ssgen.models.m2.M2", "hyper_parameters": m2, "state_dict": state}, tmp_path / "m2.ckpt")
    assert load_module(tmp_path / "m2.ckpt").predict_labels(torch.zeros(3, 28, 28, dtype=torch.uint8)).shape == (3,)
