"""ssgen.run.results, the one owner of results.json: files from before its schema_version still read, writes are
versioned and atomic, and the readers (runs, report, figures) see runs the way they did."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import ROOT

from ssgen.errors import ConfigError, SSGenError
from ssgen.run.results import (
    SCHEMA_VERSION,
    UNREADABLE,
    failure_status,
    find_results,
    has_results,
    is_failed,
    is_generator_run,
    is_ok,
    is_unfinished,
    objective,
    read_results,
    schema_version,
    summarise,
    sweep_jobs,
    write_results,
)

RECORDS = ROOT / "docs" / "records" / "gan_study"
RECORD = RECORDS / "wgan_gp_dcgan_seed0"  # written by 889a0d9-era code: no schema_version


@pytest.fixture
def old_record(tmp_path: Path) -> Path:
    """A copy of a committed GAN study record (results.json only) as a run dir in a sweep dir."""
    run_dir = tmp_path / "sweep" / "0_method=wgan_gp"
    run_dir.mkdir(parents=True)
    shutil.copy(RECORD / "results.json", run_dir / "results.json")
    return run_dir


def test_a_record_written_before_the_schema_version_reads_through_the_layer(old_record):
    on_disk = json.loads((old_record / "results.json").read_text())
    assert "schema_version" not in on_disk  # the point of the test: the old layout
    results = read_results(old_record)
    assert results == on_disk and schema_version(results) == 0
    assert is_ok(results) and is_generator_run(results) and not is_failed(results) and not is_unfinished(results)
    # the objective it was written with is the one the layer computes from it today
    name, value, direction = objective(results)
    assert {"name": name, "value": value, "direction": direction} == on_disk["objective"]
    assert name == "train_fid" and direction == "minimize"
    assert find_results([old_record.parent]) == [(old_record, on_disk)]
    assert sweep_jobs(old_record.parent) == [(old_record, on_disk)]


def test_the_summary_of_an_old_record_gives_its_scores_beside_the_floor(old_record):
    results = read_results(old_record)
    summary = summarise(results, old_record)
    assert summary.headline == "wgan_gp on dcgan (seed 0): ok"
    fid = summary.generator_scores[0]
    assert (fid.label, fid.value, fid.floor) == ("FID", results["fid"], results["fid_floor"])
    text = summary.text()
    assert f"FID {results['fid']:.2f} (real data {results['fid_floor']:.2f})" in text
    assert text.splitlines()[-1] == f"  tensorboard --logdir {old_record / 'tb'}"


def test_writes_are_versioned_and_leave_the_given_dict_alone(tmp_path):
    results = {"method": "m1", "status": "running"}
    path = write_results(tmp_path / "run", results)
    assert path == tmp_path / "run" / "results.json" and has_results(tmp_path / "run")
    assert results == {"method": "m1", "status": "running"}
    assert read_results(tmp_path / "run") == {**results, "schema_version": SCHEMA_VERSION}
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["results.json"]  # no temp file left behind


def test_unreadable_and_missing_files(tmp_path):
    assert read_results(tmp_path) is None and not has_results(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "results.json").write_text('{"status": "ok"')  # a killed writer of another tool
    (tmp_path / "b" / "restart_1").mkdir(parents=True)
    (tmp_path / "b" / "restart_1" / "results.json").write_text('{"status": "ok"}')  # belongs to its run
    assert read_results(tmp_path / "a") is None
    assert find_results([tmp_path]) == [(tmp_path / "a", {"status": UNREADABLE})]
    assert find_results([tmp_path / "b"], missing_ok=True) == []
    with pytest.raises(SSGenError, match="no results.json under"):
        find_results([tmp_path / "b"])
    with pytest.raises(SSGenError, match="does not exist"):
        find_results([tmp_path / "nowhere"])


def test_statuses():
    status = failure_status(ConfigError("data.n_labels=105 is not a multiple of 10\nmore"))
    assert status == "failed: ConfigError: data.n_labels=105 is not a multiple of 10"
    assert is_failed({"status": status}) and not is_ok({"status": status})
    assert is_unfinished({"status": "running"}) and is_unfinished({"status": "interrupted"})
    assert not is_generator_run({"method": "m1"}) and is_generator_run({"method": "m1", "family": "gan"})


def test_sweep_jobs_skip_files_older_than_the_launch(tmp_path):
    for name in ("old", "new"):
        write_results(tmp_path / name, {"status": "ok" if name == "new" else "failed: x"})
    os.utime(tmp_path / "old" / "results.json", (1_000, 1_000))
    assert [run_dir.name for run_dir, _ in sweep_jobs(tmp_path)] == ["new", "old"]
    assert [run_dir.name for run_dir, _ in sweep_jobs(tmp_path, modified_since=2_000)] == ["new"]
