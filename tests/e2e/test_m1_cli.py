"""An M1 run through the console scripts: ssgen-predict on the session's tiny M1 run (conftest ``m1_run``), its
refusals, and ``python -m ssgen.models.checkpoints`` (the weights-only copy); the end-to-end half of
tests/unit/models/test_m1.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import run_script

from ssgen.data import load_fashion_mnist
from ssgen.predict import predict


@pytest.mark.slow
def test_predict_round_trip_subprocess(m1_run, tmp_path):
    run_dir = m1_run
    images = load_fashion_mnist()["test_images"][:30].numpy()
    np.savez(tmp_path / "images.npz", images=images)
    result = run_script("ssgen-predict", f"run={run_dir}", f"images={tmp_path / 'images.npz'}",
                        f"out={tmp_path / 'pred.npz'}", timeout=120)
    assert result.returncode == 0, result.stderr
    labels = np.load(tmp_path / "pred.npz")["labels"]
    assert labels.shape == (30,) and labels.dtype == np.int64
    assert np.array_equal(labels, predict(run_dir, torch.from_numpy(images)))
    rows = (tmp_path / "pred.csv").read_text().splitlines()
    assert rows[0] == "index,label,class_name" and len(rows) == 31


@pytest.mark.slow
@pytest.mark.parametrize("images, fragment", [
    (np.zeros((3, 32, 32), dtype=np.uint8), "is not (N, 28, 28)"),
    (np.full((3, 28, 28), 2.0, dtype=np.float32), "float32 pixels span [2, 2]; give floats in [0, 1]"),
    (np.full((3, 28, 28), 300, dtype=np.int32), "outside 0..255"),
])
def test_predict_rejects_bad_images(m1_run, tmp_path, images, fragment):
    run_dir = m1_run
    np.savez(tmp_path / "bad.npz", images=images)
    result = run_script("ssgen-predict", f"run={run_dir}", f"images={tmp_path / 'bad.npz'}",
                        f"out={tmp_path / 'pred.npz'}", timeout=120)
    assert result.returncode == 2 and fragment in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "pred.npz").exists()


@pytest.mark.slow
def test_predict_missing_run_clear_error(tmp_path):
    np.savez(tmp_path / "ok.npz", images=load_fashion_mnist()["test_images"][:2].numpy())
    result = run_script("ssgen-predict", f"run={tmp_path / 'nope'}", f"images={tmp_path / 'ok.npz'}",
                        f"out={tmp_path / 'p.npz'}", timeout=120)
    assert result.returncode == 2 and "nope does not exist; give a .ckpt file or a run dir" in result.stderr


@pytest.mark.slow
def test_model_only_copy_command_line(m1_run, tmp_path):
    done = run_script("ssgen-export", f"run={m1_run}", f"out={tmp_path / 'm1.ckpt'}", timeout=120)
    assert done.returncode == 0 and (tmp_path / "m1.ckpt").is_file(), done.stderr
    wrong = run_script("ssgen-export", f"run={m1_run}", timeout=120)
    assert wrong.returncode == 2 and wrong.stderr.startswith("ssgen-export: error: out=<out.ckpt> is required")
    assert "Traceback" not in wrong.stderr
