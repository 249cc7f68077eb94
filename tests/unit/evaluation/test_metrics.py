"""FID / KID / class-consistency through torchmetrics, the training callback, and the sweep report.

    python -m pytest tests/unit/evaluation/test_metrics.py -q -p no:cacheprovider

Uses a tiny evaluator (1 epoch on 3000 images, trained once per session in a temp cache) and a tiny
real DCGAN from ssgen.models.gan (width 8) trained for 2 batches with the callback attached.
"""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import pytest
import torch
from conftest import plain_table

from ssgen.callbacks.generative_metrics import GenerativeMetrics
from ssgen.data import CLASS_NAMES, FashionMNISTDataModule, load_fashion_mnist, to_pixels
from ssgen.errors import DataError
from ssgen.evaluation.evaluator import EvaluatorConfig, load_evaluator
from ssgen.evaluation.metrics import (
    PrecomputedFeatures,
    Reference,
    balanced_indices,
    class_consistency,
    class_spread_ratio,
    diversity_scores,
    fid_kid,
    knn_radii,
    mean_pairwise_distance,
    per_class_fid,
    precision_recall,
)
from ssgen.evaluation.scoring import generator_report, make_sampler
from ssgen.report import main as report_main

TINY = EvaluatorConfig(channels=(8, 16, 16), epochs=1, n_train=3000)  # the same config as conftest.TINY_EVALUATOR



@pytest.fixture(scope="module")
def evaluator(tmp_path_factory: pytest.TempPathFactory):
    return load_evaluator(tmp_path_factory.getbasetemp() / "ssgen-cache", config=TINY, progress=False)


@pytest.fixture(scope="module")
def data() -> dict[str, torch.Tensor]:
    return load_fashion_mnist()


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_noise(evaluator, data) -> None:
    images = to_pixels(data["test_images"][:1000], "unit")
    assert abs(fid_kid(images, images, evaluator)["fid"]) < 1e-2
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(0))
    fids = [fid_kid(images, (images + sigma * noise).clamp(0, 1), evaluator)["fid"] for sigma in (0.05, 0.1, 0.2, 0.4)]
    assert all(a < b for a, b in zip(fids, fids[1:], strict=False)), fids
    assert fids[0] > 1e-3


def test_class_consistency_of_real_test_images_is_the_evaluator_test_accuracy(evaluator, data) -> None:
    accuracy = class_consistency(to_pixels(data["test_images"], "unit"), data["test_labels"].long(), evaluator)
    assert accuracy == pytest.approx(evaluator.identity["test_accuracy"], abs=1e-6)


def test_per_class_fid_names_every_class_and_is_zero_on_itself(evaluator, data) -> None:
    index = balanced_indices(data["test_labels"].long(), 500, seed=0)
    images, labels = to_pixels(data["test_images"][index], "unit"), data["test_labels"][index].long()
    scores = per_class_fid(images, labels, images, labels, evaluator)
    assert list(scores) == list(CLASS_NAMES)
    assert max(abs(v) for v in scores.values()) < 0.05


def test_images_in_the_gan_range_are_refused(evaluator, data) -> None:
    images = to_pixels(data["test_images"][:100], "symmetric")
    with pytest.raises(DataError, match=r"\(x \+ 1\) / 2"):
        fid_kid(images, images, evaluator)


@pytest.mark.slow
def test_metrics_read_features_computed_once_and_agree_with_the_images_path(evaluator, data, monkeypatch) -> None:
    """FID / KID / per-class FID from precomputed features equal those from the images, and the report runs
    the evaluator once per image set (test, generated, floor): never once per metric."""
    assert torch.equal(PrecomputedFeatures(4)(torch.ones(2, 4)), torch.ones(2, 4))
    images, labels = to_pixels(data["test_images"][:400], "unit"), data["test_labels"][:400].long()
    fake = (images + 0.1 * torch.randn(images.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    reference = Reference(images, evaluator, labels=labels, per_class=True)
    features, predictions = evaluator.features_and_predictions(fake)
    assert reference.fid_kid(fake) == reference.fid_kid(features=features)
    assert reference.per_class_fid(fake, labels) == reference.per_class_fid(None, labels, features=features)
    assert class_consistency(fake, labels, evaluator) == class_consistency(None, labels, predictions=predictions)
    assert torch.equal(predictions, evaluator.predict(fake))
    passes = []
    original = type(evaluator).features_and_predictions
    monkeypatch.setattr(type(evaluator), "features_and_predictions",
                        lambda self, x, batch_size=1000: passes.append(len(x)) or original(self, x, batch_size))
    generator_report(lambda y: fake[: len(y)], evaluator, n=200, data=data)
    assert passes == [10000, 200, 200]  # the test set, the samples, the floor's training images


@pytest.mark.parametrize("bad, fragment", [
    (lambda f: torch.full_like(f, float("nan")), "NaN or inf"),  # crashed oneMKL (segfault) before the check
    (lambda f: f[:, :64], r"expected float features \(N, 128\)"),
    (lambda f: f[0], r"got \(128,\)"),
    (lambda f: f.long(), "torch.int64"),
])
def test_precomputed_features_are_checked_like_images(evaluator, data, bad, fragment) -> None:
    images, labels = to_pixels(data["test_images"][:200], "unit"), data["test_labels"][:200].long()
    features, predictions = evaluator.features_and_predictions(images)
    reference = Reference(None, evaluator, labels=labels, per_class=True, features=features)  # no images needed
    assert reference.n == 200
    with pytest.raises(DataError, match=fragment):
        reference.fid_kid(features=bad(features))
    with pytest.raises(DataError, match=fragment):
        reference.per_class_fid(None, labels, features=bad(features))
    with pytest.raises(DataError, match="expected 200 integer class labels"):
        reference.per_class_fid(None, labels[:100], features=features)
    with pytest.raises(DataError, match="200 images but labels of shape"):
        class_consistency(None, labels.view(-1, 1), predictions=predictions)  # silently 0.1 before: broadcasting
    with pytest.raises(ValueError, match="not both"):
        reference.fid_kid(images, features=features)


# ------------------------------------------------------------------------------------------------ precision / recall
def test_knn_radii_on_a_line() -> None:
    points = torch.tensor([[0.0], [1.0], [2.0], [4.0], [8.0]])
    assert knn_radii(points, k=1).tolist() == pytest.approx([1, 1, 1, 2, 4])
    assert knn_radii(points, k=3).tolist() == pytest.approx([4, 3, 2, 4, 7])  # the 3rd nearest other point
    with pytest.raises(ValueError, match="more than k=3"):
        knn_radii(points[:3], k=3)


def test_identical_point_clouds_have_full_precision_and_recall() -> None:
    points = torch.randn(500, 8, generator=torch.Generator().manual_seed(0))
    assert precision_recall(points, points) == {"precision": 1.0, "recall": 1.0}
    assert precision_recall(points, points[torch.randperm(500)]) == {"precision": 1.0, "recall": 1.0}


def test_a_collapsed_set_keeps_precision_and_loses_recall() -> None:
    generator = torch.Generator().manual_seed(0)
    real = torch.randn(1000, 8, generator=generator)
    collapsed = real[:5].repeat(100, 1) + 1e-3 * torch.randn(500, 8, generator=generator)  # 5 real points, copied
    scores = precision_recall(real, collapsed)
    assert scores["precision"] == 1.0 and scores["recall"] < 0.05
    off_manifold = real + 10.0  # as varied as the data, but nowhere near it: both fail
    assert precision_recall(real, off_manifold) == {"precision": 0.0, "recall": 0.0}


def test_two_draws_of_one_distribution_score_high_but_below_one() -> None:
    generator = torch.Generator().manual_seed(1)
    a, b = torch.randn(2000, 4, generator=generator), torch.randn(2000, 4, generator=generator)
    scores = precision_recall(a, b)
    assert 0.8 < scores["precision"] < 1.0 and 0.8 < scores["recall"] < 1.0


def test_mean_pairwise_distance_and_the_class_spread_ratio() -> None:
    assert mean_pairwise_distance(torch.tensor([[0.0, 0.0], [3.0, 4.0]])) == pytest.approx(5.0)
    assert mean_pairwise_distance(torch.tensor([[0.0], [1.0], [3.0]])) == pytest.approx((1 + 3 + 2) / 3)
    generator = torch.Generator().manual_seed(2)
    real, labels = torch.randn(300, 8, generator=generator), torch.arange(300) % 3
    fake = real.clone()
    fake[labels == 1] = real[labels == 1][0] + 0.01 * torch.randn(100, 8, generator=generator)  # class 1 collapses
    ratio = class_spread_ratio(fake, labels, real, labels, n_classes=4)
    assert ratio[0] == pytest.approx(1.0) and ratio[2] == pytest.approx(1.0) and ratio[1] < 0.02
    assert torch.isnan(ratio[3])  # no points of class 3
    scores = diversity_scores(real, labels, fake, labels)
    assert scores["min_class_spread"] == pytest.approx(float(ratio[1]))
    assert scores["class_spread"][CLASS_NAMES[1]] < 0.02 and scores["class_spread"][CLASS_NAMES[0]] == pytest.approx(1.0)
    assert "class_spread" not in diversity_scores(real, labels, fake, None)  # unconditional: P/R only


class PartlyCollapsedGenerator(torch.nn.Module):
    """A conditional 'generator' replaying real training images of the asked class, the noise picking which;
    for the classes in ``collapsed`` it returns (nearly) the same image whatever the noise."""

    latent_dim = 4

    def __init__(self, data: dict[str, torch.Tensor], collapsed: tuple[int, ...]) -> None:
        super().__init__()
        labels = data["train_labels"].long()
        self.bank = [to_pixels(data["train_images"][torch.nonzero(labels == c).flatten()[:500]], "unit")
                     for c in range(10)]
        self.collapsed = collapsed
        self.logged: dict[str, float] = {}
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # a parameter, so the module has a device

    @property
    def device(self) -> torch.device:
        return self.anchor.device

    def generate(self, labels: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        index = (noise[:, 0].abs() * 1e4).long() % 500
        images = torch.stack([self.bank[int(c)][0 if int(c) in self.collapsed else int(i)]
                              for c, i in zip(labels, index, strict=True)])
        return images * 2 - 1  # a GAN's [-1, 1]

    def log(self, key: str, value: float, **kwargs: object) -> None:  # LightningModule.log's stand-in
        self.logged[key] = float(value)


def test_partial_collapse_is_measured_and_flagged_but_does_not_fail_the_run(evaluator, data) -> None:
    from types import SimpleNamespace

    from ssgen.callbacks.failed_convergence import FailedConvergence

    collapsed = PartlyCollapsedGenerator(data, collapsed=(3, 7))
    metrics = GenerativeMetrics(n_samples=400, final_n_samples=0, evaluator=evaluator)
    trainer = SimpleNamespace(datamodule=SimpleNamespace(data=data), current_epoch=0, max_epochs=1, sanity_checking=False,
                              fit_loop=SimpleNamespace(total_batch_idx=0))
    metrics.setup(trainer, collapsed, "fit")
    metrics.on_train_epoch_end(trainer, collapsed)
    logged = collapsed.logged
    assert logged["metrics/class_spread/dress"] == 0.0 and logged["metrics/class_spread/sneaker"] == 0.0
    assert min(v for k, v in logged.items() if k.startswith("metrics/class_spread/") and not k.endswith(("dress", "sneaker"))) > 0.7
    assert logged["metrics/min_class_spread"] == 0.0
    assert logged["metrics/precision"] > 0.8  # real images, all of them: faithful (two real draws score ~0.9)
    assert metrics.history[0]["class_spread"]["dress"] == 0.0 and "recall" in metrics.history[0]

    detector = FailedConvergence(collapse_std=0, metric_key=None)
    trainer.callback_metrics = {key: torch.tensor(value) for key, value in logged.items()}
    detector.on_train_epoch_end(trainer, collapsed)  # flagged, not raised
    results = detector.end_of_run(trainer, collapsed)
    assert set(results["partial_collapse"]["epochs"]["0"]) == {"dress", "sneaker"}
    assert results["partial_collapse"]["threshold"] == 0.5
    assert len(results["warnings"]) == 1 and "dress 0.000" in results["warnings"][0] and "sneaker" in results["warnings"][0]
    json.dumps(results)

    varied = PartlyCollapsedGenerator(data, collapsed=())
    metrics.setup(trainer, varied, "fit")
    metrics.on_train_epoch_end(trainer, varied)
    healthy = FailedConvergence(collapse_std=0, metric_key=None)
    trainer.callback_metrics = {key: torch.tensor(value) for key, value in varied.logged.items()}
    healthy.on_train_epoch_end(trainer, varied)
    assert healthy.end_of_run(trainer, varied) == {}  # nothing to flag, no results.json keys
    # the same fidelity, less coverage: the two collapsed classes cost recall, not precision. Only a little
    # recall (0.88 against 0.91 here): the other classes' samples still cover much of the collapsed classes'
    # region of feature space, which is why the per-class spread, not recall, flags a collapsed class
    assert abs(varied.logged["metrics/precision"] - logged["metrics/precision"]) < 0.1
    assert logged["metrics/recall"] < varied.logged["metrics/recall"]


def tiny_dcgan():
    from ssgen.models.gan import DCGAN

    arch = {"name": "dcgan", "family": "gan", "networks": {
        "generator": {"_target_": "ssgen.models.gan.DCGANGenerator", "width": 8, "label_embedding_dim": 4},
        "critic": {"_target_": "ssgen.models.gan.DCGANCritic", "width": 8}}}
    return DCGAN(arch=arch, latent_dim=8)


@pytest.mark.slow
def test_generator_report_of_a_perfect_generator_matches_its_floor(evaluator, data) -> None:
    train_labels = data["train_labels"].long()
    by_class = [torch.nonzero(train_labels == c).flatten() for c in range(10)]

    def replay_training_images(labels: torch.Tensor) -> torch.Tensor:
        # a 'generator' that returns real training images of the asked class (not the floor's draw)
        index = torch.stack([by_class[int(c)][-1 - i] for i, c in enumerate(labels)])
        return to_pixels(data["train_images"][index], "unit")

    report = generator_report(replay_training_images, evaluator, n=200, data=data)
    for key in ("fid", "kid", "kid_std", "class_consistency", "fid_floor", "kid_floor", "class_consistency_floor",
                "precision", "recall", "min_class_spread", "precision_floor", "recall_floor", "min_class_spread_floor"):
        assert isinstance(report[key], float), key
    assert set(report["class_spread"]) == set(CLASS_NAMES) == set(report["class_spread_floor"])
    assert set(report["per_class_fid"]) == set(CLASS_NAMES) == set(report["per_class_fid_floor"])
    assert report["evaluator_config_hash"] == TINY.config_hash
    assert report["fid"] == pytest.approx(report["fid_floor"], rel=0.5)


def test_unconditional_generator_gets_fid_and_kid_only(evaluator, data) -> None:
    from ssgen.models.m1 import M1VAE

    arch = {"networks": {"encoder": {"_target_": "ssgen.nets.vae_mlp.Encoder", "hidden_dims": [16], "latent_dim": 4},
                         "decoder": {"_target_": "ssgen.nets.vae_mlp.Decoder", "hidden_dims": [16], "latent_dim": 4}}}
    sampler, conditional = make_sampler(M1VAE(arch=arch), seed=0)
    assert not conditional
    report = generator_report(sampler, evaluator, n=100, conditional=False, floor=False, data=data)
    assert "fid" in report and "kid" in report
    assert "class_consistency" not in report and "per_class_fid" not in report and "class_spread" not in report


@pytest.mark.slow
def test_callback_logs_metrics_and_never_puts_the_evaluator_in_the_gan(evaluator, tmp_path: Path) -> None:
    """A real (tiny) DCGAN, 2 batches, GenerativeMetrics + ModelCheckpoint(monitor=metrics/fid)."""
    L.seed_everything(0, verbose=False)
    model = tiny_dcgan()
    keys_before = set(model.state_dict())
    n_parameters = sum(p.numel() for p in model.parameters())
    datamodule = FashionMNISTDataModule(n_labels="all", pixel_range="symmetric", train_stream="labelled", batch_size=16)
    metrics = GenerativeMetrics(n_samples=100, final_n_samples=200, evaluator=evaluator)
    best = L.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path, filename="best", monitor="metrics/fid", mode="min",
                                               save_top_k=1)
    trainer = L.Trainer(max_epochs=1, limit_train_batches=2, limit_val_batches=0, logger=False, callbacks=[metrics, best],
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(model, datamodule=datamodule)

    for key in ("metrics/fid", "metrics/kid", "metrics/class_consistency", "metrics/precision", "metrics/recall",
                "metrics/min_class_spread", "metrics/class_spread/bag"):
        assert key in trainer.callback_metrics, key
    assert Path(best.best_model_path).name == "best.ckpt"
    results = metrics.end_of_run(trainer, model)  # what ssgen.train runs once fit has returned
    for key in ("fid", "kid", "class_consistency", "fid_floor", "kid_floor", "class_consistency_floor",
                "per_class_fid", "evaluator_config_hash", "evaluator_test_accuracy", "precision", "recall",
                "class_spread", "precision_floor", "recall_floor"):
        assert key in results, key
    assert results["scored_checkpoint"] == "best.ckpt"
    assert results["metrics_reference"] == "test" and results["metrics_reference_during_training"] != "test set"
    json.dumps(results)  # results.json material

    # the evaluator is frozen, in eval mode, and absent from the module, its optimizers and its checkpoint
    assert not evaluator.training and not any(p.requires_grad for p in evaluator.parameters())
    assert set(model.state_dict()) == keys_before
    checkpoint = torch.load(best.best_model_path, map_location="cpu", weights_only=True)
    assert set(checkpoint["state_dict"]) == keys_before
    optimizer_parameters = sum(len(group["params"]) for state in checkpoint["optimizer_states"]
                               for group in state["param_groups"])
    assert optimizer_parameters == len(list(model.parameters()))
    in_optimizers = sum(p.numel() for opt in trainer.optimizers for group in opt.param_groups for p in group["params"])
    assert in_optimizers == n_parameters
    evaluator_ids = {id(p) for p in evaluator.parameters()}
    assert not evaluator_ids & {id(p) for opt in trainer.optimizers for g in opt.param_groups for p in g["params"]}
    assert not any(torch.is_tensor(v) and v.shape == evaluator.classifier[1].weight.shape
                   for v in checkpoint["state_dict"].values())


def test_report_table(tmp_path: Path) -> None:
    common = {"status": "ok", "epochs": 10, "evaluator_config_hash": "abc", "evaluator_test_accuracy": 0.93,
              "fid_floor": 1.5, "kid_floor": 0.0001, "class_consistency_floor": 0.97, "metrics_n": 10000}
    runs = {
        "0_dcgan": {"method": "dcgan", "arch": "dcgan", "fid": 20.0, "kid": 0.02, "class_consistency": 0.8,
                    "failed_runs": 0, "wall_time_s": 600},
        "1_dcgan": {"method": "dcgan", "arch": "dcgan", "fid": 22.0, "kid": 0.03, "class_consistency": 0.82,
                    "failed_runs": 1, "wall_time_s": 720},
        "2_wgan": {"method": "wgan_gp", "arch": "mlp_generator", "fid": 30.0, "kid": 0.04, "class_consistency": 0.7,
                   "failed_runs": 0, "wall_time_s": 900, "precision": 0.71, "recall": 0.42, "min_class_spread": 0.31,
                   "per_class_fid": {"bag": 90.0, "coat": 30.0, "shirt": 20.0},  # worst 90 over the median 30
                   "warnings": ["partial collapse at epoch 9, the last checked: ... (bag 0.310)"]},
    }
    for name, result in runs.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps({**common, **result}))
    out = tmp_path / "gan_metrics.md"
    report_main(["gan", f"runs={tmp_path}", f"out={out}"])
    text = plain_table(out.read_text())
    assert "| dcgan | dcgan | 2 (2) | 21.00 ± 1.41 |" in text
    assert "| wgan_gp | mlp_generator | 1 (1) | 30.00 (1 seed) |" in text
    # precision, recall, spread, worst / median class FID
    assert "| 0.700 (1 seed) | 0.710 (1 seed) | 0.420 (1 seed) | 0.310 (1 seed) | 3.00 (1 seed) |" in text
    assert "2_wgan` (wgan_gp, mlp_generator, seed=?): partial collapse at epoch 9" in text
    from ssgen.reporting.tables import worst_class_fid_ratio

    assert worst_class_fid_ratio({"a": 0.0, "b": 0.0, "c": 1.0}) is None  # a median of 0: no ratio, no crash
    assert worst_class_fid_ratio({"a": float("nan"), "b": 2.0, "c": 4.0}) == 4.0 / 3.0  # NaN left out
    assert worst_class_fid_ratio(None) is None
    assert "floor" in text and "1.50" in text
    assert f"ssgen-report gan runs={tmp_path} out={out}" in text
    dcgan_row = next(line for line in text.splitlines() if line.startswith("| dcgan"))
    assert "| 1 |" in dcgan_row  # failed convergences summed over runs
