"""Issue 39, item 9, on a real full file system: a 35 MB tmpfs as the run dir, where the second epoch's checkpoint
does not fit. ``torch.save`` raises RuntimeError there, not OSError; before, that was exit 1, a 216-line traceback
and results.json ``running``. Now: one line naming the file and what to free, exit 2, results.json ``failed:
StorageError``, the first epoch's last.ckpt whole; with space freed the same command resumes and ends ``ok``.
Needs root to mount (skipped elsewhere)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import torch
from conftest import run_script
from records_e2e import DEBUG, error_lines

FIX = "free space or choose another hydra.run.dir"


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 35 MB tmpfs mounted at ``tmp_path / 'disk'`` (unmounted afterwards); skips where mounting is not permitted."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=35m", "tmpfs", str(disk)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


@pytest.mark.slow
def test_a_really_full_disk_is_one_line_records_failed_and_resumes_once_freed(small_tmpfs):
    run_dir = small_tmpfs / "run"
    command = ["ssgen-train", *DEBUG, "trainer.max_epochs=2", f"hydra.run.dir={run_dir}"]  # vae_mlp: a 21 MB last.ckpt
    full = run_script(*command)
    assert full.returncode == 2, full.stderr[-3000:]
    last = run_dir / "checkpoints" / "last.ckpt"
    assert error_lines(full.stderr) == [f"ssgen-train: error: cannot write {last}: No space left on device; {FIX}"]
    assert "Traceback" not in full.stderr
    assert json.loads((run_dir / "results.json").read_text())["status"] == (
        f"failed: StorageError: cannot write {last}: No space left on device; {FIX}")
    assert torch.load(last, weights_only=True)["global_step"] == 5  # the first epoch's, whole
    assert not list(run_dir.rglob("*.tmp*"))
    subprocess.run(["mount", "-o", "remount,size=120m", str(small_tmpfs)], check=True)  # space freed
    resumed = run_script(*command)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "ok" and results["optimizer_steps"] == 10
