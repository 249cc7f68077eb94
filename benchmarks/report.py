"""The bench's results as markdown: the tables, the machine, and the section written into ``out``."""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import shlex
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import lightning as L
import torch

from benchmarks.config import REFERENCE_IMAGES_PER_S
from benchmarks.measure import Measurement
from benchmarks.stats import CONFIDENCE, RatioInterval, ratio_interval, spread
from ssgen.reporting.tables import markdown_table

if TYPE_CHECKING:
    from benchmarks.cli import BenchArguments


@dataclass
class ModelResult:
    spec: str
    batch_size: int
    n_batches: int
    ours: list[Measurement] = field(default_factory=list)
    plain: list[Measurement] = field(default_factory=list)
    checkpoint_s: float | None = None
    error: str | None = None  # set when the model could not be measured

    @staticmethod
    def _median(values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return statistics.median(present) if present else None

    @property
    def ours_images_per_s(self) -> float:
        return statistics.median(m.images_per_s for m in self.ours)

    @property
    def plain_images_per_s(self) -> float:
        return statistics.median(m.images_per_s for m in self.plain)

    @property
    def interval(self) -> RatioInterval:
        """ours / plain over the paired repeats (each repeat measures both arms back to back)."""
        return ratio_interval([m.images_per_s for m in self.ours], [m.images_per_s for m in self.plain])

    @property
    def ratio(self) -> float:
        return self.interval.estimate

    def spread(self, arm: list[Measurement]) -> float:
        return spread([m.images_per_s for m in arm])

    def row(self) -> list[str]:
        if self.error:
            return [self.spec, "", f"failed: {self.error}", "", "", "", "", "", "", ""]
        cuda_ours = self._median([m.cuda_peak_mib for m in self.ours])
        cuda_plain = self._median([m.cuda_peak_mib for m in self.plain])
        memory = f"{self._median([m.peak_rss_mib for m in self.ours]):.0f} / {self._median([m.peak_rss_mib for m in self.plain]):.0f}"
        if cuda_ours is not None:
            memory += f" (CUDA {cuda_ours:.0f} / {cuda_plain:.0f})"
        interval = self.interval
        return [self.spec, str(self.batch_size), f"{self.ours_images_per_s:,.0f}", f"{self.plain_images_per_s:,.0f}",
                interval.text() + ("" if interval.estimate >= 0.90 else " **below 0.90**"),
                "" if interval.n < 2 else f"{interval.half_width:.1%}",
                f"{self.spread(self.ours):.0%} / {self.spread(self.plain):.0%}", memory,
                f"{self._median([m.fixed_s for m in self.ours]):.2f}",
                "" if self.checkpoint_s is None else f"{self.checkpoint_s:.3f}"]


TABLE_HEADER = ["model (method/arch)", "batch", "ours img/s", "plain img/s", f"ratio [{CONFIDENCE:.0%} CI]", "CI +-",
                "spread ours / plain",
                "peak RSS MiB ours / plain", "fixed s per fit (ours)", "checkpoint save s"]


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} cores, {device}; torch {torch.__version__} "
            f"({torch.get_num_threads()} intra-op threads), lightning {L.__version__}, Python {platform.python_version()}")


def busy_machine_warning() -> str:
    """Several OpenMP threads on a CPU that other processes keep busy wait on each other at every op."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return ""
    cores = os.cpu_count() or 1
    if torch.get_num_threads() > 1 and load > cores - 0.5:
        return (f"Warning: load average {load:.1f} on {cores} cores with {torch.get_num_threads()} torch threads: "
                "OpenMP threads stall each other on a busy CPU and the figures swing by several times; "
                "add override=[torch_threads=1] (docs/performance.md).")
    return ""


def load_average() -> str:
    try:
        return "/".join(f"{value:.2f}" for value in os.getloadavg()) + " (1/5/15 min)"
    except OSError:
        return "unavailable"


def failure_text(exc: BaseException) -> str:
    """One line for a table cell: the exception's type and the first line of its message."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}"[:160].replace("|", "/")


@dataclass
class ConcurrencyResult:
    """``k`` copies of the 'ours' arm at once against one copy alone, measured in the same invocation."""

    spec: str
    k: int
    solo: list[float]  # images/s of each window of the copy that ran alone
    copies: list[list[float]]  # images/s of each window, per concurrent copy
    threads: int = 0  # torch intra-op threads each copy ran with
    error: str | None = None

    def fractions(self) -> list[float]:
        """Each concurrent copy's median images/s over the solo copy's median."""
        solo = statistics.median(self.solo)
        return [statistics.median(values) / solo for values in self.copies]

    def row(self) -> list[str]:
        if self.error:
            return [self.spec, str(self.k), "", f"failed: {self.error}", "", "", ""]
        fractions = self.fractions()
        return [self.spec, str(self.k), str(self.threads), f"{statistics.median(self.solo):,.0f}",
                ", ".join(f"{statistics.median(values):,.0f}" for values in self.copies),
                ", ".join(f"{fraction:.2f}" for fraction in fractions), f"{sum(fractions):.2f}"]


CONCURRENCY_HEADER = ["model", "copies", "threads per copy", "alone img/s", "each copy img/s", "each copy / alone",
                      "all copies / alone"]


def render_section(args: BenchArguments, results: list[ModelResult], profiles: list[str], load_before: str,
                   seconds: float, compare_rows: list[list[str]] | None = None,
                   concurrency: list[ConcurrencyResult] | None = None) -> str:
    lines = [f"Command: `{' '.join(['python -m benchmarks', *map(shlex.quote, args.argv)])}`  ",
             f"Machine: {machine_description()}  ",
             f"Load average: {load_before} before, {load_average()} after; run took {seconds:.0f} s; "
             f"peak RSS of the whole process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB.  ",
             f"Overrides: {' '.join(args.override) or 'none'}{'; channels_last' if args.channels_last else ''}.", ""]
    if busy_machine_warning():
        lines += [busy_machine_warning(), ""]
    if results:
        lines += [f"{args.repeats} pairs of windows (ours and plain back to back, the order alternating) after a "
                  "discarded first run of each arm; img/s are medians, the ratio is the geometric mean of the pairs' "
                  f"ratios with its {CONFIDENCE:.0%} t-interval ('CI +-': half its width; under 2.5% a 5% difference "
                  f"is visible). Batches timed per window: "
                  f"{', '.join(f'{r.spec} {r.n_batches}' for r in results if not r.error)}.", "",
                  markdown_table(TABLE_HEADER, [r.row() for r in results]), ""]
        reference_lines = []
        for result in results:
            reference = REFERENCE_IMAGES_PER_S.get(result.spec)
            if reference and not result.error:
                reference_lines.append(
                    f"- {result.spec}: reference {reference:,.0f} img/s (plain loop); here plain "
                    f"{result.plain_images_per_s:,.0f} ({result.plain_images_per_s / reference:.0%} of it), ours "
                    f"{result.ours_images_per_s:,.0f} ({result.ours_images_per_s / reference:.0%}).")
        if reference_lines:
            lines += ["Against the reference figures:", "", *reference_lines, ""]
    if compare_rows:
        lines += [f"'ours' arm only, each setting against the base (overrides above), interleaved, median of "
                  f"{args.repeats}; 'vs base' is the geometric mean of the paired ratios [{CONFIDENCE:.0%} CI]:", "",
                  markdown_table(["model", "setting", "ours img/s", "vs base"], compare_rows), ""]
    if concurrency:
        lines += [f"'ours' arm only: {concurrency[0].k} copies as separate processes at once (threads as ssgen-train "
                  f"sets them) against one copy alone, in the same invocation; medians of {args.repeats} windows "
                  "per copy. 'all copies / alone' above 1 means running them side by side beats running them in turn.",
                  "", markdown_table(CONCURRENCY_HEADER, [c.row() for c in concurrency]), ""]
    lines += profiles
    return "\n".join(lines).rstrip() + "\n"


def write_section(path: Path, section: str, body: str) -> None:
    """Replace (or append) the text between this section's markers; everything else in the file stays."""
    begin, end = f"<!-- bench:{section}:begin -->", f"<!-- bench:{section}:end -->"
    block = f"{begin}\n{body}{end}"
    text = path.read_text() if path.exists() else "# Performance\n\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
