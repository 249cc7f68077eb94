"""Storage faults are one line naming the path and the fix, and lose nothing: checkpoints are written beside their
destination (never through the system temp dir); a full disk at a checkpoint save and a read-only run dir. The console
script refusing a run dir it cannot write: tests/e2e/test_storage_cli.py."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path

import pytest
import torch
from conftest import FAST, compose_config

import ssgen.io
from ssgen.errors import StorageError
from ssgen.io import atomic_write_json
from ssgen.train import train

FIX = "free space or choose another hydra.run.dir"


def tiny(run_dir: Path, *overrides: str):
    return compose_config([*FAST, f"run_dir={run_dir}", "method.callbacks.svm_head=null", *overrides])


def test_checkpoints_do_not_go_through_the_system_temp_dir(tmp_path, monkeypatch):
    """A $TMPDIR with no room (here: none at all) must not matter when the run dir has room."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-tmp"))
    run_dir = tmp_path / "run"
    assert train(tiny(run_dir))["status"] == "ok"
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 3
    assert not list(run_dir.rglob("*.tmp*"))


def test_a_full_disk_at_a_checkpoint_save_is_one_line_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    original, saves = torch.save, []

    def disk_fills_up(obj, f, *args, **kwargs):
        if "last.ckpt" not in str(f):
            return original(obj, f, *args, **kwargs)
        saves.append(f)
        if len(saves) == 1:  # the first epoch's checkpoint fits
            return original(obj, f, *args, **kwargs)
        Path(f).write_bytes(b"half a checkpoint")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", disk_fills_up)
    with pytest.raises(StorageError) as error:
        train(tiny(run_dir, "trainer.max_epochs=2", "callbacks.last_checkpoint.every_n_train_steps=0"))
    last = run_dir / "checkpoints" / "last.ckpt"
    assert str(error.value) == f"cannot write {last}: No space left on device; {FIX}"
    assert json.loads((run_dir / "results.json").read_text())["status"] == f"failed: StorageError: {error.value}"
    monkeypatch.setattr(torch, "save", original)
    assert torch.load(last, weights_only=True)["global_step"] == 3  # the first epoch's, whole
    assert not list(run_dir.rglob("*.tmp*"))


def test_a_read_only_run_dir_is_one_line_and_keeps_the_results_there(tmp_path, monkeypatch, caplog):
    run_dir = tmp_path / "run"
    atomic_write_json(run_dir / "results.json", {"status": "interrupted", "epochs": 0})
    before = (run_dir / "results.json").read_bytes()

    def read_only(src, dst):  # what EROFS / a dir the user cannot write does to every rename into it
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(dst))

    monkeypatch.setattr(ssgen.io.os, "replace", read_only)
    with pytest.raises(StorageError) as error:
        train(tiny(run_dir))
    assert str(error.value) == f"cannot write {run_dir / 'results.json'}: Permission denied; {FIX}"
    assert (run_dir / "results.json").read_bytes() == before
    assert sorted(p.name for p in run_dir.iterdir()) == ["results.json"]  # no temp file, nothing else


def test_a_write_that_fails_keeps_the_old_file_and_names_it(tmp_path):
    path = tmp_path / "out" / "results.json"
    atomic_write_json(path, {"status": "ok"})

    def full(tmp: str) -> None:
        Path(tmp).write_text('{"status": "ha')
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(StorageError, match=rf"^cannot write {path}: No space left on device; free space there"):
        ssgen.io.atomic_write(path, full)
    assert json.loads(path.read_text()) == {"status": "ok"} and [p.name for p in path.parent.iterdir()] == ["results.json"]
    with pytest.raises(StorageError, match=rf"cannot write {path}/x.json: {path} is a file, not a dir"):
        atomic_write_json(path / "x.json", {})
    with pytest.raises(StorageError, match=rf"cannot write {path}/run: {path} is a file, not a dir; {FIX}"):
        ssgen.io.make_dir(path / "run")
