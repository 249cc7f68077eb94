"""Data sets beside Fashion-MNIST through the real ``ssgen-train``: an M1 and a GAN run on ``data=mnist`` read from
small IDX files in data.root (these machines cannot download MNIST); the end-to-end half of
tests/unit/data/test_datasets.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_script, write_small_set

from ssgen.data import dataset_info


def read_results(run_dir: Path) -> dict:
    from ssgen.run.results import read_results as read

    return dict(read(run_dir))


@pytest.mark.slow
def test_m1_debug_run_on_mnist_files_through_ssgen_train(tmp_path):
    root = write_small_set(tmp_path / "mnist")
    run_dir = tmp_path / "m1"
    result = run_script("ssgen-train", "experiment=debug", "data=mnist", f"data.root={root}",
                        f"hydra.run.dir={run_dir}", "method.callbacks.svm_head.cv_folds=2",
                        "method.callbacks.svm_head.graph_nodes=2000", timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    results = read_results(run_dir)
    assert results["status"] == "ok", results["status"]
    assert results["data"]["dataset"] == "mnist" and results["data"]["verified"] is None
    assert results["data"]["files"]["train_images"] == str(root / "train-images-idx3-ubyte")
    assert 0 <= results["test_accuracy"] <= 1  # the SVM head scored the 50 test images written above
    assert (run_dir / "confusion_n100.png").is_file()


@pytest.mark.slow
def test_gan_run_on_mnist_trains_and_uses_an_mnist_evaluator(tmp_path):
    """A GAN on data=mnist: the quality callback trains MNIST's own evaluator on the run's files (data.root, through
    $SSGEN_DATA), caches it under its own name beside nothing of Fashion-MNIST's, and scores with it."""
    from ssgen.evaluation.evaluator import EvaluatorConfig, evaluator_path

    root = write_small_set(tmp_path / "mnist")
    cache = tmp_path / "cache"
    run_dir = tmp_path / "gan"
    env = {"SSGEN_CACHE": str(cache), "SSGEN_DATA": None}
    result = run_script("ssgen-train", "experiment=debug", "method=dcgan", "data=mnist", f"data.root={root}",
                        "data.n_labels=all", f"hydra.run.dir={run_dir}", "arch.networks.generator.width=8",
                        "arch.networks.critic.width=8", "method.callbacks.quality.n_samples=20",
                        "method.callbacks.quality.final_n_samples=20", "trainer.precision=32-true", env=env,
                        timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    results = read_results(run_dir)
    assert results["status"] == "ok", results["status"]
    assert results["data"]["dataset"] == "mnist"
    mnist_evaluator = evaluator_path(EvaluatorConfig(dataset="mnist"), cache)
    assert sorted(p.name for p in (cache / "evaluator").glob("*.safetensors")) == [mnist_evaluator.name]
    sidecar = json.loads(mnist_evaluator.with_suffix(".json").read_text())
    assert sidecar["config"]["dataset"] == "mnist" and sidecar["train_images"] == 300  # trained on data.root's files
    assert results["evaluator_config_hash"] == EvaluatorConfig(dataset="mnist").config_hash
    assert results["metrics_n_reference"] == 50 and "fid" in results  # scored against data.root's test images
    assert set(results["per_class_fid"]) == set(dataset_info("mnist").class_names)
