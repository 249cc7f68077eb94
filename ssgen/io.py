"""Files as a command meets them: atomic writes (a crash never leaves a half-written file that looks complete), a
storage fault of any writer as one line, a command's inputs guarded against its own outputs, a dir held by one
process, and file names printed whatever bytes they hold.

    atomic_write_json("out/metrics.json", report)      # StorageError 'cannot write ...: No space left on device; ...'
    with reading_inputs():                              # a console script's body: what it reads it never writes
        add_inputs(["batch.npz"], "images=batch.npz")
        atomic_write("batch.npz", ...)                  # ConfigError: it is images=batch.npz, an input of this command
    with DirLock("outputs/m1/run").held(): ...          # DirBusy naming the live process that holds it
    print(display_path(os.fsdecode(b"caf\\xe9.png")))   # caf\\xe9.png: a name that is not UTF-8, escaped
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import glob
import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from ssgen.errors import ConfigError, SSGenError, StorageError

WRITE_FIX = "free space there or write somewhere else"
RUN_DIR_FIX = "free space or choose another hydra.run.dir"  # what ssgen-train says for a file of its run dir


def printable(text: str) -> str:
    """``text`` with every byte that is not UTF-8 (a file name Python handed over with surrogate escapes) shown as
    ``\\xNN``: it then prints, encodes and goes into a CSV anywhere; text that is UTF-8 comes back unchanged."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate no OS name decodes to (outside U+DC80..U+DCFF): escaped as Python writes it
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def display_path(path: str | Path | bytes) -> str:
    """``path`` as text that prints and encodes anywhere (``printable``): a name whose bytes are not UTF-8 (a file
    from a Windows zip or an SMB share) shows each such byte as ``\\xNN`` (``caf\\xe9_1.png``); any other name is
    unchanged."""
    return printable(os.fsdecode(path) if isinstance(path, bytes) else str(path))


def storage_error(path: str | Path, exc: OSError, fix: str = WRITE_FIX) -> StorageError:
    """The one line a failed write becomes: ``cannot write <path>: <reason>; <fix>`` (the reason as the OS says it:
    'No space left on device', 'Read-only file system', 'Permission denied', ...)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return StorageError(f"cannot write {display_path(path)}: {reason}; {fix}")


# errnos that say the storage, not the code, made a write fail (a read-only or vanished dir, a full disk or quota)
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT,
                            errno.ENOTDIR, errno.EIO, errno.EFBIG})
FULL_MARGIN = 1 << 20  # bytes: a file system with less room than this after a failed write was full for it


def oserror_in(exc: BaseException) -> OSError | None:
    """The first OSError in ``exc``'s chain (itself, its ``__cause__`` or ``__context__``, ...), or None: a writer
    may wrap the OS's error in its own class (``torch.save`` raises RuntimeError from its zip writer)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def storage_fault(directory: str | Path, exc: BaseException) -> OSError | None:
    """Why a write into ``directory`` failed when the storage is the cause, whatever class the writer raised: an
    OSError with a storage errno in the chain (``oserror_in``), else what the file system says now (checked before
    the failed temp file is removed, so a full disk still looks full): a vanished dir (ENOENT), a read-only one
    (EROFS, EACCES), or less than ``FULL_MARGIN`` bytes left (ENOSPC). None when the storage is fine: the error is
    the writer's own and is raised as it is."""
    found = oserror_in(exc)
    if found is not None:
        return found if found.errno in STORAGE_ERRNOS or found.errno is None else None
    directory = Path(directory)
    if not directory.is_dir():
        return FileNotFoundError(errno.ENOENT, f"{display_path(directory)} has vanished (deleted or unmounted)")
    try:
        stats = os.statvfs(directory)
    except OSError as error:
        return error
    if stats.f_flag & os.ST_RDONLY:
        return OSError(errno.EROFS, os.strerror(errno.EROFS))
    if not os.access(directory, os.W_OK | os.X_OK):
        return PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    free = (stats.f_bfree if os.geteuid() == 0 else stats.f_bavail) * stats.f_frsize  # root may use reserved blocks
    if free < FULL_MARGIN:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return None


def as_storage_error(exc: BaseException, directory: str | Path, fix: str = WRITE_FIX) -> StorageError | None:
    """Work in ``directory`` (a run dir) that failed because its storage did (a full disk, a read-only or vanished
    dir), whatever class the writer raised (``torch.save`` raises RuntimeError on a full disk, TensorBoard its own
    errors), as the one line ``cannot write <path>: <reason>; <fix>``; None for any other failure. An OSError names
    its file when that is in ``directory``; a write-only errno (no space, quota, read-only, too big) counts
    wherever; an error of another class counts when the file system says so now (``storage_fault``)."""
    if isinstance(exc, StorageError):
        return exc
    directory = Path(directory)
    found = oserror_in(exc)
    if found is not None:
        name = Path(os.fsdecode(found.filename)) if isinstance(found.filename, str | bytes) else None
        inside = name is not None and os.path.abspath(name).startswith(os.path.abspath(directory) + os.sep)
        if found.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG) or inside:
            return storage_error(name if inside and name is not None else directory, found, fix)
        return None
    fault = storage_fault(directory, exc)
    return storage_error(directory, fault, fix) if fault is not None else None


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
                 fix: str = WRITE_FIX, within: str | Path | None = None) -> Path:
    """Call ``write(tmp_path)`` on a temp file in the same directory, then rename it onto ``path``.

    The rename is atomic on POSIX, so readers see either the old file or the complete new one; the temp file
    is beside ``path``, never in the system temp dir, so a small ``$TMPDIR`` does not matter.
    ``clear_leftovers``: afterwards delete other temps of ``path``, which only a killed earlier write (SIGKILL
    runs no cleanup) can have left; only for a file a single process owns, such as a run's checkpoints.
    ``within``: a dir that must already exist (a run dir): missing dirs below it are made, but a vanished one is
    a StorageError rather than made anew with only this file in it.
    Raises StorageError (``storage_error``, ending in ``fix``) when the dir cannot be made or the file written
    (disk full, read-only, vanished), whatever class ``write`` raises for it (``storage_fault``); the old file is
    then left as it was and no temp file stays behind. Raises ConfigError when ``path`` is an input of the running
    command (``reading_inputs``).
    """
    path = Path(path)
    refuse_input(path)
    prefix, suffix = f".{path.name}.", ".tmp" + path.suffix
    if within is not None and not Path(within).is_dir():
        raise storage_error(path, FileNotFoundError(errno.ENOENT, f"{display_path(within)} has vanished (deleted or "
                                                                  "unmounted)"), fix)
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
        # asked while the failed temp file still holds its room: a disk the write filled still looks full
        fault = storage_fault(path.parent, exc) if isinstance(exc, Exception) else None
        with contextlib.suppress(OSError):
            if os.path.exists(tmp):
                os.unlink(tmp)
        if fault is not None:
            raise storage_error(path, fault, fix) from exc
        raise
    if clear_leftovers:
        for leftover in path.parent.glob(f"{glob.escape(prefix)}*{suffix}"):
            leftover.unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | Path, text: str, fix: str = WRITE_FIX) -> Path:
    """``atomic_write`` of a UTF-8 text file; a file name in it that is not UTF-8 is written with ``\\xNN`` escapes
    (``printable``) rather than raising. Raises StorageError."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(printable(text), encoding="utf-8"), fix=fix)


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


# ------------------------------------------------------------------------------------------------ inputs
# (device, inode) of every file the running command reads -> how the command names it (images=batch.npz). Compared by
# identity, not spelling: ./batch.npz, an absolute path, a symlink or a hard link to it are all the same file.
_INPUTS: dict[tuple[int, int], str] = {}


def file_identity(path: str | Path) -> tuple[int, int] | None:
    """``(device, inode)`` of an existing file (a symlink followed), None when there is none."""
    try:
        stat = os.stat(path)
    except (OSError, ValueError):
        return None
    return stat.st_dev, stat.st_ino


def add_inputs(paths: Iterable[str | Path], what: str) -> None:
    """Record ``paths`` (files; a dir adds every file below it) as inputs of the running command, named ``what``
    in a refusal (``images=batch.npz``, ``the run's checkpoint``); outside ``reading_inputs`` nothing is recorded."""
    if _INPUT_SCOPES == 0:
        return
    for path in paths:
        path = Path(path)
        files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
        for file in files:
            identity = file_identity(file)
            if identity is not None:
                _INPUTS.setdefault(identity, what)


_INPUT_SCOPES = 0


@contextlib.contextmanager
def reading_inputs() -> Iterator[None]:
    """The body of a command that must never write over what it reads (``ssgen-predict``, ``-generate``, ``-evaluate``,
    ``-report``, ``-export``): inputs recorded in it with ``add_inputs`` are refused as outputs by ``atomic_write`` and
    ``check_output``. Re-entrant; the record is cleared when the outermost block ends."""
    global _INPUT_SCOPES
    _INPUT_SCOPES += 1
    try:
        yield
    finally:
        _INPUT_SCOPES -= 1
        if _INPUT_SCOPES == 0:
            _INPUTS.clear()


def input_named(path: str | Path) -> str | None:
    """How the running command names the input ``path`` is (same device and inode), or None."""
    identity = file_identity(path)
    return _INPUTS.get(identity) if identity is not None else None


def check_output(path: str | Path, key: str) -> None:
    """Refuse (ConfigError, one line) an output ``<key>=<path>`` that is one of the command's inputs, before anything
    is written; ``key``: the option as the user wrote it (``out``, ``npz``, ``out_dir``)."""
    what = input_named(path)
    if what is not None:
        raise ConfigError(f"{key}={display_path(path)} is {what}, which this command reads; writing it would replace "
                          f"that input: give {key}= another path")


def refuse_input(path: str | Path) -> None:
    """``atomic_write``'s guard: a write onto an input of the running command is a ConfigError (``check_output``
    names the option first where a command knows it; this catches every other writer)."""
    what = input_named(path)
    if what is not None:
        raise ConfigError(f"refusing to write {display_path(path)}: it is {what}, which this command reads; write "
                          "somewhere else")


# ------------------------------------------------------------------------------------------------ held dirs
LOCK_FILE = ".ssgen.lock"


class DirBusy(SSGenError):
    """A dir is held by another live process (``DirLock``); ``holder`` describes it (pid, host, since, command)."""

    def __init__(self, directory: Path, holder: dict[str, Any]) -> None:
        self.directory, self.holder = directory, holder
        super().__init__(f"{display_path(directory)} is in use by {describe_holder(holder)}")


def describe_holder(holder: dict[str, Any]) -> str:
    """'pid 4242 on host gpu1 since 2026-12-07 06:07:09 (ssgen-train seed=0)': who holds a dir, as its lock file says."""
    if not holder.get("pid"):
        return "another process (it has not said which yet)"
    where = f" on host {holder['host']}" if holder.get("host") and holder["host"] != socket.gethostname() else ""
    since = f" since {holder['since']}" if holder.get("since") else ""
    command = str(holder.get("command") or "")
    command = command if len(command) <= 100 else command[:97] + "..."
    return f"pid {holder['pid']}{where}{since}" + (f" ({printable(command)})" if command else "")


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 8192)
        holder = json.loads(data.decode("utf-8", "replace")) if data else {}
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


class DirLock:
    """A dir that one process at a time works in: ``fcntl.flock`` on ``<dir>/.ssgen.lock``, which holds the holder's
    pid, host, start time and command line while it is held. The kernel drops the lock when its process ends, however
    it ends (SIGKILL and power loss included), so a dead process never holds a dir: a lock file it left behind is
    taken over by the next launch. The file is removed on release, and a dir the lock made is removed again if
    nothing was written in it (a refused launch leaves no trace).

    Held per process and counted: ``acquire`` in a process that already holds the dir only counts up, so a Hydra
    callback and ``train`` can both hold it; whatever is still held at exit is released then. (The standard library's
    flock rather than the ``filelock`` package: filelock reports no holder for its flock backend, and the refusal
    must name the process.)"""

    _held: dict[str, list[Any]] = {}  # realpath -> [fd, count, lock]: flock is per open file, so one per process

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.made_dir = False

    @property
    def key(self) -> str:
        return os.path.realpath(self.directory)

    @property
    def path(self) -> Path:
        """The lock file."""
        return self.directory / LOCK_FILE

    def acquire(self, fix: str = WRITE_FIX) -> None:
        """Make the dir if missing and hold it. Raises DirBusy when a live process holds it, StorageError when the
        lock file cannot be written. A file system without flock (ENOLCK, some network mounts) is held without it."""
        if self.key in DirLock._held:
            DirLock._held[self.key][1] += 1
            return
        self.made_dir = not self.directory.exists()
        make_dir(self.directory, fix)
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)  # never O_TRUNC: it would erase the holder
            except OSError as exc:
                raise storage_error(self.path, exc, fix) from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    holder = _read_holder(fd)
                    os.close(fd)
                    self._tidy()
                    raise DirBusy(self.directory, holder) from None
                if exc.errno not in (errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP):
                    os.close(fd)
                    raise storage_error(self.path, exc, fix) from exc
            # a holder that was releasing may have removed the file between our open and our flock: then what we
            # hold is no longer the dir's lock file, and another launch could take a new one; try again
            if file_identity(self.path) == (os.fstat(fd).st_dev, os.fstat(fd).st_ino):
                break
            os.close(fd)
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
                  "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else ""}
        with contextlib.suppress(OSError):  # the lock holds without its label (a full disk): the refusal says less
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps(holder).encode("utf-8", "backslashreplace"))
        if not DirLock._held:
            atexit.register(DirLock.release_all)
        DirLock._held[self.key] = [fd, 1, self]

    def release(self) -> None:
        """Count down; the last release of this process removes the lock file and lets the dir go."""
        entry = DirLock._held.get(self.key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] > 0:
            return
        del DirLock._held[self.key]
        owner: DirLock = entry[2]
        with contextlib.suppress(OSError):
            os.unlink(owner.path)  # while still held: a waiting launch that opened it sees the swap and retries
        os.close(entry[0])  # closing this process's only descriptor of the file drops the flock
        owner._tidy()

    def _tidy(self) -> None:
        """Remove the dir again when this lock made it and nothing else was written there."""
        if self.made_dir:
            with contextlib.suppress(OSError):
                if not any(self.directory.iterdir()):
                    self.directory.rmdir()

    @staticmethod
    def release_all() -> None:
        """Release every dir this process holds (at exit)."""
        for entry in list(DirLock._held.values()):
            entry[1] = 1
            entry[2].release()

    @contextlib.contextmanager
    def held(self, fix: str = WRITE_FIX) -> Iterator[DirLock]:
        """``acquire`` for the ``with`` block, then ``release``."""
        self.acquire(fix)
        try:
            yield self
        finally:
            self.release()

    def holder(self) -> dict[str, Any] | None:
        """Who holds the dir now, without taking it: the holder's label, or None when no other process does (no lock
        file, nobody holding it, or this process)."""
        if self.key in DirLock._held:
            return None
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_holder(fd) if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES) else None
            os.close(fd)
            return holder
        os.close(fd)
        return None
