"""Checkpoint files: the one gate every model rebuilt from a file passes, and weights-only copies.

    ssgen-export run=<run dir or .ckpt> out=<out.ckpt>     # save_model_only: a copy without optimizer state
                                                            # (a third of the size) that cannot resume

Safety: a checkpoint is read with ``torch.load(weights_only=True)`` (no pickled code runs), and before anything
is built ``check_checkpoint`` verifies what it names: its ``ssgen_module`` must be a LightningModule of
``ssgen.models`` and every ``_target_`` anywhere in its hyper-parameters a network of ``ssgen.nets``
(``ssgen.models.module_class``, ``ssgen.nets.network_class``: nothing outside the package is imported or
called). Anything else is one line naming the file and what it names. generate, evaluate, predict, figures,
M1+M2's ``method.m1_checkpoint`` and ``ssgen.load`` all load through ``load_module``. It lives in the models
package because M1+M2 loads its M1 VAE through it. Checkpoints are written by the trainer through
``ssgen.callbacks.checkpointing.AtomicCheckpointIO``.

Versions: a trained model's parts are one version. ``weights_version`` is the record of the weights a part was made
from (the optimizer step and a digest of every tensor of the state dict); what is fitted or scored on a model at the
end of a run records it (M1's heads in ``svm_head.json`` ``fitted_on``, results.json ``weights``, M1+M2's
``built_from``), and every loader compares it with the checkpoint it loads (``version_mismatch``).
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import Any

import lightning as L
import torch

from ssgen.errors import CheckpointError, UnsafeCheckpointError
from ssgen.io import add_inputs, atomic_write, check_output, display_path, file_identity
from ssgen.models import module_class
from ssgen.nets import check_network_spec


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


MAX_NAMED = 3  # tensors named in a message about non-finite weights; the rest are counted


def nonfinite_tensors(tensors: dict[str, Any]) -> list[str]:
    """Names of the floating-point tensors of a state dict that hold a NaN or an infinity."""
    return [name for name, tensor in tensors.items()
            if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and not torch.isfinite(tensor).all()]


def name_some(names: list[str]) -> str:
    """The first ``MAX_NAMED`` names, comma-separated, and how many more: for one-line messages."""
    more = f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else ""
    return ", ".join(names[:MAX_NAMED]) + more


def _unreadable_fix(path: Path) -> str:
    # a run dir's own last.ckpt is what a relaunch resumes from: pointing the user at it again would loop
    if path.name == "last.ckpt":
        return "it cannot be resumed or loaded: delete it to train this run dir afresh, or retrain"
    return "use another checkpoint (e.g. the run's checkpoints/last.ckpt) or retrain"


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """``torch.load(weights_only=True)`` on CPU: a truncated or foreign file gives a CheckpointError."""
    path = resolve_checkpoint(path)
    add_inputs([path], f"the checkpoint {display_path(path)}")  # a command's outputs may not replace it
    if path.parent.name == "checkpoints":
        # nor any other file of its run: last.ckpt (what a resume needs), the heads, the graph the heads classify on
        add_inputs([path.parent.parent], f"a file of the run {display_path(path.parent.parent)}")
    if not zipfile.is_zipfile(path):  # torch.save has written zip archives since PyTorch 1.6
        raise CheckpointError(f"{path} is truncated or not a PyTorch checkpoint; {_unreadable_fix(path)}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CheckpointError(f"{path} is truncated or not a PyTorch checkpoint ({type(exc).__name__}); "
                              f"{_unreadable_fix(path)}") from exc
    except Exception as exc:  # weights_only refusing a pickled object lands here
        raise CheckpointError(f"{path} cannot be loaded safely ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})") from exc


def _specs(value: Any, where: str = "hyper_parameters") -> list[tuple[str, dict[str, Any]]]:
    """Every dict holding a ``_target_`` anywhere in a nested structure, with where it sits."""
    found = []
    if isinstance(value, dict):
        if "_target_" in value:
            found.append((where, value))
        for key, item in value.items():
            found += _specs(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found += _specs(item, f"{where}[{index}]")
    return found


def check_checkpoint(checkpoint: dict[str, Any], path: str | Path,
                     fallback_target: str | None = None) -> type[L.LightningModule]:
    """The gate: the LightningModule class a checkpoint names, after checking everything it names.

    ``ssgen_module`` (recorded by ssgen-train; ``fallback_target`` for checkpoints without one) must be a
    class of ``ssgen.models``; every ``_target_`` in the hyper-parameters a network of ``ssgen.nets``, with no
    ``_target_`` nested in its arguments. Raises CheckpointError naming the file and the offending name;
    nothing is imported from outside ssgen and nothing is called.
    """
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{path} is not a Lightning checkpoint; give a .ckpt of an ssgen-train run")
    target = checkpoint.get("ssgen_module") or fallback_target
    if not target:
        raise CheckpointError(f"{path} was not written by ssgen-train (no 'ssgen_module' entry); cannot rebuild its model")
    try:
        cls = module_class(target)
    except CheckpointError as exc:
        raise UnsafeCheckpointError(f"{path} names the model {target!r}, which is not one of ssgen's; refusing to load it "
                              f"({exc})") from None
    for where, spec in _specs(checkpoint.get("hyper_parameters", {})):
        try:
            check_network_spec(spec, where)
        except CheckpointError as exc:
            raise UnsafeCheckpointError(f"{path} names the network {spec['_target_']!r} (in {where}), which is not one of "
                                  f"ssgen's; refusing to load it ({exc})") from None
    return cls


def check_file(path: str | Path, expected: tuple[type, ...] | None = None, what: str = "model") -> Path:
    """Read a checkpoint (a .ckpt or a run dir) and pass it through the gate without building anything.

    For checks before training (e.g. M1+M2's ``method.m1_checkpoint``): returns the resolved .ckpt path;
    CheckpointError as ``load_module`` would raise it, so a bad file is refused before any dir is written.
    """
    path = resolve_checkpoint(path)
    cls = check_checkpoint(read_checkpoint(path), path)
    if expected is not None and not issubclass(cls, expected):
        raise CheckpointError(f"{path} is a {cls.__name__} checkpoint, not a {what}; give the checkpoint of a {what} run")
    return path


def load_module(path: str | Path, expected: tuple[type, ...] | None = None, what: str = "model",
                fallback_target: str | None = None) -> L.LightningModule:
    """Rebuild the LightningModule of a checkpoint (a .ckpt or a run dir) on CPU, in eval mode, through the gate.

    ``expected``: allowed base classes; anything else gives 'is a <Class> checkpoint, not a <what>'.
    ``fallback_target``: the class for a checkpoint that records none (from its run dir's config); gated too.
    Raises CheckpointError (one line) for a missing, truncated, foreign or unsafe file, and for non-finite weights.
    """
    return load_versioned(path, expected, what, fallback_target)[0]


def load_versioned(path: str | Path, expected: tuple[type, ...] | None = None, what: str = "model",
                   fallback_target: str | None = None) -> tuple[L.LightningModule, dict[str, Any]]:
    """``load_module``, and the ``weights_version`` of the checkpoint it loaded (read once for both)."""
    path = resolve_checkpoint(path)
    checkpoint = read_checkpoint(path)
    cls = check_checkpoint(checkpoint, path, fallback_target)
    if expected is not None and not issubclass(cls, expected):
        raise CheckpointError(f"{path} is a {cls.__name__} checkpoint, not a {what}; give the checkpoint of a {what} run")
    try:
        model = cls(**checkpoint["hyper_parameters"])
        model.load_state_dict(checkpoint["state_dict"])
    except (KeyError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"{path} does not match {cls.__name__} of this ssgen version ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:160]})") from exc
    # every command and ssgen.load comes through here: a diverged run's weights would give black images and one
    # class for every input without a word
    bad = nonfinite_tensors(checkpoint["state_dict"])
    if bad:
        raise CheckpointError(f"{path} holds non-finite weights ({name_some(bad)}): the run diverged (its results.json "
                              "says failed); retrain it, e.g. with a smaller learning rate")
    return model.eval(), weights_version(checkpoint)


# ------------------------------------------------------------------------------------------------ versions
def weights_digest(state_dict: dict[str, Any]) -> str:
    """A short digest (16 hex digits of SHA-256) of every tensor of a state dict: names, dtypes, shapes and bytes.
    Equal digests mean the same weights and buffers; the order of the dict does not matter."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name]
        if not isinstance(tensor, torch.Tensor):
            continue
        tensor = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}|{tensor.dtype}|{tuple(state_dict[name].shape)}|".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes())  # the raw bytes, whatever the dtype (bf16 too)
    return digest.hexdigest()[:16]


def weights_version(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The version of a checkpoint's weights: ``{"global_step": <optimizer steps>, "weights_sha256": <digest>}``
    (``global_step`` None for a file that records none)."""
    step = checkpoint.get("global_step")
    return {"global_step": int(step) if isinstance(step, int) else None,
            "weights_sha256": weights_digest(checkpoint.get("state_dict") or {})}


def module_version(module: torch.nn.Module, global_step: int | None) -> dict[str, Any]:
    """``weights_version`` of a module in memory, as it is now (what a head is being fitted on)."""
    return {"global_step": global_step, "weights_sha256": weights_digest(module.state_dict())}


def describe_version(version: dict[str, Any]) -> str:
    """'step 300 (weights 3f9c0a1b2c3d4e5f)': a version in a message."""
    step = version.get("global_step")
    return f"{'step ' + str(step) if step is not None else 'an unrecorded step'} (weights {version.get('weights_sha256')})"


def version_mismatch(recorded: dict[str, Any] | None, loaded: dict[str, Any]) -> bool:
    """Whether a part that recorded ``recorded`` was made from other weights than ``loaded`` (None: nothing recorded,
    nothing to compare: a run from before versions were recorded)."""
    return bool(recorded) and recorded.get("weights_sha256") != loaded.get("weights_sha256")


def snapshot_name(version: dict[str, Any]) -> str:
    """The file a finished run's weights are kept in when it is trained on (``checkpoints/finished_step<N>.ckpt``):
    the run as it was, which its end-of-run artifacts (heads, scores) belong to until training finishes again."""
    return f"finished_step{version.get('global_step')}.ckpt"


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
    if file_identity(destination) is not None and file_identity(destination) == file_identity(source):  # any spelling
        raise CheckpointError(f"{display_path(destination)} is the checkpoint being copied; give another destination")
    checkpoint = read_checkpoint(source)
    check_checkpoint(checkpoint, source)  # an ssgen checkpoint, or a clear error before anything is written
    check_output(destination, "out")  # nor any other file the command read
    slim = {key: checkpoint[key] for key in MODEL_KEYS if key in checkpoint}
    atomic_write(destination, lambda path: torch.save(slim, path))
    return destination


if __name__ == "__main__":  # the weights-only copy moved to a console script; a module run must not pass silently
    import sys

    print("python -m ssgen.models.checkpoints: error: the weights-only copy is `ssgen-export run=<run dir or .ckpt> "
          "out=<copy.ckpt>` now", file=sys.stderr)
    sys.exit(2)
