"""Collect a sweep's results.json files into paper-style markdown tables and figures.

    ssgen-report outputs/m1_study/multirun/<date> --out docs/results.md        # Table 1 (M1 heads x N)
    ssgen-report gan outputs/gan/multirun/<date> --out docs/gan_metrics.md     # FID/KID table (metrics)
    ssgen-report figures outputs/gan/multirun/<date> --out docs/figures        # loss curves, samples
    ssgen-report <selection sweep> --selection-figure docs/figures/selection.png   # M2 alpha/epochs by held-out labels

Failed and unfinished (running or killed) jobs are listed under the table with their status, never silently dropped.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ssgen.errors import SSGenError, exit_with_error, print_output
from ssgen.io import atomic_write_text

# Rows of the M1 table: (key in results.json heads, label)
M1_ROWS = (
    ("raw_svm", "RBF-SVM on raw pixels (baseline)"),
    ("m1_svm", "M1 + RBF-SVM (encoder means)"),
    ("m1_spreading", "M1 + label spreading (transductive head)"),
    ("m2", "M2"),
    ("m1_m2", "M1 + M2"),
)
# Kingma et al. 2014, Table 1, MNIST test error (%), for orientation only (a different data set).
PAPER_MNIST_ERROR = {"M1+TSVM": (11.82, 5.72, 4.24, 3.49), "M1+M2": (3.33, 2.59, 2.40, 2.18)}
PAPER_N = (100, 600, 1000, 3000)


def find_results(paths: list[str | Path]) -> list[tuple[Path, dict[str, Any]]]:
    """Every results.json below the given dirs (a sweep dir, several, or single run dirs)."""
    found = []
    for root in map(Path, paths):
        if not root.exists():
            raise SSGenError(f"{root} does not exist; give a sweep dir such as outputs/m1/multirun/<date>")
        for path in sorted(root.rglob("results.json")):
            if "restart_" in path.parent.name:
                continue
            try:
                found.append((path.parent, json.loads(path.read_text())))
            except json.JSONDecodeError:
                found.append((path.parent, {"status": "failed: results.json unreadable"}))
    if not found:
        raise SSGenError(f"no results.json under {', '.join(map(str, paths))}; did the sweep run?")
    return found


def sweep_command(paths: list[str | Path]) -> str:
    """The ssgen-train command that made a sweep, from Hydra's multirun.yaml (or each run's overrides)."""
    commands = []
    for root in map(Path, paths):
        multirun = root / "multirun.yaml"
        if multirun.is_file():
            overrides = yaml.safe_load(multirun.read_text())["hydra"]["overrides"]["task"]
            commands.append("ssgen-train -m " + " ".join(shlex.quote(o) for o in overrides))
    return "\n".join(commands)


# Overrides that index a cell (or only say where output goes) rather than define a variant of the method.
# Which heads run (raw-pixel baseline, transductive, the N list) changes the rows present, not any model.
NOT_A_VARIANT = ("seed", "data.n_labels", "hydra.", "run_dir", "torch_threads", "trainer.enable_progress_bar",
                 "experiment", "method=", "method.callbacks.svm_head.raw_pixel_baseline",
                 "method.callbacks.svm_head.transductive", "method.callbacks.svm_head.n_labels")


def variant_overrides(run_dir: Path) -> set[str]:
    """The run's overrides that may make it a different model (e.g. method.kl_weight=0.1), from .hydra/overrides.yaml."""
    path = run_dir / ".hydra" / "overrides.yaml"
    overrides = (yaml.safe_load(path.read_text()) or []) if path.is_file() else []
    # Hydra escapes interpolations in a job's saved overrides (m1_checkpoint=<dir>_seed$\{seed\}); show them as typed
    overrides = [o.replace("\\{", "{").replace("\\}", "}") for o in overrides]
    return {o for o in overrides if not o.lstrip("+~").startswith(NOT_A_VARIANT)}


def variants(run_dirs: list[Path]) -> dict[Path, str]:
    """Per run, the overrides that differ between the runs given: these split a table row into variants."""
    overrides = {run_dir: variant_overrides(run_dir) for run_dir in run_dirs}
    common = set.intersection(*overrides.values()) if overrides else set()
    return {run_dir: ", ".join(sorted(o - common)) for run_dir, o in overrides.items()}


def mean_std(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.3f} (1 seed)"
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"


def m1_table(results: list[tuple[Path, dict[str, Any]]]) -> tuple[str, list[str]]:
    """Markdown Table 1: rows = heads, columns = N, cells = test accuracy mean ± std over seeds."""
    cells: dict[tuple[str, str], dict[int, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    failures = []
    variant = variants([run_dir for run_dir, _ in results]).__getitem__
    for run_dir, result in results:
        if result.get("status") != "ok":  # failed, or still running / killed ("running", "interrupted")
            failures.append(f"- `{run_dir}` ({result.get('method', '?')}, n_labels={result.get('n_labels', '?')}, "
                            f"seed={result.get('seed', '?')}): {result.get('status', 'no status')}")
            continue
        for n, heads in result.get("heads", {}).items():
            for head, metrics in heads.items():
                # one value per (head, N, seed): a VAE per seed scoring every N, or one run per (N, seed)
                # the raw-pixel baseline never depends on the VAE: one row whatever the variant
                key = (head, "" if head == "raw_svm" else variant(run_dir))
                cells[key][int(n)][result["seed"]] = metrics["accuracy"]
    columns = sorted({n for head in cells.values() for n in head})
    if not columns:
        return "", failures
    lines = ["| method / head | " + " | ".join(f"N = {n}" for n in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for head, label in M1_ROWS:
        for key in sorted(k for k in cells if k[0] == head):
            name = f"{label} [{key[1]}]" if key[1] else label
            lines.append(f"| {name} | " + " | ".join(mean_std(list(cells[key][n].values())) for n in columns) + " |")
    seeds = sorted({seed for head in cells.values() for n in head.values() for seed in n})
    lines.append("")
    lines.append(f"Test accuracy on the 10k Fashion-MNIST test set, mean ± sample std over seeds {seeds} "
                 "(each seed draws its own class-balanced labelled subset).")
    return "\n".join(lines), failures


def selection_curves(results: list[tuple[Path, dict[str, Any]]]) -> dict[tuple[str, int], dict[str, np.ndarray]]:
    """Selection runs' held-out accuracy ``(seeds, epochs)`` per (head, N) and setting.

    A setting is what differs between the runs given (e.g. ``method.alpha_factor=0.5``); seeds of one
    setting are cut to the shortest curve so every epoch is a mean over the same runs.
    """
    selected = [(run_dir, r) for run_dir, r in results if r.get("status") == "ok" and r.get("selection")]
    variant = variants([run_dir for run_dir, _ in selected])
    curves: dict[tuple[str, int], dict[str, list[list[float]]]] = defaultdict(lambda: defaultdict(list))
    for run_dir, result in selected:
        selection = result["selection"]
        curves[(selection["head"], int(selection["n_labels"]))][variant[run_dir] or "as run"].append(
            selection["holdout_accuracy_by_epoch"])
    return {key: {setting: np.array([run[:min(map(len, runs))] for run in runs]) for setting, runs in sorted(settings.items())}
            for key, settings in sorted(curves.items())}


def selection_table(results: list[tuple[Path, dict[str, Any]]]) -> str:
    """Markdown: held-out labelled accuracy of selection runs (data.labelled_holdout > 0) and the choice per N.

    The (setting, epoch) with the highest mean over seeds is the choice, to train on all N labels
    afterwards. No test number is read: selection runs have none.
    """
    curves = selection_curves(results)
    if not curves:
        return ""
    lines = ["| head | N | setting | seeds | held-out accuracy, last epoch | best mean (epoch) |", "|---|---|---|---|---|---|"]
    choices = []
    for (head, n), settings in curves.items():
        best = (-1.0, "", 0)
        for setting, runs in settings.items():
            mean = runs.mean(axis=0)
            epoch = int(np.argmax(mean)) + 1
            best = max(best, (float(mean[epoch - 1]), setting, epoch), key=lambda b: b[0])
            lines.append(f"| {head} | {n} | {setting} | {len(runs)} | {mean[-1]:.3f} (epoch {len(mean)}) | "
                         f"{mean[epoch - 1]:.3f} ({epoch}) |")
        choices.append(f"- {head}, N = {n}: {best[1]}, trainer.max_epochs={best[2]} "
                       f"(mean held-out accuracy {best[0]:.3f})")
    return "\n".join([*lines, "", "Chosen by held-out labelled accuracy (then train on all N labels):", *choices])


def selection_figure(results: list[tuple[Path, dict[str, Any]]], out: str | Path) -> Path:
    """One panel per (head, N): held-out accuracy against epoch, a line per setting (mean; seeds faint)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ssgen.io import save_figure

    curves = selection_curves(results)
    if not curves:
        raise SSGenError("no selection runs (data.labelled_holdout > 0) among these results; nothing to draw")
    # one colour per setting across all panels
    colours = {setting: f"C{i}" for i, setting in enumerate(sorted({s for settings in curves.values() for s in settings}))}
    figure, axes = plt.subplots(1, len(curves), figsize=(4.5 * len(curves), 3.4), squeeze=False)
    for axis, ((head, n), settings) in zip(axes[0], curves.items(), strict=True):
        for setting, runs in settings.items():
            epochs = np.arange(1, runs.shape[1] + 1)
            axis.plot(epochs, runs.mean(axis=0), label=setting, color=colours[setting])
            for run in runs if len(runs) > 1 else ():
                axis.plot(epochs, run, color=colours[setting], alpha=0.25, linewidth=0.8)
        axis.set(title=f"{head}, N = {n} (held-out labels)", xlabel="epoch", ylabel="held-out accuracy")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    path = save_figure(figure, out, dpi=120)
    plt.close(figure)
    return path


def write_m1_report(paths: list[str], out: str | None) -> str:
    results = find_results(paths)
    table, failures = m1_table(results)
    ok = [r for _, r in results if r.get("status") == "ok"]
    wall = sum(r.get("wall_time_s", 0.0) for _, r in results)
    epochs = sorted({r.get("epochs") for r in ok})
    parts = ["## Fashion-MNIST test accuracy by number of labels (cf. Kingma et al. 2014, Table 1)", "", table, ""] if table else []
    selection = selection_table(results)
    if selection:
        parts += ["## Model selection on held-out labels (data.labelled_holdout; no test set)", "", selection, ""]
    command = sweep_command(paths)
    if command:
        parts += ["Produced by:", "", "```", command, f"ssgen-report {' '.join(paths)}" + (f" --out {out}" if out else ""),
                  "```", ""]
    unfinished = sum(r.get("status") in ("running", "interrupted") for _, r in results)
    parts.append(f"{len(ok)} finished runs, {len(failures) - unfinished} failed, {unfinished} unfinished "
                 f"(running, killed or interrupted); epochs per run: {epochs}; "
                 f"total wall time {wall / 60:.1f} min (sum over runs; 2-core CPU unless noted).")
    if failures:
        parts += ["", "Failed or unfinished jobs (not in the table):", *failures]
    if table:
        parts += ["", "For orientation, the paper's MNIST test *error* (%), N = 100 / 600 / 1000 / 3000: "
                  + "; ".join(f"{name} {' / '.join(map(str, values))}" for name, values in PAPER_MNIST_ERROR.items())
                  + " (MNIST is far easier than Fashion-MNIST; do not compare directly)."]
    text = "\n".join(parts) + "\n"
    if out:
        atomic_write_text(out, text)
    return text


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv and argv[0] == "figures":
            from ssgen.figures import main as figures_main

            figures_main(argv[1:])
            return
        if argv and argv[0] == "gan":
            from ssgen.metrics import main as metrics_main

            metrics_main(["report", *argv[1:]])
            return
        if argv and argv[0] == "m1":
            argv = argv[1:]
        parser = argparse.ArgumentParser(prog="ssgen-report", description=__doc__.split("\n\n")[0])
        parser.add_argument("paths", nargs="+", help="sweep dirs or run dirs holding results.json files")
        parser.add_argument("--out", help="markdown file to write (e.g. docs/results.md)")
        parser.add_argument("--selection-figure", metavar="PNG",
                            help="also draw the selection runs' held-out accuracy curves (data.labelled_holdout) here")
        args = parser.parse_args(argv)
        print_output(write_m1_report(args.paths, args.out))
        if args.selection_figure:
            print_output(f"selection curves: {selection_figure(find_results(args.paths), args.selection_figure)}")
    except SSGenError as exc:
        exit_with_error("ssgen-report", exc)


if __name__ == "__main__":
    main()
