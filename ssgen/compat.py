"""Every private API of torch, Lightning, Hydra and Optuna that ssgen uses, each behind one function, with its fallback.

    logger_writes_now       Lightning: the logger connector's ``should_update_logs``
    stop_at_batch_end       Lightning: the signal connector's ``received_sigterm`` flag
    foreach_clamp_          torch: ``torch._foreach_clamp_min_`` / ``torch._foreach_clamp_max_``
    expand_sweep            Hydra: ``hydra._internal.core_plugins.basic_sweeper.BasicSweeper.split_arguments``
    hydra_args_parser       Hydra: ``hydra._internal.utils.get_args_parser``
    hydra_config_loader     Hydra: ``ConfigLoaderImpl`` over ``create_automatic_config_search_path``'s search path
    optuna_sweeper_impl     hydra-optuna-sweeper: its ``_impl.OptunaSweeperImpl`` and two of its methods
    optuna_alembic_dir      optuna: ``optuna.storages._rdb``'s migration scripts (a SQLAlchemy 2 workaround)
    cpu_has_native_bf16     torch: ``torch.cpu._is_avx512_bf16_supported`` / ``torch.cpu._is_amx_tile_supported``
    uncompiled              torch: ``torch.compile``'s wrapper attribute ``_orig_mod``

Each is used because no public API does the same (the docstrings say why), and each has a fallback that keeps
ssgen correct when a new release renames or drops it, at the cost named there. tests/unit/test_compat.py fails
when an API is no longer there or no longer behaves as assumed, so a dependency upgrade shows here first rather
than as a fallback taken in silence. Nothing else in ssgen may reach into these libraries' private names.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch import nn


def logger_writes_now(trainer: L.Trainer | None) -> bool:
    """Whether the logger writes what ``LightningModule.log`` gets in the current step of ``trainer``.

    Wraps ``trainer._logger_connector.should_update_logs`` (lightning 2.x): the very test the connector applies
    before it writes (``log_every_n_steps`` against the batches that stepped, whatever the optimizers count, or a
    stopping trainer). Lightning has no public twin, and re-deriving it would need other private counters
    (``fit_loop.epoch_loop._batches_that_stepped``). Fallback, also outside a fit (``trainer`` None): True, i.e.
    log every step: the same values written, only the bookkeeping of the skipped steps is paid again.
    """
    connector = getattr(trainer, "_logger_connector", None)
    if connector is None:
        return True
    try:
        return bool(connector.should_update_logs)
    except AttributeError:
        return True


def stop_at_batch_end(trainer: L.Trainer) -> None:
    """Make ``trainer`` stop at the end of the current training batch exactly as after a SIGTERM.

    Sets ``trainer._signal_connector.received_sigterm`` (lightning 2.x; the public ``trainer.received_sigterm`` is
    read-only): the training epoch loop then raises ``SIGTERMException`` once the batch is counted complete (or,
    after an epoch's last batch, once the epoch ended), so the checkpoint saved then resumes at the next batch.
    Lightning's own SIGTERM handler, which sets the flag, also runs collectives inside the handler, which is why
    ssgen sets the flag itself under DDP (``ssgen.run.stops``). Fallback: raise ``SIGTERMException`` at once: the
    run still stops on every rank at the same batch and is recorded as interrupted, but that batch counts as not
    completed, so a resume repeats it.
    """
    connector = getattr(trainer, "_signal_connector", None)
    if connector is None or not hasattr(connector, "received_sigterm"):
        raise SIGTERMException
    connector.received_sigterm = True


def foreach_clamp_(tensors: Sequence[torch.Tensor], low: float, high: float) -> None:
    """Clamp every tensor of ``tensors`` into ``[low, high]`` in place (any shapes, one dtype and device each).

    Wraps ``torch._foreach_clamp_min_`` and ``torch._foreach_clamp_max_`` (torch 2.x; private, no public
    multi-tensor clamp): one kernel per bound over all tensors instead of a launch per tensor, which is what a
    WGAN critic's weight clipping after every step costs on a GPU. Fallback: ``clamp_`` per tensor, the same
    numbers, a launch per tensor.
    """
    tensors = list(tensors)
    clamp_min, clamp_max = getattr(torch, "_foreach_clamp_min_", None), getattr(torch, "_foreach_clamp_max_", None)
    if clamp_min is None or clamp_max is None:
        for tensor in tensors:
            tensor.clamp_(low, high)
        return
    clamp_min(tensors, low)
    clamp_max(tensors, high)


def expand_sweep(overrides: list[str], config_loader: Any = None) -> list[list[str]]:
    """The job override lists of a basic-sweeper multirun, in Hydra's order: ``a=1,2 b=x,y`` -> four jobs.

    Wraps ``BasicSweeper.split_arguments`` of ``hydra._internal.core_plugins.basic_sweeper`` (hydra-core 1.3):
    what ``-m`` runs, which ssgen must know before it launches (pre-flight checks, job names); Hydra exposes no
    public expansion. Fallback: the same cartesian product written out with the public override parser (a later
    key's values vary fastest; a repeated key keeps its first position and its last values). Raises Hydra's
    OverrideParseException for a malformed override and HydraException for a range or interval sweep (which the
    basic sweeper does not run). ``config_loader`` (Hydra's, over this launch's search path) lets ``glob`` sweeps of a
    config group expand over the group's options.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create(config_loader=config_loader).parse_overrides(overrides)
    try:
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

        split = BasicSweeper.split_arguments
    except (ImportError, AttributeError):
        return _expand_sweep_public(parsed)
    return [list(job) for batch in split(parsed, None) for job in batch]


def _expand_sweep_public(parsed: list[Any]) -> list[list[str]]:
    from hydra.errors import HydraException

    choices: dict[str, list[str]] = {}
    for override in parsed:
        key = override.get_key_element()
        if override.is_sweep_override():
            if not override.is_discrete_sweep():
                raise HydraException(f"BasicSweeper does not support sweep type : {override.value_type.name}")
            choices[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            choices[key] = [f"{key}={override.get_value_element_as_str()}"]
    return [list(job) for job in itertools.product(*choices.values())]


def cpu_has_native_bf16() -> bool:
    """Whether this CPU runs bf16 in hardware (AVX512-BF16 or AMX tiles), not emulated by oneDNN.

    Wraps ``torch.cpu._is_avx512_bf16_supported`` and ``torch.cpu._is_amx_tile_supported`` (torch 2.x; private:
    torch's public ``torch.cpu`` has no ISA query, and ``torch.backends.mkldnn.is_available`` is true on CPUs that
    only emulate bf16). Fallback: False, i.e. fp32 where bf16 might have paid: slower, never wrong.
    """
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:
        return False


def uncompiled(module: nn.Module) -> nn.Module:
    """The module ``torch.compile`` wrapped (``module`` itself when it is not a compiled wrapper).

    Wraps ``OptimizedModule._orig_mod`` (torch 2.x; no public accessor): the class and the methods of the model
    itself, e.g. the class name a checkpoint records and the model's own ``configure_optimizers``. Fallback:
    ``module`` unchanged, which for a compiled model is the wrapper (tests/unit/test_compat.py catches that).
    """
    return getattr(module, "_orig_mod", module)


# ------------------------------------------------------------------------------------------------ Hydra's command line
def hydra_args_parser() -> Any:
    """Hydra's own ``argparse`` parser of an app's command line (``-m``, ``--config-dir``, ``--cfg``, the overrides).

    Wraps ``hydra._internal.utils.get_args_parser`` (hydra-core 1.3): ``ssgen-train`` reads its command line with the
    parser ``@hydra.main`` uses, so the pre-flight check sees exactly what Hydra will. No public twin. No fallback: a
    Hydra without it fails here, in tests/unit/test_compat.py, rather than parse differently.
    """
    from hydra._internal.utils import get_args_parser

    return get_args_parser()


def hydra_config_loader(calling_file: str | None, config_path: str | None, config_dir: str | None = None) -> Any:
    """A Hydra config loader over the search path ``@hydra.main`` builds: the primary ``config_path``, the search-path
    plugins, ``hydra.searchpath`` (read by the loader itself) and ``--config-dir`` (``config_dir``, before the schemas).

    Wraps ``hydra._internal.utils.create_automatic_config_search_path`` and
    ``hydra._internal.config_loader_impl.ConfigLoaderImpl`` (hydra-core 1.3): the public ``initialize_config_dir`` +
    ``compose`` would build the same loader but also set Hydra's global state, which ``@hydra.main`` then refuses to
    set again in the same process. No fallback, as for ``hydra_args_parser``.
    """
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_automatic_config_search_path
    from hydra.core.config_search_path import SearchPathQuery

    search_path = create_automatic_config_search_path(calling_file, None, config_path)
    if config_dir is not None:  # as Hydra's _run_hydra adds it: before the structured configs (the schemas)
        search_path.prepend(provider="command-line", path=f"file://{config_dir}", anchor=SearchPathQuery(provider="schema"))
    return ConfigLoaderImpl(config_search_path=search_path)


# ------------------------------------------------------------------------------------------------ Optuna searches
def optuna_sweeper_impl() -> type:
    """hydra-optuna-sweeper's sweeper implementation class, for ``ssgen.run.search.ResumableSearch`` to extend.

    Wraps ``hydra_plugins.hydra_optuna_sweeper._impl.OptunaSweeperImpl`` (hydra-optuna-sweeper 1.2): the public
    ``OptunaSweeper`` only delegates to it; resuming a study needs its ``sweep``. No fallback.
    """
    from hydra_plugins.hydra_optuna_sweeper._impl import OptunaSweeperImpl

    return OptunaSweeperImpl


def optuna_sweeper_params(sweeper: Any) -> list[str]:
    """The search space of an ``OptunaSweeperImpl`` as the override strings it was configured with (its
    ``_parse_sweeper_params_config``, hydra-optuna-sweeper 1.2); fallback: ``[]`` (the study's command then names only
    the command line's overrides)."""
    parse = getattr(sweeper, "_parse_sweeper_params_config", None)
    return list(parse()) if parse is not None else []


def optuna_sweeper_directions(sweeper: Any) -> list[Any]:
    """The optimisation directions of an ``OptunaSweeperImpl`` (its ``_get_directions``, hydra-optuna-sweeper 1.2);
    fallback: its ``direction`` setting as a list."""
    directions = getattr(sweeper, "_get_directions", None)
    if directions is not None:
        return list(directions())
    direction = getattr(sweeper, "direction", "minimize")
    return list(direction) if isinstance(direction, list | tuple) else [direction]


def optuna_alembic_dir() -> str:
    """The folder of optuna's Alembic migration scripts for its database storage (``optuna/storages/_rdb/alembic``):
    the workaround that lets optuna 2.10 open a new SQLite storage under SQLAlchemy 2 stamps the schema with them
    (``ssgen.run.search.open_storage_url``). No fallback."""
    import os

    import optuna.storages._rdb as rdb

    return os.path.join(os.path.dirname(rdb.__file__), "alembic")


def register_own_hydra_plugins() -> None:
    """Register ssgen's sweeper (``hydra_plugins.ssgen_search``) with Hydra by hand, through
    ``Plugins.instance().register`` (Hydra's API for it).

    Hydra 1.3 finds plugins by listing the ``hydra_plugins`` namespace package with pkgutil; setuptools' editable
    installs (PEP 660, the README's ``pip install -e``) serve that namespace through an import hook pkgutil cannot list,
    so the sweeper imports but is never found (hydra#2359). Hydra 1.4 discovers plugins through entry points instead
    (hydra#3252); drop this then. Registering twice is harmless."""
    from hydra.core.plugins import Plugins

    from hydra_plugins.ssgen_search.resumable_optuna_sweeper import ResumableOptunaSweeper

    Plugins.instance().register(ResumableOptunaSweeper)
