"""``concurrent=K``: copies of the 'ours' arm as separate processes, against one copy alone."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from benchmarks.arms import LightningArm
from benchmarks.config import bench_device, compose_bench_config
from benchmarks.report import ConcurrencyResult
from benchmarks.runner import calibrated_batches, update_period, window_size
from ssgen.run.build import apply_run_settings
from ssgen.run.lifecycle import device_precision

if TYPE_CHECKING:
    from benchmarks.cli import BenchArguments

COPY_READY, COPY_RESULT = "ssgen-bench-copy-ready", "ssgen-bench-copy-result"  # the copies' stdout protocol


def copy_main(args: BenchArguments) -> None:
    """One copy of the 'ours' arm (``copy_of=SPEC``, started by ``run_copies``): build it, run one discarded fit,
    print COPY_READY, wait for a line on stdin, time ``repeats`` windows, print COPY_RESULT with their images/s,
    then keep training untimed until stdin closes, so the other copies' windows end under the same load."""
    spec = args.copy_of
    with tempfile.TemporaryDirectory(prefix="ssgen-bench-copy-") as work:
        cfg = compose_bench_config(spec, Path(work) / "run", args.override)
        apply_run_settings(cfg)
        device_precision(cfg)
        arm = LightningArm(cfg, bench_device(cfg))
        warmup, n = window_size(args, str(cfg.method.family))
        first = arm.measure(warmup, n).images_per_s
        n = calibrated_batches(args, n, first, arm.batch_size, update_period(cfg))
        print(COPY_READY, flush=True)
        if not sys.stdin.readline():  # 'go': every copy is built and warm; end of input: the bench gave up
            return
        stop = threading.Event()
        threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
        figures = [arm.measure(warmup, n).images_per_s for _ in range(args.repeats)]
        print(f"{COPY_RESULT} {json.dumps({'images_per_s': figures, 'threads': torch.get_num_threads()})}", flush=True)
        while not stop.is_set():
            arm.measure(0, n)


def run_copies(spec: str, args: BenchArguments, k: int, timeout_s: float = 3600) -> list[dict[str, Any]]:
    """Start ``k`` copies of the 'ours' arm of ``spec`` as processes, let them time their windows at once, and
    return each copy's COPY_RESULT. Each copy inherits this process's environment and sets threads only as
    the config asks (``apply_run_settings``). Raises RuntimeError, with the tail of its stderr, if a copy fails."""
    command = [sys.executable, "-m", "benchmarks", f"copy_of={spec}", f"repeats={args.repeats}",
               f"window_s={args.window_s}", *(["quick=true"] if args.quick else []),
               *([f"batches={args.batches}"] if args.batches else []),
               *([f"warmup={args.warmup}"] if args.warmup is not None else []),
               *([f"override=[{','.join(args.override)}]"] if args.override else [])]
    with contextlib.ExitStack() as stack:
        logs = [stack.enter_context(tempfile.TemporaryFile(mode="w+")) for _ in range(k)]
        # the copies import the same ssgen as this process (a checkout on PYTHONPATH, not another install)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                                         os.environ.get("PYTHONPATH")]))}
        copies = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
                  for log in logs]
        # a copy that hangs without a line would block the reads below for good: kill them all at the deadline
        watchdog = threading.Timer(timeout_s, lambda: [copy.kill() for copy in copies])
        watchdog.daemon = True
        watchdog.start()
        stack.callback(watchdog.cancel)

        def fail(index: int, what: str) -> RuntimeError:
            for copy in copies:
                copy.kill()
            logs[index].seek(0)
            tail = " | ".join(logs[index].read().strip().splitlines()[-3:])
            return RuntimeError(f"copy {index + 1} of {spec} {what}: {tail[-400:]}")

        def wait_for(index: int, prefix: str) -> str:
            for line in copies[index].stdout:  # type: ignore[union-attr]
                if line.startswith(prefix):
                    return line[len(prefix):].strip()
            raise fail(index, f"ended before '{prefix}' (exit status {copies[index].wait()}; "
                              f"killed after {timeout_s:.0f} s if negative)")

        try:
            for index in range(k):
                wait_for(index, COPY_READY)
            for copy in copies:  # as close together as the pipes allow
                copy.stdin.write("go\n")  # type: ignore[union-attr]
                copy.stdin.flush()  # type: ignore[union-attr]
            results = [json.loads(wait_for(index, COPY_RESULT)) for index in range(k)]
        finally:
            for copy in copies:
                with contextlib.suppress(OSError):
                    copy.stdin.close()  # type: ignore[union-attr]
            for copy in copies:
                try:
                    copy.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    copy.kill()
    return results


def run_concurrent(spec: str, args: BenchArguments) -> ConcurrencyResult:
    """One copy alone, then ``concurrent=`` copies at once: each copy's throughput as a fraction of the lone one."""
    print(f"  {spec}: 1 copy alone", flush=True)
    solo = run_copies(spec, args, 1)[0]
    print(f"  {spec}: alone {statistics.median(solo['images_per_s']):,.0f} img/s; {args.concurrent} copies at once",
          flush=True)
    copies = run_copies(spec, args, args.concurrent)
    result = ConcurrencyResult(spec, args.concurrent, solo["images_per_s"], [c["images_per_s"] for c in copies],
                               threads=int(solo.get("threads", 0)))
    print(f"  {spec}: each copy / alone: {', '.join(f'{f:.2f}' for f in result.fractions())}", flush=True)
    return result
