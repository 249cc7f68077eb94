"""Finding a data set's four IDX files, identifying them, and loading them into uint8 tensors.

    files = locate_files(root, info=dataset_info("mnist"))   # {"train_images": Path, ...}; DataError if none
    record = identify(files, allow_unknown=False)            # what results.json records as ``data``

Where the files come from, first hit wins:
  1. ``root`` (``data.root``; when None, ``$SSGEN_DATA``): the four IDX files, gzipped or not, in ``root``
     or ``root/<raw_dir>/raw`` (torchvision's layout: ``FashionMNIST/raw``, ``MNIST/raw``, ``KMNIST/raw``);
  2. the data set's system dir (Fashion-MNIST: the Debian package ``dataset-fashion-mnist``);
  3. a torchvision download into ``root`` when online.

IDX files (MNIST's format: a big-endian header, then uint8 pixels or labels) are read, written and digested here too:

    images = read_idx("train-images-idx3-ubyte.gz")      # (N, 28, 28) uint8
    write_idx("t10k-labels-idx1-ubyte", labels)          # (N,) uint8
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ssgen.data.sets import DatasetInfo
from ssgen.data.sets.fashion_mnist import INFO as FASHION_MNIST
from ssgen.errors import DataError
from ssgen.io import add_inputs, display_path

log = logging.getLogger("ssgen")

DATA_ENV = "SSGEN_DATA"  # the data dir used when no root is given
# the same four names for every data set of MNIST's format
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
ALLOW_UNKNOWN_HINT = "set data.allow_unknown=true to train on them anyway"
_WARNED: set[tuple[str, ...]] = set()  # file sets already warned about in this process


def identify(files: dict[str, Path], allow_unknown: bool | None = None,
             info: DatasetInfo = FASHION_MNIST) -> dict[str, Any]:
    """What results.json records about the data: the data set's name, the files read and the md5 of their decoded
    bytes, and whether those are the real set's (``verified``: they match ``info.md5``; None where ssgen knows no
    digests for the set, as for MNIST; Fashion-MNIST's record also keeps its historic key ``fashion_mnist``).

    Files that are not the real set's: ``allow_unknown=False`` (ssgen-train's default, ``data.allow_unknown``)
    raises DataError naming them; True (the user accepted them) and None (a load outside ssgen-train: ssgen-evaluate,
    figures, the evaluator) log a warning naming them, once per process, and the record says so. A set without
    digests is never refused: its record says ``verified: null``, and one line a process says so.
    """
    digests = {key: decoded_md5(files[key], info) for key in IDX_FILES}
    record: dict[str, Any] = {"dataset": info.name, "files": {key: str(files[key]) for key in IDX_FILES},
                              "md5": digests}
    if info.md5 is None:
        record["verified"] = None
        if info.name not in _WARNED:
            _WARNED.add(info.name)
            log.info("%s files are not checked: ssgen knows no digests of the real set's decoded files "
                     "(results.json records those of the files read)", info.title)
        return record
    unknown = [str(files[key]) for key in IDX_FILES if digests[key] != info.md5[key]]
    record["verified"] = not unknown
    if info.name == "fashion_mnist":
        record["fashion_mnist"] = not unknown
    if not unknown:
        return record
    what = (f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not {info.title}'s (the md5 of the decoded "
            "bytes differs from the real set's)")
    if allow_unknown is False:
        where = (f" (`apt-get install -y {info.system_package}` puts them in {info.system_dir})"
                 if info.system_package else "")
        raise DataError(f"{what}; point data.root at the real files{where}, or {ALLOW_UNKNOWN_HINT}")
    record["allow_unknown"] = bool(allow_unknown)
    if tuple(unknown) not in _WARNED:
        _WARNED.add(tuple(unknown))
        log.warning("%s; %s: results.json records their digests", what,
                    "training on them as data.allow_unknown=true asks" if allow_unknown else "using them anyway")
    return record


def data_record(root: str | Path | None, allow_unknown: bool, info: DatasetInfo = FASHION_MNIST) -> dict[str, Any] | None:
    """``identify``'s record of the files a run with ``data.root=root`` will read, when they are on disk already
    (None before a download; the data module identifies what it downloaded). ``validate()`` calls it before any
    dir is made: files that are not the real set's unless ``allow_unknown``, and an ``$SSGEN_DATA`` that does
    not exist, are refused. Raises DataError."""
    files, _ = find_files(root, info)
    return identify(files, allow_unknown, info) if files is not None else None


def find_in(directory: Path, info: DatasetInfo = FASHION_MNIST) -> dict[str, Path] | None:
    """The four files in ``directory`` (plain or .gz, also under ``<raw_dir>/raw``), or None if any is missing."""
    for base in (directory, *([directory / info.raw_dir / "raw"] if info.raw_dir else [])):
        found = {}
        for key, stem in IDX_FILES.items():
            for candidate in (base / stem, base / f"{stem}.gz"):
                if candidate.is_file():
                    found[key] = candidate
                    break
        if len(found) == len(IDX_FILES):
            return found
    return None


def find_files(root: str | Path | None, info: DatasetInfo = FASHION_MNIST) -> tuple[dict[str, Path] | None, list[str]]:
    """The four IDX files in ``root`` (``$SSGEN_DATA`` when None), else (neither given) in the set's system dir,
    without downloading: ``(files or None, what was tried)``. A given dir is never replaced by the system dir's copy. An ``$SSGEN_DATA`` naming no dir is a DataError: it is an
    explicit choice, and falling back to another copy would train on data the user did not point at."""
    tried = []
    source = "data.root"
    if root is None and os.environ.get(DATA_ENV):
        root, source = os.environ[DATA_ENV], DATA_ENV
        if not Path(root).expanduser().is_dir():
            raise DataError(f"{info.title} not found; tried {DATA_ENV}={root} (no IDX files): that dir does not "
                            f"exist; point {DATA_ENV} at the dir with the four IDX files, or unset it")
    if root is not None:
        found = find_in(Path(root).expanduser(), info)
        if found:
            return found, tried
        tried.append(f"{source}={Path(root).expanduser()} (no IDX files)")
        # a dir the user named is where this run's data are: used (a download goes there) or refused, never
        # replaced by another copy that happens to be on the machine
        if info.system_dir is not None and find_in(info.system_dir, info):
            tried.append(f"not {info.system_dir}, which has them: {source} names this run's copy "
                         f"({'unset it' if source == DATA_ENV else 'drop data.root'} to read that one)")
        return None, tried
    if info.system_dir is not None:
        found = find_in(info.system_dir, info)
        if found:
            return found, tried
        tried.append(f"{info.system_dir} (package {info.system_package} not installed)")
    return None, tried


def locate_files(root: str | Path | None, download: bool = True, info: DatasetInfo = FASHION_MNIST) -> dict[str, Path]:
    """Find the four IDX files: ``root`` (``$SSGEN_DATA`` when None), then the set's system dir, then a
    torchvision download into ``root``. Raises DataError, one line naming what was tried and the fixes."""
    found, tried = find_files(root, info)
    if found:
        return found
    if root is None and os.environ.get(DATA_ENV):
        root = os.environ[DATA_ENV]
    root = Path(root).expanduser() if root is not None else None
    if not download:
        tried.append("download disabled (data.download=false)")
    elif info.torchvision_class is None:
        tried.append(f"no download ({info.title} has no torchvision class)")
    else:
        target = root if root is not None else Path("data")
        try:
            import torchvision

            dataset_class = getattr(torchvision.datasets, info.torchvision_class)
            dataset_class(str(target), train=True, download=True)
            dataset_class(str(target), train=False, download=True)
        except Exception as exc:  # offline, proxy, disk full: all end in the same advice
            reason = (str(exc).splitlines() or [""])[0][:120]
            tried.append(f"torchvision download into {target} ({type(exc).__name__}: {reason})")
        else:
            found = find_in(Path(target), info)
            if found:
                return found
    raise DataError(f"{info.title} not found; tried " + "; ".join(tried) + f". {info.fix_hint()}")


def load_files(files: dict[str, Path], info: DatasetInfo = FASHION_MNIST) -> dict[str, torch.Tensor]:
    """The four located IDX files as uint8 tensors: train/test images (N, H, W) and labels (N,). Raises DataError
    for a file that is corrupt, or images and labels that do not belong together."""
    arrays = {key: read_idx(path, info=info) for key, path in files.items()}
    for split in ("train", "test"):
        n_images, n_labels = len(arrays[f"{split}_images"]), len(arrays[f"{split}_labels"])
        if n_images != n_labels:
            raise DataError(f"{split} images ({n_images}) and labels ({n_labels}) differ in count in "
                            f"{files[f'{split}_images'].parent}; {info.fix_hint()}")
        if arrays[f"{split}_labels"].max(initial=0) >= info.n_classes:
            raise DataError(f"{files[f'{split}_labels']} holds labels >= {info.n_classes}; it is not {info.title}")
    return {key: torch.from_numpy(value) for key, value in arrays.items()}


def load_dataset(root: str | Path | None = None, download: bool = True, allow_unknown: bool | None = None,
                 info: DatasetInfo = FASHION_MNIST) -> dict[str, torch.Tensor]:
    """All of a data set as uint8 tensors: train/test images (N, H, W) and labels (N,).

    Files that are not the real set's (``identify``) are refused when ``allow_unknown`` is False, else used with
    a warning naming them. Raises DataError."""
    files = locate_files(root, download, info)
    loaded = load_files(files, info)  # read (and digested) first: identify then costs nothing
    identify(files, allow_unknown, info)
    return loaded


def load_fashion_mnist(root: str | Path | None = None, download: bool = True,
                       allow_unknown: bool | None = None) -> dict[str, torch.Tensor]:
    """All of Fashion-MNIST as uint8 tensors (``load_dataset`` of ``FASHION_MNIST``). Raises DataError."""
    return load_dataset(root, download, allow_unknown, FASHION_MNIST)


# ------------------------------------------------------------------------------------------------ IDX files
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
    add_inputs([path], f"the data file {display_path(path)}")  # a command's outputs may not replace it
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
