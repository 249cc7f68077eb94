"""Timing a window of training batches the same way in both arms: throughput, peak RSS, CUDA memory."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import resource
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch


class PeakRSS:
    """Peak resident set size during a window: a thread samples /proc/self/statm every ``interval`` seconds.

    ``ru_maxrss`` alone cannot tell two arms of one process apart (it never goes down), hence the sampling.
    """

    def __init__(self, interval: float = 0.01) -> None:
        self.interval, self.peak_bytes = interval, 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def _current(self) -> int:
        try:
            with open("/proc/self/statm") as statm:
                return int(statm.read().split()[1]) * self._page
        except OSError:  # no procfs (macOS): the process-wide peak is the best there is
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_bytes = max(self.peak_bytes, self._current())

    def start(self) -> None:
        self.peak_bytes = self._current()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak_bytes = max(self.peak_bytes, self._current())


def release_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS, so each window's RSS starts from live memory.

    Without this, glibc keeps the pages of earlier models and runs, and RSS only ever grows across the run.
    """
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@dataclass
class Measurement:
    images_per_s: float
    peak_rss_mib: float
    cuda_peak_mib: float | None = None
    fixed_s: float | None = None  # ours: Trainer construction, fit start, epoch end (checkpoint, grids), teardown


@dataclass
class WindowProbe:
    """What to run around the timed window: a torch profiler or cProfile, started and stopped with it."""

    start: Callable[[], None] = lambda: None
    stop: Callable[[], None] = lambda: None


class Window:
    """Times ``n`` batches after ``warmup`` ones; shared by both arms so they are measured the same way."""

    def __init__(self, warmup: int, n: int, device: torch.device, probe: WindowProbe | None = None) -> None:
        self.warmup, self.n, self.device = warmup, n, device
        self.probe = probe or WindowProbe()
        self.rss = PeakRSS()
        self.started = self.stopped = 0.0

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def at_batch(self, index: int) -> None:
        """Call at the start of batch ``index`` (0-based); the window is [warmup, warmup + n)."""
        if index == self.warmup:
            release_memory()
            self._sync()
            if self.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(self.device)
            self.rss.start()
            self.probe.start()
            self.started = time.perf_counter()
        elif index == self.warmup + self.n:
            self._sync()
            self.stopped = time.perf_counter()
            self.probe.stop()
            self.rss.stop()

    def result(self, batch_size: int) -> Measurement:
        if not self.stopped:
            raise RuntimeError("the timed window never closed: fewer batches ran than warmup + n + 1")
        cuda_peak = torch.cuda.max_memory_allocated(self.device) / 2**20 if self.device.type == "cuda" else None
        return Measurement(self.n * batch_size / (self.stopped - self.started), self.rss.peak_bytes / 2**20, cuda_peak)


class WindowCallback(L.Callback):
    def __init__(self, window: Window) -> None:
        self.window = window
        self.first_batch_at = 0.0

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if batch_idx == 0:
            self.first_batch_at = time.perf_counter()
        self.window.at_batch(batch_idx)
