"""Sample class-conditional Fashion-MNIST images from a trained GAN (dcgan, wgan_clip or wgan_gp).

    ssgen-generate ckpt=outputs/wgan_gp/2026-01-01_12-00-00 label=dress n=16 seed=0 out=dress.png
    ssgen-generate ckpt=run/checkpoints/last.ckpt label=all n=10 out=grid.png npz=grid.npz
    ssgen-generate ckpt=run label=3 n=100 npz=dresses.npz
    ssgen-generate ckpt=run label=dress,bag n=5 out_dir=samples/     # samples/dress_0.png ... samples/bag_4.png

Arguments (key=value, any order):
    ckpt   a .ckpt file, or a run dir (its checkpoints/best.ckpt if present, else checkpoints/last.ckpt)
    label  a class name (t_shirt trouser pullover dress coat sandal shirt sneaker bag ankle_boot, or
           torchvision's: 'T-shirt/top' ... 'Ankle boot'), its index 0-9, several joined by commas,
           or all (default): n images of every class
    n      images per class (default 10)
    seed   seeds the noise (default 0): the same seed gives the same images on any machine
    out    PNG grid (default samples.png unless only npz= is given); label=all gives one row per class
    npz    optional .npz with images (N, 28, 28) uint8 and labels (N,) int64
    out_dir  optional folder for one 28x28 PNG per image, <class>_<index within class>.png (dress_00.png ...)

The checkpoint is read on CPU with ``weights_only=True`` (no pickled code runs). Any error (missing or
corrupt checkpoint, a checkpoint that is not a GAN, an unknown label, n < 1) prints one line and exits
with status 2 before anything is written. Python: ``ssgen.load(ckpt).sample(label, n=n, seed=seed)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision

from ssgen.api import load_sampler, sample_labels, to_uint8
from ssgen.cli import REQUIRED, Option, as_int, parse_key_values, run_console_script
from ssgen.data.images import save_pngs
from ssgen.errors import ConfigError
from ssgen.io import atomic_write

OPTIONS = {"ckpt": Option(REQUIRED, hint="<checkpoint or run dir>"), "label": Option("all"), "n": Option(10, as_int),
           "seed": Option(0, as_int), "out": Option(None), "npz": Option(None), "out_dir": Option(None)}


def parse_args(argv: list[str]) -> dict[str, Any]:
    """``key=value`` arguments -> {ckpt, labels (N,) int64, n, seed, out, npz, out_dir, columns}; ConfigError on
    bad input."""
    values = parse_key_values(argv, OPTIONS, "ssgen-generate")
    n = values["n"]
    if n < 1:
        raise ConfigError(f"n={n} must be >= 1 (images per class)")
    labels = torch.from_numpy(sample_labels(values["label"], n))  # unknown class, too many images: ConfigError
    n_classes = len(labels) // n
    out, npz, out_dir = values["out"], values["npz"], values["out_dir"]
    if out is None and npz is None and out_dir is None:
        out = "samples.png"
    if out is not None and Path(out).suffix.lower() != ".png":
        raise ConfigError(f"out={out} must end in .png")
    if npz is not None and Path(npz).suffix.lower() != ".npz":
        raise ConfigError(f"npz={npz} must end in .npz")
    if out_dir is not None and Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise ConfigError(f"out_dir={out_dir} is a file; give a folder (it is created if missing)")
    return {"ckpt": values["ckpt"], "labels": labels, "n": n, "seed": values["seed"], "out": out, "npz": npz,
            "out_dir": out_dir, "columns": n if n_classes > 1 else min(n, 10)}


def generate_files(ckpt: str | Path, labels: torch.Tensor, seed: int, out: str | None, npz: str | None,
                   columns: int = 10, out_dir: str | None = None) -> torch.Tensor:
    """Sample ``labels`` (N,) with noise from ``seed``; write the PNG grid, the .npz and/or one PNG per image in
    ``out_dir``; returns the images (N, 1, 28, 28) in [-1, 1]."""
    model = load_sampler(ckpt).module  # fails before anything is written
    images = model.sample(labels, seed=seed)
    if out is not None:
        grid = torchvision.utils.make_grid(images, nrow=columns, normalize=True, value_range=(-1, 1), pad_value=1.0)
        atomic_write(out, lambda tmp: torchvision.utils.save_image(grid, tmp, format="png"))
    if npz is not None:
        def write_npz(tmp: str) -> None:
            with open(tmp, "wb") as handle:  # a file handle: np.savez would append .npz to a bare name
                np.savez(handle, images=to_uint8(images), labels=labels.numpy().astype(np.int64))

        atomic_write(npz, write_npz)
    if out_dir is not None:
        save_pngs(out_dir, to_uint8(images), labels.numpy().astype(np.int64), model.data_info)  # its classes' names
    return images


def main(argv: list[str] | None = None) -> None:
    """Console entry point ``ssgen-generate``: errors are one line on stderr and exit status 2."""

    def generate_and_print(argv: list[str]) -> None:
        args = parse_args(argv)
        generate_files(args["ckpt"], args["labels"], args["seed"], args["out"], args["npz"], args["columns"],
                       args["out_dir"])
        written = [path for path in (args["out"], args["npz"]) if path]
        if args["out_dir"]:
            written.append(f"{args['out_dir']} (one PNG each)")
        print(f"wrote {len(args['labels'])} images to {' and '.join(written)}")

    run_console_script("ssgen-generate", __doc__, argv, generate_and_print)


if __name__ == "__main__":
    main()
