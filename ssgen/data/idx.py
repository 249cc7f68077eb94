"""IDX files (MNIST's format: a big-endian header, then uint8 pixels or labels): read, write, digest.

    images = read_idx("train-images-idx3-ubyte.gz")      # (N, 28, 28) uint8
    write_idx("t10k-labels-idx1-ubyte", labels)          # (N,) uint8
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np

from ssgen.data.info import DatasetInfo
from ssgen.data.sets.fashion_mnist import INFO as FASHION_MNIST
from ssgen.errors import DataError

IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049

# (resolved path, size, mtime in ns) -> md5 of the decoded bytes: each file is digested once per process, as it is read
_DIGESTS: dict[tuple[str, int, int], str] = {}


def read_idx(path: str | Path, fix: str | None = None, info: DatasetInfo = FASHION_MNIST) -> np.ndarray:
    """Read one IDX file (optionally .gz, any case): images -> (N, H, W) uint8, labels -> (N,) uint8, where
    ``(H, W)`` is ``info.size`` (28x28 for the MNIST family).

    Checks the magic number and that the payload length matches the header, so a truncated or
    corrupt file fails with a message naming the file instead of a numpy reshape traceback.
    ``fix`` ends each message: by default how to get the data set again (for a file of ``data.root``);
    ssgen-predict passes what to give instead (the user's own file is not to be deleted). Raises DataError.
    """
    path = Path(path)
    fix = fix or f"delete it and {info.fix_hint()}"
    raw = _read_decoded(path, fix)
    if len(raw) < 8:
        raise DataError(f"{path} is truncated ({len(raw)} bytes, no IDX header); {fix}")
    magic = int.from_bytes(raw[0:4], "big")
    count = int.from_bytes(raw[4:8], "big")
    if magic == IMAGE_MAGIC:
        header, shape = 16, (count, *info.size)
        if len(raw) >= 16:
            rows, cols = int.from_bytes(raw[8:12], "big"), int.from_bytes(raw[12:16], "big")
            if (rows, cols) != info.size:
                raise DataError(f"{path} holds {rows}x{cols} images, expected {info.size[0]}x{info.size[1]}; "
                                f"is this {info.title}?")
    elif magic == LABEL_MAGIC:
        header, shape = 8, (count,)
    else:
        raise DataError(f"{path} is not an IDX file (magic number {magic}, expected 2051 or 2049); {fix}")
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise DataError(f"{path} has {len(raw)} bytes but its header promises {expected}: truncated or corrupt; {fix}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def _stat_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def _read_decoded(path: Path, fix: str) -> bytes:
    """The file's bytes, gunzipped when it ends in .gz (any case); its md5 is remembered for ``decoded_md5``."""
    try:
        opener = gzip.open if path.suffix.lower() == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
        _DIGESTS[_stat_key(path)] = hashlib.md5(raw, usedforsecurity=False).hexdigest()
    except (OSError, EOFError) as exc:  # bad gzip stream, truncated gzip, unreadable file
        raise DataError(f"cannot read {path}: {exc}; the file is corrupt or truncated — {fix}") from exc
    return raw


def decoded_md5(path: str | Path, info: DatasetInfo = FASHION_MNIST) -> str:
    """md5 of an IDX file's decoded (gunzipped) bytes: computed once per process per file version. Raises DataError
    for an unreadable file (its message ends in how to get ``info``'s files again)."""
    path = Path(path)
    key = _stat_key(path)
    if key not in _DIGESTS:
        _read_decoded(path, f"delete it and {info.fix_hint()}")
    return _DIGESTS[key]


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write uint8 images (N, H, W) or labels (N,) as an IDX file (gzipped when the name ends in .gz)."""
    array = np.asarray(array, dtype=np.uint8)
    if array.ndim == 3:
        header = IMAGE_MAGIC.to_bytes(4, "big") + len(array).to_bytes(4, "big")
        header += array.shape[1].to_bytes(4, "big") + array.shape[2].to_bytes(4, "big")
    elif array.ndim == 1:
        header = LABEL_MAGIC.to_bytes(4, "big") + len(array).to_bytes(4, "big")
    else:
        raise ValueError(f"IDX writer takes (N, H, W) images or (N,) labels, got shape {array.shape}")
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())
