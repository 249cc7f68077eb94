"""A sweep's results.json files (read through ``ssgen.run.results``) as paper-style markdown tables: Table 1 (M1 heads
x N), the GAN metrics table, M2's selection table and a hyper-parameter search; and the pieces they share with the
write-up page (mean ± std cells, the lines naming failed runs).

    from ssgen.reporting.tables import mean_std, write_m1_report
    mean_std([0.71, 0.73, 0.72])                           # '0.720 ± 0.010'
    write_m1_report(["outputs/m1_study/multirun/<date>"])   # Table 1 as markdown

One policy for every table (``ssgen.run.results.find_results``): a run is a dir holding results.json (restart_<k>
attempts belong to their run and are skipped); an unreadable results.json is a failed run; only ``status: ok`` runs
enter a table, and failed and unfinished (running, interrupted or killed) ones are listed under it with their status
and overrides, never silently dropped. A cell averages one configuration only: rows are keyed on the settings that
differ between the runs (``settings_labels``: the overrides that vary, and results.json ``settings_hash`` where
overrides do not tell two configurations apart), and each row names them. Used by ``ssgen-report``,
``ssgen.reporting.figures`` and ``ssgen.reporting.writeup``.
"""

from __future__ import annotations

import math
import shlex
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ssgen.errors import ConfigError, SSGenError
from ssgen.io import atomic_write_text
from ssgen.run.results import UNFINISHED, find_results, is_generator_run, is_ok, objective


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    """A GitHub-flavoured markdown table (``tabulate``'s ``github`` format: columns padded, so it reads in a terminal
    too); cells are printed as given (``disable_numparse``: '0.710' stays '0.710'). Every table of ssgen's reports."""
    from tabulate import tabulate

    return tabulate([[str(cell) for cell in row] for row in rows], headers=header, tablefmt="github", disable_numparse=True)


# Overrides that index a cell (or only say where output goes) rather than define a variant of the method.
# Which heads run (raw-pixel baseline, graph heads, transductive, the N list) changes the rows present, not any model.
NOT_A_VARIANT = ("seed", "data.n_labels", "hydra.", "run_dir", "torch_threads", "trainer.enable_progress_bar",
                 "experiment", "method=", "method.callbacks.svm_head.raw_pixel_baseline",
                 "method.callbacks.svm_head.transductive", "method.callbacks.svm_head.n_labels",
                 "method.callbacks.svm_head.graph_heads", "method.callbacks.svm_head.graph_transductive")


# Overrides that never make two runs different configurations: the seed (what a cell averages over), where output goes
# and how a run goes (threads, progress output)
NOT_A_SETTING = ("seed=", "hydra.", "hydra/", "run_dir", "torch_threads", "trainer.enable_progress_bar")


def run_overrides(run_dir: Path, result: dict[str, Any] | None = None) -> list[str]:
    """The run's command-line overrides: its .hydra/overrides.yaml, else results.json ``overrides`` (a record keeps
    them there), else none."""
    path = run_dir / ".hydra" / "overrides.yaml"
    if path.is_file():
        overrides = yaml.safe_load(path.read_text()) or []
    else:
        overrides = list((result or {}).get("overrides") or [])
    # Hydra escapes interpolations in a job's saved overrides (m1_checkpoint=<dir>_seed$\{seed\}); show them as typed
    return [str(o).replace("\\{", "{").replace("\\}", "}") for o in overrides]


def variant_overrides(run_dir: Path, result: dict[str, Any] | None = None,
                      not_a_variant: tuple[str, ...] = NOT_A_VARIANT) -> set[str]:
    """The run's overrides that may make it a different model (e.g. method.kl_weight=0.1), minus ``not_a_variant``."""
    return {o for o in run_overrides(run_dir, result) if not o.lstrip("+~").startswith(not_a_variant)}


def variants(run_dirs: list[Path]) -> dict[Path, str]:
    """Per run, the overrides that differ between the runs given: these split a table row into variants."""
    overrides = {run_dir: variant_overrides(run_dir) for run_dir in run_dirs}
    common = set.intersection(*overrides.values()) if overrides else set()
    return {run_dir: ", ".join(sorted(o - common)) for run_dir, o in overrides.items()}


def settings_labels(runs: list[tuple[Path, dict[str, Any]]], not_a_variant: tuple[str, ...] = NOT_A_VARIANT) -> dict[Path, str]:
    """Per run, the name of its configuration among ``runs``: '' when all share one, else the overrides that differ
    (``variant_overrides`` minus what every run has). Runs whose names agree but whose settings do not (results.json
    ``settings_hash``: a preset, a default that changed, an override ``not_a_variant`` leaves out) are told apart by
    their differing overrides of any kind (the seed, output and thread settings aside), and failing that by
    ``settings <hash>``. A table keys its rows on these names, so no cell averages two configurations."""
    if not runs:
        return {}
    results = dict(runs)
    overrides = {run_dir: variant_overrides(run_dir, result, not_a_variant) for run_dir, result in runs}
    common = set.intersection(*overrides.values())
    labels = {run_dir: ", ".join(sorted(o - common)) for run_dir, o in overrides.items()}
    hashes = {run_dir: result.get("settings_hash") for run_dir, result in runs}
    for label in sorted(set(labels.values())):
        group = [run_dir for run_dir in labels if labels[run_dir] == label]
        if len({hashes[run_dir] for run_dir in group}) < 2:
            continue  # one configuration
        every = {run_dir: {o for o in run_overrides(run_dir, results[run_dir])
                           if not o.lstrip("+~").startswith(NOT_A_SETTING)} for run_dir in group}
        shared = set.intersection(*every.values())
        for run_dir in group:
            labels[run_dir] = ", ".join(part for part in (label, ", ".join(sorted(every[run_dir] - shared))) if part)
        named: dict[str, set[str | None]] = {}
        for run_dir in group:
            named.setdefault(labels[run_dir], set()).add(hashes[run_dir])
        for run_dir in group:  # still alike by name: the settings hash is what differs
            if len(named[labels[run_dir]]) > 1:
                hashed = f"settings {hashes[run_dir]}" if hashes[run_dir] else "settings unrecorded"
                labels[run_dir] = ", ".join(part for part in (labels[run_dir], hashed) if part)
    return labels


def gan_settings_labels(runs: list[tuple[Path, dict[str, Any]]]) -> dict[Path, str]:
    """``settings_labels`` within each (method, arch) of GAN runs: a row or curve is named by its settings only where
    its method on its arch ran in more than one configuration (a budget that sets one method's schedule or EMA does
    not split the others, nor name every row after it)."""
    groups: dict[tuple[str, str], list[tuple[Path, dict[str, Any]]]] = {}
    for run_dir, result in runs:
        groups.setdefault((str(result.get("method", "?")), str(result.get("arch", "?"))), []).append((run_dir, result))
    return {run_dir: label for group in groups.values()
            for run_dir, label in settings_labels(group, GAN_NOT_A_VARIANT).items()}


def mean_std(values: list[Any], digits: int = 3, expected: int | None = None) -> str:
    """'mean ± sample std' of the finite numbers among ``values``; none is '–', and fewer than ``expected`` (the
    seeds a study runs) say how many: '0.720 ± 0.010 (2 seeds)'. One value is marked '(1 seed)' (it has no std)
    unless the study runs one seed (``expected=1``), whose page says so once."""
    values = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}" + ("" if expected == 1 else " (1 seed)")
    short = f" ({len(values)} seeds)" if expected is not None and len(values) < expected else ""
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}{short}"


def failure_lines(results: list[tuple[Path, dict[str, Any]]]) -> list[str]:
    """One markdown list line per run that is not ok: its dir, what it was, its status and its overrides."""
    lines = []
    for run_dir, result in results:
        if is_ok(result):
            continue
        overrides = ", ".join(sorted(variant_overrides(run_dir, result)))
        lines.append(f"- `{run_dir}` ({result.get('method', '?')}, n_labels={result.get('n_labels', '?')}, "
                     f"seed={result.get('seed', '?')}): {result.get('status', 'no status')}"
                     + (f" [overrides: {overrides}]" if overrides else ""))
    return lines


# ------------------------------------------------------------------------------------------------ GAN table
def worst_class_fid_ratio(per_class_fid: dict[str, float] | None) -> float | None:
    """The worst class's FID over the median class's (results.json ``per_class_fid``: class name -> FID), >= 1;
    real images score about 1.6 (per-class FIDs have class-dependent bias), issue 18's target is <= 3. None
    without finite per-class FIDs or with a median of 0."""
    values = [float(v) for v in (per_class_fid or {}).values() if isinstance(v, int | float) and math.isfinite(v)]
    median = float(np.median(values)) if values else 0.0
    return max(values) / median if median > 0 else None


def evaluator_key(result: dict[str, Any]) -> str:
    """The evaluator a record's FIDs were measured with: the digest of its weights (``evaluator_weights_digest``);
    for records older than the digest, its config hash and test accuracy (two trainings of one recipe differ in
    both). Records with different keys are in different feature spaces and never share a table row."""
    if result.get("evaluator_weights_digest"):
        return f"weights {result['evaluator_weights_digest']}"
    accuracy = result.get("evaluator_test_accuracy")
    return f"{result.get('evaluator_config_hash', '?')}, test accuracy " + (f"{accuracy:.4f}" if isinstance(accuracy, int | float) else "?")


# A GAN trains on its labelled stream: how many labels it has is one of its settings, not a column
GAN_NOT_A_VARIANT = tuple(key for key in NOT_A_VARIANT if key != "data.n_labels")


def gan_metrics_table(runs: list[tuple[Path, dict[str, Any]]], expected: int | None = None) -> str:
    """Markdown: one row per (method, arch, settings), mean ± std over its finished runs, and the real-data floor
    row; a row whose runs differ from the others' in settings names them after the method (``settings_labels``).
    ``expected``: the seeds a study runs per row (``mean_std``), None where nobody planned a number."""
    label = gan_settings_labels(runs)
    evaluators = {evaluator_key(result) for _, result in runs if result.get("evaluator_config_hash")}
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for run_dir, result in runs:
        arch = str(result.get("arch", "?"))
        if len(evaluators) > 1:  # FIDs in two feature spaces are never averaged: one row per evaluator's weights
            arch += f" (evaluator {evaluator_key(result)})"
        groups.setdefault((str(result.get("method", "?")), arch, label[run_dir]), []).append(result)
    header = ["method", "arch", "runs (ok)", "FID ↓", "KID ↓", "class-consistency ↑", "precision ↑", "recall ↑",
              "min class spread ↑", "worst / median class FID ↓", "failed convergences", "epochs", "run time (min)"]
    rows: list[list[Any]] = []

    def cell(values: list[Any], digits: int) -> str:
        return mean_std(values, digits, expected=expected)

    for (method, arch, setting), results in sorted(groups.items()):
        ok = [r for r in results if is_ok(r)]

        def column(key: str, rows: list[dict[str, Any]] = ok) -> list[Any]:
            return [r.get(key) for r in rows]

        minutes = [r["wall_time_s"] / 60 for r in results if isinstance(r.get("wall_time_s"), int | float)]
        rows.append([f"{method} [{setting}]" if setting else method, arch, f"{len(results)} ({len(ok)})",
                     cell(column("fid"), 2), cell(column("kid"), 4),
                     cell(column("class_consistency"), 3), cell(column("precision"), 3), cell(column("recall"), 3),
                     cell(column("min_class_spread"), 3),
                     cell([worst_class_fid_ratio(r.get("per_class_fid")) for r in ok], 2),
                     sum(int(r.get("failed_runs", 0) or 0) for r in results), cell(column("epochs"), 0),
                     cell(minutes, 1)])
    floors = {(evaluator_key(r), r.get("metrics_n")): r for _, r in runs if "fid_floor" in r}
    for (config_hash, n), r in sorted(floors.items(), key=lambda item: str(item[0])):
        rows.append([f"*floor: {n} real train vs test*", f"evaluator {config_hash}", "—", f"{r['fid_floor']:.2f}",
                     f"{r.get('kid_floor', math.nan):.4f}", f"{r.get('class_consistency_floor', math.nan):.3f}",
                     f"{r.get('precision_floor', math.nan):.3f}", f"{r.get('recall_floor', math.nan):.3f}",
                     f"{r.get('min_class_spread_floor', math.nan):.3f}",
                     f"{worst_class_fid_ratio(r.get('per_class_fid_floor')) or math.nan:.2f}", "—", "—", "—"])
    return markdown_table(header, rows)


def partial_collapse_lines(runs: list[tuple[Path, dict[str, Any]]]) -> list[str]:
    """One markdown list line per run that FailedConvergence flagged for partial collapse (results.json warnings)."""
    return [f"- `{run_dir}` ({result.get('method', '?')}, {result.get('arch', '?')}, seed={result.get('seed', '?')}): "
            f"{line}" for run_dir, result in runs for line in result.get("warnings", []) if "partial collapse" in line]


# ------------------------------------------------------------------------------------------------ the pages
# Rows of the M1 table: (key in results.json heads, label)
M1_ROWS = (
    ("raw_svm", "RBF-SVM on raw pixels (baseline)"),
    ("raw_best", "raw pixels + best head by CV (SVM or graph head, inductive)"),
    ("m1_svm", "M1 + RBF-SVM (encoder means)"),
    ("m1_best", "M1 + best head by CV (SVM or graph head, inductive)"),
    ("m1_spreading", "M1 + label spreading (transductive head)"),
    ("m2", "M2"),
    ("m1_m2", "M1 + M2"),
)
# Kingma et al. 2014, Table 1, MNIST test error (%), for orientation only (a different data set).
PAPER_MNIST_ERROR = {"M1+TSVM": (11.82, 5.72, 4.24, 3.49), "M1+M2": (3.33, 2.59, 2.40, 2.18)}
PAPER_N = (100, 600, 1000, 3000)
# The write-up's names of its two GAN architectures (Q5): the one mapping, for the write-up page and the figures' titles
ARCH_LETTERS = {"dcgan": "A", "dcgan_softplus": "B"}


def arch_title(arch: str, markdown: bool = False) -> str:
    """``'Architecture A (arch=dcgan)'`` for the write-up's two architectures, ``'arch=<name>'`` for any other
    (``markdown``: the ``arch=`` part in backticks)."""
    code = f"`arch={arch}`" if markdown else f"arch={arch}"
    return f"Architecture {ARCH_LETTERS[arch]} ({code})" if arch in ARCH_LETTERS else code


def sweep_command(paths: list[str | Path]) -> str:
    """The ssgen-train command that made a sweep, from Hydra's multirun.yaml (or each run's overrides)."""
    commands = []
    for root in map(Path, paths):
        multirun = root / "multirun.yaml"
        if multirun.is_file():
            overrides = yaml.safe_load(multirun.read_text())["hydra"]["overrides"]["task"]
            commands.append("ssgen-train -m " + " ".join(shlex.quote(o) for o in overrides))
    return "\n".join(commands)


def m1_table(results: list[tuple[Path, dict[str, Any]]]) -> tuple[str, list[str]]:
    """Markdown Table 1: rows = heads, columns = N, cells = test accuracy mean ± std over seeds."""
    cells: dict[tuple[str, str], dict[int, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    failures = failure_lines(results)
    variant = settings_labels(results).__getitem__  # runs that differ in settings never share a cell
    for run_dir, result in results:
        if not is_ok(result):  # failed, or still running / killed ("running", "interrupted")
            continue
        for n, heads in result.get("heads", {}).items():
            for head, metrics in heads.items():
                # one value per (head, N, seed): a VAE per seed scoring every N, or one run per (N, seed)
                # the raw-pixel baseline never depends on the VAE: one row whatever the variant
                key = (head, "" if head in ("raw_svm", "raw_best") else variant(run_dir))
                cells[key][int(n)][result["seed"]] = metrics["accuracy"]
    columns = sorted({n for head in cells.values() for n in head})
    if not columns:
        return "", failures
    rows = []
    for head, label in M1_ROWS:
        for key in sorted(k for k in cells if k[0] == head):
            name = f"{label} [{key[1]}]" if key[1] else label
            rows.append([name, *(mean_std(list(cells[key][n].values())) for n in columns)])
    lines = [markdown_table(["method / head", *(f"N = {n}" for n in columns)], rows)]
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
    selected = [(run_dir, r) for run_dir, r in results if is_ok(r) and r.get("selection")]
    variant = settings_labels(selected)
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
    rows = []
    choices = []
    for (head, n), settings in curves.items():
        best = (-1.0, "", 0)
        for setting, runs in settings.items():
            mean = runs.mean(axis=0)
            epoch = int(np.argmax(mean)) + 1
            best = max(best, (float(mean[epoch - 1]), setting, epoch), key=lambda b: b[0])
            rows.append([head, n, setting, len(runs), f"{mean[-1]:.3f} (epoch {len(mean)})",
                         f"{mean[epoch - 1]:.3f} ({epoch})"])
        choices.append(f"- {head}, N = {n}: {best[1]}, trainer.max_epochs={best[2]} "
                       f"(mean held-out accuracy {best[0]:.3f})")
    table = markdown_table(["head", "N", "setting", "seeds", "held-out accuracy, last epoch", "best mean (epoch)"], rows)
    return "\n".join([table, "", "Chosen by held-out labelled accuracy (then train on all N labels):", *choices])


GENERATED_MARK = "<!-- generated by"


def write_page(out: str | Path, text: str, command: str) -> str:
    """Write the generated markdown page ``text`` to ``out``, its first line naming the ``command`` that regenerates
    it, and return what was written. A file at ``out`` whose first line is not such a mark is a hand-written page:
    ConfigError (one line), and nothing is written."""
    path = Path(out)
    if path.exists():
        try:
            with path.open(encoding="utf-8", errors="replace") as handle:
                first = handle.readline()
        except OSError:
            first = ""
        if not first.startswith(GENERATED_MARK):
            raise ConfigError(f"out={path} is a file ssgen did not generate (its first line is not "
                              f"'{GENERATED_MARK} ...'), so it is not replaced; give another out= (e.g. under "
                              "outputs/), or move that file away first")
    page = f"{GENERATED_MARK} `{command}`: regenerate it with that command; edits by hand are lost -->\n{text}"
    atomic_write_text(path, page)
    return page


def write_gan_report(paths: list[str | Path], out: str | Path | None = None) -> str:
    """The GAN metrics table of every generator run under ``paths``, as markdown; written to ``out`` if given."""
    runs = [(path, r) for path, r in find_results(paths) if is_generator_run(r)]
    if not runs:
        raise SSGenError(f"no results.json of generator runs under {', '.join(map(str, paths))}; "
                         "give a sweep dir of ssgen-train GAN runs")
    command = f"ssgen-report gan runs={','.join(map(str, paths))}" + (f" out={out}" if out else "")
    evaluators = sorted({evaluator_key(r) for _, r in runs if r.get("evaluator_config_hash")})
    sizes = sorted({str(r["metrics_n"]) for _, r in runs if r.get("metrics_n")})
    failures = failure_lines(runs)
    collapses = partial_collapse_lines(runs)
    text = "\n".join([
        "# GAN metrics", "",
        f"Produced by `{command}` from {len(runs)} runs.", "",
        "FID / KID in the feature space of the Fashion-MNIST evaluator (see docs/evaluator.md): "
        f"{'/'.join(sizes) or '?'} class-balanced samples of the checkpoint selected by the in-training FID "
        "(computed against training images, never the test set) scored against the 10k test images. "
        "Class-consistency: the evaluator's accuracy on conditional samples against their labels. "
        "Precision / recall: improved precision and recall (Kynkaanniemi et al. 2019, k=3) in the same feature space: "
        "fidelity (samples inside the real manifold) and coverage (real images inside the samples' manifold) apart. "
        "Min class spread: the smallest over classes of the samples' mean pairwise feature distance over the real "
        "images' (about 1 for a generator as varied as the data; near 0 for a class of near-duplicates). "
        "Worst / median class FID: the highest per-class FID (samples of a class vs the test images of that class) "
        "over the median class's; the floor row gives what real images score (per-class FIDs have class-dependent "
        "bias), and the closer to it the less one class lags. "
        "Mean ± std over the finished runs of each row; failed convergences: runs restarted after divergence or "
        "collapse (results.json `failed_runs`). The floor row scores real training images the same way: no generator "
        "can be expected to beat it.", "",
        gan_metrics_table(runs), "",
        f"Evaluator: {'; '.join(evaluators) or 'unknown'}."
        + (" The weights, not the config, define the feature space: these runs were scored by "
           f"{len(evaluators)} different evaluators, so each row holds one evaluator's runs only." if len(evaluators) > 1 else ""),
        *(["", "Partial collapse flagged during training (a class below the spread threshold at the last checked epoch; "
            "the runs stay in the means):", *collapses] if collapses else []),
        *(["", "Failed or unfinished runs (not in the means):", *failures] if failures else []),
        "",
    ])
    if out is not None:
        text = write_page(out, text, command)
    return text


def write_m1_report(paths: list[str], out: str | None) -> str:
    results = find_results(paths)
    table, failures = m1_table(results)
    ok = [r for _, r in results if is_ok(r)]
    wall = sum(r.get("wall_time_s", 0.0) for _, r in results)
    epochs = sorted({r.get("epochs") for r in ok})
    parts = ["## Fashion-MNIST test accuracy by number of labels (cf. Kingma et al. 2014, Table 1)", "", table, ""] if table else []
    selection = selection_table(results)
    if selection:
        parts += ["## Model selection on held-out labels (data.labelled_holdout; no test set)", "", selection, ""]
    command = sweep_command(paths)
    if command:
        parts += ["Produced by:", "", "```", command, f"ssgen-report m1 runs={','.join(map(str, paths))}" + (f" out={out}" if out else ""),
                  "```", ""]
    unfinished = sum(r.get("status") in UNFINISHED for _, r in results)
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
        text = write_page(out, text, f"ssgen-report m1 runs={','.join(map(str, paths))} out={out}")
    return text


def _rounded(override: str) -> str:
    """'method.lr=0.0006380556092044456' -> 'method.lr=0.0006381': a search's sampled floats, readable."""
    key, sep, value = override.partition("=")
    try:
        number = float(value)
    except ValueError:
        return override
    return f"{key}{sep}{number:.4g}" if "." in value or "e" in value.lower() else override


def write_tune_report(sweep_dir: str | Path, out: str | Path | None = None) -> str:
    """A hyper-parameter search (``experiment=m1_tune`` / ``gan_tune``): the best parameters Optuna chose (from
    the sweep's optimization_results.yaml) and every trial's objective, test-free by construction, sorted best first.
    Test numbers are shown last and only for orientation: they played no part in the choice."""
    sweep_dir = Path(sweep_dir)
    results = find_results([sweep_dir])
    rows = []
    for run_dir, result in results:
        search = objective(result) if is_ok(result) else None
        params = sorted(_rounded(o) for o in variant_overrides(run_dir) if not o.startswith("experiment="))
        test = result.get("test_accuracy", result.get("fid"))
        rows.append((search, run_dir.name.split("_", 1)[0], ", ".join(params) or "(defaults)", result.get("status"), test))
    direction = next((row[0][2] for row in rows if row[0]), "maximize")
    finished = sorted((row for row in rows if row[0]), key=lambda row: row[0][1], reverse=direction == "maximize")
    name = finished[0][0][0] if finished else "objective"
    parts = [f"## Hyper-parameter search: {sweep_dir}", ""]
    best_file = sweep_dir / "optimization_results.yaml"
    if best_file.is_file():
        best = yaml.safe_load(best_file.read_text()) or {}
        params = ", ".join(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
                           for key, value in (best.get("best_params") or {}).items())
        value = best.get("best_value")
        value_text = f"{value:.4f}" if isinstance(value, int | float) else str(value)
        parts += [f"Best ({direction} {name}, no test data): **{params}** -> {value_text}", ""]
    else:
        parts += ["No optimization_results.yaml yet (the search is still running or was stopped).", ""]
    table = [[trial, f"{search[1]:.4f}", params, f"{test:.4f}" if isinstance(test, int | float) else "–"]
             for search, trial, params, _status, test in finished]
    table += [[trial, "–", params, status] for search, trial, params, status, _test in rows if not search]
    parts.append(markdown_table(["trial", name, "parameters", "test score (not used for the choice)"], table))
    text = "\n".join(parts) + "\n"
    if out:
        text = write_page(out, text, f"ssgen-report tune runs={sweep_dir} out={out}")
    return text
