"""ThreadBudget: beside another busy process a run trains with the cores left free; alone it keeps every thread."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import torch

from ssgen.callbacks.thread_budget import ThreadBudget, busy_cpu_seconds, free_cores
from ssgen.config.schemas import to_plain

pytestmark = pytest.mark.skipif(busy_cpu_seconds() is None, reason="needs /proc/stat (Linux)")


def _drive(callback: ThreadBudget, seconds: float) -> None:
    module = SimpleNamespace(device=torch.device("cpu"))
    trainer = SimpleNamespace(global_step=0)
    callback.on_train_start(trainer, module)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)  # this process stays nearly idle: what is busy is the other one
        trainer.global_step += 1
        callback.on_train_batch_end(trainer, module, None, None, 0)


def test_free_cores_rounds_and_stays_in_range() -> None:
    assert free_cores(2, 0.1) == 2 and free_cores(2, 0.9) == 1 and free_cores(2, 3.0) == 1 and free_cores(8, 2.4) == 6


def test_threads_drop_beside_a_busy_process_and_come_back_after_it(monkeypatch: pytest.MonkeyPatch) -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs at least 2 cores to have something to give up")
    previous = torch.get_num_threads()  # the suite may run with one thread (conftest)
    before = 2
    torch.set_num_threads(before)
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        callback = ThreadBudget(check_every_s=0.5)
        _drive(callback, 2.0)
        assert torch.get_num_threads() == before - 1, callback.changes
    finally:
        spinner.kill()
        spinner.wait()
    # the rest of the machine goes idle (simulated: in a shared CI box real idleness is not guaranteed)
    from ssgen.callbacks import thread_budget

    monkeypatch.setattr(thread_budget, "busy_cpu_seconds", thread_budget.own_cpu_seconds)
    callback._last = callback._sample()
    deadline = time.monotonic() + 1.5
    trainer = SimpleNamespace(global_step=100)
    while time.monotonic() < deadline:
        time.sleep(0.05)
        callback.on_train_batch_end(trainer, SimpleNamespace(device=torch.device("cpu")), None, None, 0)
    assert torch.get_num_threads() == before  # the other work ended: every thread is back
    torch.set_num_threads(previous)


def test_an_explicit_torch_threads_is_left_alone() -> None:
    before = torch.get_num_threads()
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        callback = ThreadBudget(check_every_s=0.3, fixed_threads=before)
        _drive(callback, 1.0)
    finally:
        spinner.kill()
        spinner.wait()
    assert torch.get_num_threads() == before and callback.changes == []


def test_every_run_gets_it_and_torch_threads_switches_it_off() -> None:
    from conftest import compose_config

    spec = to_plain(compose_config(["run_dir=/tmp/x"]).callbacks)["thread_budget"]
    assert spec["_target_"] == "ssgen.callbacks.thread_budget.ThreadBudget" and spec["fixed_threads"] is None
    assert to_plain(compose_config(["run_dir=/tmp/x", "torch_threads=1"]).callbacks)["thread_budget"]["fixed_threads"] == 1
