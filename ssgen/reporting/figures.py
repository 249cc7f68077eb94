"""Figures: a GAN sweep's loss curves per architecture and generated vs real images; confusion matrices of heads.

    ssgen-train -m experiment=gan method=dcgan,wgan_clip,wgan_gp arch=dcgan,mlp_generator
    ssgen-report figures runs=outputs/<task>/multirun/<date_time> out=outputs/figures

Writes into ``out`` (``make_figures``):
  * ``gan_losses_<arch>.png`` for every architecture in the sweep: a column per method, generator loss
    on top, critic loss below; the EMA-smoothed curve (``smoothing``, TensorBoard's weight) of each seed,
    averaged over seeds, with a band from the lowest to the highest seed; x axis = training batches (real
    batches seen, the loggers' step);
  * ``gan_samples.png``: for the better architecture (lower mean final FID over its finished runs, from
    results.json; arch=dcgan when no FID was recorded), generated images per method for ``labels``
    (default: the write-up's pullover and ankle boot) beside real training images of each;
  * ``gan_grid_<method>.png``: a 10x10 class grid (a row per class) of each method's best run on that arch.

Generated images come from a run's ``samples.npz`` record when there (10 per class, see tools/gan_study.py),
else from its checkpoints/best.ckpt (else last.ckpt) with noise ``seed``. Curves come from ``tb/`` event files,
else from a ``curves.csv`` record. A sweep is any directory holding run dirs (``results.json`` and ``tb/`` +
``checkpoints/``, or the records) at any depth; runs are read by ``ssgen.run.results.find_results`` and every
GAN-family method is drawn.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from ssgen.api import load_gan, to_uint8  # noqa: E402
from ssgen.data import CLASS_NAMES, TORCHVISION_CLASS_NAMES, load_fashion_mnist  # noqa: E402
from ssgen.errors import CheckpointError, ConfigError, SSGenError, UnsafeCheckpointError  # noqa: E402
from ssgen.io import save_figure  # noqa: E402
from ssgen.reporting.tables import arch_title, gan_settings_labels, selection_curves  # noqa: E402
from ssgen.run.results import find_results, is_generator_run, is_ok  # noqa: E402

METHOD_TITLES = {"dcgan": "DCGAN", "wgan_clip": "WGAN (weight clipping)", "wgan_gp": "WGAN-GP"}  # others: their name
PAPER_METHOD_ORDER = ("dcgan", "wgan_clip", "wgan_gp")
SAMPLE_LABELS = ("pullover", "ankle_boot")  # the labels the write-up shows
IMAGES_PER_LABEL = 4


# ------------------------------------------------------------------------------------------------ runs
def find_runs(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """Every GAN run under ``sweep_dir``: results.json content plus ``run_dir`` and ``trained_dir`` (Paths)."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise ConfigError(f"sweep dir {sweep_dir} does not exist")
    found = [(run_dir, results) for run_dir, results in find_results([sweep_dir], missing_ok=True)
             if is_generator_run(results) and "method" in results]
    if not found:
        raise ConfigError(f"no GAN runs (results.json of a GAN-family method) under {sweep_dir}")
    return with_variants(found)


def with_variants(found: list[tuple[Path, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Runs as the figures take them: results plus ``run_dir``, ``trained_dir`` and ``variant``, the settings that set
    the run apart from the other runs of its method and arch (``ssgen.reporting.tables.gan_settings_labels``; '' when all share them): a curve or a
    sample row is one configuration's, never a mix."""
    variant = gan_settings_labels(found)
    return [{**results, "run_dir": run_dir, "trained_dir": _trained_dir(run_dir, results.get("trained_dir")),
             "variant": variant[run_dir]} for run_dir, results in found]


def methods_of(runs: list[dict[str, Any]]) -> list[str]:
    """The methods present, the paper's three first in their order, then any other by name."""
    present = {run["method"] for run in runs}
    return [m for m in PAPER_METHOD_ORDER if m in present] + sorted(present - set(PAPER_METHOD_ORDER))


def series_of(runs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(method, variant) of every configuration present, by ``methods_of``'s order then by variant: a panel, a curve
    or a row of samples each."""
    return [(method, variant) for method in methods_of(runs)
            for variant in sorted({run.get("variant", "") for run in runs if run["method"] == method})]


def series_title(method: str, variant: str) -> str:
    """'DCGAN' or 'DCGAN [method.lr_generator=0.002]': a configuration as a figure names it."""
    return METHOD_TITLES.get(method, method) + (f" [{variant}]" if variant else "")


def in_series(run: dict[str, Any], arch: str, method: str, variant: str) -> bool:
    """Whether ``run`` is of ``arch`` and the configuration (``method``, ``variant``)."""
    return run["arch"] == arch and run["method"] == method and run.get("variant", "") == variant


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
    """tag -> (steps, values) from the event files in ``tb_dir``, sorted by step; a resumed step keeps its last value.

    Without event files, the run's ``curves.csv`` record beside ``tb_dir`` (rows tag, step, value) is read instead,
    or the CSV logger's ``csv/metrics.csv`` of a run that logged with ``logger=csv``.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    record = tb_dir.parent / "curves.csv"
    if not tb_dir.is_dir() and record.is_file():
        return _read_curves_csv(record, tags)
    if not tb_dir.is_dir():
        from ssgen.reporting.records import logged_scalars

        logged = logged_scalars(tb_dir.parent)  # logger=csv: Lightning's metrics.csv
        return {tag: (np.array(sorted(logged[tag])), np.array([logged[tag][step] for step in sorted(logged[tag])], dtype=float))
                for tag in tags if tag in logged}
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


def _read_curves_csv(path: Path, tags: tuple[str, ...]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    import csv

    series: dict[str, list[tuple[int, float]]] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["tag"] in tags:
                series.setdefault(row["tag"], []).append((int(row["step"]), float(row["value"])))
    return {tag: (np.array([step for step, _ in rows]), np.array([value for _, value in rows]))
            for tag, rows in series.items() if rows}


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
    """One PNG for ``arch``: a column per method, rows = generator loss, critic loss; mean over seeds with a band."""
    series = series_of(runs)
    figure, axes = plt.subplots(2, len(series), figsize=(4.2 * len(series), 6.0), squeeze=False, sharex="col")
    for column, (method, variant) in enumerate(series):
        method_runs = [run for run in runs if in_series(run, arch, method, variant)]
        for row, (tag, label) in enumerate((("loss/generator", "generator loss"), ("loss/critic", "critic loss"))):
            axis = axes[row][column]
            curves = []
            for run in method_runs:
                series = read_scalars(run["trained_dir"] / "tb", (tag,))
                if tag in series:
                    steps, values = series[tag]
                    curves.append((steps, ema(values, smoothing)))
            if curves:
                steps, mean, low, high = seed_band(curves)
                axis.fill_between(steps, low, high, color="C0", alpha=0.25, linewidth=0)
                failed = sum(not is_ok(run) for run in method_runs)
                axis.plot(steps, mean, color="C0", linewidth=1.6,
                          label=f"mean of {len(curves)} seed{'s' * (len(curves) > 1)}" + (f" ({failed} failed)" if failed else ""))
                axis.legend(fontsize=8)
            else:
                axis.text(0.5, 0.5, "no run", ha="center", va="center", transform=axis.transAxes, color="grey")
            axis.set_ylabel(label)
            axis.grid(alpha=0.3)
            if row == 0:
                axis.set_title(series_title(method, variant), fontsize=10 if not variant else 8)
            else:
                axis.set_xlabel("training batches")
    figure.suptitle(f"{arch_title(arch)}: losses (EMA {smoothing}; line: mean over seeds, band: min to max seed)")
    figure.tight_layout()
    save_figure(figure, path, dpi=120)
    plt.close(figure)
    return path


def seed_band(curves: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Several seeds' (steps, values) on the steps of the shortest run: (steps, mean, min, max) over seeds.

    Curves are interpolated linearly onto the steps of the run that logged the fewest steps, up to the
    last step all runs reached, so a seed that stopped early (a failed run) does not stretch the mean.
    """
    end = min(steps[-1] for steps, _ in curves)
    grid = min((steps for steps, _ in curves), key=len)
    grid = grid[grid <= end]
    stacked = np.stack([np.interp(grid, steps, values) for steps, values in curves])
    return grid, stacked.mean(axis=0), stacked.min(axis=0), stacked.max(axis=0)


def _status_note(run: dict[str, Any]) -> str:
    status = str(run.get("status", ""))
    return "" if status == "ok" else f" ({status.split(':')[0]})"


def better_arch(runs: list[dict[str, Any]]) -> str:
    """The architecture with the lower mean final FID over its finished runs; dcgan when no FID is recorded."""
    scores: dict[str, list[float]] = {}
    for run in runs:
        fid = run.get("fid")
        if is_ok(run) and isinstance(fid, int | float) and math.isfinite(fid):
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
    """``per_label`` images of each label, uint8 (28, 28): from the run's ``samples.npz`` record when it holds
    enough, else generated with noise ``seed`` from its best (else last) checkpoint."""
    record = run["trained_dir"] / "samples.npz"
    if record.is_file():
        with np.load(record) as archive:
            images, targets = archive["images"], archive["labels"]
        picked = [images[targets == CLASS_NAMES.index(name)][:per_label] for name in labels]
        if all(len(chosen) == per_label for chosen in picked):
            return [image for chosen in picked for image in chosen]
    model = load_gan(run["trained_dir"])
    class_labels = torch.tensor([CLASS_NAMES.index(name) for name in labels]).repeat_interleave(per_label)
    return list(to_uint8(model.sample(class_labels, seed=seed)))


def best_run(runs: list[dict[str, Any]], arch: str, method: str, variant: str = "") -> list[dict[str, Any]]:
    """The runs of (arch, method, variant), finished ones first, lowest FID first."""
    candidates = [run for run in runs if in_series(run, arch, method, variant)]
    return sorted(candidates, key=lambda run: (not is_ok(run), run.get("fid", math.inf)))


def _images_of(runs: list[dict[str, Any]], labels: tuple[str, ...], per_label: int, seed: int) -> list[np.ndarray] | None:
    for run in runs:
        try:
            return generated_examples(run, labels, per_label, seed)
        except UnsafeCheckpointError:
            raise  # a checkpoint naming code outside ssgen is an error, not a missing file
        except CheckpointError:
            continue  # a failed run without a checkpoint; try the next seed's run
    return None


def plot_samples(runs: list[dict[str, Any]], arch: str, path: Path, seed: int = 0,
                 labels: tuple[str, ...] = SAMPLE_LABELS) -> Path:
    """Rows: real, then one per method; columns: IMAGES_PER_LABEL images of each of ``labels`` (ssgen names)."""
    rows: list[tuple[str, list[np.ndarray] | None]] = [("real", real_examples(labels, IMAGES_PER_LABEL))]
    for method, variant in series_of(runs):
        images = _images_of(best_run(runs, arch, method, variant), labels, IMAGES_PER_LABEL, seed)
        rows.append((series_title(method, variant), images))
    n_columns = len(labels) * IMAGES_PER_LABEL
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
                axis.set_title(TORCHVISION_CLASS_NAMES[CLASS_NAMES.index(labels[column // IMAGES_PER_LABEL])],
                               fontsize=9)
            if column == 0:
                axis.set_ylabel(title, fontsize=9)
    figure.suptitle(f"{arch_title(arch)}: generated (seed {seed}) vs real", fontsize=10)
    figure.tight_layout()
    save_figure(figure, path, dpi=120)
    plt.close(figure)
    return path


def plot_class_grid(runs: list[dict[str, Any]], arch: str, method: str, path: Path, seed: int = 0,
                    per_class: int = 10, variant: str = "") -> Path | None:
    """A 10 x ``per_class`` grid, a row per class, of the best (arch, method, variant) run; None when no run has
    images."""
    images = _images_of(best_run(runs, arch, method, variant), tuple(CLASS_NAMES), per_class, seed)
    if images is None:
        return None
    figure, axes = plt.subplots(len(CLASS_NAMES), per_class, figsize=(0.9 * per_class + 1.2, 0.9 * len(CLASS_NAMES) + 0.5),
                                squeeze=False)
    for index, image in enumerate(images):
        axis = axes[index // per_class][index % per_class]
        axis.imshow(image, cmap="gray", vmin=0, vmax=255)
        axis.set_xticks([])
        axis.set_yticks([])
        if index % per_class == 0:
            axis.set_ylabel(TORCHVISION_CLASS_NAMES[index // per_class], fontsize=7, rotation=0, ha="right", va="center")
    figure.suptitle(f"{series_title(method, variant)}, {arch_title(arch)}: a row per class", fontsize=10)
    figure.tight_layout()
    save_figure(figure, path, dpi=100)
    plt.close(figure)
    return path


def make_figures(sweep_dir: str | Path, out_dir: str | Path, smoothing: float = 0.9, seed: int = 0,
                 labels: tuple[str, ...] = SAMPLE_LABELS) -> list[Path]:
    """All figures of the sweep into ``out_dir``; returns their paths."""
    runs = find_runs(sweep_dir)
    out_dir = Path(out_dir)
    written = [plot_losses(runs, arch, out_dir / f"gan_losses_{arch}.png", smoothing)
               for arch in sorted({run["arch"] for run in runs})]
    arch = better_arch(runs)
    written.append(plot_samples(runs, arch, out_dir / "gan_samples.png", seed, labels))
    series = series_of(runs)
    for index, (method, variant) in enumerate(series):
        # one file per configuration; a method with several names each by its place in the listing
        name = f"gan_grid_{method}.png" if [m for m, _ in series].count(method) == 1 else f"gan_grid_{method}_{index}.png"
        grid = plot_class_grid(runs, arch, method, out_dir / name, seed, variant=variant)
        if grid is not None:
            written.append(grid)
    return written


def selection_figure(results: list[tuple[Path, dict[str, Any]]], out: str | Path) -> Path:
    """One panel per (head, N): held-out accuracy against epoch, a line per setting (mean; seeds faint)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
