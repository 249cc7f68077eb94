"""Markdown pieces every report shares: mean ± std cells, the lines naming failed runs, the GAN metrics table.

    from ssgen.tables import mean_std, gan_metrics_table
    mean_std([0.71, 0.73, 0.72])        # '0.720 ± 0.010'

Used by ``ssgen.report`` (Table 1, the GAN page; it re-exports these names) and ``ssgen.writeup`` (the write-up page).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ssgen.results import is_ok

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
        overrides = ", ".join(sorted(variant_overrides(run_dir)))
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


def gan_metrics_table(runs: list[tuple[Path, dict[str, Any]]], expected: int | None = None) -> str:
    """Markdown: one row per (method, arch), mean ± std over its finished runs, and the real-data floor row;
    ``expected``: the seeds a study runs per row (``mean_std``), None where nobody planned a number."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for _, result in runs:
        groups.setdefault((str(result.get("method", "?")), str(result.get("arch", "?"))), []).append(result)
    lines = ["| method | arch | runs (ok) | FID ↓ | KID ↓ | class-consistency ↑ | precision ↑ | recall ↑ | "
             "min class spread ↑ | worst / median class FID ↓ | failed convergences | epochs | run time (min) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def cell(values: list[Any], digits: int) -> str:
        return mean_std(values, digits, expected=expected)

    for (method, arch), results in sorted(groups.items()):
        ok = [r for r in results if is_ok(r)]

        def column(key: str, rows: list[dict[str, Any]] = ok) -> list[Any]:
            return [r.get(key) for r in rows]

        minutes = [r["wall_time_s"] / 60 for r in results if isinstance(r.get("wall_time_s"), int | float)]
        lines.append(f"| {method} | {arch} | {len(results)} ({len(ok)}) | {cell(column('fid'), 2)} | "
                     f"{cell(column('kid'), 4)} | {cell(column('class_consistency'), 3)} | "
                     f"{cell(column('precision'), 3)} | {cell(column('recall'), 3)} | "
                     f"{cell(column('min_class_spread'), 3)} | "
                     f"{cell([worst_class_fid_ratio(r.get('per_class_fid')) for r in ok], 2)} | "
                     f"{sum(int(r.get('failed_runs', 0) or 0) for r in results)} | {cell(column('epochs'), 0)} | "
                     f"{cell(minutes, 1)} |")
    floors = {(r.get("evaluator_config_hash"), r.get("metrics_n")): r for _, r in runs if "fid_floor" in r}
    for (config_hash, n), r in sorted(floors.items(), key=lambda item: str(item[0])):
        lines.append(f"| *floor: {n} real train vs test* | evaluator {config_hash} | — | {r['fid_floor']:.2f} | "
                     f"{r.get('kid_floor', math.nan):.4f} | {r.get('class_consistency_floor', math.nan):.3f} | "
                     f"{r.get('precision_floor', math.nan):.3f} | {r.get('recall_floor', math.nan):.3f} | "
                     f"{r.get('min_class_spread_floor', math.nan):.3f} | "
                     f"{worst_class_fid_ratio(r.get('per_class_fid_floor')) or math.nan:.2f} | — | — | — |")
    return "\n".join(lines)


def partial_collapse_lines(runs: list[tuple[Path, dict[str, Any]]]) -> list[str]:
    """One markdown list line per run that FailedConvergence flagged for partial collapse (results.json warnings)."""
    return [f"- `{run_dir}` ({result.get('method', '?')}, {result.get('arch', '?')}, seed={result.get('seed', '?')}): "
            f"{line}" for run_dir, result in runs for line in result.get("warnings", []) if "partial collapse" in line]
