"""Measuring one model: both arms in paired, alternating windows (``run_model``); settings raced (``run_compare``)."""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from omegaconf import DictConfig

from benchmarks.arms import LightningArm, PlainArm
from benchmarks.config import (
    CHANNELS_LAST,
    DEFAULT_BATCHES,
    DEFAULT_WARMUP,
    QUICK_BATCHES,
    QUICK_WARMUP,
    bench_device,
    compose_bench_config,
)
from benchmarks.measure import release_memory
from benchmarks.report import ModelResult, failure_text
from benchmarks.stats import ratio_interval

if TYPE_CHECKING:
    from benchmarks.cli import BenchArguments


def window_size(args: BenchArguments, family: str) -> tuple[int, int]:
    """(untimed warm-up batches, timed batches) of the first run of each arm, for a family ('vae' or 'gan')."""
    batches, warmups = (QUICK_BATCHES, QUICK_WARMUP) if args.quick else (DEFAULT_BATCHES, DEFAULT_WARMUP)
    return (args.warmup if args.warmup is not None else warmups[family]), (args.batches or batches[family])


def calibrated_batches(args: BenchArguments, n: int, images_per_s: float, batch_size: int, multiple: int = 1) -> int:
    """Timed batches per window: ``n`` under batches or quick, else enough for ``window_s`` seconds at
    ``images_per_s``, rounded up to a whole multiple of ``multiple`` (a GAN's n_critic; at least one cycle)."""
    if args.batches or args.quick or not images_per_s > 0:
        return n
    wanted = math.ceil(args.window_s * images_per_s / batch_size)
    return max(multiple, math.ceil(wanted / multiple) * multiple)


def update_period(cfg: DictConfig) -> int:
    """Batches per full update cycle: a GAN's n_critic (one generator step each), 1 for a VAE."""
    return int(cfg.method.get("n_critic", 1)) if str(cfg.method.family) == "gan" else 1


def run_model(spec: str, args: BenchArguments, work_dir: Path) -> ModelResult:
    """Both arms of one model: a discarded first run each (which sizes the windows), then ``repeats`` pairs.

    The order within a pair alternates (ours-plain, plain-ours, ...), so load that rises or falls over the run
    favours neither arm; each pair's ratio feeds the confidence interval (``ratio_interval``).
    """
    cfg = compose_bench_config(spec, work_dir / spec.replace("/", "_"), args.override)
    family = str(cfg.method.family)
    warmup, n = window_size(args, family)
    device = bench_device(cfg)
    ours = LightningArm(cfg, device)
    plain = PlainArm(cfg, ours.datamodule, device)
    if args.channels_last:
        ours.model.to(memory_format=torch.channels_last)
        plain.module.to(memory_format=torch.channels_last)
    # the first run of each arm is a warm-up (allocator, oneDNN primitive caches, compile) and is discarded
    first = [arm.measure(warmup, n).images_per_s for arm in (ours, plain)]
    print(f"  {spec:24s} warm-up   ours {first[0]:8,.0f} img/s, plain {first[1]:8,.0f} img/s", flush=True)
    n = calibrated_batches(args, n, max(first), ours.batch_size, update_period(cfg))
    result = ModelResult(spec, ours.batch_size, n)
    arms = [("ours", ours, result.ours), ("plain", plain, result.plain)]
    for repeat in range(args.repeats):
        for name, arm, store in (arms if repeat % 2 == 0 else arms[::-1]):
            measurement = arm.measure(warmup, n)
            store.append(measurement)
            print(f"  {spec:24s} {name:5s} {f'repeat {repeat + 1}':9s} {measurement.images_per_s:8,.0f} img/s  "
                  f"peak RSS {measurement.peak_rss_mib:6.0f} MiB", flush=True)
    result.checkpoint_s = ours.checkpoint_seconds()
    del ours, plain  # the next model starts from the same baseline
    release_memory()
    print(f"  {spec}: ours {result.ours_images_per_s:,.0f} img/s, plain {result.plain_images_per_s:,.0f} img/s, "
          f"ratio {result.interval.text()}", flush=True)
    return result


def run_compare(spec: str, args: BenchArguments, work_dir: Path, default_threads: int) -> list[list[str]]:
    """'ours' under the base overrides against 'ours' under each compare set, interleaved; one row per set."""
    configs = [("base", args.override)] + [(variant, [*args.override, *variant.split()]) for variant in args.compare]
    arms = []
    for index, (label, overrides) in enumerate(configs):
        # 'channels_last' is no config key: it converts the networks' conv weights (and so their outputs)
        hydra_overrides = [o for o in overrides if o != CHANNELS_LAST]
        cfg = compose_bench_config(spec, work_dir / f"compare_{spec.replace('/', '_')}_{index}", hydra_overrides)
        arm = LightningArm(cfg, bench_device(cfg))
        if CHANNELS_LAST in overrides or args.channels_last:
            arm.model.to(memory_format=torch.channels_last)
        arms.append((label, arm, cfg.torch_threads or default_threads))
    family = str(arms[0][1].cfg.method.family)
    warmup, n = window_size(args, family)
    figures: dict[str, list[float]] = {label: [] for label, _, _ in arms}
    failures: dict[str, str] = {}
    for repeat in range(-1, args.repeats):
        # alternate the order, as run_model does, so drifting load favours no setting
        for label, arm, threads in (arms if repeat % 2 else arms[::-1]):
            if label in failures:
                continue
            torch.set_num_threads(threads)  # torch_threads is per process in ssgen-train; here per measurement
            try:
                images_per_s = arm.measure(warmup, n).images_per_s
            except Exception as exc:  # a setting that cannot train (compile=true with WGAN-GP) is a result too
                failures[label] = failure_text(exc)
                print(f"  {spec:24s} {label:32s} failed: {failures[label]}", flush=True)
                continue
            if repeat >= 0:
                figures[label].append(images_per_s)
            elif label == "base":
                base_rate = images_per_s
            print(f"  {spec:24s} {label:32s} {'warm-up' if repeat < 0 else f'repeat {repeat + 1}':9s} "
                  f"{images_per_s:8,.0f} img/s", flush=True)
        if repeat < 0 and "base" not in failures:  # windows sized from the base setting's first run
            n = calibrated_batches(args, n, base_rate, arms[0][1].batch_size, update_period(arms[0][1].cfg))
    torch.set_num_threads(arms[0][2])
    rows = []
    for label, values in figures.items():
        if label in failures:
            rows.append([spec, label, f"failed: {failures[label]}", ""])
        elif label == "base" or not figures["base"]:
            rows.append([spec, label, f"{statistics.median(values):,.0f}", "1.00" if label == "base" else ""])
        else:
            rows.append([spec, label, f"{statistics.median(values):,.0f}", ratio_interval(values, figures["base"]).text()])
    return rows
