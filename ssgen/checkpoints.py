"""Finding and safely loading checkpoints: ``weights_only`` loads (no pickled code), clear one-line errors."""

from __future__ import annotations

import importlib
import zipfile
from pathlib import Path
from typing import Any

import lightning as L
import torch

from ssgen.errors import CheckpointError


def resolve_checkpoint(path: str | Path) -> Path:
    """A .ckpt file as given, or for a run dir its checkpoints/best.ckpt, else checkpoints/last.ckpt."""
    path = Path(path)
    if path.is_dir():
        for name in ("best.ckpt", "last.ckpt"):
            if (path / "checkpoints" / name).is_file():
                return path / "checkpoints" / name
        raise CheckpointError(f"{path} holds no checkpoints/best.ckpt or checkpoints/last.ckpt; is it a finished run dir?")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; give a .ckpt file or a run dir")
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """``torch.load(weights_only=True)`` on CPU: a truncated or foreign file gives a CheckpointError."""
    path = resolve_checkpoint(path)
    if not zipfile.is_zipfile(path):  # torch.save has written zip archives since PyTorch 1.6
        raise CheckpointError(f"{path} is truncated or not a PyTorch checkpoint; use another checkpoint "
                              "(e.g. checkpoints/last.ckpt) or retrain")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CheckpointError(f"{path} is truncated or not a PyTorch checkpoint ({type(exc).__name__}); "
                              "use another checkpoint (e.g. checkpoints/last.ckpt) or retrain") from exc
    except Exception as exc:  # weights_only refusing a pickled object lands here
        raise CheckpointError(f"{path} cannot be loaded safely ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})") from exc


def module_class(checkpoint: dict[str, Any], path: str | Path) -> type[L.LightningModule]:
    """The LightningModule class a checkpoint was saved from (recorded by ssgen-train in the checkpoint)."""
    target = checkpoint.get("ssgen_module")
    if not target:
        raise CheckpointError(f"{path} was not written by ssgen-train (no 'ssgen_module' entry); cannot rebuild its model")
    module_name, _, class_name = target.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise CheckpointError(f"{path} was saved from {target}, which this ssgen version lacks") from exc


def load_module(path: str | Path, expected: tuple[type, ...] | None = None, what: str = "model") -> L.LightningModule:
    """Rebuild the LightningModule of a checkpoint on CPU, in eval mode.

    ``expected``: allowed base classes; anything else gives 'is a <Class> checkpoint, not a <what>'.
    """
    path = resolve_checkpoint(path)
    checkpoint = read_checkpoint(path)
    cls = module_class(checkpoint, path)
    if expected is not None and not issubclass(cls, expected):
        raise CheckpointError(f"{path} is a {cls.__name__} checkpoint, not a {what}; give the checkpoint of a {what} run")
    try:
        model = cls(**checkpoint["hyper_parameters"])
        model.load_state_dict(checkpoint["state_dict"])
    except (KeyError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"{path} does not match {cls.__name__} of this ssgen version ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:160]})") from exc
    return model.eval()


# What a checkpoint needs to be rebuilt by ``load_module``; the rest (optimizer moments, loop and callback
# state) is only for resuming training and is most of the file (Adam keeps two tensors per weight).
MODEL_KEYS = ("state_dict", "hyper_parameters", "ssgen_module", "epoch", "global_step", "pytorch-lightning_version",
              "hparams_name")


def save_model_only(source: str | Path, destination: str | Path) -> Path:
    """Write ``destination``: ``source``'s checkpoint without its training state (about a third of the size).

    The copy loads with ``load_module`` and serves M1+M2 (``method.m1_checkpoint``), prediction and
    generation, but cannot resume training. Written atomically; refuses to overwrite its own source.
    """
    from ssgen.io import atomic_write

    source, destination = resolve_checkpoint(source), Path(destination)
    if destination.exists() and destination.resolve() == source.resolve():
        raise CheckpointError(f"{destination} is the checkpoint being copied; give another destination")
    checkpoint = read_checkpoint(source)
    module_class(checkpoint, source)  # an ssgen checkpoint, or a clear error before anything is written
    slim = {key: checkpoint[key] for key in MODEL_KEYS if key in checkpoint}
    atomic_write(destination, lambda path: torch.save(slim, path))
    return destination


USAGE = ("usage: python -m ssgen.checkpoints <run dir or .ckpt> <out.ckpt>   "
         "(copy without optimizer state: loads for inference and M1+M2, cannot resume)")


def main(argv: list[str] | None = None) -> None:
    """``python -m ssgen.checkpoints SRC DST``: ``save_model_only``; errors are one line, exit 2."""
    from ssgen.errors import ConfigError, run_console_script

    def copy(argv: list[str]) -> None:
        if len(argv) != 2:
            raise ConfigError(f"expected a source and a destination, got {len(argv)} argument(s); {USAGE}")
        print(save_model_only(*argv))

    run_console_script("ssgen.checkpoints", USAGE, argv, copy)


if __name__ == "__main__":
    main()
