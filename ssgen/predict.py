"""Classify new images with a trained M1 run (VAE encoder means + the saved SVM head), or an M2 / M1+M2 run.

    ssgen-predict run=outputs/m1/2026-11-25_07-00-00 images=my_images.npz out=predictions.npz
    ssgen-predict run=<run dir> images=t10k-images-idx3-ubyte.gz out=pred.npz n_labels=1000

``images``: an .npz with key ``images`` (uint8, N x 28 x 28) or an IDX file (gzipped or not).
``out``: an .npz with ``labels`` (int64, N), plus a CSV beside it (``index,label,class_name``).
``n_labels`` picks which saved head (one per label budget the run scored); default: the first.

M2 and M1+M2 need no head file: their classifier q(y|x) is part of the model, so the checkpoint alone
(``checkpoints/best.ckpt``, else ``last.ckpt``, or a .ckpt path) is enough; ``is_m2_run`` tells the two apart
by the ``ssgen_module`` entry ssgen-train stores in every checkpoint.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import torch

from ssgen.checkpoints import load_module, read_checkpoint
from ssgen.cli import REQUIRED, Option, as_int, parse_key_values, run_console_script
from ssgen.data import CLASS_NAMES, read_idx
from ssgen.errors import CheckpointError, DataError, SSGenError
from ssgen.heads import load_svm, read_head_metadata
from ssgen.io import atomic_write, atomic_write_text

USAGE = "usage: ssgen-predict run=<run dir> images=<file.npz|idx> out=<file.npz> [n_labels=<N>]"
OPTIONS = {"run": Option(REQUIRED, hint="<run dir>"), "images": Option(REQUIRED, hint="<file.npz|idx>"),
           "out": Option(REQUIRED, hint="<file.npz>"), "n_labels": Option(None, as_int)}
M2_MODULES = ("ssgen.models.m2.M2", "ssgen.models.m2.M1M2")


def load_images(path: str | Path) -> torch.Tensor:
    """uint8 (N, 28, 28) from an .npz (key 'images') or an IDX file; wrong shape, dtype or range is a DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"images file {path} does not exist")
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as archive:
                if "images" not in archive:
                    raise DataError(f"{path} has no 'images' array (keys: {', '.join(archive.files)}); save with np.savez(f, images=x)")
                images = archive["images"]
        except (ValueError, OSError) as exc:
            raise DataError(f"{path} is not a readable .npz file ({exc})") from exc
    else:
        images = read_idx(path)
    return check_uint8_images(images, str(path))


def check_uint8_images(images: np.ndarray, source: str = "images") -> torch.Tensor:
    """uint8 ``(N, 28, 28)`` from an array of images; DataError (one line) for a wrong shape, dtype or range."""
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{source}: shape {images.shape} is not (N, 28, 28); give 28x28 greyscale images")
    if len(images) == 0:
        raise DataError(f"{source}: holds no images")
    if images.dtype != np.uint8:
        if np.issubdtype(images.dtype, np.integer) and images.min() >= 0 and images.max() <= 255:
            images = images.astype(np.uint8)
        elif np.issubdtype(images.dtype, np.integer):
            raise DataError(f"{source}: pixel values span [{images.min()}, {images.max()}], outside 0..255")
        else:
            raise DataError(f"{source}: dtype {images.dtype}; give uint8 pixels 0..255, e.g. (x * 255).round().astype(np.uint8)")
    return torch.from_numpy(np.ascontiguousarray(images))


def predict(run_dir: str | Path, images: torch.Tensor, n_labels: int | None = None) -> np.ndarray:
    """Labels (N,) int64 for uint8 images (N, 28, 28) from the run's VAE encoder means and SVM head."""
    from ssgen.models.m1 import M1VAE

    run_dir = Path(run_dir)
    try:
        is_m2 = is_m2_run(run_dir)
    except CheckpointError:
        is_m2 = False  # no checkpoint at all: the M1 path below gives the usual message
    if is_m2:
        if n_labels is not None:
            raise SSGenError("an M2 / M1+M2 run has one classifier, trained on its own n_labels; drop n_labels=")
        return predict_m2(run_dir, images)
    metadata = read_head_metadata(run_dir)
    n = n_labels if n_labels is not None else metadata["n_labels"][0]
    if str(n) not in metadata["heads"]:
        raise SSGenError(f"{run_dir} has no head for n_labels={n}; available: {', '.join(metadata['heads'])}")
    svm = load_svm(run_dir / "checkpoints" / f"svm_head_n{n}.skops")
    model = load_module(run_dir / "checkpoints" / "last.ckpt", (M1VAE,), "method=m1 VAE")
    features = model.encode_means(images).numpy()[:, metadata["latent_units"]]
    return svm.predict(features).astype(np.int64)


def is_m2_run(path: str | Path) -> bool:
    """True if the run dir's (or .ckpt's) checkpoint was saved from M2 or M1M2; False for any other model.

    Raises CheckpointError when there is no readable checkpoint at all (the caller's usual message applies).
    """
    return read_checkpoint(path).get("ssgen_module") in M2_MODULES


def load_m2(path: str | Path) -> torch.nn.Module:
    """The M2 / M1+M2 module of a run dir or .ckpt, on CPU in eval mode; CheckpointError for anything else."""
    from ssgen.models.m2 import M2

    return load_module(path, (M2,), "method=m2 or method=m1_m2 model")


def predict_m2(run_dir: str | Path, images_uint8: np.ndarray | torch.Tensor) -> np.ndarray:
    """argmax_y q(y | x): labels ``(N,)`` int64 for uint8 images ``(N, 28, 28)`` (or ``(N, 1, 28, 28)``).

    Shape, dtype and range are checked as ssgen-predict checks them (DataError with one clear line).
    """
    array = images_uint8.numpy() if isinstance(images_uint8, torch.Tensor) else np.asarray(images_uint8)
    images = check_uint8_images(array, "images")
    return load_m2(run_dir).predict_labels(images).numpy().astype(np.int64)


def write_predictions(out: str | Path, labels: np.ndarray) -> tuple[Path, Path]:
    out = Path(out)
    npz_path = atomic_write(out, lambda tmp: np.savez(open(tmp, "wb"), labels=labels))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["index", "label", "class_name"])
    writer.writerows((i, int(label), CLASS_NAMES[label]) for i, label in enumerate(labels))
    csv_path = atomic_write_text(out.with_suffix(".csv"), buffer.getvalue())
    return npz_path, csv_path


def main(argv: list[str] | None = None) -> None:
    """Console entry point ``ssgen-predict``: ``--help`` prints the module docstring; errors are one line, exit 2."""

    def predict_and_print(argv: list[str]) -> None:
        args = parse_key_values(argv, OPTIONS, "ssgen-predict")
        if not args["out"].endswith(".npz"):
            raise SSGenError(f"out={args['out']} must end in .npz (a .csv is written beside it)")
        images = load_images(args["images"])
        labels = predict(args["run"], images, args["n_labels"])
        npz_path, csv_path = write_predictions(args["out"], labels)
        counts = np.bincount(labels, minlength=10)
        print(f"classified {len(labels)} images -> {npz_path} and {csv_path}")
        print("  " + ", ".join(f"{name}: {count}" for name, count in zip(CLASS_NAMES, counts, strict=True)))

    run_console_script("ssgen-predict", f"{__doc__}\n{USAGE}", argv, predict_and_print)


if __name__ == "__main__":
    main()
