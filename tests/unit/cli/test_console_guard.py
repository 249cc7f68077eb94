"""A console that goes away never stops the work (issue 39, item 2): writes to a closed pipe go nowhere, the log file
says once that the console went away; names that are not UTF-8 print escaped; SIGTERM / SIGHUP end a console script as
Ctrl-C does, and a SIGHUP ignored under nohup stays ignored."""

from __future__ import annotations

import logging
import os
import signal
import sys

import pytest

from ssgen.cli import GuardedStream, StopSignal, guarded_console, stops_as_interrupts
from ssgen.io import display_path


@pytest.fixture
def log_file(tmp_path):
    """A FileHandler on the root logger, as Hydra gives each ssgen-train job (<run dir>/train.log)."""
    path = tmp_path / "train.log"
    handler = logging.FileHandler(path)
    logging.getLogger().addHandler(handler)
    yield path
    logging.getLogger().removeHandler(handler)
    handler.close()


def closed_pipe():
    """A text stream whose reader has gone (``| head -1`` after its line): writing raises BrokenPipeError."""
    read, write = os.pipe()
    os.close(read)
    return os.fdopen(write, "w", buffering=1)


def test_a_closed_console_never_raises_and_says_so_once_in_the_log_file(log_file):
    raw = closed_pipe()
    with pytest.raises(BrokenPipeError):  # what Python does without the guard
        raw.write("x\n")
    stream = GuardedStream(closed_pipe(), "stdout")
    for _ in range(3):
        assert stream.write("a log line\n") == len("a log line\n")
        stream.flush()
    assert stream.gone
    lines = log_file.read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("the console went away (stdout can no longer be written: BrokenPipeError")
    assert lines[0].endswith("the work goes on and its messages are in this log file")
    os.write(stream.fileno(), b"C code writing there\n")  # the descriptor now points at /dev/null


def test_the_console_is_put_back_and_prints_any_file_name(capsys):
    before = sys.stdout, sys.stderr
    name = os.fsdecode(b"caf\xe9_1.png")
    with guarded_console("ssgen-test"):
        assert isinstance(sys.stdout, GuardedStream) and isinstance(sys.stderr, GuardedStream)
        print(display_path(name))
        print(name)  # without display_path too: escaped, never UnicodeEncodeError
    assert (sys.stdout, sys.stderr) == before
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "caf\\xe9_1.png" and out[1].startswith("caf\\")


def test_sigterm_and_sighup_stop_a_console_script_as_ctrl_c_does():
    for signum, name in ((signal.SIGTERM, "SIGTERM"), (signal.SIGHUP, "SIGHUP")):
        before = signal.getsignal(signum)
        with pytest.raises(StopSignal) as stop, stops_as_interrupts():
            signal.raise_signal(signum)
        assert stop.value.signal_name == name and isinstance(stop.value, KeyboardInterrupt)
        assert signal.getsignal(signum) is before


def test_a_sighup_ignored_under_nohup_stays_ignored():
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with stops_as_interrupts():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            signal.raise_signal(signal.SIGHUP)  # nothing happens
        from ssgen.run.stops import StopSignals

        with StopSignals().installed():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)
