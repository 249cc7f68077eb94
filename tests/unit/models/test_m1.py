"""M1: the VAE loss, the SVM head callback, safe head files, honest model selection, prediction; ssgen-predict and the
weights-only copy as subprocesses: tests/e2e/test_m1_cli.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import TRAIN_RESULTS, compose_config

from ssgen.data import load_fashion_mnist, to_pixels
from ssgen.errors import CheckpointError
from ssgen.models.heads import fit_svm, load_svm, save_svm
from ssgen.models.m1 import M1VAE
from ssgen.run.build import build_model

TINY_HEAD = ["method.callbacks.svm_head.cv_folds=2", "method.callbacks.svm_head.graph_nodes=2000"]


@pytest.mark.parametrize("arch", ["vae_mlp", pytest.param("vae_conv", marks=pytest.mark.slow)])
def test_loss_is_finite_and_falls_on_real_images(arch):
    torch.manual_seed(0)
    model = build_model(compose_config([f"arch={arch}", "run_dir=/tmp/x"]))
    assert model.encode_means(torch.zeros(3, 28, 28, dtype=torch.uint8)).shape == (3, 50)
    images = to_pixels(load_fashion_mnist()["train_images"][:1000], "unit")
    optimizer = model.configure_optimizers()
    losses = []
    for step in range(40):
        batch = images[(step * 100) % 1000 : (step * 100) % 1000 + 100]
        loss, _, _, _ = model.loss_terms(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])


def test_a_label_cannot_reach_the_vae():
    model = build_model(compose_config(["run_dir=/tmp/x"]))
    with pytest.raises(AssertionError, match="unlabelled stream"):
        model.training_step((torch.rand(4, 1, 28, 28), torch.zeros(4, dtype=torch.long)), 0)


def test_callback_writes_results_for_every_n(m1_run):
    run_dir, results = m1_run, TRAIN_RESULTS[m1_run]
    on_disk = json.loads((run_dir / "results.json").read_text())
    assert on_disk["status"] == "ok" and on_disk["test_accuracy"] == results["test_accuracy"]
    assert set(on_disk["heads"]) == {"20", "100"}
    for heads in on_disk["heads"].values():
        assert set(heads) == {"m1_svm", "m1_best", "raw_svm", "raw_best"}
        for metrics in heads.values():
            assert 0.1 < metrics["accuracy"] <= 1.0  # far above nothing, could fail if the head is broken
            assert np.array(metrics["confusion_matrix"]).sum() == 10_000
    assert (run_dir / "confusion_n100.png").stat().st_size > 1000


def test_saved_svm_reloads_to_identical_predictions(tmp_path):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 5)) + np.repeat(np.arange(10), 6)[:, None] * 0.5
    labels = np.repeat(np.arange(10), 6)
    fitted = fit_svm(features, labels, cv_folds=2)
    save_svm(fitted.model, tmp_path / "head.skops")
    reloaded = load_svm(tmp_path / "head.skops")
    probe = rng.normal(size=(200, 5)) * 3
    assert np.array_equal(fitted.model.predict(probe), reloaded.predict(probe))


def test_truncated_svm_file_clear_error(tmp_path):
    path = tmp_path / "head.skops"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CheckpointError, match="not a readable skops file"):
        load_svm(path)


def test_model_selection_cannot_see_the_test_set(m1_run, monkeypatch):
    """Shuffling the test labels changes the test score but no chosen hyperparameter."""
    from ssgen.callbacks.svm_head import SVMHead
    from ssgen.data import FashionMNISTDataModule

    run_dir = m1_run
    cfg = compose_config([f"run_dir={run_dir}", "data.n_labels=20"])
    model = M1VAE.load_from_checkpoint(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)

    class FakeTrainer:
        global_rank, sanity_checking, logger, global_step = 0, False, None, 0
        default_root_dir = str(run_dir / "selection_probe")

    def heads_with(shuffle: bool) -> dict:
        datamodule = FashionMNISTDataModule(n_labels=20, seed=cfg.seed)
        datamodule.setup()
        if shuffle:
            permuted = datamodule.data["test_labels"][torch.randperm(10_000, generator=torch.Generator().manual_seed(1))]
            datamodule.data["test_labels"] = permuted
        trainer = FakeTrainer()
        trainer.datamodule = datamodule
        head = SVMHead(n_labels=[50], seed=0, cv_folds=2, graph_nodes=2000)  # the graph heads' choice too
        return head.end_of_run(trainer, model)["heads"]["50"]

    honest, shuffled = heads_with(False), heads_with(True)
    for name in honest:
        assert honest[name]["params"] == shuffled[name]["params"]
        assert honest[name]["cv_accuracy"] == shuffled[name]["cv_accuracy"]
        assert shuffled[name]["accuracy"] < honest[name]["accuracy"] - 0.1  # the test labels really changed


def test_model_only_copy_loads_the_same_weights_and_drops_training_state(m1_run, tmp_path):
    from ssgen.models.checkpoints import load_module, save_model_only

    run_dir = m1_run
    full = run_dir / "checkpoints" / "last.ckpt"
    slim = save_model_only(run_dir, tmp_path / "m1_weights.ckpt")  # a run dir resolves to its checkpoint
    assert slim.stat().st_size < 0.5 * full.stat().st_size  # Adam's two moments per weight are gone
    assert "optimizer_states" not in torch.load(slim, weights_only=True)
    original, copy = load_module(full, (M1VAE,)), load_module(slim, (M1VAE,))
    for name, tensor in original.state_dict().items():
        torch.testing.assert_close(copy.state_dict()[name], tensor)


def test_model_only_copy_refuses_its_source_and_foreign_files(m1_run, tmp_path):
    from ssgen.models.checkpoints import save_model_only

    full = m1_run / "checkpoints" / "last.ckpt"
    before = full.read_bytes()
    with pytest.raises(CheckpointError, match="is the checkpoint being copied"):
        save_model_only(full, full)
    assert full.read_bytes() == before
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="not written by ssgen-train"):
        save_model_only(foreign, tmp_path / "out.ckpt")
    assert not (tmp_path / "out.ckpt").exists()


def test_optimizers_take_the_multi_tensor_path_with_the_loops_numbers():
    """make_optimizer: foreach=True on CPU (fused only on CUDA), and bitwise the same weights as torch's
    per-parameter loop after a few Adam steps; every method's configure_optimizers goes through it."""
    from ssgen.models import make_optimizer

    def train(foreach: bool | None) -> torch.Tensor:
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(20, 16), torch.nn.Softplus(), torch.nn.Linear(16, 4))
        optimizer = (make_optimizer(torch.optim.Adam, net.parameters(), lr=1e-2) if foreach is None
                     else torch.optim.Adam(net.parameters(), lr=1e-2, foreach=foreach))
        x = torch.randn(32, 20)
        for _ in range(5):
            optimizer.zero_grad()
            net(x).pow(2).mean().backward()
            optimizer.step()
        assert optimizer.param_groups[0]["foreach"] is (True if foreach is None else foreach)
        assert not optimizer.param_groups[0]["fused"]
        return torch.cat([p.detach().flatten() for p in net.parameters()])

    assert torch.equal(train(None), train(False))
    model = build_model(compose_config(["run_dir=/tmp/x"]))
    assert model.configure_optimizers().param_groups[0]["foreach"] is True
    rmsprop = make_optimizer(torch.optim.RMSprop, model.parameters(), lr=1e-3)  # no fused kernel: foreach
    assert rmsprop.param_groups[0]["foreach"] is True


def test_epoch_statistics_accumulate_in_place_to_the_direct_values():
    """The per-step accumulators (in place, few ops per step) give the epoch's ELBO terms and the per-unit std of
    the encoder means that the active-unit count reads, as computed directly over all the batches."""
    from ssgen.models.m1 import elbo_terms

    model = build_model(compose_config(["run_dir=/tmp/x"]))
    torch.manual_seed(0)
    chunks = [torch.randn(7, 50) * 0.05, torch.randn(5, 50) + 2.0]
    for chunk in chunks:
        model._accumulate_means(chunk)
    mean, mean_sq = (model._mean_sum / model._mean_count).chunk(2)
    std = (mean_sq - mean.pow(2)).clamp_min(0).sqrt()
    assert model._mean_count == 12
    assert torch.allclose(std, torch.cat(chunks).std(0, unbiased=False), atol=1e-5)
    assert torch.equal(elbo_terms(torch.tensor([3.0, 1.0, 3.5])), torch.tensor([-4.0, 3.0, 1.0, 3.5]))


def _two_moons_with_mirrors(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), n // 3)
    features = rng.normal(size=(n, 4)) + labels[:, None] * 1.5
    return features, labels, features[:, ::-1] + rng.normal(scale=0.1, size=(n, 4))  # a "mirror" view of each


def test_mirrored_views_train_the_head_and_never_straddle_a_fold():
    from ssgen.models.heads import _cv

    features, labels, mirrored = _two_moons_with_mirrors()
    fit = fit_svm(features, labels, mirrored=mirrored, cv_folds=3)
    # the head was trained on both views: some support vectors are mirrors (indices past the originals)
    assert len(fit.model[-1].support_) > 0 and (fit.model[-1].support_ >= len(features)).any()
    # cross-validation keeps an image and its mirror in the same fold, so a held-out image's mirror never trains
    groups = np.tile(np.arange(len(features)), 2)
    for train_idx, held_idx in _cv(np.tile(labels, 2), 3, 0, grouped=True).split(
            np.zeros(2 * len(labels)), np.tile(labels, 2), groups):
        assert not set(groups[train_idx]) & set(groups[held_idx])


def test_heads_use_the_runs_threads_and_parallel_fits_choose_as_sequential_ones():
    """The heads' CV grid runs on as many processes as training had threads, and choosing in parallel changes
    nothing: the same C, gamma, scaling and CV accuracy as one fit at a time."""
    from ssgen.callbacks.svm_head import head_jobs

    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert head_jobs(None) == 1  # a job given one thread (torch_threads=1, a parallel launcher) keeps to one
        torch.set_num_threads(2)
        assert head_jobs(None) == 2
    finally:
        torch.set_num_threads(previous)
    assert head_jobs(3) == 3
    features, labels, _ = _two_moons_with_mirrors()
    one, two = fit_svm(features, labels, cv_folds=3, n_jobs=1), fit_svm(features, labels, cv_folds=3, n_jobs=2)
    assert one.params == two.params and one.cv_accuracy == two.cv_accuracy


def test_mirrored_prediction_averages_both_views_decision_scores():
    from ssgen.models.heads import predict

    features, labels, mirrored = _two_moons_with_mirrors()
    model = fit_svm(features, labels, mirrored=mirrored, cv_folds=3).model
    expected = model.classes_[(model.decision_function(features) + model.decision_function(mirrored)).argmax(axis=1)]
    assert (predict(model, features, mirrored) == expected).all()
    # swapping the views gives the same labels: the score of an image and of its mirror is one score
    assert (predict(model, mirrored, features) == expected).all()
    assert (predict(model, features) == model.predict(features)).all()


@pytest.mark.slow
def test_mirror_head_scores_an_image_and_its_mirror_alike(tmp_path):
    """method.callbacks.svm_head.mirror=true: M1 and the raw-pixel SVM train on both views and score their mean, so
    ssgen.load(run).predict gives an image and its left-right mirror the same label, and the record says so."""
    import ssgen
    from ssgen.train import train

    results = train(compose_config(["trainer.max_epochs=1", "+trainer.limit_train_batches=20", "torch_threads=1",
                                    "trainer.enable_progress_bar=false", f"run_dir={tmp_path}", "label_budgets=[100]",
                                    "method.callbacks.svm_head.mirror=true", "method.callbacks.svm_head.cv_folds=2",
                                    "method.callbacks.svm_head.graph_nodes=2000"]))
    assert results["status"] == "ok"
    assert {"m1_svm", "raw_svm"} <= set(results["heads"]["100"])
    assert json.loads((tmp_path / "checkpoints" / "svm_head.json").read_text())["mirror"] is True
    images = load_fashion_mnist()["test_images"][:200]
    model = ssgen.load(tmp_path)
    assert (model.predict(images.numpy()).labels == model.predict(images.flip(-1).numpy()).labels).all()


def test_examples_record_images_reconstructions_and_the_heads_labels(m1_run):
    """m1_examples.npz (the write-up's Q4 figure): the first 2 test images of each class, their reconstructions,
    and per scored N the labels the saved SVM head gives them (the same as ssgen.load(run).predict)."""
    import ssgen

    with np.load(m1_run / "m1_examples.npz") as archive:
        examples = {key: archive[key] for key in archive.files}
    test = load_fashion_mnist()
    assert examples["images"].dtype == np.uint8 and examples["images"].shape == (20, 28, 28)
    assert examples["reconstructions"].dtype == np.uint8 and examples["reconstructions"].shape == (20, 28, 28)
    assert examples["labels"].tolist() == [c for c in range(10) for _ in range(2)]
    first = [int(i) for c in range(10) for i in torch.nonzero(test["test_labels"] == c).flatten()[:2]]
    assert np.array_equal(examples["images"], test["test_images"][first].numpy())
    assert not np.array_equal(examples["images"], examples["reconstructions"])
    model = ssgen.load(m1_run)
    for n in (20, 100):
        assert np.array_equal(examples[f"predicted_n{n}"], model.predict(examples["images"], invert=False, n_labels=n).labels)


@pytest.mark.parametrize("overrides, fragment", [
    (["data.val_size=5000", "label_budgets=[59000]"], "data.val_size=5000 leaves 55000 training images"),
    (["label_budgets=[105]"], "label_budgets=105"),
    (["label_budgets=[10]"], "raise data.n_labels or label_budgets"),
    # head options that would fail (or be silently bent) only once training has ended
    (["method.callbacks.svm_head.n_jobs=0"], "method.callbacks.svm_head.n_jobs=0 must be != 0"),
    (["method.callbacks.svm_head.cv_folds=1"], "method.callbacks.svm_head.cv_folds=1 must be >= 2"),
    (["method.callbacks.svm_head.n_unlabelled=-1"], "method.callbacks.svm_head.n_unlabelled=-1 must be >= 0"),
    (["method.callbacks.svm_head.examples_per_class=-2"], "examples_per_class=-2 must be >= 0"),
])
def test_label_budgets_are_refused_before_training_naming_the_key(overrides, fragment):
    """A budget the heads could not draw would cost the whole training before failing: refused by validate()."""
    from ssgen.config.validation import validate
    from ssgen.errors import ConfigError

    with pytest.raises(ConfigError) as refused:
        validate(compose_config(["run_dir=/tmp/unused", *overrides]))
    assert fragment in str(refused.value) and "\n" not in str(refused.value)
