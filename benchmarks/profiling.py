"""Where one training step's time goes, in both arms (``profile``, ``profile_only``)."""

from __future__ import annotations

import cProfile
import io
import pstats
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from benchmarks.arms import LightningArm, PlainArm
from benchmarks.config import bench_device, compose_bench_config
from benchmarks.measure import WindowProbe
from benchmarks.report import markdown_table
from benchmarks.runner import window_size

if TYPE_CHECKING:
    from benchmarks.cli import BenchArguments


def profile_model(spec: str, args: BenchArguments, work_dir: Path) -> str:
    """Where one training step's time goes, in both arms: torch.profiler per op, cProfile per package (ours)."""
    cfg = compose_bench_config(spec, work_dir / f"profile_{spec.replace('/', '_')}", args.override)
    family = str(cfg.method.family)
    warmup, n = window_size(args, family)
    if not args.batches:  # profilers slow every step down: a third of the table's window is enough
        n = max(5, n // 3 - n // 3 % 5)  # whole n_critic cycles
    device = bench_device(cfg)
    ours = LightningArm(cfg, device)
    plain = PlainArm(cfg, ours.datamodule, device)
    ours.measure(warmup, n)  # warm-up
    plain.measure(warmup, n)
    lines = [f"### {spec} (batch {ours.batch_size}, {n} batches profiled per arm)", ""]
    per_arm: dict[str, tuple[float, Any]] = {}
    for name, arm in (("ours", ours), ("plain", plain)):
        activities = [torch.profiler.ProfilerActivity.CPU]
        if device.type == "cuda":
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        profiler = torch.profiler.profile(activities=activities)
        measurement = arm.measure(warmup, n, WindowProbe(profiler.start, profiler.stop))
        step_ms = 1000 * ours.batch_size / measurement.images_per_s
        per_arm[name] = (step_ms, profiler.key_averages())
    rows = []
    for name, (step_ms, averages) in per_arm.items():
        aten_ms = sum(a.self_cpu_time_total for a in averages if a.key.startswith("aten::")) / 1000 / n
        rest_ms = max(0.0, step_ms - aten_ms)
        rows.append([name, f"{step_ms:.2f}", f"{aten_ms:.2f} ({aten_ms / step_ms:.0%})",
                     f"{rest_ms:.2f} ({rest_ms / step_ms:.0%})"])
    lines += ["Per training batch, from torch.profiler over the timed window (the profiler adds a little to every "
              "op, in both arms alike). 'aten ops' is the self time of every tensor operation (the kernels and their "
              "dispatch); the rest is Python: the training loop, Lightning's hooks and logging, the optimizers' "
              "per-parameter loops, the autograd engine's bookkeeping.", "",
              markdown_table(["arm", "ms per batch", "aten ops (self)", "rest: Python, framework, hooks"], rows), ""]
    op_rows = []
    step_ms, averages = per_arm["plain"]
    ours_by_key = {a.key: a for a in per_arm["ours"][1]}
    for average in sorted((a for a in averages if a.key.startswith("aten::")),
                          key=lambda a: a.self_cpu_time_total, reverse=True)[:8]:
        theirs = ours_by_key.get(average.key)
        op_rows.append([f"`{average.key}`", f"{average.self_cpu_time_total / 1000 / n:.2f}",
                        f"{average.self_cpu_time_total / 1000 / n / step_ms:.0%}",
                        "" if theirs is None else f"{theirs.self_cpu_time_total / 1000 / n:.2f}",
                        f"{average.count / n:.0f}"])
    lines += ["Heaviest ops (self time, ms per batch):", "",
              markdown_table(["op", "plain ms", "share of plain step", "ours ms", "calls per batch (plain)"], op_rows), ""]
    # cProfile: which Python code runs in the 'ours' arm; it inflates Python-heavy code, so read shares, not times
    stats_profile = cProfile.Profile()
    ours.measure(warmup, n, WindowProbe(stats_profile.enable, stats_profile.disable))
    stats = pstats.Stats(stats_profile, stream=io.StringIO())
    by_package: dict[str, float] = {}
    total = log_seconds = 0.0
    lightning_functions: list[tuple[float, str]] = []
    for (filename, line, function), (_, _, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        package = code_origin(filename)
        by_package[package] = by_package.get(package, 0.0) + tottime
        total += tottime
        if package == "lightning":
            short = filename.split("site-packages/", 1)[-1]
            lightning_functions.append((tottime, f"`{short}:{line}({function})`"))
            if short.endswith("pytorch/core/module.py") and function == "log":
                log_seconds = cumtime
    package_rows = [[package, f"{seconds / total:.0%}"] for package, seconds in
                    sorted(by_package.items(), key=lambda item: item[1], reverse=True)]
    lines += ["cProfile of the 'ours' window (it slows Python down more than kernels: read shares, not times). "
              "Self time by where the code lives; 'C / builtins' holds the torch kernels called from Python:", "",
              markdown_table(["code", "share of self time"], package_rows), "",
              f"`LightningModule.log` (every `self.log` / `log_dict` key, cumulative): {1000 * log_seconds / n:.2f} ms "
              f"per batch of {1000 * total / n:.2f} ms under cProfile ({log_seconds / total:.0%}).", ""]
    top = sorted(lightning_functions, reverse=True)[:8]
    lines += ["Lightning's own code by self time (ms per batch, under cProfile):", "",
              markdown_table(["function", "self ms per batch"], [[f, f"{1000 * t / n:.2f}"] for t, f in top]), ""]
    return "\n".join(lines)


def code_origin(filename: str) -> str:
    """Which layer a profiled Python function belongs to, for the cProfile summary."""
    if filename == "~":
        return "C / builtins"
    for marker, name in (("/lightning/", "lightning"), ("/lightning_utilities/", "lightning"), ("/torch/", "torch (Python side)"),
                         ("/ssgen/", "ssgen")):
        if marker in filename:
            return name
    return "other packages" if "-packages/" in filename else "Python standard library (copy, inspect, ...)"
