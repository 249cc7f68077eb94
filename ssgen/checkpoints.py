"""Finding, writing and safely loading checkpoints.

    python -m ssgen.checkpoints <run dir or .ckpt> <out.ckpt>     # a copy without optimizer state (a third of the size)

Writing checkpoints: ``AtomicCheckpointIO`` (every save renamed into place) and ``save_model_only`` (weights
only). Reading them goes through the gate of ``ssgen.models.loading`` (``load_module``, ``check_checkpoint``:
nothing a checkpoint names outside ssgen is imported or called), whose names are importable from here too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ssgen.cli import run_console_script
from ssgen.errors import CheckpointError, ConfigError
from ssgen.io import RUN_DIR_FIX, atomic_write

# The gate lives in ssgen.models.loading (M1+M2 loads through it); these are its public names, found here as well.
from ssgen.models.loading import (  # noqa: F401
    check_checkpoint,
    check_file,
    load_module,
    read_checkpoint,
    resolve_checkpoint,
)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints go to a temp file beside their destination and are renamed into place: a crash never leaves a
    half-written .ckpt, and nothing passes through the system temp dir (Lightning's own save writes the whole
    checkpoint there first, so a small ``$TMPDIR`` fails every save whatever room the run dir has). A disk that is
    full or read-only is one StorageError line naming the file; the previous checkpoint stays as it was."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        """Write ``checkpoint`` to ``path`` atomically. Raises StorageError (disk full, read-only dir) and, as
        Lightning's does, TypeError for ``storage_options``."""
        if storage_options is not None:
            raise TypeError(f"storage_options are not supported by {type(self).__name__}")
        # one trainer owns its checkpoint dir, so any other temp of this file is a killed save's leftover
        atomic_write(path, lambda tmp: torch.save(checkpoint, tmp), clear_leftovers=True, fix=RUN_DIR_FIX)


# What a checkpoint needs to be rebuilt by ``load_module``; the rest (optimizer moments, loop and callback
# state) is only for resuming training and is most of the file (Adam keeps two tensors per weight).
MODEL_KEYS = ("state_dict", "hyper_parameters", "ssgen_module", "epoch", "global_step", "pytorch-lightning_version",
              "hparams_name")


def save_model_only(source: str | Path, destination: str | Path) -> Path:
    """Write ``destination``: ``source``'s checkpoint without its training state (about a third of the size).

    The copy loads with ``load_module`` and serves M1+M2 (``method.m1_checkpoint``), prediction and
    generation, but cannot resume training. Written atomically; refuses to overwrite its own source.
    """
    source, destination = resolve_checkpoint(source), Path(destination)
    if destination.exists() and destination.resolve() == source.resolve():
        raise CheckpointError(f"{destination} is the checkpoint being copied; give another destination")
    checkpoint = read_checkpoint(source)
    check_checkpoint(checkpoint, source)  # an ssgen checkpoint, or a clear error before anything is written
    slim = {key: checkpoint[key] for key in MODEL_KEYS if key in checkpoint}
    atomic_write(destination, lambda path: torch.save(slim, path))
    return destination


USAGE = ("usage: python -m ssgen.checkpoints <run dir or .ckpt> <out.ckpt>   "
         "(copy without optimizer state: loads for inference and M1+M2, cannot resume)")


def main(argv: list[str] | None = None) -> None:
    """``python -m ssgen.checkpoints SRC DST``: ``save_model_only``; errors are one line, exit 2."""
    def copy(argv: list[str]) -> None:
        if len(argv) != 2:
            raise ConfigError(f"expected a source and a destination, got {len(argv)} argument(s); {USAGE}")
        print(save_model_only(*argv))

    run_console_script("ssgen.checkpoints", USAGE, argv, copy)


if __name__ == "__main__":
    main()
