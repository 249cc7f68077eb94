"""Checks run before any training: values that type-check but cannot train, each refused in one line.

    from ssgen.config.validation import validate
    validate(cfg)          # ConfigError: data.n_labels=105 must be a multiple of 10 ...

``validate`` runs on every job of a sweep before the first one starts (``ssgen.run.lifecycle.PreflightChecks``) and
again inside each run.
"""

from __future__ import annotations

import inspect
import os
import types
import typing
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from ssgen.config.files import arch_names, arch_specs
from ssgen.config.schemas import to_plain
from ssgen.data import data_record, dataset_info, holdout_split, parse_device_resident, parse_n_labels
from ssgen.errors import ConfigError, positive
from ssgen.models import module_class

# Lightning precisions with float32 weights (what every sampler, metric and checkpoint reader expects);
# 16-mixed runs as bf16-mixed on a CPU (Lightning's substitution)
PRECISIONS = ("32-true", "32", "bf16-mixed", "16-mixed")


def validate(cfg: DictConfig) -> None:
    """Reject values that type-check but cannot train, each with one line saying how to fix it.

    Generic checks here; each method class checks its own arguments (``check_config``) and may refuse an arch of
    its family (``fits_arch``), and so does each callback class that has a ``check_config(spec, cfg)`` (e.g. the SVM head's label budgets).
    """
    method = cfg.method
    if cfg.arch.family != method.family:
        options = ", ".join(arch_names(method.family)) or f"an arch with family={method.family}"
        raise ConfigError(
            f"arch={cfg.arch.name} is a {cfg.arch.family} architecture but method={method.name} needs a "
            f"{method.family} one; choose arch from: {options}"
        )
    module = module_class(method._target_)
    fits = getattr(module, "fits_arch", None)  # a method's own condition on an arch of its family (M2's likelihood)
    if fits is not None and not fits(cfg.arch):
        matching = [name for name, spec in arch_specs(method.family).items() if fits(spec)]
        raise ConfigError(f"method={method.name} needs arch={' or '.join(matching)} (its likelihood matches the "
                          f"method), not arch={cfg.arch.name}")
    info = dataset_info(cfg.data.get("dataset", "fashion_mnist"))
    n_labels = parse_n_labels(cfg.data.n_labels, info=info)
    if method.train_stream == "labelled" and n_labels == 0:
        raise ConfigError(f"method={method.name} trains on labels but data.n_labels=0; use data.n_labels=all")
    if cfg.data.val_size:
        parse_n_labels(cfg.data.val_size, "data.val_size", info)
    if cfg.data.labelled_holdout:
        if not getattr(module, "selects_on_labelled_holdout", False):
            raise ConfigError(f"data.labelled_holdout={cfg.data.labelled_holdout} selects M2's alpha and epochs, but "
                              f"method={method.name} has no use for it (M1's SVM head cross-validates on its labels); "
                              "drop it or use method=m2 / m1_m2")
        holdout_split(n_labels, cfg.data.labelled_holdout, info)
    positive(cfg.data.batch_size, "data.batch_size", "use e.g. 64 or 100")
    if cfg.data.get("eval_batch_size") is not None:
        positive(cfg.data.eval_batch_size, "data.eval_batch_size", "use e.g. 1000")
    parse_device_resident(cfg.data.device_resident)
    check_seeds(cfg)
    check_run_settings(cfg)
    if hasattr(module, "check_config"):
        module.check_config(cfg)
    for spec in to_plain(method.callbacks).values():
        target = spec.get("_target_") if isinstance(spec, dict) else None
        check = getattr(hydra.utils.get_class(target), "check_config", None) if target else None
        if check is not None:
            check(spec, cfg)
    check_callbacks(cfg)
    precision = str(cfg.trainer.get("precision", "32-true"))
    if precision not in PRECISIONS:
        raise ConfigError(f"trainer.precision={precision} is not one ssgen trains in; use one of {', '.join(PRECISIONS)} "
                          "(weights stay float32: bf16-true / 16-true would leave the samplers and metrics in another dtype)")
    check_devices(cfg.trainer.get("accelerator", "auto"), cfg.trainer.get("devices", "auto"))
    check_trainer(to_plain(cfg.trainer))
    max_epochs = cfg.trainer.get("max_epochs")
    if max_epochs is not None and max_epochs != -1 and max_epochs < 1:
        raise ConfigError(f"trainer.max_epochs={max_epochs} must be >= 1")
    if cfg.restarts < 0:
        raise ConfigError(f"restarts={cfg.restarts} must be >= 0")
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path not in (None, "", "last") and not Path(str(ckpt_path)).is_file():
        raise ConfigError(f"ckpt_path={ckpt_path} does not exist; give a .ckpt file (a relative path is read from the "
                          "directory ssgen-train was launched in), or 'last'")
    check_loggers(cfg)
    # last: it reads the files (once a process)
    data_record(cfg.data.root, bool(cfg.data.get("allow_unknown", False)), info)


def check_loggers(cfg: DictConfig) -> None:
    """Each logger of ``cfg.logger`` can start: its package is installed (else one line naming the extra,
    ``ssgen.loggers.check_logger_packages``) and an online W&B run has credentials (else it would stop at a login
    prompt, or fail once the run dir is made)."""
    import netrc

    from ssgen.loggers import check_logger_packages, logger_specs

    specs = logger_specs(cfg)
    check_logger_packages(specs)
    for name, spec in specs:
        if not str(spec.get("_target_", "")).endswith("WandbLogger") or spec.get("offline"):
            continue
        if os.environ.get("WANDB_MODE", "").lower() in ("offline", "disabled", "dryrun") or os.environ.get("WANDB_API_KEY"):
            continue
        try:
            logged_in = netrc.netrc().authenticators("api.wandb.ai") is not None  # where `wandb login` keeps the key
        except (OSError, netrc.NetrcParseError):
            logged_in = False
        if not logged_in:
            raise ConfigError(f"logger={name} logs online but finds no W&B credentials; run `wandb login` (or set "
                              f"WANDB_API_KEY), or log offline: logger.{name}.offline=true (`wandb sync` uploads later)")


SEED_MAX = 2**32 - 1  # numpy's and Lightning's seeds: 0 .. 2**32 - 1


def check_seeds(cfg: DictConfig) -> None:
    """Refuse a seed outside ``0 .. 2**32 - 1`` (numpy's and Lightning's range), anywhere in the config (``seed``,
    a callback's or the data's ``seed``, ``*_seed``), and a ``seed`` whose restarts (seed + 1, ...) would leave it:
    ConfigError naming the key, before anything is made."""
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or not 0 <= cfg.seed <= SEED_MAX:
        raise ConfigError(f"seed={cfg.seed} is not a seed; use an integer from 0 to {SEED_MAX} (2**32 - 1)")
    plain = to_plain(cfg)

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
            return
        key = prefix.rstrip(".")
        name = key.rpartition(".")[2]
        if (name == "seed" or name.endswith("_seed")) and node is not None:
            if isinstance(node, bool) or not isinstance(node, int) or not 0 <= node <= SEED_MAX:
                raise ConfigError(f"{key}={node} is not a seed; use an integer from 0 to {SEED_MAX} (2**32 - 1)")

    walk(plain, "")
    restarts = int(cfg.get("restarts") or 0)
    if cfg.seed + restarts > SEED_MAX:
        raise ConfigError(f"seed={cfg.seed} with restarts={restarts} would restart with seed {cfg.seed + restarts}, past "
                          f"{SEED_MAX}; use a smaller seed or fewer restarts")


MATMUL_PRECISIONS = ("highest", "high", "medium")  # torch.set_float32_matmul_precision's


def check_run_settings(cfg: DictConfig) -> None:
    """Refuse the process-wide settings a run applies only once its dir is made: ``torch_threads`` (>= 1) and
    ``matmul_precision`` (torch's names)."""
    threads = cfg.get("torch_threads")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"torch_threads={threads} must be >= 1 (CPU threads), or null for torch's default")
    precision = cfg.get("matmul_precision")
    if precision is not None and str(precision) not in MATMUL_PRECISIONS:
        raise ConfigError(f"matmul_precision={precision} is unknown; use one of {', '.join(MATMUL_PRECISIONS)}, or null")


def check_callbacks(cfg: DictConfig) -> None:
    """Build every ssgen callback of the config once (their constructors only check and store their arguments), so
    a value only a constructor refuses (``callbacks.last_checkpoint.every_n_train_steps=-1``) is one line before
    anything is made rather than a traceback after the run dir was."""
    groups = (("callbacks", cfg.get("callbacks") or {}), ("method.callbacks", cfg.method.get("callbacks") or {}))
    for where, specs in groups:
        for name, spec in to_plain(specs).items() if specs else ():
            target = spec.get("_target_") if isinstance(spec, dict) else None
            if not target or not str(target).startswith("ssgen."):
                continue
            try:
                hydra.utils.instantiate(spec)
            except ConfigError:
                raise
            except Exception as exc:  # what the constructor said, as one line naming the key
                cause = exc.__cause__ or exc  # Hydra wraps the constructor's error in its own
                first = (str(cause).strip().splitlines() or [type(cause).__name__])[-1]
                raise ConfigError(f"{where}.{name}: {first}") from None


# Trainer arguments ssgen passes itself (ssgen.run.build.build_trainer): from the callbacks / logger groups and the run dir
TRAINER_SET_BY_SSGEN = ("callbacks", "logger", "default_root_dir", "plugins")
_SIMPLE = (int, float, bool, str, type(None))  # the plain types of Trainer hints that check_trainer checks


def check_trainer(trainer: dict[str, Any]) -> None:
    """Refuse (ConfigError, one line) a ``trainer.<key>`` that Lightning's ``Trainer`` has no argument for, or whose
    value is not of the argument's type where that is plain (``int``, ``float``, ``bool``, ``str``, ``None``, a
    ``Literal``): the ``trainer`` group is free-form (Lightning's own keys), so without this ``trainer.max_epochs=abc``
    or ``trainer.max_epoch=5`` would reach ``Trainer(...)`` and end the run as a crash instead of a refusal."""
    import difflib

    import lightning as L

    accepted = set(inspect.signature(L.Trainer.__init__).parameters) - {"self", *TRAINER_SET_BY_SSGEN}
    hints = typing.get_type_hints(L.Trainer.__init__)
    for key, value in trainer.items():
        if key not in accepted:
            close = difflib.get_close_matches(key, sorted(accepted), n=1)
            where = (" (ssgen sets it: use the callbacks / logger groups)" if key in TRAINER_SET_BY_SSGEN else
                     f"; did you mean trainer.{close[0]}?" if close else "; see lightning.Trainer's arguments")
            raise ConfigError(f"trainer.{key} is not an argument of Lightning's Trainer{where}")
        hint = hints.get(key, Any)
        if _accepts(hint, value) is False:
            raise ConfigError(f"trainer.{key}={value!r} must be {_describe(hint)} (Lightning's Trainer argument {key})")


def _accepts(hint: Any, value: Any) -> bool | None:
    """Whether a plain ``hint`` (int, float, bool, str, None, a Literal, a Union of them) takes ``value``; None when
    the hint also allows other things (a Profiler, a timedelta, a list) and so cannot tell."""
    if hint in _SIMPLE:  # exact types: a bool is an int to Python, not to a Trainer argument; an int is a float
        return type(value) in ((int, float) if hint is float else (hint,))
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return any(value == arg and type(value) is type(arg) for arg in args)
    if origin in (typing.Union, types.UnionType) and args:
        verdicts = [_accepts(arg, value) for arg in args]
        return True if True in verdicts else None if None in verdicts else False
    return None


def _describe(hint: Any) -> str:
    """A plain hint as a user reads it: 'int or null', "bool or 'warn' or null"."""
    if hint is type(None):
        return "null"
    if hint in _SIMPLE:
        return hint.__name__
    args = typing.get_args(hint)
    if typing.get_origin(hint) is typing.Literal:
        return " or ".join(repr(arg) for arg in args)
    return " or ".join(sorted((_describe(arg) for arg in args), key=lambda word: (word == "null", word)))


ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
_DEVICE_FIX = "use trainer.accelerator=cpu, or trainer.accelerator=auto (the best this machine has)"


def _available_devices() -> dict[str, int]:
    """How many devices of each accelerator this machine can give (the ones with none are left out)."""
    from lightning.pytorch.accelerators import CUDAAccelerator, MPSAccelerator

    available = {"cpu": 1}
    for name, cls in (("cuda", CUDAAccelerator), ("mps", MPSAccelerator)):
        if cls.is_available():
            available[name] = cls.auto_device_count()
    return available


def check_devices(accelerator: Any, devices: Any) -> None:
    """Refuse ``trainer.accelerator`` / ``trainer.devices`` this machine cannot give, before any dir is made.

    Lightning would raise a MisconfigurationException from inside Hydra (a traceback, after the run dir was
    created). ``auto`` picks what Lightning's auto picks (a CUDA GPU, else Apple's MPS, else the CPU); ``gpu``
    is MPS or CUDA, whichever is there. A CPU takes any process count (DDP on CPU runs that many processes).
    Raises ConfigError naming what is available and the fix.
    """
    from omegaconf import ListConfig

    available = _available_devices()
    have = ", ".join(f"cpu ({os.cpu_count()} cores)" if name == "cpu" else f"{count} {name}"
                     for name, count in available.items())
    name = str(accelerator).strip().lower()
    if name not in ACCELERATORS:
        raise ConfigError(f"trainer.accelerator={accelerator} is unknown; use one of {', '.join(ACCELERATORS)} "
                          f"(this machine has: {have})")
    if name == "auto":
        name = "cuda" if "cuda" in available else "mps" if "mps" in available else "cpu"
    elif name == "gpu":
        name = "mps" if "mps" in available else "cuda" if "cuda" in available else "gpu"
    if name not in available:
        raise ConfigError(f"trainer.accelerator={accelerator} asks for a GPU but this machine has none "
                          f"(available: {have}); {_DEVICE_FIX}")
    if isinstance(devices, ListConfig | list | tuple):
        try:
            wanted = [int(index) for index in devices]
        except (TypeError, ValueError):
            raise ConfigError(f"trainer.devices={list(devices)} is not a list of device indices; use e.g. [0,1], "
                              "a count such as 1, or auto") from None
        missing = [index for index in wanted if not 0 <= index < available[name]] if name != "cpu" else []
        count = len(wanted)
    elif str(devices).strip().lower() in ("auto", "-1"):
        return
    else:
        try:
            count = int(str(devices).strip())
        except ValueError:
            raise ConfigError(f"trainer.devices={devices} is not a device count; use e.g. trainer.devices=1, "
                              "a list of device indices such as [0,1], or auto") from None
        missing = []
    if count < 1:
        raise ConfigError(f"trainer.devices={devices} asks for no device; use trainer.devices=1 (or more, or auto)")
    if name != "cpu" and (missing or count > available[name]):
        raise ConfigError(f"trainer.devices={devices} asks for {count} {name} device(s) but this machine has "
                          f"{available[name]} (available: {have}); use trainer.devices={available[name]} or fewer, "
                          "or trainer.accelerator=cpu")
