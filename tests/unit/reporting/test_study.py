"""ssgen-study writeup and ssgen-report writeup: the write-up's study as one resumable command, and its page.

These cover the launch plan, the page of a study with parts missing and what a relaunch reruns, in-process. The
end-to-end test (tests/e2e/test_study_cli.py) runs the real command at the debug budget (every part a few batches),
relaunches it (nothing reruns), resumes an interrupted job, and checks the page has every section and figure.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest
from conftest import ROOT, plain_table

from ssgen.errors import ConfigError
from ssgen.reporting.study import COMMITTED_GAN_RECORDS, Study, covering_launches, part_overrides
from ssgen.reporting.writeup import write_writeup

SECTIONS = ("## Q1: KL, JS and W1 on two parallel lines", "## Q4: M1 + RBF-SVM at N =",
            "## Q5: class-conditional GANs on arch A and B", "### Real vs generated pullovers and ankle boots",
            "### Generator and critic losses", "### Failed convergences", "### Sample quality beside the real-data floor",
            "## Where ssgen departs from the write-up")
def test_launches_cover_exactly_the_pending_jobs():
    axes = (("method", ("a", "b")), ("seed", (0, 1, 2)))
    every = {(m, s) for m in ("a", "b") for s in (0, 1, 2)}
    assert covering_launches(axes, every) == [axes]  # one sweep: a parallel launcher sees every job
    assert covering_launches(axes, set()) == []
    partial = covering_launches(axes, every - {("a", 0)})
    assert partial == [(("method", ("a",)), ("seed", (1, 2))), (("method", ("b",)), ("seed", (0, 1, 2)))]
    fixed = covering_launches(axes, every, fixed=("method",))
    assert [dict(launch)["method"] for launch in fixed] == [("a",), ("b",)]
    assert part_overrides(["seed=1", "gan:+x=1", "m1:y=2", "a:b=c"], "gan") == ["seed=1", "+x=1", "a:b=c"]


def test_plan_of_each_budget(tmp_path):
    """Budgets add only budget overrides; M1+M2 reads the M1 run of its seed; the full budget's GAN jobs are the
    committed records (none relaunched), the quick budget's are all to run, one multirun per method."""
    quick = Study("quick", tmp_path / "quick")
    m1 = quick.launches("m1")
    assert m1 == [["trainer.max_epochs=5", "label_budgets=[100,600,1000,3000]", "seed=0",
                   f"hydra.sweep.dir={tmp_path / 'quick'}/m1", "hydra.sweep.subdir=seed${seed}"]]
    assert quick.launches("m1_m2") == []  # waits for its M1 run
    gan = quick.launches("gan")
    assert [next(word for word in launch if word.startswith("method=")) for launch in gan] == [
        "method=dcgan", "method=wgan_clip", "method=wgan_gp"]
    assert all("arch=dcgan,dcgan_softplus" in launch and "experiment=gan" in launch for launch in gan)
    assert "method.m1_checkpoint=" + str(tmp_path / "quick") + "/m1/seed${seed}" in quick.command("m1_m2")

    full = Study("full", tmp_path / "full")
    assert not any(word.startswith("trainer.") for word in full.launches("m1")[0])  # the default M1 recipe as is
    assert len(full.pending("gan")) == 18 and len(full.launches("gan")) == 3  # a fresh study trains its GANs
    reused = Study("full", tmp_path / "reused", reuse_committed=True)
    assert (COMMITTED_GAN_RECORDS / "wgan_gp_dcgan_softplus_seed2" / "results.json").is_file()
    assert reused.pending("gan") == set() and reused.launches("gan") == []  # only when asked
    assert reused.pending("m1") == full.pending("m1")  # the GANs only: no other part has committed records
    assert "reuse_committed=true" in reused.study_command() and "reuse_committed" not in full.study_command()
    with pytest.raises(ConfigError, match="were made at budget=full, not budget=quick"):
        Study("quick", tmp_path / "quick", reuse_committed=True)


def test_page_of_a_study_not_run_yet(tmp_path):
    """Every section is there, and each part without records says "not run yet" with the command that runs it."""
    records = tmp_path / "records"
    records.mkdir()
    (records / "study.json").write_text(json.dumps({"budget": "quick", "run_dir": "outputs/writeup/quick",
                                                    "overrides": ["torch_threads=1"]}))
    text = write_writeup(records, tmp_path / "page.md")
    assert (tmp_path / "page.md").read_text() == text
    assert all(section in text for section in SECTIONS[:3] + SECTIONS[-1:]), text
    assert text.count("*Not run yet.*") == 4  # Q1, M1, M1+M2, the GANs
    # the command of a part names this study's dirs and overrides: run as given, it fills these records
    assert (f"ssgen-study writeup budget=quick dir=outputs/writeup/quick records={records} parts=gan "
            "torch_threads=1`, which launches" in text)
    assert re.search(r"ssgen-train -m experiment=gan .*method=wgan_gp arch=dcgan,dcgan_softplus seed=0 ", text)
    assert "| write-up: M1 + SVM (reported, 1 run) | 0.5957 | 0.7015 | 0.7093 | 0.7291 |" in plain_table(text)
    assert "**quick**" in text and "These are not the write-up's numbers" in text
    assert f"ssgen-study writeup budget=quick dir=outputs/writeup/quick records={records} torch_threads=1" in text
    assert not (tmp_path / "page").exists()  # no figure without records


@pytest.mark.slow
def test_committed_page_regenerates_from_its_records(tmp_path, monkeypatch):
    """docs/writeup.md is a function of docs/records/writeup (and the committed GAN records): the same bytes again."""
    root = ROOT
    monkeypatch.chdir(root)  # the page quotes the paths as given, relative to the repository
    out = tmp_path / "writeup.md"
    text = write_writeup("docs/records/writeup", out)
    assert text.replace(str(out), "docs/writeup.md") == (root / "docs" / "writeup.md").read_text()
    assert sorted(path.name for path in (tmp_path / "writeup").iterdir()) == sorted(
        path.name for path in (root / "docs" / "writeup").iterdir())


def test_a_launch_into_another_budgets_or_overrides_records_is_refused(tmp_path):
    """Relaunching into the same records with another budget or other overrides would rewrite what study.json (and
    the page) says made the runs already there: refused in one line before anything is launched or written."""
    from ssgen.errors import ConfigError
    from ssgen.reporting.study import MANIFEST, Study

    Study("debug", tmp_path / "study", overrides=["torch_threads=1"]).write_manifest()
    before = (tmp_path / "study" / "records" / MANIFEST).read_text()
    Study("debug", tmp_path / "study", overrides=["torch_threads=1"]).check_same_study()  # the same study resumes
    for budget, overrides in (("quick", ["torch_threads=1"]), ("debug", ["method.kl_weight=0.5"])):
        with pytest.raises(ConfigError, match="records the debug budget with overrides"):
            Study(budget, tmp_path / "study", overrides=overrides).run(("q1",))
    assert (tmp_path / "study" / "records" / MANIFEST).read_text() == before


def test_the_report_of_a_study_dir_points_at_its_records(tmp_path):
    from ssgen.errors import ConfigError
    from ssgen.reporting.study import Study, load_study

    Study("debug", tmp_path / "study").write_manifest()
    with pytest.raises(ConfigError, match=r"its records are .*records: give that"):
        load_study(tmp_path / "study")
    assert load_study(tmp_path / "study" / "records").budget.name == "debug"


def test_a_cell_of_fewer_seeds_than_the_study_says_how_many():
    """A part stopped midway (records of some seeds only) must not read as a mean over all of the study's seeds."""
    from ssgen.reporting.tables import mean_std

    assert mean_std([0.70, 0.72, 0.74], 3, expected=3) == "0.720 ± 0.020"
    assert mean_std([0.70, 0.72], 3, expected=3) == "0.710 ± 0.014 (2 seeds)"
    assert mean_std([0.70], 3, expected=3) == "0.700 (1 seed)"
    # a one-seed study (the quick budget) says so once, at the top of its page, not in every cell
    assert mean_std([0.70], 3, expected=1) == "0.700"
    assert mean_std([0.70], 3) == "0.700 (1 seed)"


class FakeJob:
    """What ``subprocess.Popen`` returns to the study's launch, without a training: ``wait`` runs ``then`` (if given)
    and returns ``code``."""

    def __init__(self, code: int = 0, then=None) -> None:
        self.code, self.then = code, then

    def wait(self) -> int:
        if self.then is not None:
            self.then()
        return self.code


def launched(*args, **kwargs):
    pytest.fail(f"launched {args}")


def test_an_interrupted_part_leaves_what_ended_in_the_records(tmp_path, monkeypatch):
    """Ctrl-C during a part's multirun: the jobs that had ended are copied into the records before the interrupt
    reaches the user, as ssgen-study's message says, and so is the time the launch took."""
    import ssgen.study

    study = Study("full", tmp_path / "study", records=tmp_path / "records")
    finished = tmp_path / "study" / "m1" / "seed0"

    def interrupted(*args, **kwargs):  # seed 0 ends, then the user presses Ctrl-C
        shutil.copytree(ROOT / "docs" / "records" / "writeup" / "m1" / "seed0", finished)
        raise KeyboardInterrupt

    monkeypatch.setattr(ssgen.reporting.study.subprocess, "Popen", lambda *a, **k: FakeJob(then=interrupted))
    from ssgen.errors import Interrupted

    with pytest.raises(Interrupted, match="what ended is recorded in .*: resume with `ssgen-study writeup budget=full"):
        study.run(("m1",))
    assert (tmp_path / "records" / "m1" / "seed0" / "results.json").is_file()
    assert not (tmp_path / "records" / "m1" / "seed1").exists()
    # the interrupted launch's time counts toward the part's wall time, which a resumed launch adds to
    assert json.loads((tmp_path / "records" / "study.json").read_text())["elapsed_s"]["m1"] >= 0


COMMITTED_WRITEUP = ROOT / "docs" / "records" / "writeup"


def test_jobs_in_the_records_are_not_rerun_from_a_fresh_dir(tmp_path, monkeypatch):
    """The committed page's study command on a fresh clone (no outputs/): every recorded job counts as ended, so
    nothing retrains, no record is overwritten and no time is added."""
    import ssgen.study

    records = tmp_path / "records"
    shutil.copytree(COMMITTED_WRITEUP, records)
    before = {path: path.stat().st_mtime_ns for path in records.rglob("*") if path.is_file()}

    def no_training(*args, **kwargs):
        raise AssertionError(f"launched {args}")

    monkeypatch.setattr(ssgen.reporting.study.subprocess, "Popen", no_training)
    study = Study("full", tmp_path / "fresh", records=records, reuse_committed=True)  # as the page's command says
    assert all(study.launches(part) == [] for part in ("m1", "m1_m2", "gan"))
    assert study.run(("m1", "m1_m2", "gan")) == 0
    assert {path: path.stat().st_mtime_ns for path in records.rglob("*") if path.is_file()} == before
    # study.json too: a launch that runs nothing does not move the study to the new dir
    assert (records / "study.json").read_bytes() == (COMMITTED_WRITEUP / "study.json").read_bytes()


def test_an_m1_m2_job_whose_m1_is_only_recorded_says_what_to_do(tmp_path, monkeypatch, capsys):
    """M1+M2 starts from M1's checkpoint, which a record does not hold: the job waits, and the message says how
    to make the M1 run (not 'the same command resumes them', which it never would)."""
    import ssgen.study

    records = tmp_path / "records"
    shutil.copytree(COMMITTED_WRITEUP, records)
    shutil.rmtree(records / "m1_m2" / "n100_seed1")
    monkeypatch.setattr(ssgen.reporting.study.subprocess, "Popen", launched)
    study = Study("full", tmp_path / "fresh", records=records)
    assert study.pending("m1_m2") == {(100, 1)} and study.launches("m1_m2") == []
    assert study.run(("m1_m2",)) == 1
    out = capsys.readouterr().out
    assert "the same command resumes them" not in out
    assert "seed1 ended in the records only" in out and "parts=m1,m1_m2" in out


def test_the_report_refuses_a_dir_that_is_not_records_and_an_out_that_is_not_a_page(tmp_path):
    """An empty or run dir would render a page claiming the full budget; ``--out`` at a record's path (a slip of
    the path) would overwrite it with markdown. Both are one line, and nothing is written."""
    from ssgen.errors import ConfigError

    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="has no readable study.json"):
        write_writeup(tmp_path / "empty")
    assert not list((tmp_path / "empty").iterdir())
    records = tmp_path / "records"
    shutil.copytree(COMMITTED_WRITEUP / "q1", records / "q1")
    shutil.copy(COMMITTED_WRITEUP / "study.json", records)
    before = (records / "q1" / "theory.json").read_bytes()
    with pytest.raises(ConfigError, match="is not a markdown page; give a .md path"):
        write_writeup(records, records / "q1" / "theory.json")
    assert (records / "q1" / "theory.json").read_bytes() == before


@pytest.mark.parametrize("argv, fragment", [
    (["parts=,"], "parts= names no part"),
    (["parts=m1,nope"], "parts=nope is unknown"),
    (["zz:trainer.max_epochs=1"], "zz:... names no part"),
])
def test_bad_study_arguments_are_one_line(tmp_path, argv, fragment):
    from ssgen.errors import ConfigError
    from ssgen.study import study_command

    with pytest.raises(ConfigError, match=re.escape(fragment)):
        study_command(["writeup", f"dir={tmp_path / 'study'}", *argv])
    assert not (tmp_path / "study").exists()


def test_a_dry_run_against_another_studys_records_is_refused_as_the_run_is(tmp_path):
    """A dry run that counted a debug study's jobs as the quick budget's would promise what the run refuses."""
    from ssgen.errors import ConfigError

    Study("debug", tmp_path / "study").write_manifest()
    with pytest.raises(ConfigError, match="records the debug budget"):
        Study("quick", tmp_path / "study").run(("m1",), dry_run=True)


def test_a_crashed_job_is_relaunched_and_a_failed_convergence_is_a_result(tmp_path):
    """A crash (a bad value, a missing file) says nothing about the method: the same command must run it again once
    its cause is fixed. A run that failed to converge after its restarts is a result (the write-up counts them)."""
    from ssgen.reporting.study import ended

    crashed, diverged = tmp_path / "crashed", tmp_path / "diverged"
    for run_dir, results in ((crashed, {"status": "failed: TypeError: '<' not supported"}),
                             (diverged, {"status": "failed: FID diverged", "failed_runs": 2})):
        run_dir.mkdir()
        (run_dir / "results.json").write_text(json.dumps(results))
    assert not ended(crashed) and ended(diverged)


def test_a_refused_override_is_not_kept_as_the_studys_and_thread_settings_are_not_another_study(tmp_path, monkeypatch):
    """ssgen-train refusing ``m1:foo=1`` leaves no study.json behind, so the corrected command is not refused as
    another study's; adding ``torch_threads=1`` (how jobs run, not what they compute) is the same study."""
    import ssgen.study
    from ssgen.errors import SSGenError

    monkeypatch.setattr(ssgen.reporting.study.subprocess, "Popen", lambda *a, **k: FakeJob(code=2))
    with pytest.raises(SSGenError, match="ssgen-train stopped"):
        Study("debug", tmp_path / "study", overrides=["m1:foo=1"]).run(("m1",))
    assert not (tmp_path / "study" / "records" / "study.json").exists()
    Study("debug", tmp_path / "study").write_manifest()
    Study("debug", tmp_path / "study", overrides=["torch_threads=1", "m1:torch_threads=1"]).check_same_study()
    with pytest.raises(SSGenError, match="records the debug budget with overrides"):
        Study("debug", tmp_path / "study", overrides=["m1:trainer.max_epochs=2"]).check_same_study()


def test_generator_steps_of_each_budget_as_launched_and_as_the_page_states_them(tmp_path):
    """The quick budget gives every GAN method 300 generator steps (DCGAN 300 batches; the WGANs, 5 critic steps
    per generator step, 1500 batches in 2 epochs of 750); the full budget is the write-up's 10 epochs of 938
    batches, which gives the WGANs a fifth of DCGAN's generator steps, and the page says so."""
    from ssgen.reporting.study import BUDGETS, gan_schedule, generator_steps, n_critic
    from ssgen.reporting.writeup import generator_steps_line

    assert {method: n_critic(method) for method in ("dcgan", "wgan_clip", "wgan_gp")} == {
        "dcgan": 1, "wgan_clip": 5, "wgan_gp": 5}
    quick, full = BUDGETS["quick"], BUDGETS["full"]
    assert [gan_schedule(quick, m) for m in ("dcgan", "wgan_clip", "wgan_gp")] == [(1, 300), (2, 750), (2, 750)]
    assert {generator_steps(quick, m) for m in ("dcgan", "wgan_clip", "wgan_gp")} == {300}
    assert [generator_steps(full, m) for m in ("dcgan", "wgan_clip", "wgan_gp")] == [9380, 1876, 1876]
    launches = {next(w for w in launch if w.startswith("method=")): launch for launch in Study("quick", tmp_path).launches("gan")}
    assert "trainer.max_epochs=1" in launches["method=dcgan"] and "+trainer.limit_train_batches=300" in launches["method=dcgan"]
    for method in ("method=wgan_clip", "method=wgan_gp"):
        assert "trainer.max_epochs=2" in launches[method] and "+trainer.limit_train_batches=750" in launches[method]
    assert "DCGAN 300, WGAN (clipping) 300, WGAN-GP 300" in generator_steps_line(quick)
    line = generator_steps_line(full)
    assert "DCGAN 9,380, WGAN (clipping) 1,876, WGAN-GP 1,876" in line and "1/5 of the generator steps" in line
    # the lever that won at the quick budget (generator EMA, DCGAN only) is launched and named; full has none
    assert "method.ema_decay=0.999" in launches["method=dcgan"]
    assert not any("ema_decay" in word for m in ("method=wgan_clip", "method=wgan_gp") for word in launches[m])
    assert "DCGAN `method.ema_decay=0.999`" in generator_steps_line(quick) and "ema_decay" not in line
    assert not any("ema_decay" in word for launch in Study("full", tmp_path / "full").launches("gan") for word in launch)


def test_the_page_names_a_method_the_budget_left_under_trained(tmp_path):
    """Samples of chance class-consistency or a high FID are not shown as a method's result: the page names them,
    with the generator steps the budget gave; a method that reaches both marks is not named."""
    from ssgen.reporting.study import BUDGETS
    from ssgen.reporting.writeup import under_trained_lines

    def run(method, arch, cc, fid):
        return tmp_path / f"{method}_{arch}", {"status": "ok", "method": method, "arch": arch,
                                               "class_consistency": cc, "fid": fid}

    records = [run("dcgan", "dcgan", 0.71, 37.5), run("wgan_gp", "dcgan", 0.13, 88.5),
               run("wgan_clip", "dcgan_softplus", 0.62, 52.0)]
    text = "\n".join(under_trained_lines(records, BUDGETS["quick"]))
    assert "**Under-trained at this budget**" in text and "DCGAN on" not in text
    assert "- WGAN-GP on arch A (`arch=dcgan`): class-consistency 0.130, FID 88.5 after 300 generator steps" in text
    assert "- WGAN (clipping) on arch B (`arch=dcgan_softplus`): class-consistency 0.620, FID 52.0" in text
    assert under_trained_lines(records[:1], BUDGETS["quick"]) == []
    assert under_trained_lines(records, BUDGETS["full"]) == []  # the write-up's own budget: its results, as they are


def test_config_dir_goes_to_every_part_and_is_part_of_the_study(tmp_path):
    """config_dir= is ssgen-train's --config-dir in every launch and every command the page quotes; study.json keeps
    it, and the same records with another (or no) config_dir are another study."""
    from ssgen.reporting.study import load_study
    from ssgen.study import study_command

    own = tmp_path / "myconf"
    own.mkdir()
    study = Study("debug", tmp_path / "study", config_dir=own)
    for part in ("m1", "m1_m2", "gan"):
        assert all(launch[:2] == ["--config-dir", str(own)] for launch in study.launches(part))
        assert all(line.startswith(f"ssgen-train -m --config-dir {own} ") for line in study.command(part).splitlines())
    assert f"config_dir={own}" in study.study_command()
    study.write_manifest()
    assert load_study(study.records).config_dir == own
    with pytest.raises(ConfigError, match=r"records the study with config_dir=.*myconf, not none; relaunch with config_dir="):
        Study("debug", tmp_path / "study").check_same_study()
    with pytest.raises(ConfigError, match=r"config_dir=.*nope is not a directory"):
        study_command(["writeup", f"dir={tmp_path / 'other'}", f"config_dir={tmp_path / 'nope'}"])
    assert not (tmp_path / "other").exists()
    with pytest.raises(ConfigError, match="config_dir= is empty"):
        study_command(["writeup", f"dir={tmp_path / 'other'}", "config_dir="])
    # Hydra's spellings, as ssgen-train takes them, mean the same
    for spelling in (["--config-dir", str(own)], [f"--config-dir={own}"], ["-cd", str(own)]):
        study_command(["writeup", "budget=debug", f"dir={tmp_path / 'hydra'}", "dry_run=true", *spelling])
    Study("debug", tmp_path / "plain").write_manifest()
    with pytest.raises(ConfigError, match="records the study with no config_dir, not config_dir=.*; relaunch without"):
        Study("debug", tmp_path / "plain", config_dir=own).check_same_study()


@pytest.mark.parametrize("override, fragment", [
    ("method=m1_beta", "method= would replace the method the study runs in its parts; choose one part's method with m1:method="),
    ("gan:method=dcgan", "gan:method= would replace the method the study runs in the GAN part (its sweep axis)"),
    ("m1_m2:method=m2", "m1_m2:method= would replace"),
    ("arch=vae_mlp", "arch= would replace the arch the study runs in its parts; choose one part's arch with m1:arch= or m1_m2:arch="),
    ("gan:arch=dcgan", "gan:arch= would replace"),
])
def test_a_choice_the_study_makes_per_part_is_refused_outside_its_part(tmp_path, override, fragment):
    from ssgen.study import study_command

    with pytest.raises(ConfigError, match=re.escape(fragment)):
        study_command(["writeup", f"dir={tmp_path / 'study'}", override])
    assert not (tmp_path / "study").exists()
    study_command(["writeup", "budget=debug", f"dir={tmp_path / 'ok'}", "dry_run=true", "m1:method=m1", "m1:arch=vae_mlp"])
