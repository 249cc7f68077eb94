"""Regenerate this machine's tables of docs/design/performance.md: ours vs plain, concurrency, options (one command).

    python tools/performance_tables.py                     # on an idle machine; about 10 min on CPU, less on a GPU
    python tools/performance_tables.py --print-commands    # the three bench commands it runs, nothing else
    python tools/performance_tables.py --concurrent 8      # copies for the concurrency table (default below)

The device decides the section names (``cpu_main``, ``cpu_concurrency``, ``cpu_options`` or the same with
``cuda_``), so a CPU run never replaces the GPU's tables and vice versa. Each table is one ``python -m benchmarks``
process of its own (fresh memory and threads), writing its section of ``--out`` and nothing else. Run it on an
otherwise idle machine: the bench's confidence intervals say how far to trust each figure, and a busy machine
widens them (the bench prints a warning when it sees one).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = "m1,wgan_gp/dcgan"  # the two the targets are about: an MLP VAE step and a conv GAN step
# Settings raced against the default per device: what could become a default there (docs/design/performance.md).
OPTIONS = {
    "cpu": ["trainer.precision=32-true", "trainer.precision=bf16-mixed", "channels_last", "torch_threads=1"],
    "cuda": ["trainer.precision=bf16-mixed", "matmul_precision=high", "+trainer.benchmark=true", "channels_last",
             "data.device_resident=false"],
}


def device_kind() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def default_copies(kind: str) -> int:
    """Copies for the concurrency table: one per core on CPU (at least 2); 4 runs sharing one GPU."""
    return 4 if kind == "cuda" else max(2, os.cpu_count() or 2)


def commands(kind: str, out: str, copies: int) -> list[list[str]]:
    bench = [sys.executable, "-m", "benchmarks", f"models={MODELS}", f"out={out}"]
    compare = f"compare=[{','.join(OPTIONS[kind])}]"
    return [[*bench, f"section={kind}_main"],
            [*bench, f"concurrent={copies}", f"section={kind}_concurrency"],
            [*bench, compare, f"section={kind}_options"]]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="docs/design/performance.md", help="the markdown file to update (relative: to the checkout)")
    parser.add_argument("--concurrent", type=int, default=None, help="copies for the concurrency table")
    parser.add_argument("--print-commands", action="store_true", help="print the bench commands and run nothing")
    args = parser.parse_args(argv)
    kind = device_kind()
    runs = commands(kind, args.out, args.concurrent or default_copies(kind))
    for command in runs:
        print("$ " + shlex.join(["python", *command[1:]]), flush=True)
        if not args.print_commands:
            subprocess.run(command, check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
