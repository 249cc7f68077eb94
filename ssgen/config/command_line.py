"""ssgen-train's command line as Hydra reads it: Hydra's own argument parser, search path, override parser and config
loader, asked before Hydra makes anything, so a mistake is one line instead of Hydra's page.

    ssgen-train -m 'arch=glob(vae_*)' seed=0,1           # every sweep form Hydra takes: a,b  choice()  glob()  range()
    ssgen-train --config-dir myconf experiment=mine      # an option from a --config-dir (or hydra.searchpath, a plugin)
    ssgen-train method=nope                              # ssgen-train: error: method=nope is unknown; choose one of: ...

``check_command_line`` builds the search path exactly as ``@hydra.main`` does (``conf/``, a ``--config-dir``, the
search-path plugins of installed packages, ``hydra.searchpath`` from the config or the command line), checks every
value a config-group override can take (a sweep's included: ``glob`` is expanded over the group's options on that
path, as Hydra's basic sweeper expands it) and composes the primary config once; Hydra's refusals come back as one
ConfigError line. ``sweep_job_overrides`` expands a basic sweep into its jobs the way Hydra's ``BasicSweeper`` does
(the pre-flight check of every job, ``ssgen.run.lifecycle.PreflightChecks``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ssgen.errors import ConfigError


@dataclass
class HydraCommandLine:
    """What ``@hydra.main`` makes of a command line: its flags, the config it composes and the loader it asks."""

    args: Any  # Hydra's argparse namespace (overrides, multirun, cfg, help, config_dir, ...)
    config_name: str
    loader: Any  # hydra.core.config_loader.ConfigLoader over the search path Hydra builds for this command line

    @property
    def overrides(self) -> list[str]:
        """The overrides as the shell handed them over (Hydra parses them)."""
        return list(self.args.overrides)

    @property
    def checks(self) -> bool:
        """Whether this command line composes a config (a run, a sweep, ``--cfg``); not ``--help``, ``--info``..."""
        return not (self.args.help or self.args.hydra_help or self.args.info or self.args.shell_completion)


def read_command_line(argv: list[str], config_path: str, config_name: str,
                      calling_file: str | None = None) -> HydraCommandLine:
    """``argv`` parsed by Hydra's own argument parser, and a config loader over the search path ``@hydra.main`` builds
    from it (``config_path`` / ``--config-path``, the search-path plugins, ``--config-dir`` before the schemas).
    Raises ConfigError for a ``--config-dir`` that is not a directory."""
    from ssgen.compat import hydra_args_parser, hydra_config_loader

    args = hydra_args_parser().parse_args(argv)  # a bad flag: argparse's usage line and exit 2, as Hydra's own
    config_dir = None
    if args.config_dir is not None:
        config_dir = os.path.abspath(args.config_dir)
        if not os.path.isdir(config_dir):
            raise ConfigError(f"--config-dir {args.config_dir} is not a directory ({config_dir}); give the directory "
                              "that holds your config groups (e.g. myconf/ with myconf/experiment/mine.yaml)")
    loader = hydra_config_loader(calling_file, args.config_path or config_path, config_dir)
    return HydraCommandLine(args, args.config_name or config_name, loader)


def check_command_line(argv: list[str], config_path: str, config_name: str, calling_file: str | None = None) -> None:
    """Refuse (ConfigError, one line) what Hydra would refuse in ``argv``, before anything is made: an override that
    does not parse, a config-group option that is not on the search path (in every value of a sweep, ``glob`` and
    ``choice`` included, and of ``hydra.sweeper.params``), and any other composition error of the primary config.
    What Hydra accepts passes unchanged."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException, OverrideParseException
    from hydra.types import RunMode
    from omegaconf.errors import OmegaConfBaseException

    command = read_command_line(argv, config_path, config_name, calling_file)
    if not command.checks:
        return
    loader = command.loader
    try:
        overrides = OverridesParser.create(config_loader=loader).parse_overrides(command.overrides)
    except OverrideParseException as exc:
        raise ConfigError(hydra_error_line(exc, command.overrides)) from None
    # with the search path of hydra.searchpath too (read from the primary config and the command line)
    groups = GroupOptions(loader, command.config_name, command.overrides)
    check_group_choices(overrides, groups)
    mode = RunMode.MULTIRUN if command.args.multirun else RunMode.RUN
    try:
        config = loader.load_configuration(config_name=command.config_name, overrides=command.overrides, run_mode=mode)
    except (HydraException, OmegaConfBaseException, ValueError) as exc:
        raise ConfigError(hydra_error_line(exc, command.overrides)) from None
    params = sweeper_params(config)
    if params:
        try:
            parsed = OverridesParser.create(config_loader=loader).parse_overrides(params)
        except OverrideParseException as exc:
            raise ConfigError(f"hydra.sweeper.params: {hydra_error_line(exc, params)}") from None
        check_group_choices(parsed, groups, where=" (in hydra.sweeper.params)")


class GroupOptions:
    """The options of each config group on Hydra's search path for one command line (``hydra.searchpath`` included),
    asked of Hydra's config loader once per group."""

    def __init__(self, loader: Any, config_name: str, overrides: list[str]) -> None:
        self.loader = loader
        self.config_name = config_name
        # only hydra.searchpath changes where the loader looks; the other overrides are not needed to list options
        self.overrides = [word for word in overrides if word.lstrip("+~").startswith("hydra.searchpath")]
        self._cache: dict[tuple[str, bool], list[str]] = {}

    def _ask(self, name: str, groups: bool) -> list[str]:
        from hydra.core.object_type import ObjectType

        if (name, groups) not in self._cache:
            self._cache[name, groups] = self.loader.get_group_options(
                name, results_filter=ObjectType.GROUP if groups else ObjectType.CONFIG,
                config_name=self.config_name, overrides=self.overrides)
        return self._cache[name, groups]

    def is_group(self, key: str) -> bool:
        """Whether ``key`` (``arch``, ``hydra/launcher``) is a config group on the search path."""
        parent, _, name = key.rpartition("/")
        return bool(name) and "." not in key and name in self._ask(parent, True)

    def options(self, group: str) -> list[str]:
        """The group's options a user chooses from: the structured-config schemas (``base_*``) are not choices."""
        return [option for option in self._ask(group, False) if not option.startswith("base_")]


def check_group_choices(overrides: Iterable[Any], groups: GroupOptions, where: str = "") -> None:
    """Every value a config-group override can take (``arch=a``, ``arch=a,b``, ``arch=choice(a,b)``,
    ``arch=glob(a*)``, ``callbacks=[a,b]``) is one of the group's options on the search path, else one ConfigError
    line listing them (``method=nope is unknown; choose one of: ...``). ``null`` and ``~group`` choose none."""
    from hydra.core.override_parser.types import Glob

    for override in overrides:
        group = override.key_or_group
        if override.is_delete() or not groups.is_group(group):
            continue
        options = groups.options(group)
        value = override.value()
        if isinstance(value, Glob):
            if not value.filter(options):
                raise ConfigError(f"{override.input_line} matches no option of {group}{where}; "
                                  f"choose from: {', '.join(options)}")
            continue
        if override.is_sweep_override():
            if not override.is_choice_sweep():
                continue  # range()/interval() over a group: Hydra's own message, from the composition
            choices = list(override.sweep_string_iterator())
        else:
            choices = value if isinstance(value, list) else [value]
        for choice in choices:
            if choice is not None and str(choice) not in options:
                raise ConfigError(f"{group}={choice} is unknown{where}; choose one of: {', '.join(options)}")


def sweeper_params(config: Any) -> list[str]:
    """``hydra.sweeper.params`` of a composed config as override strings (``key=value``), as the basic and the Optuna
    sweepers read them; empty where there are none."""
    from omegaconf import OmegaConf

    params = OmegaConf.select(config, "hydra.sweeper.params", default=None)
    if not params:
        return []
    return [f"{key}={value}" for key, value in OmegaConf.to_container(params, resolve=False).items()]


def sweep_job_overrides(overrides: list[str], loader: Any = None, params: list[str] | None = None) -> list[list[str]]:
    """The override list of every job of a basic-sweeper multirun (``a=1,2 b=x,y`` -> four jobs), as Hydra's
    ``BasicSweeper`` expands them: ``hydra.sweeper.params`` first, the command line after (it wins), ``glob`` over
    the options the ``loader`` finds."""
    from ssgen.compat import expand_sweep

    return expand_sweep([*(params or []), *overrides], config_loader=loader)


GRAMMAR_DOCS = "https://hydra.cc/docs/advanced/override_grammar/basic/"


def hydra_error_line(exc: BaseException, overrides: Iterable[str] = ()) -> str:
    """One line of a Hydra (or OmegaConf) refusal: its lines joined, Hydra's pointers to its docs and to
    HYDRA_FULL_ERROR left out, an OmegaConf cause's first line added where Hydra's own says little."""
    from hydra.errors import OverrideParseException

    text = str(exc)
    if isinstance(exc, OverrideParseException):  # the grammar's complaint alone does not say which word
        text = f"{exc.override} is not an override Hydra can parse: {text.splitlines()[-2 if len(text.splitlines()) > 1 else 0]}"
        return f"{text.rstrip('.')} (quote a value that holds spaces or brackets: key='a b'; grammar: {GRAMMAR_DOCS})"
    cause = exc.__cause__
    if cause is not None and str(cause).strip() and str(cause).strip().splitlines()[0] not in text:
        text += "\n" + str(cause).strip().splitlines()[0]
    lines = [line.strip().rstrip(".") for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith(("See https://hydra.cc", "Set the environment variable",
                                                                      "full_key:", "object_type=", "reference_type="))]
    line = "; ".join(dict.fromkeys(lines))  # in order, each once
    return re.sub(r"\s+", " ", line).rstrip(".;") or type(exc).__name__
