"""ThreadBudget: on a CPU that other processes share, train with the cores that are actually free.

torch's intra-op pool uses every core and its OpenMP threads spin while they wait. When another busy
process shares the cores, each parallel region waits for a thread that is descheduled, and two runs side by
side each train several times slower than one thread each would (docs/design/performance.md, "Thread policy on a
shared CPU", has the measurements). Passive OpenMP waiting (``OMP_WAIT_POLICY=PASSIVE``) fixes the pair but
slows a run on an idle machine, so instead this callback measures, every ``check_every_s``
seconds of training, how many cores *other* processes kept busy (from ``/proc/stat`` minus this
process's own CPU time) and sets ``torch.set_num_threads`` to the cores left (at least 1, at most the
threads the run started with). An idle machine keeps every thread; when the other work ends the threads
come back. An explicit ``torch_threads`` switches it off (``fixed_threads``), as does a system without
``/proc/stat``.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import lightning as L
import torch

log = logging.getLogger("ssgen")


def busy_cpu_seconds() -> float | None:
    """CPU seconds all processes have spent busy since boot (``/proc/stat``: all but idle and iowait); None off Linux."""
    try:
        with open("/proc/stat") as handle:
            fields = [int(value) for value in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (sum(fields) - fields[3] - (fields[4] if len(fields) > 4 else 0)) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU seconds (user + system, every thread) this process has used."""
    times = os.times()
    return times.user + times.system


def free_cores(cores: int, others_busy: float) -> int:
    """Threads to use: the cores other processes left free, rounded to nearest, between 1 and ``cores``."""
    return max(1, min(cores, int(cores - others_busy + 0.5)))


class ThreadBudget(L.Callback):
    """Adapt torch's CPU thread count to the cores other processes leave free (see the module docstring).

    Args:
        check_every_s: seconds of wall time between measurements (one /proc/stat read each; nothing per step
            beyond a clock read).
        fixed_threads: the run's ``torch_threads``; when set, the user chose and nothing is changed.
    """

    def __init__(self, check_every_s: float = 2.0, fixed_threads: int | None = None) -> None:
        self.check_every_s, self.fixed_threads = check_every_s, fixed_threads
        self.max_threads = 0
        self._last: tuple[float, float, float] | None = None
        self.changes: list[tuple[int, int]] = []  # (global_step, threads) whenever the count changed

    def _sample(self) -> tuple[float, float, float] | None:
        busy = busy_cpu_seconds()
        return None if busy is None else (time.monotonic(), busy, own_cpu_seconds())

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.active = self.fixed_threads is None and pl_module.device.type == "cpu" and busy_cpu_seconds() is not None
        self.max_threads = torch.get_num_threads()
        self._last = self._sample() if self.active else None

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if self._last is None or time.monotonic() - self._last[0] < self.check_every_s:
            return
        now = self._sample()
        if now is None:
            return
        wall, busy, own = (now[i] - self._last[i] for i in range(3))
        self._last = now
        others = max(0.0, (busy - own) / wall) if wall > 0 else 0.0
        threads = free_cores(self.max_threads, others)
        if threads != torch.get_num_threads():
            log.info("ThreadBudget: other processes keep %.1f cores busy; training with %d thread(s)", others, threads)
            torch.set_num_threads(threads)
            self.changes.append((trainer.global_step, threads))

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._last is not None and torch.get_num_threads() != self.max_threads:
            torch.set_num_threads(self.max_threads)  # the end-of-run steps (SVM heads, FID) start from the full pool
