"""The benchmark's plain PyTorch arm runs the modules' own per-batch math: one step of it and one Lightning step of
the module, from the same weights, batch and random draws, give the same losses and the same updated weights.

M1 with free bits and a KL weight (``M1VAE.loss_terms``), and each GAN method with the generator's EMA on and a
generator step in the same batch (``ConditionalGAN.update``: the schedule, the losses, the clipping, the EMA).
"""

from __future__ import annotations

import hydra
import lightning as L
import pytest
import torch
from conftest import compose_config
from torch.utils.data import DataLoader, TensorDataset

from benchmarks.arms import PlainArm
from ssgen.run.build import build_model

SEED = 1234  # reseeded right before each arm's step: binarisation, reparameterisation, noise and epsilon
TINY_M1 = ["method=m1", "arch=vae_mlp", "method.callbacks.svm_head=null", "arch.networks.encoder.hidden_dims=[32]",
           "arch.networks.decoder.hidden_dims=[32]", "arch.networks.encoder.latent_dim=4",
           "method.free_bits=0.5", "method.kl_weight=0.7"]
TINY_GAN = ["data.n_labels=all", "method.callbacks.quality=null", "method.callbacks.best_checkpoint=null",
            "arch=dcgan", "arch.networks.generator.width=8", "arch.networks.critic.width=8", "method.latent_dim=16",
            "method.n_critic=1", "method.ema_decay=0.9"]


class Reseed(L.Callback):
    """Reseeds the global RNG just before the training step and keeps what the step returned."""

    def __init__(self) -> None:
        self.outputs: object = None

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: object,
                             batch_idx: int) -> None:
        torch.manual_seed(SEED)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: object, batch: object,
                           batch_idx: int) -> None:
        self.outputs = outputs


def lightning_step(cfg, initial: dict, images: torch.Tensor, labels: torch.Tensor | None) -> tuple[object, dict]:
    """One training batch of the module under a Trainer with the config's precision; (its outputs, its state)."""
    model = build_model(cfg)
    model.load_state_dict(initial)
    dataset = TensorDataset(images) if labels is None else TensorDataset(images, labels)
    collate = (lambda rows: (torch.stack([row[0] for row in rows]), None)) if labels is None else None
    loader = DataLoader(dataset, batch_size=len(images), collate_fn=collate)
    reseed = Reseed()
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", devices=1, precision=cfg.trainer.precision, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[reseed])
    trainer.fit(model, train_dataloaders=loader)
    return reseed.outputs, model.state_dict()


def plain_step(cfg, initial: dict, images: torch.Tensor, labels: torch.Tensor | None) -> tuple[object, dict]:
    arm = PlainArm(cfg, hydra.utils.instantiate(cfg.data), torch.device("cpu"))
    arm.module.load_state_dict(initial)  # in place: the arm's optimizers keep pointing at these parameters
    torch.manual_seed(SEED)
    outputs = arm.step(images, labels)
    return outputs, arm.module.state_dict()


def assert_same_state(ours: dict, plain: dict) -> None:
    assert ours.keys() == plain.keys()
    differing = [name for name in ours if not torch.equal(ours[name], plain[name])]
    assert not differing, f"the arms' weights differ after one step: {differing}"


def test_one_m1_step_with_free_bits_is_the_same_in_both_arms(tmp_path):
    cfg = compose_config([*TINY_M1, "trainer.precision=32-true", f"run_dir={tmp_path}"])
    initial = {name: tensor.clone() for name, tensor in build_model(cfg).state_dict().items()}
    images = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    ours, ours_state = lightning_step(cfg, initial, images, None)
    plain, plain_state = plain_step(cfg, initial, images, None)
    assert torch.equal(ours["loss"], plain)
    assert any(not torch.equal(initial[name], ours_state[name]) for name in initial), "the step changed nothing"
    assert_same_state(ours_state, plain_state)


def test_free_bits_changes_the_plain_arms_loss(tmp_path):
    """The twin is not vacuous: the plain arm's loss moves with free_bits, as the module's does."""
    images = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    losses = []
    for free_bits in (0.0, 2.0):
        cfg = compose_config([*TINY_M1, f"method.free_bits={free_bits}", f"run_dir={tmp_path}"])
        torch.manual_seed(0)
        initial = build_model(cfg).state_dict()
        losses.append(plain_step(cfg, initial, images, None)[0])
    assert losses[1] > losses[0]


@pytest.mark.parametrize("method, precision", [("dcgan", "32-true"), ("wgan_clip", "32-true"),
                                               ("wgan_gp", "32-true"), ("wgan_gp", "bf16-mixed")])
def test_one_gan_step_with_ema_is_the_same_in_both_arms(tmp_path, method, precision):
    cfg = compose_config([f"method={method}", *TINY_GAN, f"trainer.precision={precision}", f"run_dir={tmp_path}"])
    initial = {name: tensor.clone() for name, tensor in build_model(cfg).state_dict().items()}
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(8, 1, 28, 28, generator=generator) * 2 - 1
    labels = torch.randint(0, 10, (8,), generator=generator)
    ours, ours_state = lightning_step(cfg, initial, images, labels)
    plain, plain_state = plain_step(cfg, initial, images, labels)
    assert {"loss/critic", "loss/generator"} <= ours.keys() and ours.keys() == plain.keys()
    for key in ours:
        assert torch.equal(ours[key], plain[key]), key
    ema = [name for name in initial if name.startswith("generator_ema.")]
    assert ema and any(not torch.equal(initial[name], plain_state[name]) for name in ema), "the EMA did not move"
    assert_same_state(ours_state, plain_state)
