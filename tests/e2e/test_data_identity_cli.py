"""The data's identity through the real ``ssgen-train``: files that are not Fashion-MNIST's are refused in one line
naming them before any dir is made; the end-to-end half of tests/unit/data/test_data_identity.py."""

from __future__ import annotations

import pytest
from conftest import run_script, write_noise

NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@pytest.mark.slow
def test_the_console_script_refuses_unknown_data_before_any_dir_is_made(tmp_path):
    root = write_noise(tmp_path / "noise")
    run_dir = tmp_path / "run"
    result = run_script("ssgen-train", f"data.root={root}", f"hydra.run.dir={run_dir}")
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ssgen-train: error: ") and str(root / NAMES[0]) in lines[0], result.stderr
    assert "data.allow_unknown=true" in lines[0]
    assert not run_dir.exists()
