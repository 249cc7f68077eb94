"""A table cell averages one configuration only (issue 39, item 8): every report keys its rows on the settings that
differ between the runs (the overrides that vary, or results.json ``settings_hash``) and names them."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from conftest import compose_config

from ssgen.reporting.figures import series_of, with_variants
from ssgen.reporting.tables import gan_metrics_table, m1_table, settings_labels
from ssgen.reporting.writeup import heads_by_setting
from ssgen.run.lifecycle import settings_hash


def gan_run(root: Path, name: str, fid: float, overrides: list[str], settings: str | None = "s1",
            hydra: bool = True, seed: int = 0) -> tuple[Path, dict]:
    run_dir = root / name
    run_dir.mkdir(parents=True)
    result = {"status": "ok", "method": "dcgan", "family": "gan", "arch": "dcgan", "seed": seed, "fid": fid,
              "n_labels": "all"}
    if settings:
        result["settings_hash"] = settings
    if hydra:
        (run_dir / ".hydra").mkdir()
        (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    else:
        result["overrides"] = overrides  # a record (ssgen-study) keeps them in results.json
    (run_dir / "results.json").write_text(json.dumps(result))
    return run_dir, result


def rows(table: str) -> list[str]:
    return [line.split("|")[1].strip() for line in table.splitlines()[2:] if not line.startswith("| *floor")]


def test_a_gan_sweep_over_a_learning_rate_gets_a_row_per_rate_naming_it(tmp_path):
    runs = [gan_run(tmp_path, f"{i}_lr={lr}_seed={seed}", 10.0 + i, [f"method.lr_generator={lr}", f"seed={seed}"],
                    settings=f"h{lr}", seed=seed)
            for i, (lr, seed) in enumerate([(2e-4, 0), (2e-4, 1), (2e-3, 0), (2e-3, 1)])]
    table = gan_metrics_table(runs)
    assert rows(table) == ["dcgan [method.lr_generator=0.0002]", "dcgan [method.lr_generator=0.002]"]
    assert "| 2 (2) " in table.splitlines()[2] and "10.50 ± 0.71" in table.splitlines()[2]


def test_records_are_told_apart_by_their_recorded_overrides(tmp_path):
    runs = [gan_run(tmp_path, "a", 10.0, ["trainer.precision=32-true"], hydra=False, settings=None),
            gan_run(tmp_path, "b", 20.0, [], hydra=False, settings=None)]
    assert rows(gan_metrics_table(runs)) == ["dcgan", "dcgan [trainer.precision=32-true]"]


def test_runs_alike_in_overrides_but_not_in_settings_are_split_and_named(tmp_path):
    runs = [gan_run(tmp_path, "a", 10.0, ["experiment=gan"], settings="aaaa"),
            gan_run(tmp_path, "b", 20.0, ["experiment=debug"], settings="bbbb"),
            gan_run(tmp_path, "c", 30.0, [], settings="cccc"),  # a default that changed between two launches
            gan_run(tmp_path, "d", 40.0, [], settings="dddd")]
    labels = settings_labels(runs)
    assert labels[tmp_path / "a"] == "experiment=gan" and labels[tmp_path / "b"] == "experiment=debug"
    assert labels[tmp_path / "c"] == "settings cccc" and labels[tmp_path / "d"] == "settings dddd"
    assert len(rows(gan_metrics_table(runs))) == 4


def test_table_1_and_the_write_up_split_on_settings_too(tmp_path):
    def m1_run(name: str, accuracy: float, settings: str) -> tuple[Path, dict]:
        run_dir = tmp_path / name
        run_dir.mkdir()
        result = {"status": "ok", "method": "m1", "seed": 0, "settings_hash": settings, "overrides": [],
                  "heads": {"100": {"m1_svm": {"accuracy": accuracy}, "raw_svm": {"accuracy": 0.7}}}}
        (run_dir / "results.json").write_text(json.dumps(result))
        return run_dir, result

    runs = [m1_run("a", 0.6, "aaaa"), m1_run("b", 0.8, "bbbb")]
    table, _ = m1_table(runs)
    assert "M1 + RBF-SVM (encoder means) [settings aaaa]" in table and "[settings bbbb]" in table
    assert heads_by_setting(runs, "m1_svm") == {"settings aaaa": {100: [0.6]}, "settings bbbb": {100: [0.8]}}


def test_a_setting_one_method_alone_has_names_no_row(tmp_path):
    """The quick study gives each method its own schedule (and DCGAN its EMA): every (method, arch) ran one
    configuration, so no row or curve is named after settings; a second configuration of one pair still splits it."""
    def run(name, method, arch, fid, overrides, settings):
        run_dir, result = gan_run(tmp_path, name, fid, [f"method={method}", f"arch={arch}", *overrides], settings=settings)
        result.update(method=method, arch=arch)
        (run_dir / "results.json").write_text(json.dumps(result))
        return run_dir, result

    runs = [run("a", "dcgan", "dcgan", 36.0, ["trainer.max_epochs=1", "method.ema_decay=0.999"], "d1"),
            run("b", "dcgan", "dcgan_softplus", 50.0, ["trainer.max_epochs=1", "method.ema_decay=0.999"], "d2"),
            run("c", "wgan_gp", "dcgan", 28.0, ["trainer.max_epochs=2"], "g1"),
            run("d", "wgan_gp", "dcgan_softplus", 61.0, ["trainer.max_epochs=2"], "g2")]
    assert rows(gan_metrics_table(runs)) == ["dcgan", "dcgan", "wgan_gp", "wgan_gp"]
    assert {variant["variant"] for variant in with_variants(runs)} == {""}
    runs.append(run("e", "wgan_gp", "dcgan", 30.0, ["trainer.max_epochs=3"], "g3"))
    assert rows(gan_metrics_table(runs)) == ["dcgan", "dcgan", "wgan_gp [trainer.max_epochs=2]",
                                             "wgan_gp [trainer.max_epochs=3]", "wgan_gp"]


def test_figures_draw_a_series_per_configuration(tmp_path):
    runs = with_variants([gan_run(tmp_path, "a", 10.0, ["method.lr_generator=0.002"], settings="x"),
                          gan_run(tmp_path, "b", 20.0, [], settings="y")])
    assert series_of(runs) == [("dcgan", ""), ("dcgan", "method.lr_generator=0.002")]


def test_the_settings_hash_leaves_out_the_seed_threads_and_label_budgets_only():
    base = ["run_dir=/tmp/a", "trainer.max_epochs=1"]
    reference = settings_hash(compose_config(base))
    assert settings_hash(compose_config([*base, "seed=3", "torch_threads=1", "data.n_labels=600",
                                         "trainer.enable_progress_bar=false", "run_dir=/tmp/b"])) == reference
    assert settings_hash(compose_config([*base, "method.lr=0.001"])) != reference
    assert settings_hash(compose_config([*base, "trainer.max_epochs=2"])) != reference
