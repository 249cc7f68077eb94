"""The command line of ``python -m benchmarks`` (see the package docstring): parse, measure, print, write."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import NoReturn

import lightning as L
import torch

from benchmarks.concurrency import copy_main, run_concurrent
from benchmarks.config import (
    ALL_MODELS,
    DEFAULT_REPEATS,
    DEFAULT_WARMUP,
    DEFAULT_WINDOW_S,
    QUICK_MODELS,
    check_models,
    compose_bench_config,
)
from benchmarks.measure import release_memory
from benchmarks.profiling import profile_model
from benchmarks.report import (
    ConcurrencyResult,
    ModelResult,
    busy_machine_warning,
    failure_text,
    load_average,
    machine_description,
    render_section,
    write_section,
)
from benchmarks.runner import run_compare, run_model
from ssgen.cli import run_console_script
from ssgen.errors import ConfigError
from ssgen.run.build import apply_run_settings
from ssgen.run.lifecycle import device_precision

DESCRIPTION = "Training throughput of the project's Lightning loop against a plain PyTorch loop of the same networks."


class _ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are one ConfigError line (``benchmarks: error: ...``), like the console scripts'."""

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        raise ConfigError(f"{message} (see `python -m benchmarks --help`)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; raises ConfigError for a bad one (nothing has run or been written then)."""
    parser = _ArgumentParser(prog="python -m benchmarks", description=DESCRIPTION,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(ALL_MODELS),
                        help="comma-separated 'm1' or 'method/arch' (default: M1 and every GAN method x arch)")
    parser.add_argument("--batches", type=int, default=None,
                        help="timed batches per window, fixed (default: as many as --window-s seconds take)")
    parser.add_argument("--window-s", type=float, default=DEFAULT_WINDOW_S,
                        help=f"seconds per timed window, sized from each arm's first run (default {DEFAULT_WINDOW_S})")
    parser.add_argument("--warmup", type=int, default=None, help=f"untimed batches first in every run ({DEFAULT_WARMUP})")
    parser.add_argument("--repeats", type=int, default=None,
                        help=f"paired windows per arm (default {DEFAULT_REPEATS}, --quick 1); the ratio's CI narrows "
                             "with their square root")
    parser.add_argument("--override", action="append", default=[],
                        help="Hydra override for both arms, repeatable: trainer.precision=bf16-mixed, torch_threads=1")
    parser.add_argument("--channels-last", action="store_true", help="both arms' networks in channels_last memory format")
    parser.add_argument("--compare", action="append", default=[],
                        help="space-separated overrides to race against the base, 'ours' arm only, repeatable: "
                             "--compare trainer.precision=bf16-mixed --compare torch_threads=1 --compare channels_last")
    parser.add_argument("--concurrent", type=int, default=None, metavar="K",
                        help="run K copies of the 'ours' arm at once as processes and report each one's throughput "
                             "against one copy alone (threads as ssgen-train sets them)")
    parser.add_argument("--profile", default=None, help="comma-separated models to profile as well (after the table)")
    parser.add_argument("--profile-only", action="store_true", help="profile --models, measure no table")
    parser.add_argument("--out", default=None,
                        help="markdown file to write the results into, e.g. docs/performance.md (default: print only)")
    parser.add_argument("--section", default=None,
                        help="marker name of the section written in --out (default 'main'; needs --out)")
    parser.add_argument("--quick", action="store_true", help="smoke run: m1 and wgan_gp/dcgan, few batches, 1 repeat")
    parser.add_argument("--copy-of", default=None, help=argparse.SUPPRESS)  # one copy of --concurrent (run_copies)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    args.argv = list(argv)  # the command as given, for the 'Command:' line of the results
    if args.quick:
        if args.models == ",".join(ALL_MODELS):
            args.models = ",".join(QUICK_MODELS)
    if args.repeats is None:
        args.repeats = 1 if args.quick else DEFAULT_REPEATS
    if args.section is not None and args.out is None:
        raise ConfigError(f"--section {args.section} names a part of the --out file, and there is none: add "
                          "--out docs/performance.md (the bench writes no file unless asked)")
    args.section = args.section or "main"
    if args.repeats < 1 or (args.batches is not None and args.batches < 1) or not args.window_s > 0:
        raise ConfigError("--repeats and --batches must be >= 1 and --window-s > 0")
    if args.concurrent is not None:
        if args.concurrent < 1:
            raise ConfigError(f"--concurrent {args.concurrent} must be >= 1 (copies of the 'ours' arm run at once)")
        if args.compare or args.profile or args.profile_only or args.channels_last:
            raise ConfigError("--concurrent runs the 'ours' arm alone; drop --compare, --profile, --profile-only and "
                              "--channels-last, or run them in another invocation")
    return args


def quiet_frameworks() -> None:
    """Lightning's info lines and warnings (few batches, no validation) would drown the figures."""
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


def bench(argv: list[str]) -> None:
    """Measure, print, and write ``--out`` only when given. Raises ConfigError for a bad command line."""
    args = parse_args(argv)
    if args.copy_of:
        quiet_frameworks()
        copy_main(args)
        return
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    check_models(models)
    quiet_frameworks()
    L.seed_everything(0, verbose=False)
    probe_cfg = compose_bench_config(models[0], Path(tempfile.gettempdir()), args.override)
    default_threads = probe_cfg.torch_threads or torch.get_num_threads()
    if args.concurrent is None:  # the copies of --concurrent set their own, in their own processes
        apply_run_settings(probe_cfg)  # as ssgen-train does, for both arms alike
        device_precision(probe_cfg)
    load_before, began = load_average(), time.perf_counter()
    print(f"{machine_description()}\nload average {load_before}", flush=True)
    if busy_machine_warning():
        print(busy_machine_warning(), flush=True)
    results: list[ModelResult] = []
    profiles: list[str] = []
    compare_rows: list[list[str]] = []
    concurrency: list[ConcurrencyResult] = []
    with tempfile.TemporaryDirectory(prefix="ssgen-bench-") as work:
        if args.concurrent is not None:
            for spec in models:
                try:
                    concurrency.append(run_concurrent(spec, args))
                except Exception as exc:  # one model that cannot train must not cost the others' figures
                    print(f"  {spec}: failed: {failure_text(exc)}", flush=True)
                    concurrency.append(ConcurrencyResult(spec, args.concurrent, [], [], error=failure_text(exc)))
        elif args.compare:
            for spec in models:
                compare_rows += run_compare(spec, args, Path(work), default_threads)
        elif not args.profile_only:
            for spec in models:
                try:
                    results.append(run_model(spec, args, Path(work)))
                except Exception as exc:  # one model that cannot train must not cost the others' figures
                    print(f"  {spec}: failed: {failure_text(exc)}", flush=True)
                    results.append(ModelResult(spec, 0, 0, error=failure_text(exc)))
                    release_memory()
        for spec in (models if args.profile_only else [m for m in (args.profile or "").split(",") if m]):
            print(f"  profiling {spec}", flush=True)
            profiles.append(profile_model(spec, args, Path(work)))
    body = render_section(args, results, profiles, load_before, time.perf_counter() - began, compare_rows, concurrency)
    print("\n" + body, flush=True)
    if args.out:
        write_section(Path(args.out), args.section, body)
        print(f"wrote section '{args.section}' of {args.out}")


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks``: a bad command line is one ``benchmarks: error: ...`` line and exit status 2."""
    run_console_script("benchmarks", None, argv, bench)

