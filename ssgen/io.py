"""Atomic artifact writes: a crash never leaves a half-written file that looks complete."""

from __future__ import annotations

import glob
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ssgen.errors import StorageError

WRITE_FIX = "free space there or write somewhere else"
RUN_DIR_FIX = "free space or choose another hydra.run.dir"  # what ssgen-train says for a file of its run dir


def storage_error(path: str | Path, exc: OSError, fix: str = WRITE_FIX) -> StorageError:
    """The one line a failed write becomes: ``cannot write <path>: <reason>; <fix>`` (the reason as the OS says it:
    'No space left on device', 'Read-only file system', 'Permission denied', ...)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return StorageError(f"cannot write {path}: {reason}; {fix}")


def check_writable(directory: str | Path, fix: str = RUN_DIR_FIX, name: str | Path | None = None) -> None:
    """Refuse a dir that cannot be made or written, before anything is: the nearest existing ancestor must be a
    writable dir (``os.access``; root passes it except on a read-only file system). Raises StorageError naming
    ``name`` (default: the dir)."""
    name = directory if name is None else name
    directory = Path(directory).expanduser().absolute()
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise storage_error(name, NotADirectoryError(20, f"{existing} is a file, not a dir"), fix)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise storage_error(name, PermissionError(13, f"{existing} is not writable"), fix)


def make_dir(directory: str | Path, fix: str = RUN_DIR_FIX) -> Path:
    """``mkdir -p`` after ``check_writable``; raises StorageError rather than an OSError traceback."""
    directory = Path(directory)
    check_writable(directory, fix)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(directory, exc, fix) from exc
    return directory


def atomic_write(path: str | Path, write: Callable[[str], Any], clear_leftovers: bool = False,
                 fix: str = WRITE_FIX) -> Path:
    """Call ``write(tmp_path)`` on a temp file in the same directory, then rename it onto ``path``.

    The rename is atomic on POSIX, so readers see either the old file or the complete new one; the temp file
    is beside ``path``, never in the system temp dir, so a small ``$TMPDIR`` does not matter.
    ``clear_leftovers``: afterwards delete other temps of ``path``, which only a killed earlier write (SIGKILL
    runs no cleanup) can have left; only for a file a single process owns, such as a run's checkpoints.
    Raises StorageError (``storage_error``, ending in ``fix``) when the dir cannot be made or the file written
    (disk full, read-only); the old file is then left as it was and no temp file stays behind.
    """
    path = Path(path)
    prefix, suffix = f".{path.name}.", ".tmp" + path.suffix
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
    except OSError as exc:
        check_writable(path.parent, fix, name=path)  # "<ancestor> is a file" says more than mkdir's "File exists"
        raise storage_error(path, exc, fix) from exc
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; artifacts should read like any other file
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise storage_error(path, exc, fix) from exc
        raise
    if clear_leftovers:
        for leftover in path.parent.glob(f"{glob.escape(prefix)}*{suffix}"):
            leftover.unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | Path, text: str, fix: str = WRITE_FIX) -> Path:
    """``atomic_write`` of a text file. Raises StorageError."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text), fix=fix)


def atomic_write_json(path: str | Path, payload: Any, fix: str = WRITE_FIX) -> Path:
    """``atomic_write`` of ``payload`` as indented, key-sorted JSON (numpy scalars and paths converted). Raises
    StorageError."""
    return atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True, default=_json_default) + "\n", fix)


def save_figure(figure: Any, path: str | Path, **kwargs: Any) -> Path:
    """Save a matplotlib figure atomically (format from the suffix of ``path``)."""
    fmt = Path(path).suffix.lstrip(".") or "png"
    return atomic_write(path, lambda tmp: figure.savefig(tmp, format=fmt, **kwargs))


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
