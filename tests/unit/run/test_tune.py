"""Hyper-parameter search (experiment=m1_tune / gan_tune): a test-free objective, the search's config and the summary
beside the baselines; a real Optuna sweep through ssgen-train and its report: tests/e2e/test_tune_cli.py."""

from __future__ import annotations

from pathlib import Path

from conftest import compose_config

from ssgen.run.results import objective


def test_objective_never_uses_the_test_set() -> None:
    test_only = {"status": "ok", "test_accuracy": 0.9, "fid": 3.0, "kid": 0.01}
    assert objective(test_only) is None
    m1 = {"n_labels": 100, "test_accuracy": 0.9,
          "heads": {"100": {"m1_svm": {"accuracy": 0.9, "cv_accuracy": 0.7}, "raw_svm": {"accuracy": 0.8}}}}
    assert objective(m1) == ("cv_accuracy", 0.7, "maximize")
    gan = {"fid": 2.0, "metrics_history": [{"epoch": 0, "fid": 9.0}, {"epoch": 1, "fid": 5.5}, {"epoch": 2, "fid": 6.0}]}
    assert objective(gan) == ("train_fid", 5.5, "minimize")
    selection = {"holdout_accuracy": 0.6, "test_accuracy": 0.9}
    assert objective(selection) == ("holdout_accuracy", 0.6, "maximize")


def test_gan_tune_composes_a_minimising_search() -> None:
    cfg = compose_config(["experiment=gan_tune"], return_hydra_config=True)
    assert cfg.method.name == "wgan_gp" and cfg.hydra.sweeper.direction == "minimize"
    assert set(cfg.hydra.sweeper.params) >= {"method.lr_generator", "method.n_critic", "method.gp_lambda"}


def test_summary_puts_scores_beside_their_baselines(tmp_path: Path) -> None:
    from ssgen.run.results import run_summary

    m1 = {"method": "m1", "arch": "vae_mlp", "seed": 0, "status": "ok",
          "heads": {"100": {"m1_svm": {"accuracy": 0.65}, "m1_spreading": {"accuracy": 0.66}, "raw_svm": {"accuracy": 0.71}},
                    "1000": {"m1_svm": {"accuracy": 0.80}, "raw_svm": {"accuracy": 0.78}}}}
    lines = run_summary(m1, tmp_path).splitlines()
    header = next(line for line in lines if "raw-pixel SVM" in line).split("  ")
    columns = [cell.strip() for cell in header if cell.strip()]
    assert columns == ["N", "M1 + SVM", "M1 + label spreading", "raw-pixel SVM", "M1 - raw", "write-up M1 + SVM"]
    rows = {line.split()[0]: line.split() for line in lines if line.split()[:1] in (["100"], ["1000"])}
    # each N: every head, the raw-pixel SVM on the same labels, the gain over it, the write-up's number
    assert rows["100"][1:] == ["0.650", "0.660", "0.710", "-0.060", "0.596"]
    assert rows["1000"][1:] == ["0.800", "-", "0.780", "+0.020", "0.709"]
    worse = [line for line in lines if "below the raw-pixel SVM" in line]
    assert len(worse) == 1 and "N=100:" in worse[0] and "1000" not in worse[0]
    # M1 + M2's heads have no raw-pixel baseline nor a write-up M1 + SVM beside them: no such columns
    m1_m2 = run_summary({"method": "m1_m2", "status": "ok", "heads": {"100": {"m1_m2": {"accuracy": 0.7}}}}, tmp_path)
    assert "raw-pixel" not in m1_m2 and "write-up" not in m1_m2 and "0.700" in m1_m2
    gan = {"method": "dcgan", "arch": "dcgan", "seed": 1, "status": "ok", "fid": 7.76, "fid_floor": 0.12,
           "kid": 0.059, "class_consistency": 0.946, "class_consistency_floor": 0.973, "scored_checkpoint": "best.ckpt",
           "recall": 0.41, "recall_floor": 0.72, "warnings": ["partial collapse at epoch 9, the last checked: ..."]}
    text = run_summary(gan, tmp_path)
    assert "recall 0.410 (real data 0.720)" in text and "warning: partial collapse at epoch 9" in text
    assert "best.ckpt vs the test set: FID 7.76 (real data 0.12)" in text and "class-consistency 0.946 (real data 0.973)" in text
