"""What every console script shares: one ``key=value`` parser and one wrapper (``--help``, one-line errors, exit 2).

    ssgen-generate ckpt=<run dir> label=dress n=16        # key=value arguments, any order
    ssgen-generate --help                                 # the script's usage, quietly even into `| head`

Used by ssgen-train, ssgen-generate, ssgen-evaluate, ssgen-predict, ssgen-report, ``python -m ssgen.models.checkpoints``
and ``python -m ssgen.evaluation.evaluator``: an ``SSGenError`` anywhere becomes ``<program>: error: <message>`` on stderr and
exit status 2, with nothing written (docs/errors.md lists the messages).
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ssgen.errors import ConfigError, SSGenError, exit_with_error, print_output

REQUIRED = object()  # the default of an argument that must be given


@dataclass(frozen=True)
class Option:
    """One ``key=value`` argument: its default (``REQUIRED`` for none), how to convert the text, and a hint
    for the 'is required' message (e.g. ``<checkpoint or run dir>``)."""

    default: Any = None
    convert: Callable[[str], Any] = str
    hint: str = "<value>"


def as_int(text: str) -> int:
    """int(text); ValueError for anything else (``parse_key_values`` turns it into one line)."""
    return int(text)


def as_bool(text: str) -> bool:
    """true/false, 1/0, yes/no (any case)."""
    value = text.strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(text)
    return value in ("true", "1", "yes")


def parse_key_values(argv: list[str], options: dict[str, Option], program: str) -> dict[str, Any]:
    """``key=value`` arguments (Hydra-style, no Hydra) -> ``{key: converted value}`` with defaults filled in.

    Raises ConfigError (one line) for an argument that is not ``key=value`` with a known key, a missing
    required one, or a value its converter refuses (``n='three' is not an integer``).
    """
    given: dict[str, str] = {}
    for item in argv:
        key, sep, value = item.partition("=")
        key = key.lstrip("+").strip()
        if not sep or key not in options:
            raise ConfigError(f"unknown argument {item!r}: it is not one of {', '.join(k + '=...' for k in options)} "
                              f"(see `{program} --help`)")
        given[key] = value
    values: dict[str, Any] = {}
    for key, option in options.items():
        if key not in given:
            if option.default is REQUIRED:
                raise ConfigError(f"{key}={option.hint} is required (see `{program} --help`)")
            values[key] = option.default
            continue
        try:
            values[key] = option.convert(given[key])
        except (TypeError, ValueError):
            kind = {as_int: "an integer", as_bool: "true or false", float: "a number"}.get(option.convert, "valid")
            raise ConfigError(f"{key}={given[key]!r} is not {kind}") from None
    return values


def run_console_script(program: str, usage: str | None, argv: list[str] | None,
                       work: Callable[[list[str]], None]) -> None:
    """A console script's main: ``-h``/``--help``/``help`` prints ``usage`` (unless None: the script has its own);
    an SSGenError from ``work`` is one line on stderr and exit status 2."""
    argv = sys.argv[1:] if argv is None else argv
    if usage is not None and any(arg in ("-h", "--help", "help") for arg in argv):
        print_output(usage)
        return
    try:
        work(argv)
    except SSGenError as exc:
        exit_with_error(program, exc)


# ------------------------------------------------------------------------------------------------ command lines
def hydra_value(text: str) -> str:
    """``text`` as a Hydra override value that parses back to exactly ``text``: as it is where Hydra's grammar takes
    it, else single-quoted with the grammar's escapes (a backslash run before a quote doubled, the quote escaped) and
    ``${`` escaped so OmegaConf keeps it literal. A sweep job dir (``0_seed=1``), spaces and non-ASCII need quotes."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:  # an unquoted ${...} would be resolved by OmegaConf: it always gets quotes and its escape
        if "${" not in text and OverridesParser.create().parse_override(f"k={text}").value() == text:
            return text
    except Exception:  # Hydra's grammar errors: the value needs quotes
        pass
    body = re.sub(r"(\\*)'", lambda match: match.group(1) * 2 + "\\'", text.replace("${", "\\${"))
    return f"'{body}{chr(92) * (len(text) - len(text.rstrip(chr(92))))}'"


def shell_word(word: str) -> str:
    """``word`` quoted for a POSIX shell: as ``shlex.quote`` does, but in double quotes when it holds single quotes
    and nothing a shell expands inside double quotes (``'...'"'"'...'`` is correct but hard to read)."""
    if "'" in word and not re.search(r'["$`\\!]', word):
        return f'"{word}"'
    return shlex.quote(word)
