"""Structured config schemas, registered in Hydra's ConfigStore (``register_configs``).

The YAML files under ``conf/`` name these schemas first in their defaults list, so a typo
(``method.lrr=1``) or a wrong type (``seed=abc``) fails with Hydra's one-line message; values that type-check but
make no sense (``n_critic=0``, ``lr=-1``) are ``ssgen.config.validation``'s.
"""

from __future__ import annotations

import copy
import inspect
import sys
import typing
from dataclasses import dataclass, field, fields, make_dataclass
from typing import Any, Optional

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from ssgen.config.files import callback_targets, method_targets, register_resolvers
from ssgen.data import FashionMNISTDataModule
from ssgen.models import module_class

register_resolvers()  # ${ssgen_job_name:...} in conf/hydra/default.yaml, in every process that composes a config


# ------------------------------------------------------------------------------------------------ methods
@dataclass
class MethodConfig:
    """What every method config holds besides its LightningModule's arguments (``METHOD_META_KEYS``)."""

    _target_: str = MISSING
    name: str = MISSING
    family: str = MISSING  # which arch family it takes ('vae', 'gan', 'semi'): the module's ``family``
    pixel_range: str = "unit"  # 'unit' ([0, 1]) or 'symmetric' ([-1, 1]): what the data module serves
    train_stream: str = "unlabelled"  # 'unlabelled' or 'labelled': which images train it
    batch_size: int = 100
    # data.n_labels unless the command line or an experiment preset sets it: each method picks its data as it
    # picks its arch (the class attribute of the same name; M1 / M2 100, the GANs 'all')
    default_n_labels: Any = 100
    # trainer.precision unless set (conf/trainer/default.yaml): the class attribute of the same name
    default_precision: str = "32-true"
    # trainer.max_epochs unless set: the class attribute of the same name (M1 fits its CPU budget, the rest 40)
    default_max_epochs: int = 40
    callbacks: dict[str, Any] = field(default_factory=dict)  # method-specific callbacks, merged with cfg.callbacks


# Keys of a method config that describe the run, not the LightningModule's constructor.
METHOD_META_KEYS = tuple(f.name for f in fields(MethodConfig) if f.name != "_target_")


def constructor_parameters(cls: type, hide: tuple[str, ...] = ()) -> dict[str, inspect.Parameter]:
    """The keyword arguments ``cls(...)`` accepts, walking the __init__ chain through ``**kwargs`` (as Lightning's
    save_hyperparameters does), minus ``self``, ``arch``, the catch-alls and the class's ``checkpoint_only``
    names (hyper-parameters a module records for reloading, never set from the command line), and ``hide``."""
    parameters: dict[str, inspect.Parameter] = {}
    hidden = {"self", "arch", *hide, *getattr(cls, "checkpoint_only", ())}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        signature = inspect.signature(init)
        for name, parameter in signature.parameters.items():
            if name in hidden or parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
                continue
            parameters.setdefault(name, parameter)
        if not any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values()):
            break
    return parameters


def method_schema(cls: type, target: str) -> type:
    """A structured-config dataclass for a method: ``MethodConfig`` plus one field per constructor argument.

    The module's signature is the one place its defaults live; the method YAML lists only what differs
    (with the paper's reason). ``family``, ``pixel_range``, ``train_stream``, ``batch_size``,
    ``default_n_labels``, ``default_precision`` and ``default_max_epochs`` default to the class attributes of the same names. Unknown keys and wrong types then fail at compose time.
    """
    specs: list[tuple[str, Any, Any]] = [("_target_", str, field(default=target))]
    for meta in ("family", "pixel_range", "train_stream", "batch_size", "default_n_labels", "default_precision",
                 "default_max_epochs"):
        if hasattr(cls, meta):
            value = getattr(cls, meta)
            # n_labels is an int or 'all' whichever the class picked, so its key takes either
            specs.append((meta, Any if meta == "default_n_labels" else type(value), field(default=value)))
    # dataset: a method models the run's data.dataset, which ssgen.train.build_model hands it (one key, not two)
    specs += argument_fields(cls, hide=("dataset",))
    return make_dataclass(f"{cls.__name__}Config", specs, bases=(MethodConfig,))


def argument_fields(cls: type, wiring: dict[str, Any] | None = None, hide: tuple[str, ...] = ()) -> list[tuple[str, Any, Any]]:
    """``make_dataclass`` specs ``(name, type, field)``, one per ``constructor_parameters(cls)`` entry, in signature
    order: the type from its hint (``_schema_type``), the default from the signature (MISSING for none, a copy
    for a list, tuple or dict), or from ``wiring`` (name -> an interpolation that ties it to the rest of the run)."""
    wiring = wiring or {}
    specs = []
    for name, parameter in constructor_parameters(cls, hide).items():
        default = wiring.get(name, parameter.default)
        if default is inspect.Parameter.empty:
            default_field = field(default=MISSING)
        elif isinstance(default, list | tuple | dict):
            default_field = field(default_factory=lambda value=default: copy.deepcopy(list(value) if isinstance(value, tuple) else value))
        else:
            default_field = field(default=default)
        specs.append((name, _schema_type(_annotation(cls, name)), default_field))
    return specs


def _annotation(cls: type, name: str) -> Any:
    """The type hint of ``name`` in the first __init__ of the MRO that declares it; Any when it names a type its
    module imports only for type checkers (a callback's ``Evaluator``: imported when the callback runs)."""
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or name not in getattr(init, "__annotations__", {}):
            continue
        try:
            return typing.get_type_hints(init)[name]
        except NameError:  # another argument's hint is unresolvable here: evaluate this one alone
            hint = init.__annotations__[name]
            try:
                return eval(hint, vars(sys.modules[init.__module__])) if isinstance(hint, str) else hint  # noqa: S307
            except NameError:
                return Any
    return Any


def _schema_type(annotation: Any) -> Any:
    """OmegaConf takes int, float, bool, str, their Optional, lists and dicts; anything else is Any."""
    simple = (int, float, bool, str)
    if annotation in simple:
        return annotation
    args = typing.get_args(annotation)
    if args and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and rest[0] in simple:
            return Optional[rest[0]]  # noqa: UP045  (a runtime type object for make_dataclass)
    return Any


# ------------------------------------------------------------------------------------------------ data
# The data keys whose value ties the data module to the rest of the run; every other key, and every default, is
# FashionMNISTDataModule's own (its signature), so conf/data/<name>.yaml lists only its data set and what differs.
DATA_WIRING = {
    # each method picks its data as it picks its arch (its class attributes default_n_labels: 100 for M1 / M2,
    # 'all' for the GANs, and batch_size); data.n_labels=... or an experiment preset overrides them
    "n_labels": "${method.default_n_labels}",
    "batch_size": "${method.batch_size}",
    "seed": "${seed}",  # the label draw follows the run's seed
    "pixel_range": "${method.pixel_range}",
    "train_stream": "${method.train_stream}",
    "run_dir": "${run_dir}",  # labelled_indices.json lands there
}


def public_path(cls: type) -> str:
    """``cls``'s dotted path through the shortest parent that exports it (``ssgen.data.FashionMNISTDataModule``,
    not ``ssgen.data.module.FashionMNISTDataModule``): the path configs and results.json have always named."""
    parts = cls.__module__.split(".")
    for depth in range(1, len(parts) + 1):
        module = sys.modules.get(".".join(parts[:depth]))
        if module is not None and getattr(module, cls.__qualname__, None) is cls:
            return f"{module.__name__}.{cls.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def data_schema(cls: type = FashionMNISTDataModule, wiring: dict[str, Any] = DATA_WIRING) -> type:
    """The structured-config dataclass of ``cfg.data``: its ``_target_`` (``cls``) and one field per argument of
    the data module's constructor, typed by its hint, defaulting to the signature's value or to ``wiring``'s."""
    target = public_path(cls)
    return make_dataclass("DataConfig", [("_target_", str, field(default=target)), *argument_fields(cls, wiring)])


DataConfig = data_schema()


# ------------------------------------------------------------------------------------------------ callbacks
def callback_schema(cls: type, target: str) -> type:
    """The structured-config dataclass of one ssgen callback YAML: its ``_target_`` and one field per argument of
    the callback's constructor, typed by its hint and defaulting to the signature's value. The class is the one
    place its defaults live; ``conf/callbacks/<name>.yaml`` names ``base_<name>`` first and sets only the values
    that tie it to the run (``${run_dir}``, ``${seed}``) or differ from the class's (with the reason)."""
    return make_dataclass(f"{cls.__name__}Config", [("_target_", str, field(default=target)), *argument_fields(cls)])


# ------------------------------------------------------------------------------------------------ arch
@dataclass
class ArchConfig:
    name: str = MISSING
    family: str = MISSING
    networks: dict[str, Any] = field(default_factory=dict)  # _target_ specs, built by the method


# ------------------------------------------------------------------------------------------------ top level
@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    method: Any = MISSING
    arch: Any = MISSING
    trainer: dict[str, Any] = field(default_factory=dict)
    logger: dict[str, Any] = field(default_factory=dict)
    callbacks: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    # M1: the label budgets N its heads score one VAE at (the write-up's Q4 table, Kingma et al.'s Table 1 columns);
    # data.n_labels, results.json's headline N, is scored too. experiment=debug scores data.n_labels only.
    label_budgets: list[Any] = field(default_factory=lambda: [100, 600, 1000, 3000])
    restarts: int = 0  # GANs: on failed convergence, relaunch with seed+1 up to this many times
    ckpt_path: str | None = None  # resume: a .ckpt path, or 'last' for <run_dir>/checkpoints/last.ckpt
    run_dir: str = "${hydra:runtime.output_dir}"
    task_name: str = "${method.name}"  # outputs/<task_name>/; an experiment preset sets its own (all its methods in one folder)
    compile: bool = False  # torch.compile the model (measure first; fails with arch=dcgan on CUDA, torch 2.11: docs/design/performance.md)
    matmul_precision: str | None = None  # e.g. 'high' for TF32 on Ampere+ GPUs
    torch_threads: int | None = None  # CPU intra-op threads; None = torch's default (all cores)


def register_configs() -> None:
    """Store the schemas in Hydra's ConfigStore: ``base_train``, ``base_data``, ``base_arch``, for every
    method YAML ``base_<file stem>`` built from its LightningModule's signature (``method_schema``), and for every
    callback YAML of an ssgen callback ``callbacks/base_<file stem>`` built from its class's (``callback_schema``;
    Lightning's own callbacks keep their YAML as written)."""
    cs = ConfigStore.instance()
    cs.store(name="base_train", node=TrainConfig)
    cs.store(group="data", name="base_data", node=DataConfig)
    cs.store(group="arch", name="base_arch", node=ArchConfig)
    for stem, target in method_targets().items():
        cs.store(group="method", name=f"base_{stem}", node=method_schema(module_class(target), target))
    for stem, (key, target) in callback_targets().items():
        if target.startswith("ssgen."):
            schema = callback_schema(hydra.utils.get_class(target), target)
            cs.store(group="callbacks", name=f"base_{stem}", node={key: schema})


def to_plain(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain dicts and lists, interpolations resolved."""
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
