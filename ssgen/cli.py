"""What every console script shares: one ``key=value`` dialect checked against a structured config, one ``--help``
layout, one-line errors (exit 2), and quoting a value for Hydra and the shell.

    ssgen-generate run=<run dir> label=dress n=16         # key=value arguments, any order (as ssgen-train's)
    ssgen-generate --help                                  # what it does, its options, examples, where the docs are

Every console script declares its arguments as a dataclass (``arguments=``, a field per key with its default and a
``help`` line in its metadata) and reads them with ``parse``: ``OmegaConf.structured`` of the dataclass does the
typing, so a typo gets a did-you-mean (``unknown argument 'nn=5': nn= is not one of ssgen-generate's arguments; did you mean n=?``),
a wrong type one line (``n='abc' is not an integer``), and a required key that is missing one line. Values stay the text the
shell handed over (a path ``007`` or ``1e3`` is not turned into a number); ``null`` is None; a list key takes
``[a,b]`` or ``a,b``. Old spellings of a key or an ``--option`` of an earlier release are accepted for one release
with a warning that names the new one (``Legacy``).

Used by ssgen-generate, ssgen-evaluate, ssgen-predict, ssgen-report, ssgen-study, ssgen-export,
``python -m ssgen.evaluation.evaluator`` and ``python -m benchmarks`` (ssgen-train's own are Hydra's overrides, and its
``--help`` is Hydra's, with ssgen's template: conf/hydra/default.yaml): an ``SSGenError`` anywhere becomes
``<program>: error: <message>`` on stderr and exit status 2, with nothing written (docs/errors.md lists the messages).

The console a script writes to may go away while it runs (``... | head -1``, a closed terminal tab, an ssh session that
drops): ``guarded_console`` makes stdout and stderr writes that fail go nowhere instead of raising, once says so in
the log files (ssgen-train's ``<run dir>/train.log``), and lets the work go on. File names that are not UTF-8 print
escaped (``caf\\xe9_1.png``) instead of raising. A SIGTERM or SIGHUP to a console script other than ssgen-train
(which records the run as interrupted: ``ssgen.run.stops``) ends it as Ctrl-C does: one line, exit 2, and every file it
writes either whole or untouched (``ssgen.io.atomic_write``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import errno
import logging
import os
import re
import shlex
import signal
import sys
import textwrap
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ssgen.errors import ConfigError, SSGenError, exit_with_error, print_output
from ssgen.io import reading_inputs

T = TypeVar("T")


def argument(default: Any = dataclasses.MISSING, help: str = "", hint: str = "<value>",  # noqa: A002
             choices: tuple[str, ...] = (), path: bool = False) -> Any:
    """A dataclass field of a console script's arguments: its default (none: the key is required), one ``help``
    line for ``--help``, a ``hint`` for the 'is required' message (``<run dir>``) and, for a text key, the
    ``choices`` it accepts. ``path``: a file or dir (or a list of them): a leading ``~`` is expanded, as the shell
    would outside ``key=`` (zsh, quotes); a relative one stays relative to the directory the script runs in. A list
    or dict default is copied for each parse."""
    metadata = {"help": help, "hint": hint, "choices": choices, "path": path}
    if isinstance(default, list | dict):
        return field(default_factory=lambda value=default: type(value)(value), metadata=metadata)
    if default is dataclasses.MISSING:
        from omegaconf import MISSING

        return field(default=MISSING, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Legacy:
    """An earlier release's spellings, accepted for one more release with a ``<program>: warning:`` line each.

    ``keys``: an old key -> the new one (``ckpt`` -> ``run``). ``options``: an ``--option VALUE`` (or
    ``--option=VALUE``) -> the key it is now. ``switches``: a ``--switch`` without a value -> ``key=true``.
    ``positional``: the key bare words (not ``key=value``, not ``--...``) are for (a list key collects them).
    ``aliases``: like ``options``, but another tool's spelling that stays (Hydra's ``--config-dir DIR``): rewritten
    without a warning.
    """

    keys: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    switches: dict[str, str] = field(default_factory=dict)
    positional: str | None = None
    aliases: dict[str, str] = field(default_factory=dict)


def translate_legacy(argv: list[str], legacy: Legacy, program: str) -> list[str]:
    """``argv`` in today's ``key=value`` dialect: each old spelling of ``legacy`` rewritten, with one warning line on
    stderr saying what to write instead (an alias: without one). Words that are no old spelling pass through
    unchanged."""
    words: list[str] = []
    given_positional: list[str] = []
    index = 0
    while index < len(argv):
        word = argv[index]
        name, eq, inline = word.partition("=")
        key_of = legacy.options.get(name) or legacy.aliases.get(name) if word.startswith("-") else None
        if key_of:
            if eq:
                value = inline
            elif index + 1 < len(argv):
                index += 1
                value = argv[index]
            else:
                raise ConfigError(f"{name} needs a value; write {key_of}=<value> (see `{program} --help`)")
            if name in legacy.options:
                _deprecated(program, f"{name} {value}", f"{key_of}={value}")
            words.append(f"{key_of}={value}")
        elif word in legacy.switches:
            _deprecated(program, word, f"{legacy.switches[word]}=true")
            words.append(f"{legacy.switches[word]}=true")
        elif not eq and not word.startswith("-") and legacy.positional:
            given_positional.append(word)
        else:
            key = name.lstrip("+")
            if eq and key in legacy.keys:
                _deprecated(program, f"{key}=", f"{legacy.keys[key]}=")
                word = f"{legacy.keys[key]}={inline}"
            words.append(word)
        index += 1
    if given_positional:
        joined = given_positional[0] if len(given_positional) == 1 else "[" + ",".join(given_positional) + "]"
        _deprecated(program, " ".join(given_positional), f"{legacy.positional}={joined}")
        words.insert(0, f"{legacy.positional}={joined}")
    return words


def _deprecated(program: str, old: str, new: str) -> None:
    print(f"{program}: warning: `{old}` is deprecated and goes in the next release; write `{new}`", file=sys.stderr)


def _fields(arguments: type) -> dict[str, dataclasses.Field]:
    return {spec.name: spec for spec in dataclasses.fields(arguments)}


def _is_list(spec: dataclasses.Field, hints: dict[str, Any]) -> bool:
    hint = hints.get(spec.name)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(typing.get_origin(arg) is list or arg is list for arg in typing.get_args(hint))
    return origin is list or hint is list


_KINDS = {int: "an integer", float: "a number", bool: "true or false", str: "text"}


def _kind(hint: Any) -> str:
    args = [arg for arg in typing.get_args(hint) if arg is not type(None)] or [hint]
    return _KINDS.get(args[0], "valid")


def parse(argv: list[str], arguments: type[T], program: str, legacy: Legacy | None = None) -> T:
    """``key=value`` words -> an instance of the dataclass ``arguments``, typed and checked by OmegaConf.

    Raises ConfigError (one line, pointing at ``<program> --help``) for a word that is not ``key=value``, a key the
    dataclass has not (with the closest one as a did-you-mean), a value of the wrong type, a text value outside its
    field's ``choices``, and a required key that is missing.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if legacy is not None:
        argv = translate_legacy(argv, legacy, program)
    fields = _fields(arguments)
    hints = typing.get_type_hints(arguments)
    config = OmegaConf.structured(arguments)
    see = f"(see `{program} --help`)"
    for word in argv:
        key, sep, text = word.partition("=")
        key = key.lstrip("+").strip()
        if not sep or not key:
            raise ConfigError(f"{word!r} is not key=value; {program} takes {', '.join(k + '=...' for k in fields)} {see}")
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}=?" if close else f"; it takes {', '.join(k + '=...' for k in fields)}"
            raise ConfigError(f"unknown argument {word!r}: {key}= is not one of {program}'s arguments{hint} {see}")
        value: Any = text
        if text.strip().lower() in ("null", "none"):
            value = None
        elif _is_list(fields[key], hints):
            inner = text.strip()[1:-1] if text.strip().startswith("[") and text.strip().endswith("]") else text
            value = [item.strip() for item in inner.split(",") if item.strip()]
        if value is not None and fields[key].metadata.get("path"):
            value = [os.path.expanduser(item) for item in value] if isinstance(value, list) else os.path.expanduser(value)
        try:
            setattr(config, key, value)
        except OmegaConfBaseException:
            raise ConfigError(f"{key}={text!r} is not {_kind(hints.get(key))} {see}") from None
        choices = fields[key].metadata.get("choices") or ()
        if choices and value is not None and str(getattr(config, key)) not in choices:
            words = f"{', '.join(choices[:-1])} or {choices[-1]}" if len(choices) > 1 else choices[0]
            raise ConfigError(f"{key}={text} is unknown; use {words} {see}")
    for key in sorted(OmegaConf.missing_keys(config)):
        hint = fields[key].metadata.get("hint", "<value>") if key in fields else "<value>"
        raise ConfigError(f"{key}={hint} is required {see}")
    return OmegaConf.to_object(config)  # type: ignore[return-value]


def help_text(program: str, description: str, arguments: type | None, examples: list[str],
              docs: str = "", usage: str | None = None) -> str:
    """The ``--help`` page every console script prints: what it does, its options (from the dataclass: key,
    default, help), three examples, and where the docs are (``docs``: a page under docs/)."""
    lines = [usage or f"usage: {program} key=value ...", "", textwrap.fill(" ".join(description.split()), 110), ""]
    if arguments is not None:
        lines.append("options (key=value, any order):")
        for name, spec in _fields(arguments).items():
            if spec.default is not dataclasses.MISSING and str(spec.default) != "???":
                default = f" (default {spec.default})" if spec.default not in (None, "") else ""
            elif spec.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                default = f" (default {spec.default_factory()})" if spec.default_factory() else ""  # type: ignore[misc]
            else:
                default = " (required)"
            choices = spec.metadata.get("choices")
            options = f" [{'|'.join(choices)}]" if choices else ""
            lines.append(f"  {name:<18}{spec.metadata.get('help', '')}{options}{default}")
        lines.append("")
    lines.append("examples:")
    lines += [f"  {example}" for example in examples]
    lines += ["", f"docs: {docs or 'docs/README.md'} in the ssgen repository (docs/README.md lists every page)"]
    return "\n".join(lines)


def run_console_script(program: str, usage: str | None, argv: list[str] | None,
                       work: Callable[[list[str]], None], guard_inputs: bool = True) -> None:
    """A console script's main: ``-h``/``--help``/``help`` prints ``usage`` (unless None: the script has its own);
    an SSGenError from ``work`` is one line on stderr and exit status 2, and so is a stop (Ctrl-C, SIGTERM, SIGHUP:
    ``stops_as_interrupts``). The console may go away meanwhile (``guarded_console``). ``guard_inputs``: what
    ``work`` records as its inputs (``ssgen.io.add_inputs``) it may not write over (``ssgen.io.reading_inputs``);
    off for a command that updates its own records (ssgen-study)."""
    argv = sys.argv[1:] if argv is None else argv
    with guarded_console(program):
        if usage is not None and any(arg in ("-h", "--help", "help") for arg in argv):
            print_output(usage)
            return
        try:
            with stops_as_interrupts(), reading_inputs() if guard_inputs else contextlib.nullcontext():
                work(argv)
        except SSGenError as exc:
            exit_with_error(program, exc)
        except KeyboardInterrupt as exc:
            exit_with_error(program, SSGenError(
                f"interrupted ({getattr(exc, 'signal_name', 'SIGINT')}); every file it wrote is whole or left as it "
                "was: run the same command again"))


# ------------------------------------------------------------------------------------------------ stops
class StopSignal(KeyboardInterrupt):
    """SIGTERM or SIGHUP to a console script, raised where it lands as Ctrl-C's KeyboardInterrupt is (so no
    ``except Exception`` swallows it); ``signal_name`` says which."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


def ignored_at_start(signum: int) -> bool:
    """Whether ``signum`` was set to be ignored when this process started and is still: a SIGHUP under ``nohup``, whose
    whole point is that a hang-up does not stop the command. Such a signal is left ignored."""
    return signal.getsignal(signum) is signal.SIG_IGN


@contextlib.contextmanager
def stops_as_interrupts() -> Iterator[None]:
    """SIGTERM and SIGHUP raise ``StopSignal`` for the ``with`` block (main thread only; a SIGHUP ignored under
    ``nohup`` stays ignored), then the previous handlers are back; Ctrl-C is Python's KeyboardInterrupt as ever."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise StopSignal(signal.Signals(signum).name)

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGHUP)
                if not ignored_at_start(signum)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


# ------------------------------------------------------------------------------------------------ the console
# errors that say the reader of a console stream went away: a closed pipe (| head), a hung-up terminal (EIO), a
# closed file (ValueError from Python's own stream)
CONSOLE_GONE = (OSError, ValueError)
_pending_notes: list[str] = []  # went-away notes from before any log file was open (a sweep's first lines)


class GuardedStream:
    """``sys.stdout`` / ``sys.stderr`` for the life of a console script: a write or flush that fails because nobody
    reads any more (``CONSOLE_GONE``) goes nowhere instead of raising. The first such failure points the file
    descriptor at /dev/null (so C code writing there, and the final flush at exit, go nowhere too) and says once, in
    the log files, that the console went away. Everything else is the wrapped stream's."""

    def __init__(self, stream: Any, name: str) -> None:
        self._stream, self._name = stream, name
        self.gone = False

    def write(self, text: str) -> int:
        """Write ``text``; returns its length whether or not anyone reads it."""
        if not self.gone:
            try:
                return self._stream.write(text)
            except CONSOLE_GONE as exc:
                self._went_away(exc)
        return len(text)

    def flush(self) -> None:
        """Flush, or nothing once the reader is gone."""
        if not self.gone:
            try:
                self._stream.flush()
            except CONSOLE_GONE as exc:
                self._went_away(exc)

    def writelines(self, lines: Any) -> None:
        """``write`` of each line."""
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def _went_away(self, exc: BaseException) -> None:
        self.gone = True
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        note_in_log_files(f"the console went away ({self._name} can no longer be written: {reason}); the work goes on "
                          "and its messages are in this log file")


def log_files() -> list[logging.FileHandler]:
    """The file handlers of the root logger and of ssgen's: where a run's log lines go besides the console."""
    handlers = [*logging.getLogger().handlers, *logging.getLogger("ssgen").handlers]
    return [handler for handler in handlers if isinstance(handler, logging.FileHandler)]


def note_in_log_files(message: str) -> None:
    """Log ``message`` (WARNING, logger ``ssgen``) to the log files only, never the console; kept until a log file is
    open when there is none yet (``flush_notes``)."""
    handlers = log_files()
    if not handlers:
        _pending_notes.append(message)
        return
    record = logging.getLogger("ssgen").makeRecord("ssgen", logging.WARNING, __file__, 0, message, None, None)
    for handler in handlers:
        handler.handle(record)


def flush_notes() -> None:
    """Log the notes ``note_in_log_files`` kept while no log file was open (call once one is: a job's start)."""
    notes = list(_pending_notes)
    _pending_notes.clear()
    if log_files():
        for message in notes:
            note_in_log_files(message)
    else:
        _pending_notes.extend(notes)


def quiet_log_file_errors(program: str) -> None:
    """A log file that cannot be written (a full disk) costs one warning line on the console, not a traceback per log
    line (``logging``'s own error report); the file is then left alone for the rest of the run."""
    for handler in log_files():
        if getattr(handler, "ssgen_quiet", False):
            continue

        def report(record: logging.LogRecord, handler: logging.FileHandler = handler) -> None:
            if handler.level > logging.CRITICAL:
                return
            handler.setLevel(logging.CRITICAL + 1)
            exc = sys.exc_info()[1]
            reason = getattr(exc, "strerror", None) or (str(exc) if exc else "unknown error")
            print(f"{program}: warning: cannot write the log file {handler.baseFilename}: {reason}; the rest of the "
                  "log goes to the console only", file=sys.stderr)

        handler.handleError = report  # type: ignore[method-assign]
        handler.ssgen_quiet = True  # type: ignore[attr-defined]


@contextlib.contextmanager
def guarded_console(program: str) -> Iterator[None]:
    """For a console script's whole life: stdout and stderr as ``GuardedStream`` (a reader that goes away never stops
    the work) whose text encodes any file name (``backslashreplace``); a standard descriptor that was closed when
    the process started is pointed at /dev/null first, so no file the script opens can land on it. Then the streams
    are put back."""
    for fd in (0, 1, 2):  # a closed 1 or 2 would be handed to the next file opened: a checkpoint would get the logs
        try:
            os.fstat(fd)
        except OSError as exc:
            if exc.errno == errno.EBADF:
                opened = os.open(os.devnull, os.O_RDWR)
                if opened != fd:
                    os.dup2(opened, fd)
                    os.close(opened)
    previous = sys.stdout, sys.stderr
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None:  # Python found the descriptor closed at start
            stream = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process's stream would
        if isinstance(stream, GuardedStream):
            continue
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")  # a name that is not UTF-8 prints, escaped
        setattr(sys, name, GuardedStream(stream, name))
    try:
        yield
    finally:
        sys.stdout, sys.stderr = previous


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
