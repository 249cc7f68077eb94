"""Class-conditional GANs (ssgen.models.gan) and failed-convergence detection (ssgen.callbacks.failed_convergence).

    python -m pytest tests/unit/models/test_gan.py -q -p no:cacheprovider

Networks are shrunk (width 8, 32 hidden units) and runs take a few batches: the whole file runs in
well under a minute on two CPU cores.
"""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import torch
from conftest import compose_config
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ssgen.callbacks.failed_convergence import FailedConvergence
from ssgen.config.validation import validate
from ssgen.errors import TrainingFailed
from ssgen.models.gan import DCGAN, WGANGP, ConditionalGAN, WGANClip
from ssgen.run.build import build_model
from ssgen.train import train

TINY = {
    "dcgan": ["arch.networks.generator.width=8", "arch.networks.critic.width=8"],
    "mlp_generator": ["arch.networks.generator.hidden_units=32", "arch.networks.critic.width=8"],
    "dcgan_softplus": ["arch.networks.generator.width=8", "arch.networks.critic.width=8"],
}
NO_METRICS = ["data.n_labels=all", "method.callbacks.quality=null", "method.callbacks.best_checkpoint=null"]



def tiny_arch(generator: str = "dcgan", conditioning: str = "projection") -> dict:
    networks = {"generator": {"_target_": "ssgen.models.gan.DCGANGenerator", "width": 8},
                "critic": {"_target_": "ssgen.models.gan.DCGANCritic", "width": 8, "conditioning": conditioning}}
    if generator == "mlp":
        networks["generator"] = {"_target_": "ssgen.models.gan.MLPGenerator", "hidden_units": 32}
    return {"name": "tiny", "family": "gan", "networks": networks}


def make_model(cls: type[ConditionalGAN], **kwargs) -> ConditionalGAN:
    defaults = {"latent_dim": 16, "critic_norm": "layer" if cls is WGANGP else "batch"}
    return cls(arch=tiny_arch(kwargs.pop("generator", "dcgan")), **{**defaults, **kwargs})


def fit_batches(model: ConditionalGAN, n_batches: int = 1, batch_size: int = 8) -> torch.Tensor:
    """Train on ``n_batches`` random labelled batches; returns the labels of the batches."""
    torch.manual_seed(0)
    images = torch.rand(n_batches * batch_size, 1, 28, 28) * 2 - 1
    labels = torch.randint(0, 10, (n_batches * batch_size,))
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, train_dataloaders=DataLoader(TensorDataset(images, labels), batch_size=batch_size))
    return labels


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {name: parameter.detach().clone() for name, parameter in module.named_parameters()}


def changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> bool:
    return any(not torch.equal(before[name], after[name]) for name in before)


# ------------------------------------------------------------------------------------------------ composition
@pytest.mark.parametrize("method", ["dcgan", "wgan_clip", "wgan_gp"])
@pytest.mark.parametrize("arch", ["dcgan", "mlp_generator", "dcgan_softplus"])
def test_every_method_and_arch_composes_and_generates_28x28(make_cfg, method, arch):
    cfg = make_cfg(f"method={method}", f"arch={arch}", *TINY[arch], *NO_METRICS)
    validate(cfg)
    model = build_model(cfg)
    assert type(model).__name__ == {"dcgan": "DCGAN", "wgan_clip": "WGANClip", "wgan_gp": "WGANGP"}[method]
    assert model.latent_dim == cfg.method.latent_dim and model.n_classes == 10
    labels = torch.arange(10).repeat(2)
    model.eval()
    with torch.no_grad():
        images = model.generate(labels)
        scores = model.critic(images, labels)
    assert images.shape == (20, 1, 28, 28) and images.dtype == torch.float32
    assert images.min() >= -1 and images.max() <= 1
    assert scores.shape == (20,)
    assert model.generate(labels[:3], torch.zeros(3, model.latent_dim)).shape == (3, 1, 28, 28)
    # critic normalisation follows the method: spectral norm for dcgan, batch norm for wgan_clip, layer norm
    # (GroupNorm(1)) for wgan_gp; arch B fixes none in both networks, whatever the method says
    norms = {type(m).__name__ for m in model.critic.modules() if isinstance(m, nn.BatchNorm2d | nn.GroupNorm)}
    spectral = any(nn.utils.parametrize.is_parametrized(m) for m in model.critic.modules())
    if arch == "dcgan_softplus":
        assert norms == set() and not spectral
        assert not any(isinstance(m, nn.BatchNorm2d) for m in model.generator.modules())
    else:
        assert norms == {"dcgan": set(), "wgan_clip": {"BatchNorm2d"}, "wgan_gp": {"GroupNorm"}}[method]
        assert spectral == (method == "dcgan")


def test_softplus_activation_is_exactly_the_write_ups_formula():
    from ssgen.nets.dcgan import SoftplusActivation

    x = torch.tensor([-20.0, -1.0, 0.0, 1.0, 20.0])
    expected = torch.log1p(torch.exp(2 * x + 2)) / 2  # softplus(2x + 2) / 2, no shift
    assert torch.allclose(SoftplusActivation()(x), expected)
    assert SoftplusActivation()(torch.tensor(0.0)).item() == pytest.approx(1.0635, abs=1e-4)
    assert SoftplusActivation()(torch.tensor([-20.0, 20.0])).tolist() == pytest.approx([0.0, 21.0], abs=1e-6)


@pytest.mark.parametrize("method", ["dcgan", "wgan_clip", "wgan_gp"])
def test_arch_b_takes_one_training_step_with_every_method(make_cfg, method):
    """Arch B (dcgan_softplus) composes with each method: a batch moves the critic and the generator."""
    from ssgen.nets.dcgan import SoftplusActivation

    cfg = make_cfg(f"method={method}", "arch=dcgan_softplus", *TINY["dcgan_softplus"], *NO_METRICS,
                   "method.n_critic=1", "method.latent_dim=16")
    validate(cfg)  # wgan_gp's 'no batch norm in the critic' check accepts an arch that fixes norm=none
    model = build_model(cfg)
    networks = [*model.generator.modules(), *model.critic.modules()]
    assert not any(isinstance(m, nn.BatchNorm2d | nn.GroupNorm | nn.LayerNorm) for m in networks)
    assert sum(isinstance(m, SoftplusActivation) for m in networks) == 4
    assert not any(isinstance(m, nn.ReLU | nn.LeakyReLU) for m in networks)
    generator, critic = snapshot(model.generator), snapshot(model.critic)
    fit_batches(model, n_batches=1)
    assert changed(generator, snapshot(model.generator)) and changed(critic, snapshot(model.critic))
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_spectral_norm_with_weight_clipping_is_refused(make_cfg):
    from ssgen.errors import ConfigError

    with pytest.raises(ConfigError, match="defeats wgan_clip's weight clipping"):
        validate(make_cfg("method=wgan_clip", "arch=dcgan", "method.critic_norm=spectral"))
    validate(make_cfg("method=wgan_clip", "arch=dcgan_softplus", "method.critic_norm=spectral"))  # unused there


def test_method_critic_norm_batch_with_wgan_gp_is_still_refused_on_arch_a(make_cfg):
    from ssgen.errors import ConfigError

    with pytest.raises(ConfigError, match="gradient penalty"):
        validate(make_cfg("method=wgan_gp", "arch=dcgan", "method.critic_norm=batch"))
    validate(make_cfg("method=wgan_gp", "arch=dcgan_softplus", "method.critic_norm=batch"))  # unused there


@pytest.mark.parametrize("method", ["dcgan", "wgan_gp"])
def test_spectral_critic_norm_keeps_every_critic_weight_at_unit_spectral_norm(make_cfg, method):
    """method.critic_norm=spectral: no activation norm in the critic, and after training steps every weight the
    critic uses (convolutions, linear head, projection embedding) has largest singular value ~1."""
    from ssgen.nets.dcgan import spectral_normalize

    cfg = make_cfg(f"method={method}", "arch=dcgan", *TINY["dcgan"], *NO_METRICS, "method.critic_norm=spectral",
                   "method.n_critic=1", "method.latent_dim=16")
    validate(cfg)
    model = build_model(cfg)
    assert not any(isinstance(m, nn.BatchNorm2d | nn.GroupNorm) for m in model.critic.modules())
    fit_batches(model, n_batches=3)
    layers = [m for m in model.critic.modules() if isinstance(m, nn.Conv2d | nn.Linear | nn.Embedding)]
    assert len(layers) == 4
    before = set(model.critic.state_dict())
    spectral_normalize(model.critic)  # twice is once
    assert set(model.critic.state_dict()) == before
    model.critic.eval()  # eval: the parametrization reuses its power-iteration vectors instead of updating them
    for layer in layers:
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2).item()
        assert sigma == pytest.approx(1.0, abs=0.15), type(layer).__name__
        raw = torch.linalg.matrix_norm(layer.parametrizations.weight.original.detach().flatten(1), ord=2).item()
        assert raw != pytest.approx(1.0, abs=0.15)  # the raw weights are not unit-norm: the parametrization does it


@pytest.mark.parametrize("method", ["dcgan", "wgan_clip", "wgan_gp"])
def test_a_gan_method_alone_picks_all_labelled_images(method):
    assert compose_config([f"method={method}", "run_dir=/tmp/x"]).data.n_labels == "all"
    assert compose_config([f"method={method}", "data.n_labels=100", "run_dir=/tmp/x"]).data.n_labels == 100
    assert compose_config(["method=m1", "run_dir=/tmp/x"]).data.n_labels == 100  # M1 keeps its own default
    # an experiment preset's data.n_labels beats the method's default (experiment=gan sets 'all', M1's is 100)
    assert compose_config(["method=m1", "experiment=gan", "run_dir=/tmp/x"]).data.n_labels == "all"


def test_an_explicit_small_label_budget_trains_on_it_and_warns(make_cfg, caplog):
    cfg = make_cfg("method=dcgan", "data.n_labels=100", *TINY["dcgan"], "method.callbacks.quality=null",
                   "method.callbacks.best_checkpoint=null")
    assert cfg.arch.name == "dcgan" and cfg.data.n_labels == 100
    with caplog.at_level("WARNING", logger="ssgen"):
        assert train(cfg)["status"] == "ok"
    assert "add experiment=gan or data.n_labels=all" in caplog.text


def test_generator_ema_averages_the_generator_and_is_what_samples_come_from(tmp_path):
    model = make_model(DCGAN, ema_decay=0.9)
    assert not any(p.requires_grad for p in model.generator_ema.parameters())
    optimizer_generator, optimizer_critic = model.configure_optimizers()
    held = {id(p) for optimizer in (optimizer_generator, optimizer_critic) for group in optimizer.param_groups
            for p in group["params"]}
    assert not held & {id(p) for p in model.generator_ema.parameters()}
    initial = snapshot(model.generator_ema.module)  # the average's network (torch's AveragedModel holds it)
    fit_batches(model, n_batches=3)
    assert model.ema_updates == 3
    live, average = snapshot(model.generator), snapshot(model.generator_ema.module)
    assert changed(initial, average) and changed(live, average)  # it moved, and it is not a copy
    # by hand: decays min(0.9, (1 + t) / (10 + t)) = 0.1, 0.18, 0.25 over the three generator steps
    model.eval()
    labels, noise = torch.arange(10), torch.randn(10, 16)
    with torch.no_grad():
        assert torch.equal(model.generate(labels, noise), model.generator_ema(noise, labels))
        assert not torch.equal(model.generate(labels, noise), model.generator(noise, labels))
    assert torch.equal(model.sample(labels, noise), model.generator_ema(noise, labels))
    # checkpointed and restored with the module
    trainer_path = tmp_path / "ema.ckpt"
    model.trainer.save_checkpoint(trainer_path)
    reloaded = DCGAN.load_from_checkpoint(trainer_path, map_location="cpu", weights_only=True)
    assert reloaded.ema_updates == 3 and not changed(average, snapshot(reloaded.generator_ema.module))
    assert make_model(DCGAN).generator_ema is None  # off by default


def test_generator_ema_warm_up_by_hand():
    model = make_model(DCGAN, ema_decay=0.999)
    with torch.no_grad():
        for average in model.generator_ema.parameters():
            average.zero_()
        for parameter in model.generator.parameters():
            parameter.fill_(1.0)
    model.update_generator_ema()  # t=0: decay min(0.999, 1/10) = 0.1 -> 0.9 of the way to the generator
    assert all(torch.allclose(p, torch.full_like(p, 0.9)) for p in model.generator_ema.parameters())


def test_hyperparameters_are_plain_values():
    model = WGANGP(arch=__import__("omegaconf").OmegaConf.create(tiny_arch()), latent_dim=16, critic_norm="layer")
    assert type(model.hparams["arch"]) is dict  # a DictConfig would break weights_only checkpoint loads
    assert model.hparams["gp_lambda"] == 10.0 and model.hparams["n_critic"] == 1


def test_input_conditioning_and_mlp_generator_shapes():
    critic = tiny_arch(conditioning="input")["networks"]["critic"]
    model = DCGAN(arch={**tiny_arch("mlp"), "networks": {**tiny_arch("mlp")["networks"], "critic": critic}}, latent_dim=16)
    labels = torch.tensor([0, 9])
    assert model.critic.features[0].in_channels == 11  # image + one-hot planes
    assert model.critic(model.generate(labels), labels).shape == (2,)


# ------------------------------------------------------------------------------------------------ update rules
@pytest.mark.parametrize("cls", [DCGAN, WGANClip, WGANGP])
def test_critic_step_moves_only_the_critic_and_generator_step_only_the_generator(cls):
    model = make_model(cls, n_critic=1)
    states = [(snapshot(model.generator), snapshot(model.critic))]
    original = model.after_critic_step
    model.after_critic_step = lambda: (original(), states.append((snapshot(model.generator), snapshot(model.critic))))
    fit_batches(model, n_batches=1)
    states.append((snapshot(model.generator), snapshot(model.critic)))
    (generator_0, critic_0), (generator_1, critic_1), (generator_2, critic_2) = states
    assert changed(critic_0, critic_1) and not changed(generator_0, generator_1)  # the critic step
    assert changed(generator_1, generator_2) and not changed(critic_1, critic_2)  # the generator step


def test_generator_steps_every_n_critic_batches():
    model = make_model(WGANGP, n_critic=3)
    fit_batches(model, n_batches=7)
    assert model.batches_seen == 7
    assert model.trainer.global_step == 7 + 2  # 7 critic steps, generator steps after batches 3 and 6


def test_weight_clipping_bounds_every_critic_parameter():
    model = make_model(WGANClip, n_critic=2, clip=0.01)
    with torch.no_grad():
        for parameter in model.critic.parameters():
            parameter.uniform_(-1, 1)  # far outside the box before training
    fit_batches(model, n_batches=2)
    for name, parameter in model.critic.named_parameters():
        assert parameter.abs().max() <= 0.01, name
    assert any(parameter.abs().max() > 0.01 for parameter in model.generator.parameters())  # the generator is free
    optimizer_generator, optimizer_critic = model.configure_optimizers()
    assert isinstance(optimizer_critic, torch.optim.RMSprop) and isinstance(optimizer_generator, torch.optim.RMSprop)


def test_gradient_penalty_sees_the_real_batch_labels():
    model = make_model(WGANGP, n_critic=2)  # one batch: a critic step only
    seen = []
    forward = model.critic.forward
    model.critic.forward = lambda images, labels: (seen.append(labels.clone()), forward(images, labels))[1]
    labels = fit_batches(model, n_batches=1)
    assert len(seen) == 3  # real, fake, interpolates
    assert all(torch.equal(call_labels, labels) for call_labels in seen)


class LinearCritic(nn.Module):
    """f(x) = <w, x> with ||w|| = 5: the gradient penalty is (5 - 1)^2 = 16 wherever it is evaluated."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(784))
        with torch.no_grad():
            self.weight[:2] = torch.tensor([3.0, 4.0])

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return images.flatten(1) @ self.weight


def test_wgan_gp_critic_loss_weights_the_penalty_once():
    model = make_model(WGANGP, gp_lambda=7.0)
    model.critic = LinearCritic()
    real, fake, labels = torch.randn(4, 1, 28, 28), torch.randn(4, 1, 28, 28), torch.zeros(4, dtype=torch.long)
    real_scores, fake_scores = model.critic(real, labels), model.critic(fake, labels)
    loss, extra = model.critic_loss(real, fake, labels, real_scores, fake_scores)
    assert extra["critic/gradient_penalty"].item() == pytest.approx(16.0)
    assert loss.item() == pytest.approx((fake_scores.mean() - real_scores.mean()).item() + 7.0 * 16.0, rel=1e-5)


def test_optimizers_hold_only_generator_and_critic_parameters():
    model = make_model(DCGAN)
    model.evaluator = nn.Linear(4, 4)  # e.g. a frozen metrics network attached later
    optimizer_generator, optimizer_critic = model.configure_optimizers()
    held = {id(p) for optimizer in (optimizer_generator, optimizer_critic) for group in optimizer.param_groups
            for p in group["params"]}
    assert held == {id(p) for p in [*model.generator.parameters(), *model.critic.parameters()]}
    assert optimizer_generator.defaults["betas"] == (0.5, 0.999)


def test_fixed_noise_is_seeded_shared_by_rows_and_a_buffer():
    first, second = make_model(DCGAN), make_model(DCGAN)
    assert torch.equal(first.fixed_noise, second.fixed_noise)
    assert first.fixed_noise.shape == (100, 16)
    assert torch.equal(first.fixed_noise[:10], first.fixed_noise[90:])  # column j: same noise in every class row
    assert torch.equal(first.fixed_labels, torch.arange(10).repeat_interleave(10))
    assert {"fixed_noise", "fixed_labels"} <= set(first.state_dict())


def test_sample_is_seeded_and_restores_training_mode():
    model = make_model(DCGAN).train()
    labels = torch.tensor([0, 3, 3])
    first, second = model.sample(labels, seed=5), model.sample(labels, seed=5)
    assert torch.equal(first, second) and not torch.equal(first, model.sample(labels, seed=6))
    assert model.generator.training and not first.requires_grad


# ------------------------------------------------------------------------------------------------ a real run
def test_training_run_logs_resumes_and_checkpoints(make_cfg, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = make_cfg("method=wgan_gp", "arch=dcgan", *TINY["dcgan"], *NO_METRICS)
    results = train(cfg)
    assert results["status"] == "ok" and results["failed_runs"] == 0
    assert results["optimizer_steps"] == 3  # 3 critic steps, none for the generator yet (n_critic=5)
    run_dir = tmp_path / "run"
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    model = WGANGP.load_from_checkpoint(checkpoint, map_location="cpu", weights_only=True)
    assert model.batches_seen == 3 and model.hparams.gp_lambda == 10.0
    accumulator = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0, "images": 0})
    accumulator.Reload()
    scalars = set(accumulator.Tags()["scalars"])
    assert {"loss/critic", "critic/wasserstein_estimate", "critic/gradient_penalty", "critic/real_score",
            "critic/fake_score"} <= scalars
    assert accumulator.Tags()["images"] == ["samples/fixed_noise"]

    # relaunching into the same run dir resumes: the batch counter continues, the fixed noise is the same
    resumed = train(make_cfg("method=wgan_gp", "arch=dcgan", *TINY["dcgan"], *NO_METRICS, "trainer.max_epochs=2"))
    assert resumed["status"] == "ok" and resumed["epochs"] == 2
    model_after = WGANGP.load_from_checkpoint(checkpoint, map_location="cpu", weights_only=True)
    assert model_after.batches_seen == 6 and torch.equal(model_after.fixed_noise, model.fixed_noise)
    assert resumed["optimizer_steps"] == 6 + 1  # the 5th batch brought the first generator step
    accumulator = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0})
    accumulator.Reload()
    assert "loss/generator" in accumulator.Tags()["scalars"]


def untrained_evaluator(path):
    """An untrained tiny evaluator file: FID / KID need only its features, and training one costs half a minute here."""
    from ssgen.evaluation.evaluator import FORMAT_VERSION, Evaluator, EvaluatorConfig, save_evaluator

    config = EvaluatorConfig(channels=(8, 16, 16), feature_dim=16)
    info = {"config": config.to_dict(), "config_hash": config.config_hash, "format_version": FORMAT_VERSION,
            "test_accuracy": 0.1}
    return save_evaluator(Evaluator(config).eval(), info, path)


@pytest.mark.slow
def test_method_yaml_keeps_the_best_checkpoint_by_fid(make_cfg, tmp_path):
    evaluator = untrained_evaluator(tmp_path / "evaluator.safetensors")
    cfg = make_cfg("method=dcgan", "arch=dcgan", *TINY["dcgan"], "data.n_labels=all",
                   f"method.callbacks.quality.evaluator={evaluator}",
                   "method.callbacks.quality.n_samples=100", "method.callbacks.quality.final_n_samples=0")
    results = train(cfg)  # final_n_samples=0: no final report on the 10k test images (a minute on a busy CPU)
    assert results["status"] == "ok"
    assert {"fid", "kid", "class_consistency"} <= set(results["metrics_history"][0])
    best = tmp_path / "run" / "checkpoints" / "best.ckpt"
    assert torch.load(best, map_location="cpu", weights_only=True)["callbacks"]  # a real Lightning checkpoint
    # trained on for more epochs, a new best replaces best.ckpt (where ssgen-generate and ssgen.load look) instead
    # of landing in best-v1.ckpt beside it; the finished version the first scores belong to is kept beside them
    # (issue 39's weight versions)
    longer = train(make_cfg("method=dcgan", "arch=dcgan", *TINY["dcgan"], "data.n_labels=all",
                            f"method.callbacks.quality.evaluator={evaluator}", "method.callbacks.quality.n_samples=100",
                            "method.callbacks.quality.final_n_samples=0", "trainer.max_epochs=3"))
    assert longer["status"] == "ok" and longer["epochs"] == 3
    kept = [path.name for path in best.parent.glob("*.ckpt") if not path.name.startswith("finished_step")]
    assert sorted(kept) == ["best.ckpt", "last.ckpt"]
    fids = [entry["fid"] for entry in longer["metrics_history"]]
    assert torch.load(best, map_location="cpu", weights_only=True)["epoch"] == fids.index(min(fids))


def test_final_report_reads_data_root_without_the_debian_package(make_cfg, tmp_path, monkeypatch):
    """A machine without /usr/share/datasets/fashion-mnist, offline: everything must come from data.root."""
    import torchvision

    from ssgen import data
    from ssgen.data import DATA_ENV, write_idx

    def offline(*args, **kwargs):
        raise RuntimeError("offline")

    monkeypatch.setattr(data.FASHION_MNIST, "system_dir", tmp_path / "no-debian-here")
    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    monkeypatch.setenv(DATA_ENV, "")  # recorded, so the value train() sets is undone after the test
    monkeypatch.delenv(DATA_ENV)
    root = tmp_path / "fashion"
    root.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 200), ("t10k", 50)):
        write_idx(root / f"{split}-images-idx3-ubyte", rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8))
        write_idx(root / f"{split}-labels-idx1-ubyte", np.arange(n) % 10)
    cfg = make_cfg("method=dcgan", "arch=dcgan", *TINY["dcgan"], "data.n_labels=all", f"data.root={root}",
                   "data.allow_unknown=true",  # noise under Fashion-MNIST's names
                   f"method.callbacks.quality.evaluator={untrained_evaluator(tmp_path / 'evaluator.safetensors')}",
                   "method.callbacks.quality.n_samples=20", "method.callbacks.quality.final_n_samples=20")
    results = train(cfg)
    assert results["status"] == "ok", results["status"]
    assert results["metrics_n_reference"] == 50  # the final report scored against data.root's test images
    assert "fid" in results and "fid_floor" in results
    assert os.environ[DATA_ENV] == str(root.resolve())  # for loads that never see cfg.data


# ------------------------------------------------------------------------------------------------ failed convergence
def test_non_finite_loss_fails_the_run_and_the_restart_counts_it(make_cfg, tmp_path, monkeypatch):
    attempts = []

    def poison_first_attempt(self: ConditionalGAN) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            with torch.no_grad():
                for parameter in self.generator.parameters():
                    parameter.fill_(float("nan"))

    monkeypatch.setattr(ConditionalGAN, "on_train_start", poison_first_attempt, raising=False)
    cfg = make_cfg("method=dcgan", "arch=dcgan", *TINY["dcgan"], *NO_METRICS, "restarts=1")
    results = train(cfg)
    assert len(attempts) == 2
    assert results["failed_runs"] == 1 and results["status"] == "ok" and results["trained_seed"] == cfg.seed + 1
    assert "diverged: non-finite loss/critic" in results["failures"][0] and "at batch 1" in results["failures"][0]
    assert json.loads((tmp_path / "run" / "results.json").read_text())["failed_runs"] == 1


def _trainer(epoch: int = 0, metrics: dict | None = None, batch: int = 0) -> SimpleNamespace:
    return SimpleNamespace(current_epoch=epoch, callback_metrics=metrics or {},
                           fit_loop=SimpleNamespace(total_batch_idx=batch))


def test_exploding_critic_loss_fires_after_k_consecutive_checks():
    callback = FailedConvergence(max_abs_critic_loss=100.0, explode_patience=3)
    big, small = {"loss/critic": torch.tensor(-500.0)}, {"loss/critic": torch.tensor(1.0)}
    for outputs in (big, big, small, big, big):  # a healthy check resets the count
        callback.on_train_batch_end(_trainer(), None, outputs, None, 0)
    with pytest.raises(TrainingFailed, match=r"diverged: \|loss/critic\| above 100 for 3 consecutive checks"):
        callback.on_train_batch_end(_trainer(batch=41), None, big, None, 0)


def test_non_finite_generator_loss_fires():
    outputs = {"loss/critic": torch.tensor(0.3), "loss/generator": torch.tensor(float("inf"))}
    with pytest.raises(TrainingFailed, match="non-finite loss/generator .* at batch 8"):
        FailedConvergence().on_train_batch_end(_trainer(batch=7), None, outputs, None, 0)


def test_collapse_is_detected_from_the_generator_output():
    model = make_model(DCGAN)
    callback = FailedConvergence(collapse_std=0.005, collapse_min_batches=100, metric_key=None)
    with torch.no_grad():  # the output no longer depends on the noise: tanh(bias) everywhere
        model.generator.body[-2].weight.zero_()
    callback.on_train_epoch_end(_trainer(epoch=0, batch=50), model)  # too early to judge: not checked
    with pytest.raises(TrainingFailed, match="collapsed: .* std of 0.0000"):
        callback.on_train_epoch_end(_trainer(epoch=1, batch=99), model)
    assert float(FailedConvergence().sample_spread(make_model(DCGAN, generator="mlp")).mean()) > 0.1


def test_stuck_metric_fires_after_patience_epochs_only_while_the_generator_has_not_learned():
    callback = FailedConvergence(collapse_std=0, metric_key="metrics/fid", metric_patience=3, metric_fail_worse_than=50)
    for epoch, fid in enumerate([130.0, 80.0, 81.0, None, 80.0]):  # None: the metric was not computed
        callback.on_train_epoch_end(_trainer(epoch, {} if fid is None else {"metrics/fid": torch.tensor(fid)}), None)
    with pytest.raises(TrainingFailed, match=r"stuck: metrics/fid has not improved on 80 \(epoch 1\) for 3 epochs"
                                             r" \(now 95\) at epoch 5, and never got better than 50"):
        callback.on_train_epoch_end(_trainer(5, {"metrics/fid": torch.tensor(95.0)}), None)
    # a plateau at a good value is convergence (the 10-epoch DCGAN of issue 18: best 6.8 at epoch 5, then noise)
    converged = FailedConvergence(collapse_std=0, metric_key="metrics/fid", metric_patience=4, metric_fail_worse_than=50)
    for epoch, fid in enumerate([24.5, 17.1, 13.9, 9.0, 8.0, 6.8, 8.1, 9.7, 7.9, 10.5]):
        converged.on_train_epoch_end(_trainer(epoch, {"metrics/fid": torch.tensor(fid)}), None)
    assert converged.metric_stale_epochs == 4 and converged.metric_best == pytest.approx(6.8)
    with pytest.raises(TrainingFailed, match="metrics/fid is nan"):
        FailedConvergence(collapse_std=0).on_train_epoch_end(_trainer(0, {"metrics/fid": torch.tensor(float("nan"))}), None)


def test_divergence_losses_are_read_in_batches_and_judged_each_at_its_own_batch():
    """read_every_n_batches=3: nothing is read (no host sync) for two batches; the third read judges all three,
    and the non-finite loss of the second is reported at its own batch number. The epoch end reads what is left."""
    callback = FailedConvergence(read_every_n_batches=3)
    good, bad = {"loss/critic": torch.tensor(0.5)}, {"loss/critic": torch.tensor(0.5), "loss/generator": torch.tensor(float("nan"))}
    callback.on_train_batch_end(_trainer(batch=0), None, good, None, 0)
    callback.on_train_batch_end(_trainer(batch=1), None, bad, None, 1)  # not read yet: no error
    assert len(callback._pending) == 2
    with pytest.raises(TrainingFailed, match="non-finite loss/generator .* at batch 2$"):
        callback.on_train_batch_end(_trainer(batch=2), None, good, None, 2)
    assert not callback._pending
    late = FailedConvergence(read_every_n_batches=50, collapse_std=0, metric_key=None)
    late.on_train_batch_end(_trainer(batch=9), None, {"loss/critic": torch.tensor(float("inf"))}, None, 9)
    with pytest.raises(TrainingFailed, match="non-finite loss/critic .* at batch 10"):
        late.on_train_epoch_end(_trainer(batch=9), None)
