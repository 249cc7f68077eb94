"""M2 and M1+M2: the exact sum over y, the labelled-only classification term, a short real run, prediction,
class-conditional generation, and the M1 checkpoint M1+M2 needs.

    pytest tests/unit/models/test_m2.py  # about 30 s on a 2-core CPU (one 100-batch M2 run, one 5-batch M1+M2 run)
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import TRAIN_RESULTS, compose_config, plain_table

from ssgen.config.validation import validate
from ssgen.data import load_fashion_mnist
from ssgen.errors import CheckpointError, ConfigError, DataError
from ssgen.losses import labelled_elbo, m2_loss_terms, unlabelled_elbo
from ssgen.models.m2 import M1M2, M2
from ssgen.predict import is_m2_run, load_m2, predict_m2
from ssgen.train import train

QUICK = ["trainer.enable_progress_bar=false", "trainer.max_epochs=1", "torch_threads=1", "label_budgets=[100]"]
TINY_ARCH = {"name": "tiny", "family": "semi", "networks": {
    "classifier": {"_target_": "ssgen.models.m2.Classifier", "hidden_dims": [16]},
    "encoder": {"_target_": "ssgen.models.m2.ConditionalEncoder", "hidden_dims": [16], "latent_dim": 3},
    "decoder": {"_target_": "ssgen.models.m2.ConditionalDecoder", "hidden_dims": [16], "likelihood": "bernoulli"}}}


@pytest.fixture(autouse=True, scope="module")
def keep_thread_count():
    """train() applies torch_threads=1 process-wide; give the other test files their thread count back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def tiny_m2() -> M2:
    torch.manual_seed(0)
    return M2(TINY_ARCH).double()


# ------------------------------------------------------------------------------------------------ objective
def test_labelled_elbo_matches_an_independent_computation():
    model = tiny_m2()
    inputs = torch.rand(5, 784, dtype=torch.float64)
    targets = torch.bernoulli(inputs)
    labels = torch.tensor([0, 3, 9, 3, 1])
    noise = torch.randn(5, 3, dtype=torch.float64)
    mean, log_var = model.encoder(inputs, labels)
    latents = mean + noise * (0.5 * log_var).exp()
    log_px = torch.distributions.Bernoulli(logits=model.decoder(latents, labels)).log_prob(targets).sum(1)
    kl = torch.distributions.kl_divergence(torch.distributions.Normal(mean, (0.5 * log_var).exp()),
                                           torch.distributions.Normal(0.0, 1.0)).sum(1)
    expected = log_px + math.log(1 / 10) - kl
    torch.testing.assert_close(model.labelled_elbos(inputs, targets, labels, noise), expected)


def test_unlabelled_elbo_sums_y_out_exactly():
    """U(x) = sum_y q(y|x) L(x, y) + H(q(y|x)), written as a loop over the 10 classes with the same z draws."""
    model = tiny_m2()
    inputs = torch.rand(4, 784, dtype=torch.float64)
    targets = torch.bernoulli(inputs)
    noise = torch.randn(10, 4, 3, dtype=torch.float64)
    probabilities = F.softmax(model.classifier(inputs), dim=1)
    expected = -(probabilities * probabilities.log()).sum(1)
    for y in range(10):
        labels = torch.full((4,), y, dtype=torch.long)
        expected = expected + probabilities[:, y] * model.labelled_elbos(inputs, targets, labels, noise[y])
    got = unlabelled_elbo(model.classifier(inputs), model.elbo_per_class(inputs, targets, noise))
    torch.testing.assert_close(got, expected)
    # ... and the pure function on its own, with numbers small enough to check by eye
    logits, elbos = torch.tensor([[0.0, math.log(3.0)]]), torch.tensor([[-10.0, -2.0]])
    entropy = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    torch.testing.assert_close(unlabelled_elbo(logits, elbos), torch.tensor([0.25 * -10 + 0.75 * -2 + entropy]))


def test_classification_term_only_from_labelled_images():
    model = tiny_m2().float()
    model.alpha = 60.0
    terms = model.loss_terms(torch.rand(8, 1, 28, 28))  # an unlabelled batch and no labelled one
    assert terms["classification"].item() == 0.0 and terms["labelled_elbo"].item() == 0.0
    assert not terms["classification"].requires_grad  # no path from unlabelled images into the alpha term
    terms["loss"].backward()  # unlabelled images still train the classifier, through q(y|x) in U(x)
    assert model.classifier.logits.weight.grad.abs().sum() > 0
    # with labels, the alpha term is exactly alpha * mean cross-entropy
    logits, labels = torch.randn(6, 10), torch.randint(0, 10, (6,))
    zero_alpha = m2_loss_terms(torch.zeros(6), torch.zeros(3), logits, labels, alpha=0.0)["loss"]
    with_alpha = m2_loss_terms(torch.zeros(6), torch.zeros(3), logits, labels, alpha=2.5)["loss"]
    torch.testing.assert_close(with_alpha - zero_alpha, 2.5 * F.cross_entropy(logits, labels))


def test_a_label_on_the_unlabelled_stream_is_refused():
    model = tiny_m2().float()
    with pytest.raises(AssertionError, match="unlabelled stream"):
        model.training_step((torch.rand(4, 1, 28, 28), torch.zeros(4, dtype=torch.long)), 0)


def test_labelled_batches_cycle_through_the_subset_deterministically():
    model = tiny_m2().float()
    model._labelled, model._labelled_seed = (torch.arange(30.0).view(30, 1, 1, 1), torch.arange(30)), 7
    model.hparams.labelled_batch_size = 12
    seen = torch.cat([model.labelled_batch(step)[1] for step in range(5)])  # 60 = two passes over 30
    assert sorted(seen[:30].tolist()) == list(range(30)) and sorted(seen[30:].tolist()) == list(range(30))
    assert not torch.equal(seen[:30], seen[30:])  # each pass has its own permutation
    images, labels = model.labelled_batch(3)
    assert torch.equal(images.view(-1).long(), labels)  # images and labels stay paired
    model._permutation = None
    assert torch.equal(model.labelled_batch(3)[1], labels)  # a pure function of (seed, step): resume-safe


def test_alpha_follows_the_paper_rule():
    model = tiny_m2().float()

    class FakeDataModule:
        labelled_indices, unlabelled_indices, seed = np.arange(100), np.arange(60_000), 0

        def images(self, split):
            return torch.zeros(100, 28, 28, dtype=torch.uint8)

        def labels(self, split):
            return torch.zeros(100, dtype=torch.long)

    model._trainer = type("FakeTrainer", (), {"datamodule": FakeDataModule()})()
    model.on_fit_start()
    assert model.alpha == pytest.approx(0.1 * 60_000 / 100)


# ------------------------------------------------------------------------------------------------ config
def test_m2_and_m1_m2_compose_with_their_archs(m1_checkpoint):
    cfg = compose_config(["method=m2", "run_dir=/tmp/x"])
    validate(cfg)
    assert (cfg.method.name, cfg.arch.name, cfg.arch.family, cfg.method.train_stream) == ("m2", "m2_mlp", "semi", "unlabelled")
    cfg = compose_config(["method=m1_m2", "run_dir=/tmp/x", f"method.m1_checkpoint={m1_checkpoint}"])
    validate(cfg)
    assert (cfg.method.name, cfg.arch.name) == ("m1_m2", "m1_m2_mlp")
    with pytest.raises(ConfigError, match="needs a semi one"):
        validate(compose_config(["method=m2", "arch=vae_mlp", "run_dir=/tmp/x"]))


def test_m1_m2_without_checkpoint_says_what_to_run(tmp_path):
    cfg = compose_config(["method=m1_m2", f"run_dir={tmp_path / 'run'}", *QUICK])
    with pytest.raises(ConfigError, match=r"needs method.m1_checkpoint=.*ssgen-train method=m1 \.\.\.`"):
        train(cfg)  # a ConfigError is an SSGenError: ssgen-train prints it as one line and exits 2


def test_labelled_holdout_is_only_for_the_semi_supervised_methods():
    with pytest.raises(ConfigError, match=r"data.labelled_holdout=0.2 selects M2's alpha .* method=m1 has no use for it"):
        validate(compose_config(["run_dir=/tmp/x", "data.labelled_holdout=0.2"]))
    with pytest.raises(ConfigError, match="at least 1 held out and 1 kept per class"):
        validate(compose_config(["method=m2", "run_dir=/tmp/x", "data.n_labels=100", "data.labelled_holdout=0.01"]))
    validate(compose_config(["method=m2", "run_dir=/tmp/x", "data.n_labels=100", "data.labelled_holdout=0.2"]))


# ------------------------------------------------------------------------------------------------ a real run
@pytest.mark.slow
def test_selection_run_scores_its_holdout_each_epoch_and_never_the_test_set(tmp_path, monkeypatch):
    from ssgen.data import FashionMNISTDataModule

    splits = []
    images = FashionMNISTDataModule.images
    monkeypatch.setattr(FashionMNISTDataModule, "images", lambda self, split: splits.append(split) or images(self, split))
    run_dir = tmp_path / "select"
    overrides = ["method=m2", f"run_dir={run_dir}", "data.n_labels=100", "data.labelled_holdout=0.2",
                 "+trainer.limit_train_batches=20", *QUICK]
    results = train(compose_config([*overrides, "trainer.max_epochs=2"]))
    selection = results["selection"]
    curve = selection["holdout_accuracy_by_epoch"]
    assert len(curve) == 2 and all(0 <= a <= 1 for a in curve) and results["holdout_accuracy"] == curve[-1]
    assert selection["best_epoch"] == int(np.argmax(curve)) + 1 and selection["n_labelled_holdout"] == 20
    assert selection["alpha"] == pytest.approx(0.1 * 60_000 / 80)  # alpha follows the 80 labels it trains on
    assert selection["alpha_factor"] == 0.1
    assert "test" not in splits and "test_accuracy" not in results and "heads" not in results
    indices = json.loads((run_dir / "labelled_indices.json").read_text())
    assert len(indices["labelled_indices"]) == 80 and len(indices["labelled_holdout_indices"]) == 20
    # trained on: the curve comes back from the checkpoint, so epochs 1-2 are not lost or repeated
    longer = train(compose_config([*overrides, "trainer.max_epochs=3"]))["selection"]["holdout_accuracy_by_epoch"]
    assert len(longer) == 3 and longer[:2] == curve
    from ssgen.reporting.tables import m1_table

    table, failures = m1_table([(run_dir, json.loads((run_dir / "results.json").read_text()))])
    assert table == "" and not failures  # a selection run never lands in Table 1


def test_short_run_beats_chance_and_writes_the_m1_schema(m2_run):
    run_dir, results = m2_run, TRAIN_RESULTS[m2_run]
    on_disk = json.loads((run_dir / "results.json").read_text())
    assert on_disk["status"] == "ok" and on_disk["optimizer_steps"] == 100
    head = on_disk["heads"]["100"]["m2"]
    assert head["accuracy"] == on_disk["test_accuracy"] == results["test_accuracy"] and head["params"] == {"alpha": 60.0}
    assert on_disk["test_accuracy"] > 0.3  # chance is 0.1; 100 steps reach about 0.65-0.7 on this CPU
    assert np.array(head["confusion_matrix"]).sum() == 10_000 and 0 < head["macro_f1"] <= 1
    from ssgen.reporting.tables import m1_table

    table, failures = m1_table([(run_dir, on_disk)])
    assert "| M2 | 0." in plain_table(table) and not failures


def test_predict_round_trip(m2_run):
    run_dir = m2_run
    data = load_fashion_mnist()
    images, truth = data["test_images"][:1000], data["test_labels"][:1000].numpy()
    labels = predict_m2(run_dir, images.numpy())
    assert labels.shape == (1000,) and labels.dtype == np.int64
    assert (labels == truth).mean() > 0.3
    assert np.array_equal(labels, load_m2(run_dir).predict_labels(images).numpy())
    assert is_m2_run(run_dir)
    with pytest.raises(DataError, match="every image is a single grey level"):
        predict_m2(run_dir, np.zeros((2, 28, 28), dtype=np.float32))
    with pytest.raises(DataError, match=r"float32 pixels span \[-1, 1\]"):
        predict_m2(run_dir, images.numpy().astype(np.float32) / 127.5 - 1)


def test_class_conditional_generation(m2_run):
    from ssgen.evaluation.scoring import make_sampler

    model = load_m2(m2_run)
    labels = torch.arange(10).repeat_interleave(3)
    images = model.sample(labels, seed=0)
    assert images.shape == (30, 1, 28, 28) and images.min() >= -1 and images.max() <= 1
    assert torch.equal(images, model.sample(labels, seed=0))
    noise = torch.randn(30, model.latent_dim)
    with torch.no_grad():
        torch.testing.assert_close(model.generate(labels, noise), model.sample(labels, noise=noise))
        same_noise_other_class = model.generate((labels + 1) % 10, noise)
    assert (same_noise_other_class - model.generate(labels, noise)).abs().mean() > 0.01  # y changes the image
    sampler, conditional = make_sampler(model, seed=0)
    assert conditional and model.n_classes == 10
    unit = sampler(labels)
    assert unit.min() >= 0 and unit.max() <= 1


@pytest.mark.slow
def test_generate_and_evaluate_commands_take_an_m2_run(m2_run, tiny_evaluator_file, tmp_path, capsys):
    """The issue's generation path: ssgen-generate on an M2 run dir, then ssgen-evaluate's class-consistency."""
    from ssgen.evaluate import main as evaluate_main
    from ssgen.generate import main as generate_main

    run_dir = m2_run
    npz = tmp_path / "m2.npz"
    generate_main([f"run={run_dir}", "label=all", "n=2", "seed=3", f"out={tmp_path / 'm2.png'}", f"npz={npz}"])
    assert "wrote 20 images" in capsys.readouterr().out
    samples = np.load(npz)
    assert samples["images"].shape == (20, 28, 28) and samples["images"].dtype == np.uint8
    assert samples["labels"].tolist() == [label for label in range(10) for _ in range(2)]
    assert (tmp_path / "m2.png").is_file()
    out = tmp_path / "m2_metrics.json"
    evaluate_main([f"run={run_dir}", "n_samples=100", f"out={out}", f"evaluator={tiny_evaluator_file}", "floor=false"])
    report = json.loads(out.read_text())
    assert report["model"] == "M2" and report["n"] == 100
    assert 0.0 <= report["class_consistency"] <= 1.0 and report["fid"] > 0 and len(report["per_class_fid"]) == 10


# ------------------------------------------------------------------------------------------------ M1 + M2
def test_m1_m2_run_is_self_contained(m1_checkpoint, tmp_path):
    run_dir = tmp_path / "run"
    m1_checkpoint = Path(shutil.copy(m1_checkpoint, tmp_path / "m1.ckpt"))  # this test deletes its copy
    cfg = compose_config(["method=m1_m2", f"method.m1_checkpoint={m1_checkpoint}", f"run_dir={run_dir}",
                          "+trainer.limit_train_batches=5", *QUICK])
    results = train(cfg)
    assert results["status"] == "ok" and set(results["heads"]["100"]) == {"m1_m2"}
    m1_checkpoint.unlink()  # the M1+M2 checkpoint carries the frozen M1 networks: no M1 file needed any more
    model = load_m2(run_dir)
    assert isinstance(model, M1M2) and not any(p.requires_grad for p in model.m1_encoder.parameters())
    images = load_fashion_mnist()["test_images"][:20]
    assert predict_m2(run_dir, images).shape == (20,)
    generated = model.sample(torch.arange(10), seed=1)
    assert generated.shape == (10, 1, 28, 28) and generated.min() >= -1 and generated.max() <= 1


def test_m1_m2_refuses_a_checkpoint_that_is_not_m1(m2_run, tmp_path):
    cfg = compose_config(["method=m1_m2", f"method.m1_checkpoint={m2_run}", f"run_dir={tmp_path / 'run'}", *QUICK])
    with pytest.raises(CheckpointError, match="is a M2 checkpoint, not a method=m1 VAE"):
        train(cfg)


def test_labelled_elbo_pure_function_shapes():
    elbo = labelled_elbo(torch.zeros(4), torch.zeros(4, 3), torch.zeros(4, 3), n_classes=10)
    torch.testing.assert_close(elbo, torch.full((4,), -math.log(10)))  # q(z|x,y) = p(z): KL 0, log p(y) = -log 10
