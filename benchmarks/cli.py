"""The command line of ``python -m benchmarks`` (see the package docstring): parse, measure, print, write."""

from __future__ import annotations

import logging
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

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
from ssgen.cli import Legacy, argument, help_text, parse, run_console_script
from ssgen.errors import ConfigError
from ssgen.run.build import apply_run_settings
from ssgen.run.lifecycle import device_precision

DESCRIPTION = "Training throughput of the project's Lightning loop against a plain PyTorch loop of the same networks."


@dataclass
class BenchArguments:
    """``python -m benchmarks``'s arguments (``ssgen.cli.parse``: key=value, as every console script of ssgen)."""

    models: list[str] = argument(list(ALL_MODELS), help="'m1' or 'method/arch' (default: M1 and every GAN method x arch)")
    batches: int | None = argument(None, help="timed batches per window, fixed (default: as many as window_s takes)")
    window_s: float = argument(DEFAULT_WINDOW_S, help="seconds per timed window, sized from each arm's first run")
    warmup: int | None = argument(None, help=f"untimed batches first in every run (default {DEFAULT_WARMUP})")
    repeats: int | None = argument(None, help=f"paired windows per arm (default {DEFAULT_REPEATS}, quick 1); the CI "
                                   "narrows with their square root")
    override: list[str] = argument([], help="Hydra overrides for both arms: [trainer.precision=bf16-mixed,torch_threads=1]")
    channels_last: bool = argument(False, help="both arms' networks in channels_last memory format")
    compare: list[str] = argument([], help="override sets to race against the base, 'ours' arm only, one per item "
                                  "(space-separated within an item): [trainer.precision=bf16-mixed,channels_last]")
    concurrent: int | None = argument(None, help="run K copies of the 'ours' arm at once as processes, against one alone")
    profile: str | None = argument(None, help="comma-separated models to profile as well (after the table)")
    profile_only: bool = argument(False, help="profile the models, measure no table")
    out: str | None = argument(None, help="markdown file to write the results into (default: print only)")
    section: str | None = argument(None, help="marker name of the section written in out (default 'main'; needs out)")
    quick: bool = argument(False, help="smoke run: m1 and wgan_gp/dcgan, few batches, 1 repeat")
    copy_of: str | None = argument(None, help="(internal) one copy of concurrent=K, started by the bench itself")
    argv: list[str] = field(default_factory=list)  # the command as given, for the results' 'Command:' line


PROGRAM = "python -m benchmarks"
# the argparse spellings of before, for one release (translated; the 'Command:' line records today's spelling)
LEGACY = Legacy(options={"--models": "models", "--batches": "batches", "--window-s": "window_s", "--warmup": "warmup",
                         "--repeats": "repeats", "--concurrent": "concurrent", "--profile": "profile", "--out": "out",
                         "--section": "section", "--copy-of": "copy_of"},
                switches={"--channels-last": "channels_last", "--profile-only": "profile_only", "--quick": "quick"})
REPEATABLE = ("--override", "--compare")  # argparse's append options: each use one item of the list
HELP = help_text(PROGRAM, DESCRIPTION, BenchArguments,
                 [f"{PROGRAM} models=m1,wgan_gp/dcgan out=outputs/performance.md section=cpu_main",
                  f"{PROGRAM} quick=true", f"{PROGRAM} models=m1 concurrent=4"], docs="docs/performance.md")


def parse_args(argv: list[str] | None = None) -> BenchArguments:
    """The command line; raises ConfigError for a bad one (nothing has run or been written then)."""
    from ssgen.cli import translate_legacy

    argv = list(sys.argv[1:] if argv is None else argv)
    appended: dict[str, list[str]] = {"override": [], "compare": []}
    words, index = [], 0
    while index < len(argv):  # --override X --compare Y ... (repeatable) become one list each
        name, eq, inline = argv[index].partition("=")
        if name in REPEATABLE:
            value = inline if eq else (argv[index + 1] if index + 1 < len(argv) else "")
            index += 0 if eq else 1
            appended[name[2:]].append(value)
            print(f"benchmarks: warning: `{name} {value}` is deprecated and goes in the next release; write "
                  f"`{name[2:]}=[...]`", file=sys.stderr)
        else:
            words.append(argv[index])
        index += 1
    words = translate_legacy(words, LEGACY, "benchmarks")
    words += [f"{key}=[{','.join(values)}]" for key, values in appended.items() if values]
    args = parse(words, BenchArguments, PROGRAM)
    args.argv = words  # the command as given, in today's spelling
    if args.quick and args.models == list(ALL_MODELS):
        args.models = list(QUICK_MODELS)
    if args.repeats is None:
        args.repeats = 1 if args.quick else DEFAULT_REPEATS
    if args.section is not None and args.out is None:
        raise ConfigError(f"section={args.section} names a part of the out= file, and there is none: add "
                          "out=outputs/performance.md (the bench writes no file unless asked)")
    args.section = args.section or "main"
    if args.repeats < 1 or (args.batches is not None and args.batches < 1) or not args.window_s > 0:
        raise ConfigError("repeats= and batches= must be >= 1 and window_s= > 0")
    if args.concurrent is not None:
        if args.concurrent < 1:
            raise ConfigError(f"concurrent={args.concurrent} must be >= 1 (copies of the 'ours' arm run at once)")
        if args.compare or args.profile or args.profile_only or args.channels_last:
            raise ConfigError("concurrent= runs the 'ours' arm alone; drop compare=, profile=, profile_only= and "
                              "channels_last=, or run them in another invocation")
    return args


def quiet_frameworks() -> None:
    """Lightning's info lines and warnings (few batches, no validation) would drown the figures."""
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


def bench(argv: list[str]) -> None:
    """Measure, print, and write ``out`` only when given. Raises ConfigError for a bad command line."""
    args = parse_args(argv)
    if args.copy_of:
        quiet_frameworks()
        copy_main(args)
        return
    models = [m.strip() for m in args.models if m.strip()]
    check_models(models)
    quiet_frameworks()
    L.seed_everything(0, verbose=False)
    probe_cfg = compose_bench_config(models[0], Path(tempfile.gettempdir()), args.override)
    default_threads = probe_cfg.torch_threads or torch.get_num_threads()
    if args.concurrent is None:  # the copies of concurrent= set their own, in their own processes
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
    run_console_script("benchmarks", HELP, argv, bench)

