"""ssgen-predict: classify images with a trained M1 run (VAE encoder means + its saved head), or an M2 / M1+M2 run.

    ssgen-predict run=outputs/m1/2026-11-25_07-00-00 images=my_images.npz out=predictions.npz
    ssgen-predict run=<run dir> images=t10k-images-idx3-ubyte.gz out=pred.npz n_labels=1000
    ssgen-predict run=<run dir> 'images=photos/**/*.jpg' out=labels.npz invert=false   # a folder or a glob too

``images`` are image files (PNG, JPEG, BMP, TIFF; any size, colour or not), a folder of them, a glob (quote it),
an .npz with key ``images`` (uint8 N x 28 x 28, or floats in [0, 1]) or an IDX file. ``out`` is an .npz with
``labels`` (int64, N), and for image files ``files`` and ``inverted``; a CSV beside it (``index,label,class_name``,
for image files ``index,file,label,class_name,inverted``). ``invert``: image files are made light-on-dark like
Fashion-MNIST; auto negates a file whose border is light (median grey level above 127); for an .npz / IDX array,
true negates every image (255 - x) and auto / false take it as given.

Image files are prepared as Fashion-MNIST's own images were: greyscale, light on dark, cropped to the object,
its longest edge resized to 28 keeping the aspect ratio, centred, grey levels stretched to 0..255 (a 28x28 file
is only made greyscale and light-on-dark); the output says which inversion each file got (ssgen/data/images.py).
Suffixes are matched in any case. Input whose pixels cannot be Fashion-MNIST-like is refused (a uint8 array
whose brightest pixel is 1, all images blank) or warned about on stderr (some blank, dim or dark-on-light
images). Errors are one line on stderr and exit status 2, with nothing written. Python: ``ssgen.load(run).predict``.
"""

from __future__ import annotations

import csv
import io
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ssgen.api import M2, Predictions, load_checked, load_classifier
from ssgen.cli import argument, help_text, parse, run_console_script
from ssgen.data.images import as_uint8, parse_invert, read_images
from ssgen.errors import InputWarning, SSGenError
from ssgen.io import atomic_write, atomic_write_text, check_output, display_path
from ssgen.models.checkpoints import read_checkpoint
from ssgen.models.m2 import M2 as M2Module


@dataclass
class PredictArguments:
    """ssgen-predict's arguments (``ssgen.cli.parse``)."""

    run: str = argument(help="an M1 run dir (with its heads), or an M2 / M1+M2 run dir or .ckpt", hint="<run dir>", path=True)
    images: str = argument(help="image files, a folder, a glob (quote it), an .npz (key images) or an IDX file",
                           hint="<images, folder, glob, .npz or idx>", path=True)
    out: str = argument(help=".npz to write (labels; a .csv beside it)", hint="<file.npz>", path=True)
    n_labels: int | None = argument(None, help="which of an M1 run's heads (one per label budget N); default: the first")
    invert: str = argument("auto", help="make image files light-on-dark: auto (from each file's border), true or false")


HELP = help_text("ssgen-predict", "Classify images with a trained M1 run (encoder means + its head) or an M2 / M1+M2 "
                 "run.", PredictArguments,
                 ["ssgen-predict run=outputs/m1/<run> images=my_images.npz out=predictions.npz",
                  "ssgen-predict run=<run dir> images=t10k-images-idx3-ubyte.gz out=pred.npz n_labels=1000",
                  "ssgen-predict run=<run dir> 'images=photos/*.png' out=labels.npz"],
                 docs="docs/usage.md (Using trained models) and docs/results.md")
M2_MODULES = ("ssgen.models.m2.M2", "ssgen.models.m2.M1M2")
LISTED_FILES = 20  # at most this many image files get a line each on stdout (all are in the CSV)


def load_images(path: str | Path) -> torch.Tensor:
    """uint8 (N, 28, 28) from image files, a folder, a glob, an .npz (key 'images') or an IDX file
    (``ssgen.data.images.read_images``); DataError for anything unreadable or impossible."""
    return torch.from_numpy(read_images(path).pixels)


def check_uint8_images(images: np.ndarray, source: str = "images") -> torch.Tensor:
    """uint8 ``(N, 28, 28)`` from an array (``ssgen.data.images.as_uint8``); DataError for a wrong shape, dtype or range."""
    return torch.from_numpy(as_uint8(images, source))


def predict(run_dir: str | Path, images: torch.Tensor | np.ndarray, n_labels: int | None = None) -> np.ndarray:
    """Labels (N,) int64 for images (N, 28, 28) from an M1 run (encoder means + SVM head) or an M2 / M1+M2 run."""
    return load_classifier(run_dir).predict(images, n_labels=n_labels).labels


def is_m2_run(path: str | Path) -> bool:
    """True if the run dir's (or .ckpt's) checkpoint was saved from M2 or M1M2; False for any other model.

    Raises CheckpointError when there is no readable checkpoint at all (the caller's usual message applies).
    """
    return read_checkpoint(path).get("ssgen_module") in M2_MODULES


def load_m2(path: str | Path) -> torch.nn.Module:
    """The M2 / M1+M2 module of a run dir or .ckpt, on CPU in eval mode; CheckpointError for anything else, and for a
    checkpoint that is not the version its run's record describes."""
    return load_checked(path, (M2Module,), "method=m2 or method=m1_m2 model")[0]


def predict_m2(run_dir: str | Path, images: np.ndarray | torch.Tensor) -> np.ndarray:
    """argmax_y q(y | x): labels ``(N,)`` int64 for images ``(N, 28, 28)`` as ``ssgen-predict`` takes them."""
    model = load_classifier(run_dir)
    if not isinstance(model, M2):
        raise SSGenError(f"{run_dir} is a {model.info.model} run, not M2 / M1+M2; use predict()")
    return model.predict(images).labels


def write_predictions(out: str | Path, predictions: Predictions | np.ndarray) -> tuple[Path, Path]:
    """``out`` (.npz: ``labels``; for image files also ``files`` and ``inverted``) and the CSV beside it."""
    if not isinstance(predictions, Predictions):
        predictions = Predictions(np.asarray(predictions, dtype=np.int64))
    labels, files = predictions.labels, predictions.files
    arrays = {"labels": labels}
    header = ["index", "label", "class_name"]
    if files is not None:  # the names as the OS gave them (a name that is not UTF-8 round-trips through os.fsencode)
        arrays.update(files=np.array([record.path for record in files]),
                      inverted=np.array([record.inverted for record in files]))
        header = ["index", "file", "label", "class_name", "inverted"]

    def write_npz(tmp: str) -> None:
        with open(tmp, "wb") as handle:  # a file handle: np.savez would append .npz to a bare name
            np.savez(handle, **arrays)

    npz_path = atomic_write(Path(out), write_npz)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    names = predictions.data_info.class_names  # the classes of the data set the model was trained on
    for index, label in enumerate(labels):
        row = [index, int(label), names[label]]
        if files is not None:  # a name that is not UTF-8 is written escaped (caf\xe9_1.png): a CSV is text
            row = [index, display_path(files[index].path), int(label), names[label], str(files[index].inverted).lower()]
        writer.writerow(row)
    csv_path = atomic_write_text(Path(out).with_suffix(".csv"), buffer.getvalue())
    return npz_path, csv_path


def main(argv: list[str] | None = None) -> None:
    """Console entry point ``ssgen-predict``: ``--help`` prints the module docstring; errors are one line, exit 2."""

    def predict_and_print(argv: list[str]) -> None:
        args = parse(argv, PredictArguments, "ssgen-predict")
        if Path(args.out).suffix.lower() != ".npz":
            raise SSGenError(f"out={args.out} must end in .npz (a .csv is written beside it)")
        invert = parse_invert(args.invert)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", InputWarning)
            batch = read_images(args.images, invert)  # bad images are refused before the model is loaded
        outputs = (args.out, Path(args.out).with_suffix(".csv"))
        for path in outputs:  # neither may be a file it read (by identity, any spelling): before writing either
            check_output(path, "out")
        model = load_classifier(args.run)
        for path in outputs:  # nor one of the run's (its checkpoint, its record, its heads)
            check_output(path, "out")
        predictions = model.predict(batch, n_labels=args.n_labels)
        npz_path, csv_path = write_predictions(args.out, predictions)
        for warning in caught:
            print(f"ssgen-predict: warning: {warning.message}", file=sys.stderr)
        print(f"classified {len(predictions)} images -> {display_path(npz_path)} and {display_path(csv_path)}")
        print("  " + ", ".join(f"{name}: {count}" for name, count in predictions.counts().items()))
        if predictions.files is not None:
            files = predictions.files
            for record, name in list(zip(files, predictions.names, strict=True))[:LISTED_FILES]:
                print(f"  {display_path(record.path)}: {name}, {record.inversion}")
            inverted = sum(record.inverted for record in files)
            print(f"  invert={invert}: {inverted} of {len(files)} files inverted to light-on-dark"
                  + (f"; every file is in {display_path(csv_path)}" if len(files) > LISTED_FILES else ""))

    run_console_script("ssgen-predict", HELP, argv, predict_and_print)


if __name__ == "__main__":
    main()
