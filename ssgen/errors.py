"""Errors users see as one line: what is wrong and how to fix it (no traceback from the console scripts)."""

import os
import sys
from typing import Any, NoReturn


class SSGenError(Exception):
    """Base class: the console scripts print ``<script>: error: <message>`` and exit 2."""


class ConfigError(SSGenError, ValueError):
    """A config value is invalid; raised before any training starts."""


class DataError(SSGenError):
    """Data files are missing, truncated or corrupt, or input images have the wrong shape/dtype/range."""


class CheckpointError(SSGenError):
    """A checkpoint or saved head is missing, truncated or incompatible."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint names code outside ssgen (a class or network target the gate refuses); nothing was run."""


class InputWarning(UserWarning):
    """Input that is accepted but probably wrong (a blank, dim or dark-on-light image); the console scripts print
    ``<script>: warning: <message>``, the Python API issues it with ``warnings.warn``."""


class StorageError(SSGenError):
    """A file could not be written (disk full, read-only or missing dir): ``cannot write <path>: <reason>; <fix>``.
    Whatever was on disk before stays as it was (``ssgen.io.atomic_write``)."""


class Interrupted(SSGenError):
    """A run stopped by SIGTERM or Ctrl-C after recording ``interrupted``; the message holds the resume command."""


class TrainingFailed(SSGenError):
    """Training diverged or collapsed; ``status`` in results.json says why."""


def exit_with_error(program: str, error: BaseException) -> NoReturn:
    """How every console script reports an SSGenError: ``<program>: error: <message>`` on stderr, exit 2."""
    print(f"{program}: error: {error}", file=sys.stderr)
    sys.exit(2)


def print_output(text: str) -> None:
    """Print ``text`` to stdout; a reader that stops early (``--help | head``, ``ssgen-report ... | head``) ends
    it quietly, not with a traceback."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # Python would raise again while flushing stdout at exit; point stdout at /dev/null so exit is clean.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def positive(value: Any, key: str, hint: str) -> None:
    """ConfigError ``<key>=<value> must be > 0; <hint>`` unless ``value > 0`` (None is refused too): the check every
    config schema (``ssgen.config``) and every method's ``check_config`` share."""
    if value is None or not value > 0:
        raise ConfigError(f"{key}={value} must be > 0; {hint}")
