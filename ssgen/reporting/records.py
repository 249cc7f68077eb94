"""Small, committable records of finished runs: what a table or figure needs, never a checkpoint.

    from ssgen.reporting.records import write_record
    write_record("outputs/writeup/full/gan/dcgan_dcgan_seed0", "docs/records/writeup/gan/dcgan_dcgan_seed0")

A record dir holds ``results.json`` (its ``trained_dir`` pointing at the record itself), ``curves.csv`` (every
TensorBoard scalar of the run: tag, step, value), and what the run's figures are drawn from: ``samples.npz`` for a
generator (10 images per class, uint8, from the checkpoint the run was scored with, noise seed 0) and M1's
``m1_examples.npz`` (test images, reconstructions, true and predicted labels, written by the svm_head). ``ssgen-report``
reads a record as it reads a run dir. Used by ``ssgen-study`` and ``tools/gan_study.py``.
"""

from __future__ import annotations

import csv
import io
import logging
import shutil
from pathlib import Path

import numpy as np

from ssgen.io import atomic_write, atomic_write_text
from ssgen.run.results import is_generator_run, read_results, write_results

log = logging.getLogger("ssgen")

COPIED = ("m1_examples.npz",)  # files of a run dir a record holds as they are (the others are written anew)


def logged_scalars(trained_dir: str | Path) -> dict[str, dict[int, float]]:
    """``{tag: {step: value}}`` of every scalar the run logged, from the logger that wrote files into its dir:
    TensorBoard's events (``tb/``, logger=tensorboard) when there, else Lightning's CSV (``csv/metrics.csv``,
    logger=csv); a resumed step keeps its last value. Empty when neither is there (logger=mlflow / wandb alone)."""
    tb_dir, csv_file = Path(trained_dir) / "tb", Path(trained_dir) / "csv" / "metrics.csv"
    scalars: dict[str, dict[int, float]] = {}
    if tb_dir.is_dir() and any(tb_dir.glob("events.out.tfevents.*")):
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        accumulator = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0})
        accumulator.Reload()
        for tag in accumulator.Tags().get("scalars", []):
            scalars[tag] = {event.step: event.value for event in accumulator.Scalars(tag)}
    elif csv_file.is_file():
        with csv_file.open(newline="") as handle:
            for row in csv.DictReader(handle):  # a column per tag, filled on the steps it was logged at
                step = int(float(row.get("step") or 0))
                for tag, value in row.items():
                    if tag not in ("step", "epoch") and value not in (None, ""):
                        scalars.setdefault(tag, {})[step] = float(value)
    return scalars


def export_curves(trained_dir: str | Path, out: str | Path) -> int:
    """Every scalar the run logged (``logged_scalars``: TensorBoard's events or Lightning's CSV) as csv rows (tag,
    step, value, 6 significant digits; a resumed step keeps its last value); returns the row count (0 without
    either)."""
    rows = [(tag, step, value) for tag, by_step in logged_scalars(trained_dir).items()
            for step, value in sorted(by_step.items())]
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(("tag", "step", "value"))
    writer.writerows((tag, step, f"{value:.6g}") for tag, step, value in rows)
    atomic_write_text(out, buffer.getvalue())  # a record is whole or as it was, as every other file ssgen writes
    return len(rows)


def export_samples(trained_dir: str | Path, out: str | Path, per_class: int = 10, seed: int = 0) -> None:
    """``per_class`` generated images of each class (npz: ``images`` uint8 (10 * per_class, 28, 28), ``labels``
    int64) from the checkpoint the run was scored with (best.ckpt when there, else last.ckpt), noise ``seed``.
    Raises CheckpointError when the run has no usable checkpoint."""
    import torch

    from ssgen.api import load_gan, to_uint8

    model = load_gan(Path(trained_dir))
    labels = torch.arange(10).repeat_interleave(per_class)
    arrays = {"images": to_uint8(model.sample(labels, seed=seed)), "labels": labels.numpy()}

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:  # a file object: given a name, numpy would append .npz to the temp file's
            np.savez_compressed(handle, **arrays)

    atomic_write(out, write)


def write_record(run_dir: str | Path, record: str | Path) -> Path:
    """The record of the ended run in ``run_dir`` (see the module docstring), written into ``record``; returns it.

    Raises FileNotFoundError when ``run_dir`` holds no readable results.json. A generator without a usable
    checkpoint (a failed run) gets a record without samples: its results still count it."""
    run_dir, record = Path(run_dir), Path(record)
    results = read_results(run_dir)
    if results is None:
        raise FileNotFoundError(f"{run_dir} holds no readable results.json; nothing to record")
    trained_dir = Path(results.get("trained_dir") or run_dir)
    if not trained_dir.is_dir():
        trained_dir = run_dir / trained_dir.name if (run_dir / trained_dir.name).is_dir() else run_dir
    record.mkdir(parents=True, exist_ok=True)
    export_curves(trained_dir, record / "curves.csv")
    if is_generator_run(results):
        try:
            export_samples(trained_dir, record / "samples.npz")
        except Exception as exc:  # a failed run may have no usable checkpoint; its record still counts it
            log.warning("%s: no samples (%s)", record.name, exc)
    for name in COPIED:
        if (run_dir / name).is_file():
            atomic_write(record / name, lambda tmp, name=name: shutil.copyfile(run_dir / name, tmp))
    results["trained_dir"] = str(record)
    write_results(record, results)
    return record
