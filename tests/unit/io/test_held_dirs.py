"""A run dir belongs to one process (issue 39, item 3): a second launch into a dir a live process holds is refused in
one line naming it; a process that died holds nothing (the kernel's flock), and a released dir keeps no lock file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import FAST, compose_config

from ssgen.errors import SSGenError
from ssgen.io import LOCK_FILE, DirBusy, DirLock

REPO = Path(__file__).resolve().parents[3]


def hold_in_another_process(directory: Path) -> subprocess.Popen:
    """A live process that holds ``directory`` (as a running ssgen-train does) until its stdin closes."""
    code = textwrap.dedent(f"""
        import sys
        from ssgen.io import DirLock
        DirLock({str(directory)!r}).acquire()
        print("held", flush=True)
        sys.stdin.read()
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env=env)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_dir_a_live_process_holds_is_refused_naming_it(tmp_path):
    run_dir = tmp_path / "run"
    holder = hold_in_another_process(run_dir)
    try:
        with pytest.raises(DirBusy) as error:
            DirLock(run_dir).acquire()
        assert f"{run_dir} is in use by pid {holder.pid} since " in str(error.value)
        assert DirLock(run_dir).holder()["pid"] == holder.pid
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    DirLock(run_dir).acquire()  # it ended: the dir is free
    DirLock(run_dir).release()


def test_a_dead_process_leaves_no_stale_lock(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / LOCK_FILE).write_text(json.dumps({"pid": 999999, "since": "yesterday"}))  # a SIGKILLed holder's file
    assert DirLock(run_dir).holder() is None
    with DirLock(run_dir).held():
        assert json.loads((run_dir / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert not (run_dir / LOCK_FILE).exists()


def test_holding_is_counted_per_process_and_a_refused_launch_leaves_no_dir(tmp_path):
    run_dir = tmp_path / "new" / "run"
    outer, inner = DirLock(run_dir), DirLock(run_dir)
    outer.acquire()
    inner.acquire()  # the same process again (a Hydra callback, then train): counted, not refused
    inner.release()
    assert (run_dir / LOCK_FILE).is_file()
    outer.release()
    assert not run_dir.exists()  # the lock made it and nothing was written there


def test_train_refuses_a_run_dir_another_process_holds_and_touches_nothing(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "results.json").write_text('{"status": "running", "seed": 0}')
    before = {path.name: path.read_bytes() for path in run_dir.iterdir()}
    holder = hold_in_another_process(run_dir)
    try:
        from ssgen.train import train

        with pytest.raises(SSGenError) as error:
            train(compose_config([*FAST, f"run_dir={run_dir}", "seed=1", "method.callbacks.svm_head=null"]))
        message = str(error.value)
        assert message.startswith(f"{run_dir} is in use by pid {holder.pid} since ") and "\n" not in message
        assert message.endswith(f"wait for it to end (or stop it: kill {holder.pid}), or choose another hydra.run.dir")
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert {path.name: path.read_bytes() for path in run_dir.iterdir()} == before


def test_the_default_run_dir_carries_the_launching_process(tmp_path):
    """Two launches in the same second get two dirs: the default dir ends with the launching process's id."""
    from hydra.core.hydra_config import HydraConfig

    cfg = compose_config(["hydra.job.name=train"], return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    try:
        run_dir, sweep_dir = str(cfg.hydra.run.dir), str(cfg.hydra.sweep.dir)
    finally:
        HydraConfig.instance().cfg = None
    stamp = time.strftime("%Y-%m-%d")
    assert run_dir.startswith(f"outputs/m1/{stamp}_") and run_dir.endswith(f"_{os.getpid()}")
    assert sweep_dir.startswith(f"outputs/m1/multirun/{stamp}_") and sweep_dir.endswith(f"_{os.getpid()}")
