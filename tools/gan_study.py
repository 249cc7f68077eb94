"""The GAN study of issue 18 in resumable parts: 3 methods x archs x seeds at experiment=gan (10 epochs, restarts on).

    python tools/gan_study.py status                      # the plan, what is recorded, what is next
    python tools/gan_study.py run --minutes 50            # train the next runs in plan order within the budget
    python tools/gan_study.py report                      # docs/gan_metrics.md and docs/figures from the records
    python tools/gan_study.py ablation precision_32-true --method dcgan --seed 0 trainer.precision=32-true
                                                          # one run beside the study, recorded under its tag

A run's checkpoints stay in ``outputs/gan_study/<name>`` (git-ignored, lost between sessions); what is committed is
its small record in ``docs/records/gan_study/<name>/``: ``results.json``, ``curves.csv`` (every TensorBoard scalar:
tag, step, value) and ``samples.npz`` (10 generated images per class, uint8, from the checkpoint the run was scored
with, noise seed 0). ``ssgen-report gan`` and ``ssgen-report figures`` read the records as they read run dirs, so the
tables and figures are regenerated from the repository. A run is recorded once it has ended (``ok`` or ``failed``);
an interrupted one resumes from its last.ckpt when its run dir is still there, else starts again.
The plan is ordered so that each part adds whole seeds: arch A (``dcgan``) for seeds 0, 1, 2 first, then the other
architectures seed by seed (B and the MLP generator at seed 0, then at seed 1, ...). Every run uses the method defaults and ``experiment=gan`` (restarts=1: a diverged run is relaunched
once with seed+1 by the failed-convergence detector; results.json counts it in ``failed_runs``).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import time
from pathlib import Path

import ssgen.reporting.records as records_module
from ssgen.reporting.tables import markdown_table
from ssgen.run.results import find_results, has_results, read_results

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "docs" / "records" / "gan_study"
RUNS = ROOT / "outputs" / "gan_study"
# Single runs that answer one question beside the study (a setting changed, all else the study's), one folder per tag
ABLATION_RECORDS = ROOT / "docs" / "records" / "gan_ablations"
ABLATION_RUNS = ROOT / "outputs" / "gan_ablations"
METHODS = ("dcgan", "wgan_clip", "wgan_gp")
ARCH_ORDER = ("dcgan", "dcgan_softplus", "mlp_generator")  # A, the write-up's B, Gulrajani et al.'s MLP generator
SEEDS = (0, 1, 2)


def plan() -> list[tuple[str, str, int]]:
    """(method, arch, seed) in the order parts run them: arch A's three seeds first (the issue's minimum), then
    the other archs seed by seed, so that the 3 methods x 3 archs table is whole at one seed before more seeds."""
    arches = [arch for arch in ARCH_ORDER if (ROOT / "conf" / "arch" / f"{arch}.yaml").is_file()]
    first, others = arches[:1], arches[1:]
    return ([(method, arch, seed) for arch in first for seed in SEEDS for method in METHODS]
            + [(method, arch, seed) for seed in SEEDS for arch in others for method in METHODS])


def run_name(method: str, arch: str, seed: int) -> str:
    return f"{method}_{arch}_seed{seed}"


def recorded(name: str, records: Path | None = None) -> dict | None:
    return read_results((records or RECORDS) / name)  # looked up at call time: tests point RECORDS elsewhere


def write_record(run_dir: Path, name: str, records: Path | None = None) -> Path:
    """The committed record of a finished run (``ssgen.reporting.records.write_record``) in ``records`` (default ``RECORDS``)."""
    return records_module.write_record(run_dir, (records or RECORDS) / name)


def train(method: str, arch: str, seed: int, extra: list[str], runs: Path | None = None) -> Path:
    run_dir = (runs or RUNS) / run_name(method, arch, seed)
    command = ["ssgen-train", "experiment=gan", f"method={method}", f"arch={arch}", f"seed={seed}",
               "trainer.enable_progress_bar=false", f"hydra.run.dir={run_dir}", *extra]
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=False, env={**os.environ})
    return run_dir


def train_and_record(method: str, arch: str, seed: int, extra: list[str], runs: Path | None = None,
                     records: Path | None = None) -> Path | None:
    """Train one run (or resume it) and record it once it has ended ``ok`` or ``failed``; returns the record,
    or None (with a line saying so) when it ended otherwise, e.g. interrupted: relaunching resumes it."""
    name = run_name(method, arch, seed)
    run_dir = train(method, arch, seed, extra, runs)
    results = read_results(run_dir) or {}
    if results.get("status") == "ok" or str(results.get("status", "")).startswith("failed"):
        record = write_record(run_dir, name, records)
        print(f"recorded {record}: {results.get('status')}, FID {results.get('fid')}")
        return record
    print(f"{name} ended {results.get('status')!r}: not recorded; the same command resumes it")
    return None


def run(minutes: float, extra: list[str]) -> None:
    """Train and record the next unrecorded runs of the plan, not starting one after ``minutes`` have passed."""
    deadline = time.time() + minutes * 60
    for method, arch, seed in plan():
        name = run_name(method, arch, seed)
        if recorded(name):
            continue
        if time.time() > deadline:
            print(f"budget of {minutes} min used; next: {name}")
            return
        if train_and_record(method, arch, seed, extra) is None:
            return


def ablation(tag: str, method: str, arch: str, seed: int, extra: list[str]) -> None:
    """One run of the study's setup with ``extra`` overrides, recorded in ``docs/records/gan_ablations/<tag>``."""
    if not extra:
        raise SystemExit("ablation: give the overrides that differ from the study, e.g. trainer.precision=32-true")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", tag):
        raise SystemExit(f"ablation: tag {tag!r} must be letters, digits, '.', '_' or '-' (it names a folder)")
    name = run_name(method, arch, seed)
    records = ABLATION_RECORDS / tag
    if recorded(name, records):
        print(f"{records / name} is recorded already")
        return
    record = train_and_record(method, arch, seed, extra, ABLATION_RUNS / tag, records)
    if record is not None:
        (record / "overrides.txt").write_text(" ".join(extra) + "\n")  # per record: a tag may hold several runs


def overrides_of(record: Path) -> str:
    """An ablation record's overrides (its overrides.txt, one line), or '?' for a record without one."""
    path = record / "overrides.txt"
    return path.read_text().strip() if path.is_file() else "?"


def status() -> None:
    """Print the plan, each run's record (status, test FID, wall time, failed runs) or '-', then the ablations."""
    def state(result: dict | None) -> str:
        return "-" if result is None else (f"{result.get('status')}, FID {result.get('fid', float('nan')):.2f}, "
                                           f"{result.get('wall_time_s', 0) / 60:.0f} min, failed_runs {result.get('failed_runs')}")

    for method, arch, seed in plan():
        print(f"{run_name(method, arch, seed):40s} {state(recorded(run_name(method, arch, seed)))}")
    for record, results in find_results([ABLATION_RECORDS], missing_ok=True) if ABLATION_RECORDS.is_dir() else []:
        print(f"ablation {record.parent.name}/{record.name} ({overrides_of(record)}): {state(results)}")


def ablation_rows() -> list[list[str]]:
    """Table rows: each ablation record beside the study record of the same method, arch and seed.

    The deciding columns are the in-training ones (2000 samples against 2000 training images, the numbers that
    pick best.ckpt); the test-set FID of the scored checkpoint is shown for information only."""
    def row(label: str, result: dict) -> list[str]:
        history = [entry for entry in result.get("metrics_history", []) if entry.get("fid") is not None]
        best = min(history, key=lambda entry: entry["fid"]) if history else {}
        last = history[-1] if history else {}
        cells = [label, f"{best.get('fid', float('nan')):.2f} (epoch {best.get('epoch', '-')})",
                 f"{last.get('fid', float('nan')):.2f}", f"{best.get('recall', float('nan')):.3f}",
                 f"{best.get('min_class_spread', float('nan')):.2f}", f"{result.get('fid', float('nan')):.2f}",
                 f"{result.get('recall', float('nan')):.3f}", f"{result.get('wall_time_s', float('nan')) / 60:.1f}",
                 str(result.get("status"))]
        return cells

    rows, shown = [], set()
    for tag_dir in sorted(path for path in ABLATION_RECORDS.glob("*") if path.is_dir()):
        for record in sorted(path for path in tag_dir.glob("*") if has_results(path)):
            baseline = recorded(record.name)
            if baseline is not None and record.name not in shown:  # each study run once, before its first ablation
                shown.add(record.name)
                rows.append(row(f"{record.name}: study ({baseline.get('trainer_precision', '?')})", baseline))
            rows.append(row(f"{record.name}: `{overrides_of(record)}`", read_results(record) or {}))
    return rows


def report() -> None:
    # relative paths, run from the repository root: the pages quote them, and they must read the same on any clone
    records = str(RECORDS.relative_to(ROOT)) if RECORDS.is_relative_to(ROOT) else str(RECORDS)
    subprocess.run(["ssgen-report", "gan", f"runs={records}", "out=docs/gan_metrics.md"], check=True, cwd=ROOT)
    subprocess.run(["ssgen-report", "figures", f"runs={records}", "out=docs/figures"], check=True, cwd=ROOT)
    rows = ablation_rows()
    if rows:
        header = ["# GAN ablations: one setting changed, all else the study's", "", "*A design note (measurements behind the GAN defaults); the user's page is [gans.md](../gans.md).*", "",
                  "Written by `python tools/gan_study.py report` from `docs/records/gan_ablations/<tag>/` beside the study "
                  "record of the same method, arch and seed (`docs/records/gan_study/`). Choices are made on the in-training "
                  "columns (2000 samples against 2000 training images: what picks best.ckpt); the test-set columns (10k "
                  "samples of the scored checkpoint against the 10k test images) are for information.", ""]
        table = markdown_table(["run", "best in-training FID", "last-epoch FID", "recall at best",
                                "min class spread at best", "test FID", "test recall", "wall time (min)", "status"], rows)
        (ROOT / "docs" / "design" / "gan_ablations.md").write_text("\n".join([*header, table]) + "\n")
        print(f"wrote {ROOT / 'docs' / 'design' / 'gan_ablations.md'} ({len(rows)} rows)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("status", "run", "report", "ablation"))
    parser.add_argument("overrides", nargs="*", help="run / ablation: extra ssgen-train overrides (e.g. torch_threads=1); "
                                                     "ablation: its tag first")
    parser.add_argument("--minutes", type=float, default=50.0, help="run: start no new run after this many minutes")
    parser.add_argument("--method", default="dcgan", help="ablation: the method (default dcgan)")
    parser.add_argument("--arch", default="dcgan", help="ablation: the architecture (default dcgan, arch A)")
    parser.add_argument("--seed", type=int, default=0, help="ablation: the seed (default 0)")
    args = parser.parse_intermixed_args()  # options may come between the tag and the overrides
    if args.command == "run":
        run(args.minutes, args.overrides)
    elif args.command == "ablation":
        if not args.overrides:
            raise SystemExit("ablation: give a tag, then the overrides, e.g. precision_32-true trainer.precision=32-true")
        ablation(args.overrides[0], args.method, args.arch, args.seed, args.overrides[1:])
    elif args.command == "status":
        status()
    else:
        report()


if __name__ == "__main__":
    main()
