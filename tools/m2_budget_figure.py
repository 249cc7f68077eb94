"""Test accuracy of M1+M2 (or M2) against its training budget, one panel per N, beside M1+SVM on the same VAEs.

    python tools/probe_heads.py outputs/m1_study/conv80_seed{0,1,2}.ckpt --json /tmp/conv80_svm.json
    python tools/m2_budget_figure.py outputs/m2_study/multirun/m1_m2_conv80_{gpu_10,gpu_4min,30,60} \
        --reference /tmp/conv80_svm.json --out docs/figures/m1_m2_budget.png

Each positional argument is one sweep (one budget); its runs' results.json give the test accuracy (the
``ClassifierTestScore`` number, scored once after training) and the optimizer steps actually trained, so a
run stopped early by ``trainer.max_time`` is placed where it stopped. ``--reference`` takes the JSON rows
that ``tools/probe_heads.py --json`` writes (M1 + RBF-SVM on the VAEs the M1+M2 runs froze) and draws
their mean ± std as a band. Nothing here selects anything: it shows every budget that was run.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ssgen.io import save_figure  # noqa: E402
from ssgen.run.results import find_results  # noqa: E402


def budget_points(sweep: str) -> dict[int, list[tuple[int, float]]]:
    """{N: [(optimizer steps, test accuracy) per finished run]} for one sweep dir."""
    points: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for _, result in find_results([sweep]):
        if result.get("status") == "ok" and result.get("method") in ("m2", "m1_m2"):
            points[int(result["n_labels"])].append((int(result["optimizer_steps"]), float(result["test_accuracy"])))
    return points


def plot(sweeps: list[str], reference: list[dict] | None, out: str, steps_per_epoch: int = 600) -> Path:
    per_sweep = [budget_points(sweep) for sweep in sweeps]
    n_values = sorted({n for points in per_sweep for n in points})
    if not n_values:
        raise SystemExit(f"m2_budget_figure: no finished m2 / m1_m2 runs under {sweeps}")
    figure, axes = plt.subplots(1, len(n_values), figsize=(3.2 * len(n_values), 3.2), squeeze=False)
    for axis, n in zip(axes[0], n_values, strict=True):
        curve = []
        for points in per_sweep:
            if n in points:
                steps, accuracy = np.array(points[n]).T
                epochs = steps / steps_per_epoch
                axis.scatter(epochs, accuracy, s=10, color="tab:blue", alpha=0.35)
                curve.append((epochs.mean(), accuracy.mean(), accuracy.std(ddof=1) if len(accuracy) > 1 else 0.0))
        curve.sort()
        x, mean, std = np.array(curve).T
        axis.errorbar(x, mean, yerr=std, color="tab:blue", marker="o", capsize=3, label="M1 + M2 (q(y|x))")
        if reference:
            svm = [row["test_accuracy"] for row in reference if row["n_labels"] == n]
            if svm:
                svm_mean, svm_std = np.mean(svm), np.std(svm, ddof=1)
                axis.axhspan(svm_mean - svm_std, svm_mean + svm_std, color="tab:orange", alpha=0.2)
                axis.axhline(svm_mean, color="tab:orange", label="M1 + RBF-SVM, same VAEs")
        axis.set_title(f"N = {n}")
        axis.set_xlabel(f"M2 epochs ({steps_per_epoch} steps each)")
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("test accuracy (mean ± std over seeds)")
    axes[0][0].legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    path = save_figure(figure, out, dpi=120)
    plt.close(figure)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweeps", nargs="+", help="M1+M2 (or M2) sweep dirs, one budget each")
    parser.add_argument("--reference", help="JSON rows from tools/probe_heads.py --json (M1 + SVM)")
    parser.add_argument("--out", required=True, help="PNG to write")
    args = parser.parse_args(argv)
    reference = json.loads(Path(args.reference).read_text()) if args.reference else None
    print(f"wrote {plot(args.sweeps, reference, args.out)}")


if __name__ == "__main__":
    main()
