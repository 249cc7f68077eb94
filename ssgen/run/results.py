"""results.json, the record of one run: its schema, reading and writing it, finding runs, statuses, the
test-free objective and the end-of-run summary. The one module that opens the file.

    results = read_results("outputs/m1/<run>")          # None when there is none or it cannot be read
    for run_dir, results in find_results(["outputs/gan/multirun/<date>"]): ...

``status`` is ``running`` while a run trains, then ``ok``, ``interrupted`` (SIGTERM, Ctrl-C: relaunching
resumes it) or ``failed: <why>``. Every file this module writes carries ``schema_version``
(``SCHEMA_VERSION``); a file without one was written before the field existed (version 0) and has the same
keys, so it reads as it is. Keys beyond ``RunResults``'s come from the end-of-run steps
(``ssgen.callbacks.EndOfRunStep``) and pass through untouched.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from ssgen.errors import CheckpointError, SSGenError, StorageError
from ssgen.io import WRITE_FIX, add_inputs, atomic_write_json, display_path, oserror_in

RESULTS_FILE = "results.json"
# 1: the first versioned layout (the keys of 889a0d9-era files, plus this field). A reader that needs to tell
# layouts apart compares ``schema_version(results)`` with a number; bump it when a key changes meaning or name.
SCHEMA_VERSION = 1

RUNNING = "running"
OK = "ok"
INTERRUPTED = "interrupted"
FAILED = "failed"  # the start of every failed status: "failed: <why>"
UNREADABLE = f"{FAILED}: {RESULTS_FILE} unreadable"
UNFINISHED = (RUNNING, INTERRUPTED)  # killed runs keep "running": a SIGKILL runs no cleanup


class RunResults(TypedDict, total=False):
    """The keys ssgen's own code reads or writes; ``total=False``: every key may be missing (an early failure
    writes only the identity keys and ``status``; old runs lack the later ones)."""

    schema_version: int
    # identity
    method: str
    family: str  # 'vae', 'gan', 'semi'; runs from before it was recorded lack it (see is_generator_run)
    arch: str
    n_labels: int | str  # an int, or 'all'
    seed: int
    config_hash: str
    settings_hash: str  # config_hash without seed, run-only settings and label budgets: what a table averages
    overrides: list[str]  # the run's own command-line overrides (names a table row when runs differ in them)
    trainer_precision: str  # the Lightning precision that ran ("precision" is the improved-precision metric)
    # lifecycle
    status: str
    epochs: int
    optimizer_steps: int
    wall_time_s: float
    steps: dict[str, str]  # end-of-run step name -> "ok" or "failed: <Type>: <why>"
    warnings: list[str]
    trained_seed: int
    trained_dir: str  # the attempt that finished: the run dir, or <run dir>/restart_<k>
    failed_runs: int
    failures: list[str]
    objective: dict[str, Any]  # {"name", "value", "direction"}: see ``objective``
    resume: str  # an interrupted run: the command that resumes it
    weights: dict[str, dict[str, Any]]  # checkpoint file name -> the version its scores were made from
    built_from: dict[str, dict[str, Any]]  # another run's weights this model was built on (M1+M2's M1) -> version
    # scores (written by the end-of-run steps)
    heads: dict[str, dict[str, dict[str, Any]]]  # N (as a string) -> head name -> {"accuracy", "cv_accuracy", ...}
    test_accuracy: float
    holdout_accuracy: float
    selection: dict[str, Any]
    metrics_history: list[dict[str, Any]]
    fid: float
    kid: float
    class_consistency: float
    precision: float
    recall: float
    min_class_spread: float
    per_class_fid: dict[str, float]
    scored_checkpoint: str


# ------------------------------------------------------------------------------------------------ statuses
def failure_status(exc: BaseException) -> str:
    """The status of a run that raised: ``failed: <Type>: <first line of the message>`` (300 characters at most)."""
    first_line = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{FAILED}: {type(exc).__name__}: {first_line}"


def is_ok(result: dict[str, Any]) -> bool:
    """The one test of a usable run: it finished with every end-of-run step ok."""
    return result.get("status") == OK


def is_failed(result: dict[str, Any]) -> bool:
    """Whether the run ended ``failed: <why>`` (a crash, failed convergence, a failed end-of-run step)."""
    return str(result.get("status", "")).startswith(FAILED)


def trained_status(steps: dict[str, str]) -> str:
    """The status of a run that trained: ``ok``, or ``failed: end-of-run step <name>: <why>`` naming the first
    end-of-run step (``steps``: name -> ``ok`` or ``failed: <Type>: <why>``) that failed."""
    for name, status in steps.items():
        if status != OK:
            return f"{FAILED}: end-of-run step {name}: {status.removeprefix(FAILED + ': ')}"
    return OK


def is_unfinished(result: dict[str, Any]) -> bool:
    """Running, killed (still ``running``) or interrupted: relaunching the command resumes it."""
    return result.get("status") in UNFINISHED


def is_generator_run(result: dict[str, Any]) -> bool:
    """A run of a generator: a GAN family method (``family``; runs written before it was recorded are told by
    their ``fid``)."""
    return result.get("family") == "gan" or ("family" not in result and ("fid" in result or result.get("method") != "m1"))


def schema_version(result: dict[str, Any]) -> int:
    """The layout a results dict was written in: ``SCHEMA_VERSION`` or older; 0 for files from before the field."""
    version = result.get("schema_version", 0)
    return version if isinstance(version, int) else 0


# ------------------------------------------------------------------------------------------------ files
def results_path(run_dir: str | Path) -> Path:
    """Where a run dir keeps its results.json."""
    return Path(run_dir) / RESULTS_FILE


def has_results(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds a results.json (readable or not)."""
    return results_path(run_dir).is_file()


def read_results(run_dir: str | Path) -> RunResults | None:
    """The run dir's results.json, or None when there is none or it cannot be read (not JSON, not an object)."""
    add_inputs([results_path(run_dir)], f"the run record {display_path(results_path(run_dir))}")
    try:
        results = json.loads(results_path(run_dir).read_text())
    except (OSError, ValueError):
        return None
    return results if isinstance(results, dict) else None


def write_results(run_dir: str | Path, results: RunResults | dict[str, Any], fix: str = WRITE_FIX) -> Path:
    """Write ``results`` as ``run_dir``'s results.json, atomically (a reader sees the old file or the whole new
    one), stamped with ``schema_version``; returns the path. ``results`` itself is left unchanged. On a disk so full
    that not even the temp file fits, the file there is rewritten in place (its own room is reused), so a run never
    stays ``running`` because the disk filled up. Raises StorageError (disk full, read-only dir) whose message ends
    with ``fix``."""
    payload = {**results, "schema_version": SCHEMA_VERSION}
    path = results_path(run_dir)
    try:
        return atomic_write_json(path, payload, fix)
    except StorageError as exc:
        cause = oserror_in(exc)
        if cause is None or cause.errno not in (errno.ENOSPC, errno.EDQUOT) or not path.is_file():
            raise
        try:  # truncate first: the blocks it frees are what the new text is written into
            with open(path, "r+", encoding="utf-8") as handle:
                handle.truncate(0)
                handle.write(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        except OSError:
            raise exc from None
        return path


def record_or_warn(write: Callable[[Path, dict[str, Any]], Any], run_dir: Path, results: dict[str, Any]) -> None:
    """Write results.json on the way out of a failed or stopped run; a write that fails too (the disk that is full)
    is a warning, so the error the user sees is the one that stopped the run (the old results.json stays)."""
    try:
        write(run_dir, results)
    except StorageError as exc:
        logging.getLogger("ssgen").warning("%s (results.json still says %r)", exc,
                                           (read_results(run_dir) or {}).get("status"))


# ------------------------------------------------------------------------------------------------ versions
CHECKPOINT_NAMES = ("best.ckpt", "last.ckpt")  # the files a run dir's scores come from (ssgen.models.checkpoints)


def checkpoint_versions(run_dir: str | Path) -> dict[str, dict[str, Any]]:
    """results.json ``weights``: the ``weights_version`` of each checkpoint a run dir holds now (best.ckpt, last.ckpt),
    taken when the run ends, so a loader can tell the checkpoint its scores and heads were made from."""
    from ssgen.models.checkpoints import read_checkpoint, weights_version  # torch: not for the report tables

    versions = {}
    for name in CHECKPOINT_NAMES:
        path = Path(run_dir) / "checkpoints" / name
        if path.is_file():
            with contextlib.suppress(CheckpointError):  # an unreadable file has no version; the loader says so
                versions[name] = weights_version(read_checkpoint(path))
    return versions


def run_dir_of(checkpoint: str | Path) -> Path | None:
    """The run dir a checkpoint belongs to (``<run dir>/checkpoints/<file>``), or None outside one."""
    checkpoint = Path(checkpoint)
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else None


def recorded_version_problem(checkpoint: str | Path, loaded: dict[str, Any]) -> str | None:
    """What is wrong when a checkpoint is not the version its run's record describes: a run that ended ``ok`` whose
    results.json ``weights`` names other weights for this file (its scores and heads are of those). None when the
    record agrees, records nothing (older runs) or the run has not ended ``ok`` (it then claims no scores)."""
    from ssgen.models.checkpoints import describe_version, version_mismatch

    checkpoint = Path(checkpoint)
    run_dir = run_dir_of(checkpoint)
    results = read_results(run_dir) if run_dir is not None else None
    if not results or not is_ok(results):
        return None
    recorded = (results.get("weights") or {}).get(checkpoint.name)
    if not version_mismatch(recorded, loaded):
        return None
    return (f"{display_path(checkpoint)} holds {describe_version(loaded)}, but the run's record (status ok) was made from "
            f"{describe_version(recorded)}: the file changed after the run ended, so its scores and heads are not this "
            "model's; retrain the run, or restore the checkpoint it ended with")


def unfinished_problem(checkpoint: str | Path, loaded: dict[str, Any]) -> str | None:
    """What is wrong when a run's own checkpoint is taken as a finished model (M1+M2's ``method.m1_checkpoint``) but
    the run has not finished at these weights: results.json says running, interrupted or failed (trained on after it
    finished, and stopped), or the weights differ from what it recorded. None for a file outside a run dir or a
    finished run's own weights (a weights-only copy made by ssgen-export counts as finished)."""
    from ssgen.models.checkpoints import describe_version

    checkpoint = Path(checkpoint)
    run_dir = run_dir_of(checkpoint)
    results = read_results(run_dir) if run_dir is not None else None
    if run_dir is None or results is None or checkpoint.name not in CHECKPOINT_NAMES:
        return recorded_version_problem(checkpoint, loaded) if results else None
    if is_ok(results):
        return recorded_version_problem(checkpoint, loaded)
    recorded = sorted((run_dir / "checkpoints").glob("finished_step*.ckpt"), key=lambda path: path.stat().st_mtime)
    as_it_was = (f"give the run as it finished: {display_path(recorded[-1])}" if recorded else
                 "give a weights-only copy made when it had finished (ssgen-export)")
    return (f"{display_path(checkpoint)} ({describe_version(loaded)}) is not a finished model: its run says "
            f"{results.get('status')!r} (trained on after it finished, or stopped before); finish that run "
            f"(relaunch it into {display_path(run_dir)}), or {as_it_was}")


def find_results(paths: list[str | Path], missing_ok: bool = False) -> list[tuple[Path, RunResults]]:
    """Every run below the given dirs (a sweep dir, several, or single run dirs): ``(run_dir, results)`` sorted by
    path within each dir given. restart_<k> attempts belong to their run and are skipped; an unreadable file is a
    run with status ``UNREADABLE``. Raises SSGenError for a path that does not exist, and, unless ``missing_ok``,
    when no results.json is found at all."""
    found: list[tuple[Path, RunResults]] = []
    for root in map(Path, paths):
        if not root.exists():
            raise SSGenError(f"{root} does not exist; give a sweep dir such as outputs/m1/multirun/<date>")
        for path in sorted(root.rglob(RESULTS_FILE)):
            if "restart_" in path.parent.name:
                continue
            found.append((path.parent, read_results(path.parent) or {"status": UNREADABLE}))
    if not found and not missing_ok:
        raise SSGenError(f"no {RESULTS_FILE} under {', '.join(map(str, paths))}; did the sweep run?")
    return found


def sweep_jobs(sweep_dir: str | Path, modified_since: float | None = None) -> list[tuple[Path, RunResults]]:
    """The job dirs directly under a sweep dir that hold a results.json, with their results (an unreadable file:
    status ``UNREADABLE``), sorted by path; ``modified_since`` (a ``time.time()``): only files written since."""
    jobs: list[tuple[Path, RunResults]] = []
    for path in sorted(Path(sweep_dir).glob(f"*/{RESULTS_FILE}")):
        if modified_since is not None and path.stat().st_mtime < modified_since:
            continue
        jobs.append((path.parent, read_results(path.parent) or {"status": UNREADABLE}))
    return jobs


# ------------------------------------------------------------------------------------------------ objective
def objective(result: dict[str, Any]) -> tuple[str, float, str] | None:
    """The value a hyper-parameter search optimises for a run, computed without the test set.

    Returns ``(name, value, direction)`` or None when the run has no test-free score:
    a selection run (``data.labelled_holdout``): its held-out labelled accuracy (maximise);
    M1: the SVM head's cross-validated accuracy on the labelled images of the first scored N (maximise);
    a GAN: the best in-training FID against training images (minimise), the value best.ckpt is chosen by.
    Test accuracy and test FID are never returned: selecting on them would report a number tuned on the test set.
    """
    if isinstance(result.get("holdout_accuracy"), int | float):
        return "holdout_accuracy", float(result["holdout_accuracy"]), "maximize"
    heads = result.get("heads") or {}
    if heads:
        primary = heads.get(str(result.get("n_labels")), next(iter(heads.values())))
        cv = primary.get("m1_svm", {}).get("cv_accuracy")
        if isinstance(cv, int | float):
            return "cv_accuracy", float(cv), "maximize"
    fids = [entry["fid"] for entry in result.get("metrics_history") or []
            if isinstance(entry.get("fid"), int | float) and math.isfinite(entry["fid"])]
    if fids:
        return "train_fid", float(min(fids)), "minimize"
    return None


def objective_entry(result: dict[str, Any]) -> dict[str, Any] | None:
    """``objective(result)`` as results.json records it: ``{"name", "value", "direction"}``, or None."""
    search = objective(result)
    return dict(zip(("name", "value", "direction"), search, strict=True)) if search else None


# ------------------------------------------------------------------------------------------------ summary
# (results.json key, label, digits) of a generator's scores in the summary, in the order they are shown
GENERATOR_SCORES = (("fid", "FID", 2), ("kid", "KID", 4), ("class_consistency", "class-consistency", 3),
                    ("precision", "precision", 3), ("recall", "recall", 3), ("min_class_spread", "min class spread", 3))


@dataclass(frozen=True)
class HeadScores:
    """One N of an M1-style run: each head's test accuracy, and the raw-pixel SVM's on the same labels."""

    n: str
    accuracies: dict[str, float]  # head name -> test accuracy, without the raw-pixel baseline
    raw_svm: float | None  # None when the baseline was not run
    gain: float  # M1's best head over the raw pixels' best head (without graph heads: SVM over SVM; NaN without either)
    raw_best: float | None = None  # the raw pixels' best head by CV (None without graph heads)


# The write-up's M1 + RBF-SVM test accuracies on Fashion-MNIST (its Q4 table; the last row is printed as 6000 there,
# but its text says 3000): shown beside ssgen's numbers for reference, never compared against in code.
WRITEUP_M1_SVM = {"100": 0.5957, "600": 0.7015, "1000": 0.7093, "3000": 0.7291}
HEAD_LABELS = {"m1_svm": "M1 + SVM", "m1_spreading": "M1 + label spreading", "m1_best": "M1 + best head (by CV)"}
RAW_HEADS = ("raw_svm", "raw_best")  # the raw-pixel baseline's heads: columns of their own


def head_table(heads: list[HeadScores]) -> list[str]:
    """The summary's table of M1's heads: one row per N, each head's test accuracy, the raw-pixel SVM on the same
    labels, M1 + SVM minus raw pixels, and the write-up's M1 + SVM; then one line per N where M1 loses to raw pixels.

    Returns the lines (without a trailing newline), columns padded to their widest cell.
    """
    names = list(dict.fromkeys(name for head in heads for name in head.accuracies))
    with_raw = any(head.raw_svm is not None for head in heads)
    with_raw_best = any(head.raw_best is not None for head in heads)
    with_writeup = "m1_svm" in names  # the write-up's number is an M1 + SVM's: beside nothing else
    header = [*("N", *(HEAD_LABELS.get(name, name) for name in names)), *(("raw-pixel SVM",) if with_raw else ()),
              *(("raw-pixel best head",) if with_raw_best else ()),
              *((("M1 best - raw best",) if with_raw_best else ("M1 - raw",)) if with_raw else ()),
              *(("write-up M1 + SVM",) if with_writeup else ())]
    rows = []
    for head in heads:
        cells = [head.n, *(f"{head.accuracies[name]:.3f}" if name in head.accuracies else "-" for name in names)]
        if with_raw:
            cells.append(f"{head.raw_svm:.3f}" if head.raw_svm is not None else "-")
            if with_raw_best:
                cells.append(f"{head.raw_best:.3f}" if head.raw_best is not None else "-")
            cells.append(f"{head.gain:+.3f}" if not math.isnan(head.gain) else "-")
        if with_writeup:
            cells.append(f"{WRITEUP_M1_SVM[head.n]:.3f}" if head.n in WRITEUP_M1_SVM else "-")
        rows.append(cells)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  test accuracy (10k test images) by number of labelled images N:"]
    lines += ["    " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
              for row in [header, *rows]]
    losing = [head.n for head in heads if head.gain < 0]
    if losing:
        which = ("M1's best head is below the raw pixels' best head" if with_raw_best
                 else "M1 + SVM is below the raw-pixel SVM")
        lines.append(f"  {which} at N={', '.join(losing)}: train longer "
                     "(trainer.max_epochs), or see docs/results.md for the configurations that beat the baseline")
    return lines


@dataclass(frozen=True)
class Score:
    """A generator's score beside what real training images score the same way (``floor``, None if unknown)."""

    label: str
    value: float
    digits: int
    floor: float | None


@dataclass(frozen=True)
class RunSummary:
    """What a run ends by telling its user (``summarise``); ``text()`` gives it as the lines ssgen-train logs."""

    headline: str
    run_dir: Path
    heads: list[HeadScores] = field(default_factory=list)
    test_accuracy: float | None = None  # M2 / M1+M2 (a run without heads)
    n_labels: Any = None
    generator_scores: list[Score] = field(default_factory=list)
    scored_checkpoint: str = "final weights"
    warnings: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)  # the run dir's *.png names
    notes: list[str] = field(default_factory=list)  # what the heads' scores are (which images were graph nodes)

    def text(self) -> str:
        """A few human lines: scores beside their baselines, what a loss to the baseline means, where things are."""
        lines = [self.headline]
        if self.heads:
            lines += head_table(self.heads)
            lines += [f"  {note}" for note in self.notes]
        if self.test_accuracy is not None:
            lines.append(f"  test accuracy {self.test_accuracy:.3f} ({self.n_labels} labels)")
        if self.generator_scores:
            parts = []
            for score in self.generator_scores:
                text = f"{score.label} {score.value:.{score.digits}f}"
                if score.floor is not None:
                    text += f" (real data {score.floor:.{score.digits}f})"
                parts.append(text)
            lines.append(f"  {self.scored_checkpoint} vs the test set: " + ", ".join(parts))
        lines += [f"  warning: {warning}" for warning in self.warnings]
        lines.append(f"  run dir: {self.run_dir} ({RESULTS_FILE}, checkpoints/)")
        if self.figures:
            lines.append(f"  figures: {', '.join(self.figures)}")
        other_loggers = any((self.run_dir / name).exists() for name in ("csv", "wandb", "mlruns"))
        if (self.run_dir / "tb").is_dir() or not other_loggers:  # logger=tensorboard (the default, and every run
            # from before the logger group); the others say where they are
            lines.append(f"  tensorboard --logdir {self.run_dir / 'tb'}")
        if (self.run_dir / "csv" / "metrics.csv").is_file():
            lines.append(f"  curves: {self.run_dir / 'csv' / 'metrics.csv'}")
        return "\n".join(lines)


def _natural(name: str) -> list[Any]:
    """A sort key that orders confusion_n600.png before confusion_n1000.png (numbers by value, not by digit)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _number(value: Any) -> bool:
    return isinstance(value, int | float)


def summarise(result: dict[str, Any], run_dir: str | Path) -> RunSummary:
    """The end-of-run summary of a run's results: M1's heads per N beside the raw-pixel SVM; M2 / M1+M2's test
    accuracy; a generator's FID, KID, class-consistency, precision, recall and smallest class spread beside the
    real-data floor; its warnings (e.g. partial collapse); the figures in ``run_dir``."""
    run_dir = Path(run_dir)
    heads = []
    for n, entry in sorted((result.get("heads") or {}).items(), key=lambda item: int(item[0])):
        raw = entry.get("raw_svm", {}).get("accuracy")
        raw = raw if _number(raw) else None
        raw_best = entry.get("raw_best", {}).get("accuracy")
        raw_best = raw_best if _number(raw_best) else None
        if raw_best is not None and "m1_best" in entry:  # the fair comparison: each feature set's best head by CV
            gain = entry["m1_best"]["accuracy"] - raw_best
        else:
            gain = entry.get("m1_svm", {}).get("accuracy", math.nan) - raw if raw is not None else math.nan
        heads.append(HeadScores(n=n, accuracies={name: value["accuracy"] for name, value in entry.items() if name not in RAW_HEADS},
                                raw_svm=raw, gain=gain, raw_best=raw_best))
    test_accuracy = result.get("test_accuracy") if not result.get("heads") and _number(result.get("test_accuracy")) else None
    scores = []
    if _number(result.get("fid")):
        for key, label, digits in GENERATOR_SCORES:
            if _number(result.get(key)):
                floor = result.get(f"{key}_floor")
                scores.append(Score(label, result[key], digits, floor if _number(floor) else None))
    return RunSummary(
        headline=f"{result.get('method')} on {result.get('arch')} (seed {result.get('seed')}): {result.get('status')}",
        run_dir=run_dir, heads=heads, test_accuracy=test_accuracy, n_labels=result.get("n_labels"),
        generator_scores=scores, scored_checkpoint=result.get("scored_checkpoint", "final weights"),
        warnings=list(result.get("warnings") or []), figures=sorted((path.name for path in run_dir.glob("*.png")), key=_natural),
        notes=graph_notes(result))


def graph_notes(result: dict[str, Any]) -> list[str]:
    """The summary's lines on the graph heads: which images were nodes, the chosen heads, and the transductive
    scores beside the inductive ones the table shows ([] for a run without graph heads)."""
    graph = result.get("graph")
    if not graph:
        return []
    chosen, transductive = [], []
    for n, entry in sorted((result.get("heads") or {}).items(), key=lambda item: int(item[0])):
        best = entry.get("m1_best") or {}
        params = best.get("params") or {}
        if params:
            chosen.append(f"N={n} {params.get('head')}" + (f"@{params['k']}" if params.get("k") else ""))
        if _number(best.get("transductive_accuracy")):
            transductive.append(f"N={n} {best['transductive_accuracy']:.3f}")
    lines = [f"best head by CV on the labelled images only (M1: {', '.join(chosen)}); graph heads {graph['setting']}"]
    if transductive:
        lines.append(f"M1's graph head, {graph.get('transductive') or 'transductive'}: {', '.join(transductive)}")
    return lines


def run_summary(result: dict[str, Any], run_dir: str | Path) -> str:
    """``summarise(result, run_dir).text()``: the lines ssgen-train ends a run with."""
    return summarise(result, run_dir).text()

