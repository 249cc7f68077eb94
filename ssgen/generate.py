"""ssgen-generate: class-conditional Fashion-MNIST images from a trained GAN, M2 or M1+M2 run.

    ssgen-generate run=outputs/wgan_gp/2026-01-01_12-00-00 label=dress n=16 seed=0 out=dress.png
    ssgen-generate run=run/checkpoints/last.ckpt label=all n=10 out=grid.png npz=grid.npz    # one row per class
    ssgen-generate run=run label=dress,bag n=5 out_dir=samples/     # samples/dress_0.png ... samples/bag_4.png

``run`` is a run dir (its checkpoints/best.ckpt if present, else checkpoints/last.ckpt) or a .ckpt file, read on CPU
with ``weights_only=True`` (no pickled code runs); ``n`` is images per class. Any error (missing or corrupt
checkpoint, a checkpoint that is not a generator, an unknown label, n < 1) prints one line and exits with status 2
before anything is written. Python: ``ssgen.load(run).sample(label, n=n, seed=seed)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision

from ssgen.api import load_sampler, sample_labels, to_uint8
from ssgen.cli import Legacy, argument, help_text, parse, run_console_script
from ssgen.data.images import png_paths, save_pngs
from ssgen.errors import ConfigError
from ssgen.io import atomic_write, check_output


@dataclass
class GenerateArguments:
    """ssgen-generate's arguments (``ssgen.cli.parse``)."""

    run: str = argument(help="a run dir (checkpoints/best.ckpt, else last.ckpt) or a .ckpt file", hint="<run dir>", path=True)
    label: str = argument("all", help="class names (dress, ankle_boot or torchvision's 'Ankle boot'), indices 0-9, "
                          "several joined by commas, or all")
    n: int = argument(10, help="images per class")
    seed: int = argument(0, help="seeds the noise: the same seed gives the same images on any machine")
    out: str | None = argument(None, help="PNG grid (default samples.png unless npz= or out_dir= is given)", path=True)
    npz: str | None = argument(None, help=".npz with images (N, 28, 28) uint8 and labels (N,) int64", path=True)
    out_dir: str | None = argument(None, help="folder for one 28x28 PNG per image: <class>_<index>.png", path=True)


LEGACY = Legacy(keys={"ckpt": "run"})  # 0.1's spelling, for one release
HELP = help_text("ssgen-generate", "Sample class-conditional images from a trained GAN, M2 or M1+M2 run.",
                 GenerateArguments,
                 ["ssgen-generate run=outputs/wgan_gp/<run> label=dress n=16 out=dress.png",
                  "ssgen-generate run=<run dir> label=all n=10 out=grid.png npz=grid.npz",
                  "ssgen-generate run=<run dir> label=dress,bag n=5 out_dir=samples/"],
                 docs="docs/usage.md (Using trained models) and docs/gans.md")


def parse_args(argv: list[str]) -> dict[str, Any]:
    """``key=value`` arguments -> {run, labels (N,) int64, n, seed, out, npz, out_dir, columns}; ConfigError on
    bad input (``ssgen.cli.parse``: unknown keys with a did-you-mean, wrong types, a missing run=)."""
    args = parse(argv, GenerateArguments, "ssgen-generate", LEGACY)
    if args.n < 1:
        raise ConfigError(f"n={args.n} must be >= 1 (images per class)")
    labels = torch.from_numpy(sample_labels(args.label, args.n))  # unknown class, too many images: ConfigError
    n_classes = len(labels) // args.n
    out, npz, out_dir = args.out, args.npz, args.out_dir
    if out is None and npz is None and out_dir is None:
        out = "samples.png"
    if out is not None and Path(out).suffix.lower() != ".png":
        raise ConfigError(f"out={out} must end in .png")
    if npz is not None and Path(npz).suffix.lower() != ".npz":
        raise ConfigError(f"npz={npz} must end in .npz")
    if out_dir is not None and Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise ConfigError(f"out_dir={out_dir} is a file; give a folder (it is created if missing)")
    return {"run": args.run, "ckpt": args.run, "labels": labels, "n": args.n, "seed": args.seed, "out": out,
            "npz": npz, "out_dir": out_dir, "columns": args.n if n_classes > 1 else min(args.n, 10)}


def generate_files(run: str | Path, labels: torch.Tensor, seed: int, out: str | None, npz: str | None,
                   columns: int = 10, out_dir: str | None = None) -> torch.Tensor:
    """Sample ``labels`` (N,) with noise from ``seed``; write the PNG grid, the .npz and/or one PNG per image in
    ``out_dir``; returns the images (N, 1, 28, 28) in [-1, 1]."""
    model = load_sampler(run).module  # fails before anything is written
    for key, path in (("out", out), ("npz", npz)):  # no output may be a file the command read (the checkpoint, ...)
        if path is not None:
            check_output(path, key)
    if out_dir is not None:
        for path in png_paths(out_dir, labels.numpy().astype(np.int64), model.data_info):
            check_output(path, "out_dir")
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
        generate_files(args["run"], args["labels"], args["seed"], args["out"], args["npz"], args["columns"],
                       args["out_dir"])
        written = [path for path in (args["out"], args["npz"]) if path]
        if args["out_dir"]:
            written.append(f"{args['out_dir']} (one PNG each)")
        print(f"wrote {len(args['labels'])} images to {' and '.join(written)}")

    run_console_script("ssgen-generate", HELP, argv, generate_and_print)


if __name__ == "__main__":
    main()
