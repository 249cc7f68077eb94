"""Whether a launch resumes, from which checkpoint, and whether this config can resume it.

    ssgen-train hydra.run.dir=outputs/x                     # relaunched into a run dir with a last.ckpt: resumes
    ssgen-train ckpt_path=last hydra.run.dir=outputs/x      # resume, or one line if there is nothing to resume
    ssgen-train ckpt_path=<file.ckpt> hydra.run.dir=outputs/y

``resolve_ckpt_path`` is the one place that decides whether a relaunch resumes; ``check_resumable`` refuses a
checkpoint whose networks this config would not rebuild (``ssgen.audit.check_resume`` refuses another method,
non-finite weights and a changed batch size mid-epoch). Both run before anything of the run is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ssgen.build import build_model
from ssgen.checkpoints import read_checkpoint
from ssgen.errors import ConfigError, SSGenError


def resolve_ckpt_path(cfg: DictConfig, run_dir: Path) -> str | None:
    """'last' or an explicit path; and automatic resume when relaunched into a run dir that has a last.ckpt.

    The resume also serves a finished run: relaunched with a larger ``trainer.max_epochs`` it trains on from
    where it ended (optimizer state, step counts and the M2 labelled-batch order all continue). Raises SSGenError
    for ``ckpt_path=last`` without a last.ckpt and for a ``ckpt_path`` that is not a file.
    """
    last = run_dir / "checkpoints" / "last.ckpt"
    if cfg.ckpt_path == "last":
        if not last.exists():
            raise SSGenError(f"ckpt_path=last but {last} does not exist; drop ckpt_path to start afresh")
        return str(last)
    if cfg.ckpt_path:
        if not Path(cfg.ckpt_path).is_file():
            raise SSGenError(f"ckpt_path={cfg.ckpt_path} does not exist; give a .ckpt file, or 'last'")
        return str(cfg.ckpt_path)
    if last.exists():  # fit_once says so when it resumes: this is asked more than once a launch
        return str(last)
    return None


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as {'a.b.c': leaf}."""
    if isinstance(value, dict) and value:
        return {key: leaf for name, item in value.items() for key, leaf in _flatten(item, f"{prefix}{name}.").items()}
    return {prefix.rstrip("."): value}


def check_resumable(cfg: DictConfig, ckpt_path: str | Path) -> None:
    """Refuse a resume whose checkpoint holds other networks than ``cfg`` builds (a setting that shapes them,
    e.g. ``method.critic_norm`` or a width, changed since it was trained, or the method's default did), before
    anything is written: a ConfigError naming the settings that differ, where Lightning would raise a
    state_dict traceback mid-fit. Same weight names and shapes: nothing to say. Raises CheckpointError for an
    unreadable checkpoint."""
    checkpoint = read_checkpoint(ckpt_path)
    model = build_model(cfg)
    expected = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    saved = {name: tuple(tensor.shape) for name, tensor in checkpoint.get("state_dict", {}).items()}
    if expected == saved:
        return
    there = _flatten(dict(checkpoint.get("hyper_parameters", {})))
    here = _flatten(dict(model.hparams))
    differ = [f"{key if key.startswith('arch.') else 'method.' + key}={str(there.get(key, 'unset'))[:40]} there, "
              f"{str(here.get(key, 'unset'))[:40]} here" for key in sorted(set(there) | set(here))
              if there.get(key) != here.get(key)]
    if len(differ) > 3:  # a line, not a page: the first few name what to set back
        differ = [*differ[:3], f"{len(differ) - 3} more"]
    what = "; ".join(differ) if differ else f"{len(set(expected) ^ set(saved))} weight names differ"
    fix = "drop ckpt_path" if cfg.get("ckpt_path") and cfg.ckpt_path != "last" else "give a new hydra.run.dir"
    raise ConfigError(f"{ckpt_path} was trained with other networks than this command builds ({what}); "
                      f"resume with the settings it trained with, or {fix}")
