"""ssgen-study as a user runs it: the debug budget end to end (every part, a resume that reruns nothing, an interrupted
job relaunched) and ssgen-report's page of it; the end-to-end half of tests/unit/reporting/test_study.py."""

from __future__ import annotations

import json
import re
import shutil
import sys

import pytest
from conftest import plain_table, run_script

# as in tests/unit/reporting/test_study.py
SECTIONS = ("## Q1: KL, JS and W1 on two parallel lines", "## Q4: M1 + RBF-SVM at N =",
            "## Q5: class-conditional GANs on arch A and B", "### Real vs generated pullovers and ankle boots",
            "### Generator and critic losses", "### Failed convergences", "### Sample quality beside the real-data floor",
            "## Where ssgen departs from the write-up")
FIGURES = ("q1_parallel_lines.png", "q1_critic.png", "q4_examples.png", "q5_samples_dcgan.png",
           "q5_samples_dcgan_softplus.png", "q5_losses_dcgan.png", "q5_losses_dcgan_softplus.png")


def console(name: str, module: str) -> list[str]:
    """The console script when installed (as a user runs it), else its module (a checkout not reinstalled yet)."""
    return [name] if shutil.which(name) else [sys.executable, "-m", module]


@pytest.mark.slow
def test_debug_budget_end_to_end_resumes_and_renders_every_section(tmp_path, tiny_evaluator_file):
    run_dir, page = tmp_path / "writeup", tmp_path / "docs" / "writeup.md"
    study = [*console("ssgen-study", "ssgen.study"), "writeup", "budget=debug", f"dir={run_dir}",
             "torch_threads=1", f"gan:+method.callbacks.quality.evaluator={tiny_evaluator_file}"]

    first = run_script(*study, timeout=1500)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    jobs = sorted(run_dir.glob("*/*/results.json"))
    assert len(jobs) == 1 + 1 + 6, jobs  # M1, M1+M2 and 3 methods x 2 archs, 1 seed each
    assert all(json.loads(path.read_text())["status"] == "ok" for path in jobs)
    stamps = {path: path.stat().st_mtime_ns for path in [*jobs, *run_dir.glob("records/*/*/results.json")]}

    again = run_script(*study, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "$ ssgen-train" not in again.stdout and "q1: recorded" in again.stdout, again.stdout
    assert all(f"{part}: {total}/{total} jobs ended" in again.stdout for part, total in (("m1", 1), ("m1_m2", 1), ("gan", 6)))
    assert {path: path.stat().st_mtime_ns for path in stamps} == stamps  # nothing reran, nothing re-recorded

    # an interrupted job (as a SIGTERM leaves it) is the only one the same command launches again
    interrupted = run_dir / "m1_m2" / "n100_seed0" / "results.json"
    interrupted.write_text(json.dumps({**json.loads(interrupted.read_text()), "status": "interrupted", "epochs": 0}))
    resumed = run_script(*study, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.count("$ ssgen-train") == 1 and "method=m1_m2" in resumed.stdout, resumed.stdout
    assert json.loads(interrupted.read_text())["status"] == "ok"

    report = [*console("ssgen-report", "ssgen.report"), "writeup", f"runs={run_dir / 'records'}", f"out={page}"]
    made = run_script(*report, timeout=600)
    assert made.returncode == 0, made.stderr[-3000:]
    text = page.read_text()
    assert all(section in text for section in SECTIONS), text
    assert "Not run yet" not in text and "**debug**" in text
    for name in FIGURES:
        assert f"(writeup/{name})" in text and (page.parent / "writeup" / name).stat().st_size > 1000, name
    cells = plain_table(text)  # the tables pad their columns
    assert re.search(r"\| ssgen: M1 \+ RBF-SVM \| 0\.\d{4} \|", cells)  # one seed: plain values, said once above
    assert re.search(r"\| ssgen: M1 \+ M2 \| 0\.\d{4} \|", cells) and "one run, seed 0" in text
    assert re.search(r"\| wgan_gp \| 1 failed convergence \| \d / 1 \(\d\) \| \d / 1 \(\d\) \|", cells)
    assert "*floor:" in text  # the real-data floor row of the metrics table

    (page.parent / "writeup").rename(tmp_path / "first_figures")
    assert run_script(*report, timeout=600).returncode == 0
    assert page.read_text() == text  # the page is a function of the records


def test_a_fresh_full_study_trains_its_gans_unless_told_to_reuse_the_committed_records(tmp_path):
    """`ssgen-study writeup budget=full dry_run=true` with a fresh dir lists the 18 GAN jobs as to run (3 multiruns
    of 6); with reuse_committed=true they stand as ended, from the committed records, and nothing is launched."""
    fresh = run_script("ssgen-study", "writeup", "budget=full", f"dir={tmp_path / 'fresh'}", "dry_run=true", timeout=120)
    assert fresh.returncode == 0, fresh.stderr
    assert "gan: 0/18 jobs ended" in fresh.stdout
    launches = [line for line in fresh.stdout.splitlines() if line.startswith("$ ssgen-train -m experiment=gan")]
    assert len(launches) == 3 and all("arch=dcgan,dcgan_softplus seed=0,1,2" in line for line in launches)
    reused = run_script("ssgen-study", "writeup", "budget=full", f"dir={tmp_path / 'reused'}", "dry_run=true",
                        "reuse_committed=true", timeout=120)
    assert reused.returncode == 0, reused.stderr
    assert "gan: 18/18 jobs ended (18 from" in reused.stdout and "experiment=gan" not in reused.stdout
    refused = run_script("ssgen-study", "writeup", "budget=quick", f"dir={tmp_path / 'quick'}", "reuse_committed=true",
                         timeout=120)
    assert refused.returncode == 2 and "made at budget=full, not budget=quick" in refused.stderr
    assert not (tmp_path / "quick").exists()  # refused before anything is made


@pytest.mark.slow
def test_a_study_composes_every_part_with_the_users_config_dir(tmp_path):
    """config_dir= is ssgen-train's --config-dir for every part: a method of the user's own runs, and the page's
    command names the dir; a resume without it is another study and is refused in one line."""
    own = tmp_path / "myconf" / "method"
    own.mkdir(parents=True)
    (own / "m1_beta.yaml").write_text("defaults:\n  - m1\n  - _self_\nname: m1_beta\nkl_weight: 0.25\n")
    run_dir = tmp_path / "writeup"
    study = [*console("ssgen-study", "ssgen.study"), "writeup", "budget=debug", f"dir={run_dir}", "parts=m1",
             "torch_threads=1", f"config_dir={tmp_path / 'myconf'}", "m1:method=m1_beta"]
    result = run_script(*study, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (job,) = run_dir.glob("m1/*/results.json")
    recorded = json.loads(job.read_text())
    assert recorded["status"] == "ok" and recorded["method"] == "m1_beta"
    assert f"--config-dir {tmp_path / 'myconf'}" in result.stdout
    without = run_script(*[word for word in study if not word.startswith("config_dir=")], timeout=300)
    assert without.returncode == 2 and "records the study with config_dir=" in without.stderr
