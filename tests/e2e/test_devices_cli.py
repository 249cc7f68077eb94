"""A GPU asked for on a machine without one, through the real ``ssgen-train``: one line naming what there is, before
any dir is made; the end-to-end half of tests/unit/config/test_devices.py."""

from __future__ import annotations

import pytest
from conftest import run_script


@pytest.mark.slow
def test_the_console_script_refuses_a_missing_gpu_before_any_dir_is_made(tmp_path, monkeypatch):
    import torch

    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("this machine has a GPU")
    run_dir = tmp_path / "run"
    result = run_script("ssgen-train", "trainer.accelerator=gpu", f"hydra.run.dir={run_dir}")
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["ssgen-train: error: trainer.accelerator=gpu asks for a GPU but this machine has none (available: "
                     f"cpu ({__import__('os').cpu_count()} cores)); use trainer.accelerator=cpu, or "
                     "trainer.accelerator=auto (the best this machine has)"], result.stderr
    assert not run_dir.exists() and not list(tmp_path.iterdir())
