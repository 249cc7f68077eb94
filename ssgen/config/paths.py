"""Every path a user gives ssgen-train, resolved against the directory they launched it from, the same way in the
pre-flight check and inside the job, whether Hydra changes the working directory (``hydra.job.chdir=true``) or not.

    ssgen-train data.root=mydata hydra.job.chdir=true       # reads <launch dir>/mydata, not <run dir>/mydata
    ssgen-train method=m1_m2 method.m1_checkpoint=runs/m1    # checked before any dir is made, loaded from the same place

A path option is ``ckpt_path`` (but ``last``), an argument a class of a ``_target_`` names in its ``path_arguments``
(``data.root``, ``method.m1_checkpoint``, the evaluator's ``cache_dir`` and ``evaluator`` file), and the directory
arguments of Lightning's callbacks and loggers (``dirpath``, ``save_dir``; a logger's ``file:`` URI). A relative
value or one that starts with ``~`` becomes absolute with Hydra's ``to_absolute_path`` (against
``hydra.runtime.cwd``, the launch directory; the working directory outside Hydra); an absolute one, a URI of
another scheme and ``${...}`` values that resolve to absolute paths (``${run_dir}/checkpoints``) stay as they are.
"""

from __future__ import annotations

import os
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

# directory arguments of Lightning's own callbacks and loggers (ModelCheckpoint, TensorBoardLogger, CSVLogger,
# MLFlowLogger, WandbLogger): they carry no ``path_arguments`` of ssgen's
LIGHTNING_PATH_ARGUMENTS = ("dirpath", "save_dir", "root_dir", "log_dir", "tracking_uri", "artifact_location")


def absolute_path(value: str) -> str:
    """``value`` against the launch directory (Hydra's ``to_absolute_path``), ``~`` expanded; a URI of another scheme
    than ``file:`` and ``sqlite:`` as it is. ``file:relative`` and ``sqlite:///relative.db`` keep their scheme and get
    an absolute path."""
    from hydra.utils import to_absolute_path

    if value.startswith("sqlite:///"):  # sqlite:///relative/x.db, sqlite:////absolute/x.db
        path = value[len("sqlite:///"):]
        return value if path.startswith("/") or not path else "sqlite:///" + to_absolute_path(os.path.expanduser(path))
    if "://" in value and not value.startswith("file://"):
        return value
    scheme = ""
    if value.startswith("file:"):
        scheme, value = "file:", value[len("file:"):]
        if value.startswith("//"):  # file:///abs/path: already absolute
            return scheme + value
    return scheme + to_absolute_path(os.path.expanduser(value))


def path_arguments(target: str) -> tuple[str, ...]:
    """The path arguments of the class ``target`` names: its ``path_arguments`` (ssgen's classes), else Lightning's
    directory arguments that its constructor takes; none for a target that does not import."""
    import inspect

    import hydra

    try:
        cls = hydra.utils.get_class(target)
    except Exception:  # a wrong _target_ is validation's to report, not this
        return ()
    declared = getattr(cls, "path_arguments", None)
    if declared is not None:
        return tuple(declared)
    try:
        parameters = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return ()
    return tuple(name for name in LIGHTNING_PATH_ARGUMENTS if name in parameters)


def path_options(cfg: DictConfig) -> list[str]:
    """The dotted keys of ``cfg``'s path options that hold a value (see the module docstring), in config order."""
    keys = ["ckpt_path"] if cfg.get("ckpt_path") not in (None, "", "last") else []

    def visit(node: Any, prefix: str) -> None:
        if not isinstance(node, DictConfig):
            return
        target = node.get("_target_") if "_target_" in node else None
        names = path_arguments(str(target)) if isinstance(target, str) else ()
        for key in node:
            interpolated = OmegaConf.is_interpolation(node, key)  # its value may not resolve yet: not read here
            value = None if interpolated else node[key]
            if key in names and (interpolated or isinstance(value, str)):
                keys.append(f"{prefix}{key}")
            elif isinstance(value, DictConfig) and key != "hydra":
                visit(value, f"{prefix}{key}.")

    visit(cfg, "")
    return keys


def resolve_paths(cfg: DictConfig) -> dict[str, str]:
    """Make every path option of ``cfg`` absolute, in place (``absolute_path``): the value a ``${...}`` gives included,
    so the job reads what the pre-flight check saw whatever its working directory. Returns ``{key: new value}`` for
    those it changed."""
    changed = {}
    for key in path_options(cfg):
        try:
            value = OmegaConf.select(cfg, key)
        except Exception:  # an interpolation that cannot resolve yet is the composition's to report
            continue
        if not isinstance(value, str) or not value:
            continue
        resolved = absolute_path(value)
        if resolved != value:
            changed[key] = resolved
    if changed:
        with open_dict(cfg):
            for key, value in changed.items():
                OmegaConf.update(cfg, key, value, merge=False)
    return changed
