"""Figures: a GAN sweep's loss curves per architecture and generated vs real images; confusion matrices of heads.

    ssgen-train -m experiment=gan method=dcgan,wgan_clip,wgan_gp arch=dcgan,mlp_generator
    ssgen-report figures outputs/<task>/multirun/<date_time> --out docs/figures

Writes into ``--out``:
  * ``gan_losses_<arch>.png`` for every architecture in the sweep: a column per method, generator loss
    on top, critic loss below; faint raw values, bold EMA (``--smoothing``, TensorBoard's weight), x axis
    = training batches (real batches seen, the loggers' step);
  * ``gan_samples.png``: for the better architecture (lower mean final FID over its finished runs, from
    results.json; arch=dcgan when no FID was recorded), two generated images per method for T-shirt and
    Dress beside two real training images of each, generated with ``--seed`` from each run's
    checkpoints/best.ckpt, else last.ckpt.

A sweep is any directory holding run dirs (``results.json``, ``tb/``, ``checkpoints/``) at any depth; runs are
read by ``ssgen.report.find_results`` (the one reader of results.json) and every GAN-family method is drawn.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from ssgen.data import CLASS_NAMES, load_fashion_mnist  # noqa: E402
from ssgen.errors import CheckpointError, ConfigError, UnsafeCheckpointError  # noqa: E402
from ssgen.io import save_figure  # noqa: E402

METHOD_TITLES = {"dcgan": "DCGAN", "wgan_clip": "WGAN (weight clipping)", "wgan_gp": "WGAN-GP"}  # others: their name
PAPER_METHOD_ORDER = ("dcgan", "wgan_clip", "wgan_gp")
SAMPLE_LABELS = ("t_shirt", "dress")
IMAGES_PER_LABEL = 2


# ------------------------------------------------------------------------------------------------ runs
def find_runs(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """Every GAN run under ``sweep_dir``: results.json content plus ``run_dir`` and ``trained_dir`` (Paths)."""
    from ssgen.report import find_results, is_generator_run

    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise ConfigError(f"sweep dir {sweep_dir} does not exist")
    runs = []
    found = find_results([sweep_dir]) if any(sweep_dir.rglob("results.json")) else []
    for run_dir, results in found:
        if not is_generator_run(results) or "method" not in results:
            continue
        results = {**results, "run_dir": run_dir, "trained_dir": _trained_dir(run_dir, results.get("trained_dir"))}
        runs.append(results)
    if not runs:
        raise ConfigError(f"no GAN runs (results.json of a GAN-family method) under {sweep_dir}")
    return runs


def methods_of(runs: list[dict[str, Any]]) -> list[str]:
    """The methods present, the paper's three first in their order, then any other by name."""
    present = {run["method"] for run in runs}
    return [m for m in PAPER_METHOD_ORDER if m in present] + sorted(present - set(PAPER_METHOD_ORDER))


def _trained_dir(run_dir: Path, recorded: str | None) -> Path:
    """The attempt that finished (run_dir, or run_dir/restart_k after restarts), also when the sweep was moved."""
    if recorded:
        recorded_path = Path(recorded)
        if recorded_path.is_dir():
            return recorded_path
        if recorded_path.name.startswith("restart_") and (run_dir / recorded_path.name).is_dir():
            return run_dir / recorded_path.name
    return run_dir


def read_scalars(tb_dir: Path, tags: tuple[str, ...]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """tag -> (steps, values) from the event files in ``tb_dir``, sorted by step; a resumed step keeps its last value."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    if not tb_dir.is_dir():
        return {}
    accumulator = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    available = set(accumulator.Tags().get("scalars", []))
    series = {}
    for tag in tags:
        if tag not in available:
            continue
        by_step = {event.step: event.value for event in accumulator.Scalars(tag)}
        steps = np.array(sorted(by_step))
        series[tag] = (steps, np.array([by_step[step] for step in steps], dtype=float))
    return series


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing: debiased exponential moving average; non-finite values are skipped."""
    smoothed, last, count = np.empty_like(values), 0.0, 0
    for index, value in enumerate(values):
        if math.isfinite(value):
            last, count = last * weight + (1 - weight) * value, count + 1
        smoothed[index] = last / (1 - weight**count) if count and weight < 1 else (last if count else math.nan)
    return smoothed


# ------------------------------------------------------------------------------------------------ figures
def plot_losses(runs: list[dict[str, Any]], arch: str, path: Path, smoothing: float = 0.9) -> Path:
    """One PNG for ``arch``: a column per method, rows = generator loss, critic loss."""
    methods = methods_of(runs)
    figure, axes = plt.subplots(2, len(methods), figsize=(4.2 * len(methods), 6.0), squeeze=False, sharex="col")
    for column, method in enumerate(methods):
        method_runs = [run for run in runs if run["arch"] == arch and run["method"] == method]
        for row, (tag, label) in enumerate((("loss/generator", "generator loss"), ("loss/critic", "critic loss"))):
            axis = axes[row][column]
            for index, run in enumerate(method_runs):
                series = read_scalars(run["trained_dir"] / "tb", (tag,))
                if tag not in series:
                    continue
                steps, values = series[tag]
                color = f"C{index}"
                axis.plot(steps, values, color=color, alpha=0.2, linewidth=0.8)
                axis.plot(steps, ema(values, smoothing), color=color, linewidth=1.6,
                          label=f"seed {run.get('trained_seed', run.get('seed'))}" + _status_note(run))
            if not axis.lines:
                axis.text(0.5, 0.5, "no run", ha="center", va="center", transform=axis.transAxes, color="grey")
            axis.set_ylabel(label)
            axis.grid(alpha=0.3)
            if row == 0:
                axis.set_title(METHOD_TITLES.get(method, method))
                if axis.lines:
                    axis.legend(fontsize=8)
            else:
                axis.set_xlabel("training batches")
    figure.suptitle(f"arch={arch}: losses (faint: raw, bold: EMA {smoothing})")
    figure.tight_layout()
    save_figure(figure, path, dpi=120)
    plt.close(figure)
    return path


def _status_note(run: dict[str, Any]) -> str:
    status = str(run.get("status", ""))
    return "" if status == "ok" else f" ({status.split(':')[0]})"


def better_arch(runs: list[dict[str, Any]]) -> str:
    """The architecture with the lower mean final FID over its finished runs; dcgan when no FID is recorded."""
    scores: dict[str, list[float]] = {}
    for run in runs:
        fid = run.get("fid")
        if run.get("status") == "ok" and isinstance(fid, int | float) and math.isfinite(fid):
            scores.setdefault(run["arch"], []).append(float(fid))
    if scores:
        return min(scores, key=lambda arch: float(np.mean(scores[arch])))
    arches = sorted({run["arch"] for run in runs})
    return "dcgan" if "dcgan" in arches else arches[0]


def real_examples(labels: tuple[str, ...], per_label: int) -> list[np.ndarray]:
    """The first ``per_label`` training images of each label, uint8 (28, 28), in label order."""
    data = load_fashion_mnist()
    images, targets = data["train_images"], data["train_labels"]
    examples = []
    for name in labels:
        indices = torch.nonzero(targets == CLASS_NAMES.index(name)).flatten()[:per_label]
        examples += [images[index].numpy() for index in indices]
    return examples


def generated_examples(run: dict[str, Any], labels: tuple[str, ...], per_label: int, seed: int) -> list[np.ndarray]:
    """``per_label`` images of each label from the run's best (else last) checkpoint, uint8 (28, 28)."""
    from ssgen.generate import load_gan, to_uint8

    model = load_gan(run["trained_dir"])
    class_labels = torch.tensor([CLASS_NAMES.index(name) for name in labels]).repeat_interleave(per_label)
    return list(to_uint8(model.sample(class_labels, seed=seed)))


def plot_samples(runs: list[dict[str, Any]], arch: str, path: Path, seed: int = 0) -> Path:
    """Rows: real, then one per method; columns: IMAGES_PER_LABEL images of each of SAMPLE_LABELS."""
    rows: list[tuple[str, list[np.ndarray] | None]] = [("real", real_examples(SAMPLE_LABELS, IMAGES_PER_LABEL))]
    for method in methods_of(runs):
        candidates = [run for run in runs if run["arch"] == arch and run["method"] == method]
        candidates.sort(key=lambda run: (run.get("status") != "ok", run.get("fid", math.inf)))
        images = None
        for run in candidates:
            try:
                images = generated_examples(run, SAMPLE_LABELS, IMAGES_PER_LABEL, seed)
                break
            except UnsafeCheckpointError:
                raise  # a checkpoint naming code outside ssgen is an error, not a missing file
            except CheckpointError:
                continue  # a failed run without a checkpoint; try the next seed's run
        rows.append((METHOD_TITLES.get(method, method), images))
    n_columns = len(SAMPLE_LABELS) * IMAGES_PER_LABEL
    figure, axes = plt.subplots(len(rows), n_columns, figsize=(1.5 * n_columns + 1.6, 1.5 * len(rows) + 0.4),
                                squeeze=False)
    for row, (title, images) in enumerate(rows):
        for column in range(n_columns):
            axis = axes[row][column]
            axis.set_xticks([])
            axis.set_yticks([])
            if images is None:
                axis.text(0.5, 0.5, "no checkpoint", ha="center", va="center", fontsize=7, color="grey",
                          transform=axis.transAxes)
            else:
                axis.imshow(images[column], cmap="gray", vmin=0, vmax=255)
            if row == 0:
                axis.set_title(SAMPLE_LABELS[column // IMAGES_PER_LABEL].replace("t_shirt", "T-shirt").title(),
                               fontsize=9)
            if column == 0:
                axis.set_ylabel(title, fontsize=9)
    figure.suptitle(f"arch={arch}: generated (seed {seed}) vs real", fontsize=10)
    figure.tight_layout()
    save_figure(figure, path, dpi=120)
    plt.close(figure)
    return path


def make_figures(sweep_dir: str | Path, out_dir: str | Path, smoothing: float = 0.9, seed: int = 0) -> list[Path]:
    """All figures of the sweep into ``out_dir``; returns their paths."""
    runs = find_runs(sweep_dir)
    out_dir = Path(out_dir)
    written = [plot_losses(runs, arch, out_dir / f"gan_losses_{arch}.png", smoothing)
               for arch in sorted({run["arch"] for run in runs})]
    written.append(plot_samples(runs, better_arch(runs), out_dir / "gan_samples.png", seed))
    return written


def confusion_figure(matrix: list[list[int]], title: str) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix_array = np.asarray(matrix)
    figure, axis = plt.subplots(figsize=(6.5, 5.5))
    image = axis.imshow(matrix_array, cmap="Blues")
    axis.set_xticks(range(10), CLASS_NAMES, rotation=60, ha="right", fontsize=8)
    axis.set_yticks(range(10), CLASS_NAMES, fontsize=8)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    for (row, column), value in np.ndenumerate(matrix_array):
        axis.text(column, row, str(value), ha="center", va="center", fontsize=6,
                  color="white" if value > matrix_array.max() / 2 else "black")
    axis.set_title(title, fontsize=10)
    figure.colorbar(image, ax=axis, fraction=0.046)
    figure.tight_layout()
    return figure


def main(argv: list[str] | None = None) -> None:
    """``python -m ssgen.figures <sweep_dir> [--out DIR] ...``: the same as ``ssgen-report figures ...``."""
    from ssgen.report import main as report_main

    report_main(["figures", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
