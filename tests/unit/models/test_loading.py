"""The checkpoint gate's last checks: a diverged run's weights are refused by every loader, and an unreadable
last.ckpt is not offered as its own fix."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import compose_config

import ssgen
from ssgen.data import load_fashion_mnist
from ssgen.errors import CheckpointError
from ssgen.generate import main as generate_main
from ssgen.predict import main as predict_main
from ssgen.run.build import build_model


def diverged_run(tmp_path, *overrides: str):
    """A run dir whose last.ckpt holds NaN weights, as a diverged run leaves it."""
    model = build_model(compose_config(["run_dir=/tmp/unused", *overrides]))
    state = model.state_dict()
    first = next(name for name, tensor in state.items() if tensor.is_floating_point())
    state[first] = torch.full_like(state[first], float("nan"))
    path = tmp_path / "run" / "checkpoints" / "last.ckpt"
    path.parent.mkdir(parents=True)
    cls = type(model)
    torch.save({"ssgen_module": f"{cls.__module__}.{cls.__qualname__}", "hyper_parameters": dict(model.hparams),
                "state_dict": state}, path)
    return tmp_path / "run", first


def one_error_line(capsys, main, argv) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


def test_a_diverged_gan_generates_nothing_and_says_why(tmp_path, capsys):
    run_dir, first = diverged_run(tmp_path, "method=dcgan", "arch.networks.generator.width=8",
                                  "arch.networks.critic.width=8")
    err = one_error_line(capsys, generate_main, [f"run={run_dir}", "n=2", f"out={tmp_path / 'x.png'}"])
    assert "holds non-finite weights" in err and first in err and "the run diverged" in err
    assert not (tmp_path / "x.png").exists()
    with pytest.raises(CheckpointError, match="non-finite weights"):
        ssgen.load(run_dir)


def test_a_diverged_classifier_predicts_nothing_and_says_why(tmp_path, capsys):
    run_dir, _ = diverged_run(tmp_path, "method=m2")
    np.savez(tmp_path / "images.npz", images=load_fashion_mnist()["test_images"][:2].numpy())
    err = one_error_line(capsys, predict_main, [f"run={run_dir}", f"images={tmp_path / 'images.npz'}",
                                                f"out={tmp_path / 'labels.npz'}"])
    assert "holds non-finite weights" in err and not (tmp_path / "labels.npz").exists()


def test_a_truncated_last_ckpt_is_not_offered_as_its_own_fix(tmp_path, m1_run):
    broken = tmp_path / "checkpoints" / "last.ckpt"
    broken.parent.mkdir()
    broken.write_bytes((m1_run / "checkpoints" / "last.ckpt").read_bytes()[:4000])
    with pytest.raises(CheckpointError) as error:
        ssgen.load(broken)
    assert "truncated" in str(error.value) and "delete it to train this run dir afresh" in str(error.value)
    assert "e.g. checkpoints/last.ckpt" not in str(error.value)
