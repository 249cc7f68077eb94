"""A full disk, a read-only or a vanished dir at any write is one StorageError line naming the path, whatever class
the writer raised: ``torch.save`` on a full file system raises RuntimeError from its zip writer, not OSError (issue 39,
item 9). The real full disk is tests/e2e/test_full_disk.py (a small tmpfs); these fake what the file system says."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
import torch
from conftest import FAST, compose_config

import ssgen.io
from ssgen.callbacks.checkpointing import AtomicCheckpointIO
from ssgen.errors import StorageError
from ssgen.io import as_storage_error, atomic_write, atomic_write_json
from ssgen.run.results import read_results, write_results

FIX = "free space or choose another hydra.run.dir"
ZIP_WRITER = "[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534"  # torch.save on a full disk


@pytest.fixture
def full_below(monkeypatch):
    """``full_below(dir)``: from then on the file system of ``dir`` (and below) reports no free block, as a full
    tmpfs does; elsewhere the real numbers."""
    real = os.statvfs
    full: list[str] = []

    def statvfs(path):
        stats = real(path)
        if any(str(Path(path).absolute()).startswith(prefix) for prefix in full):
            return os.statvfs_result((stats.f_bsize, stats.f_frsize, stats.f_blocks, 0, 0, stats.f_files,
                                      stats.f_ffree, stats.f_favail, stats.f_flag, stats.f_namemax))
        return stats

    monkeypatch.setattr(os, "statvfs", statvfs)
    return lambda directory: full.append(str(Path(directory).absolute()))


def test_a_writer_that_raises_runtimeerror_on_a_full_disk_is_one_storage_line(tmp_path, full_below):
    path = tmp_path / "run" / "checkpoints" / "last.ckpt"
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(b"the first epoch's"))
    full_below(tmp_path)

    def zip_writer_fails(tmp: str) -> None:
        Path(tmp).write_bytes(b"half a checkpoint")
        raise RuntimeError(ZIP_WRITER)

    with pytest.raises(StorageError) as error:
        atomic_write(path, zip_writer_fails, fix=FIX)
    assert str(error.value) == f"cannot write {path}: No space left on device; {FIX}"
    assert path.read_bytes() == b"the first epoch's" and [p.name for p in path.parent.iterdir()] == ["last.ckpt"]


def test_the_oserror_inside_another_class_names_the_reason(tmp_path):
    def wrapped(tmp: str) -> None:
        try:
            raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))
        except OSError:
            raise RuntimeError(ZIP_WRITER)  # noqa: B904 - the context is what a writer like torch.save leaves

    with pytest.raises(StorageError, match=rf"^cannot write {tmp_path / 'x.ckpt'}: Disk quota exceeded; "):
        atomic_write(tmp_path / "x.ckpt", wrapped)


def test_a_writers_own_bug_on_a_healthy_disk_is_not_called_a_full_disk(tmp_path):
    def bug(tmp: str) -> None:
        raise RuntimeError("a bug in the writer")

    with pytest.raises(RuntimeError, match="a bug in the writer"):
        atomic_write(tmp_path / "x.json", bug)
    assert list(tmp_path.iterdir()) == []


def test_a_checkpoint_into_a_vanished_run_dir_is_refused_not_made_anew(tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(StorageError) as error:
        AtomicCheckpointIO().save_checkpoint({"global_step": 3}, run_dir / "checkpoints" / "last.ckpt")
    assert str(error.value) == (f"cannot write {run_dir / 'checkpoints' / 'last.ckpt'}: {run_dir} has vanished (deleted or "
                                f"unmounted); {FIX}")
    assert not run_dir.exists()


def test_results_json_is_rewritten_in_place_when_not_even_a_temp_file_fits(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    write_results(run_dir, {"status": "running"})

    def no_room(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ssgen.io.tempfile, "mkstemp", no_room)
    write_results(run_dir, {"status": "failed: StorageError: cannot write ..."})
    assert read_results(run_dir)["status"] == "failed: StorageError: cannot write ..."
    assert sorted(p.name for p in run_dir.iterdir()) == ["results.json"]


def test_run_level_failures_from_any_writer_become_the_storage_line(tmp_path, full_below):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    tb_error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # TensorBoard's writer, no file name
    assert str(as_storage_error(tb_error, run_dir, FIX)) == f"cannot write {run_dir}: No space left on device; {FIX}"
    missing = FileNotFoundError(errno.ENOENT, "No such file or directory", str(run_dir / "tb" / "events"))
    assert str(as_storage_error(missing, run_dir, FIX)).startswith(f"cannot write {run_dir / 'tb' / 'events'}: No such")
    assert as_storage_error(FileNotFoundError(errno.ENOENT, "gone", "/data/elsewhere"), run_dir, FIX) is None
    assert as_storage_error(RuntimeError(ZIP_WRITER), run_dir, FIX) is None  # a healthy disk: not storage's fault
    full_below(run_dir)
    assert str(as_storage_error(RuntimeError(ZIP_WRITER), run_dir, FIX)).endswith(f": No space left on device; {FIX}")


def test_a_run_whose_checkpoint_save_raises_runtimeerror_on_a_full_disk_records_failed(tmp_path, monkeypatch, full_below):
    """The issue's case in process: the second epoch's save fails as torch.save fails on a full disk (RuntimeError);
    the run ends as one StorageError line, results.json says failed (not running), the first epoch's last.ckpt is whole."""
    run_dir = tmp_path / "run"
    original, saves = torch.save, []

    def disk_fills_up(obj, f, *args, **kwargs):
        if "last.ckpt" not in str(f):
            return original(obj, f, *args, **kwargs)
        saves.append(f)
        if len(saves) == 1:
            return original(obj, f, *args, **kwargs)
        Path(f).write_bytes(b"half a checkpoint")
        full_below(run_dir)
        raise RuntimeError(ZIP_WRITER)

    monkeypatch.setattr(torch, "save", disk_fills_up)
    from ssgen.train import train

    with pytest.raises(StorageError) as error:
        train(compose_config([*FAST, f"run_dir={run_dir}", "method.callbacks.svm_head=null", "trainer.max_epochs=2",
                              "callbacks.last_checkpoint.every_n_train_steps=0"]))
    last = run_dir / "checkpoints" / "last.ckpt"
    assert str(error.value) == f"cannot write {last}: No space left on device; {FIX}"
    assert json.loads((run_dir / "results.json").read_text())["status"] == f"failed: StorageError: {error.value}"
    monkeypatch.setattr(torch, "save", original)
    assert torch.load(last, weights_only=True)["global_step"] == 3
    assert not list(run_dir.rglob("*.tmp*"))


def test_json_writes_name_the_file_on_a_read_only_dir(tmp_path, monkeypatch):
    def read_only(src, dst):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(dst))

    monkeypatch.setattr(ssgen.io.os, "replace", read_only)
    with pytest.raises(StorageError, match=rf"^cannot write {tmp_path / 'a.json'}: Read-only file system; "):
        atomic_write_json(tmp_path / "a.json", {})
