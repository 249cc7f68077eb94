"""The ``conf/`` directory as files: where it is (a checkout's or a wheel's), its method and arch YAMLs read without
Hydra (or through the running Hydra app's search path), and the resolver its YAMLs use. Below ``ssgen.config`` and ``ssgen.models``, which both read it (a method checks its arch choices
here), so neither has to import the other to find a YAML.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf


def _conf_dir() -> Path:
    """Where ssgen's Hydra configs are: ``ssgen/conf/`` in an installed wheel (setup.py ships the repository's top-level
    ``conf/`` as that package data), else ``conf/`` beside the package (a checkout, an editable install)."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "conf", package.parent / "conf"):
        if (candidate / "train.yaml").is_file():
            return candidate
    return package.parent / "conf"


CONF_DIR = _conf_dir()
ARCH_DIR = CONF_DIR / "arch"
METHOD_DIR = CONF_DIR / "method"
CALLBACKS_DIR = CONF_DIR / "callbacks"


def method_targets(method_dir: str | Path = METHOD_DIR) -> dict[str, str]:
    """``{method file stem: its _target_}`` for every ``conf/method/*.yaml``: a new method file is found as is."""
    targets = {}
    for path in sorted(Path(method_dir).glob("*.yaml")):
        spec = yaml.safe_load(path.read_text()) or {}
        if isinstance(spec.get("_target_"), str):
            targets[path.stem] = spec["_target_"]
    return targets


def callback_targets(callbacks_dir: str | Path = CALLBACKS_DIR) -> dict[str, tuple[str, str]]:
    """``{file stem: (its key, its _target_)}`` for every one-callback YAML of ``conf/callbacks/`` (one key other
    than ``defaults`` whose value names a ``_target_``); the group files (default.yaml, gan.yaml) hold none."""
    targets = {}
    for path in sorted(Path(callbacks_dir).glob("*.yaml")):
        spec = {key: value for key, value in (yaml.safe_load(path.read_text()) or {}).items() if key != "defaults"}
        if len(spec) == 1:
            key, value = next(iter(spec.items()))
            if isinstance(value, dict) and isinstance(value.get("_target_"), str):
                targets[path.stem] = (key, value["_target_"])
    return targets


def search_path_options(group: str) -> dict[str, dict[str, Any]] | None:
    """``{option: its YAML content}`` of a config group on the search path of the Hydra app that runs (ssgen's conf/,
    a ``--config-dir``, ``hydra.searchpath``; the first source that has an option wins, as in Hydra), schemas left
    out; None outside a Hydra app."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.object_type import ObjectType

    if not GlobalHydra.instance().is_initialized():
        return None
    found: dict[str, dict[str, Any]] = {}
    for source in GlobalHydra.instance().config_loader().get_sources():
        if source.scheme() == "structured" or not source.available() or not source.is_group(group):
            continue
        for name in source.list(group, ObjectType.CONFIG):
            if name not in found:
                loaded = source.load_config(f"{group}/{name}")
                found[name] = OmegaConf.to_container(loaded.config, resolve=False) if loaded.config is not None else {}
    return dict(sorted(found.items()))


def arch_specs(family: str, arch_dir: str | Path = ARCH_DIR) -> dict[str, dict[str, Any]]:
    """``{name: YAML content}`` of the ``arch`` options of one family: those on the running Hydra app's search path
    (a user's own from a ``--config-dir`` included), else ``conf/arch/*.yaml``; a new file is listed as is."""
    options = search_path_options("arch") if Path(arch_dir) == ARCH_DIR else None
    if options is None:
        options = {path.stem: yaml.safe_load(path.read_text()) or {} for path in sorted(Path(arch_dir).glob("*.yaml"))}
    return {spec.get("name", stem): spec for stem, spec in options.items() if spec.get("family") == family}


def arch_names(family: str, arch_dir: str | Path = ARCH_DIR) -> list[str]:
    """The ``arch`` options of one family, sorted by file name."""
    return list(arch_specs(family, arch_dir))


# ------------------------------------------------------------------------------------------------ sweep job dirs
JOB_NAME_LENGTH = 60  # a sweep job dir is '<num>_<overrides>', cut to this and a hash: file names stay legal


def swept_keys(argv: list[str] | None = None) -> set[str]:
    """The keys a command line sweeps (``a=1,2``, ``b=range(3)``, ``c=glob(*)``; default ``sys.argv[1:]``), as
    Hydra's own grammar reads them; an empty set where none, or where the sweep is not on the command line (an
    Optuna search space in a preset) or it does not parse."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    words = [word for word in (sys.argv[1:] if argv is None else argv) if not word.startswith("-")]
    try:
        return {override.key_or_group for override in OverridesParser.create().parse_overrides(words)
                if override.is_sweep_override()}
    except Exception:  # a word that is not an override (ssgen-train's own options): nothing to go by
        return set()


def job_name(override_dirname: str, swept: set[str] | None = None) -> str:
    """A flat, short dir name for a sweep job's overrides (``JOB_NAME_LENGTH`` characters at most).

    Path separators are replaced. The overrides the sweep varies (``swept``, by default ``swept_keys()`` of this
    process's command line) come first, so jobs of one sweep differ at the start of their names. When the whole is
    too long, those are kept, then the shortest of the rest (long lists and paths seldom tell jobs apart), and the
    others are replaced by a hash of the whole; every job's full overrides stay in ``.hydra/overrides.yaml``.
    """
    swept = swept_keys() if swept is None else swept
    items, depth, start = [], 0, 0
    for index, char in enumerate(override_dirname):  # the commas between overrides, not those inside [a,b]
        depth += char == "["
        depth -= char == "]"
        if char == "," and depth == 0:
            items.append(override_dirname[start:index])
            start = index + 1
    items.append(override_dirname[start:])
    varies = [item.partition("=")[0].lstrip("+~") in swept for item in items]
    order = sorted(range(len(items)), key=lambda i: not varies[i])  # stable: the swept first, each group in order
    items = [re.sub(r"[^A-Za-z0-9._,=+-]", "-", items[i]) for i in order]
    varies = [varies[i] for i in order]
    flat = ",".join(items)
    if len(flat) <= JOB_NAME_LENGTH:
        return flat
    digest = hashlib.sha1(override_dirname.encode()).hexdigest()[:8]
    budget, kept = JOB_NAME_LENGTH - 9, set()
    for index in sorted(range(len(items)), key=lambda i: (not varies[i], len(items[i]))):
        cost = len(items[index]) + (1 if kept else 0)
        if cost > budget:
            if varies[index]:
                continue  # a long swept value: the hash tells those jobs apart; shorter ones may still fit
            break
        kept.add(index)
        budget -= cost
    name = ",".join(item for index, item in enumerate(items) if index in kept) or flat[:JOB_NAME_LENGTH - 9]
    return f"{name}~{digest}"


def config_groups() -> str:
    """The config groups and their options as ``ssgen-train --help`` lists them, one line per group, from Hydra's
    own config loader (its search path: ``conf/``, a ``--config-dir``, ``hydra.searchpath``); the structured-config
    schemas (``base_*``) are left out, they are not choices. Empty outside a Hydra app."""
    from hydra.core.global_hydra import GlobalHydra

    if not GlobalHydra.instance().is_initialized():
        return ""
    loader = GlobalHydra.instance().config_loader()
    lines = []
    for group in sorted(loader.list_groups("")):
        if group == "hydra":
            continue
        options = [option for option in loader.get_group_options(group) if not option.startswith("base_")]
        lines.append(f"  {group + ':':<12} {', '.join(options)}")
    return "\n".join(lines)


def launch_id() -> str:
    """``${ssgen_launch:}``: what keeps the default run and sweep dirs of two launches in the same second apart, the
    launching process's id. Cached in the config like Hydra's ``${now:...}``, so a sweep's jobs (also a parallel
    launcher's, which get the launcher's cache) resolve the dir their launch made."""
    return str(os.getpid())


def register_resolvers() -> None:
    """``${ssgen_job_name:...}``, ``${ssgen_groups:}`` and ``${ssgen_launch:}`` for conf/hydra/default.yaml;
    registered on import of ssgen.config.schemas (every process that composes a config)."""
    if not OmegaConf.has_resolver("ssgen_job_name"):
        OmegaConf.register_new_resolver("ssgen_job_name", job_name)
    if not OmegaConf.has_resolver("ssgen_groups"):
        OmegaConf.register_new_resolver("ssgen_groups", config_groups)
    if not OmegaConf.has_resolver("ssgen_launch"):
        OmegaConf.register_new_resolver("ssgen_launch", launch_id, use_cache=True)
