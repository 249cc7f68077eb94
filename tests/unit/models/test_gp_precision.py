"""WGAN-GP's gradient penalty is float32 under bf16-mixed: the same value as a float32 computation on the same
weights, batch and interpolation coefficients (ssgen.losses.gradient_penalty; the measurement: docs/design/performance.md)."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

import ssgen.models.gan
from ssgen.losses import gradient_penalty
from ssgen.models.gan import WGANGP

ARCH = {"name": "tiny", "family": "gan",
        "networks": {"generator": {"_target_": "ssgen.nets.dcgan.DCGANGenerator", "width": 8},
                     "critic": {"_target_": "ssgen.nets.dcgan.DCGANCritic", "width": 8}}}


def test_under_bf16_autocast_the_penalty_is_the_float32_one():
    torch.manual_seed(0)
    model = WGANGP(arch=ARCH, latent_dim=16, critic_norm="layer")
    real, labels = torch.rand(8, 1, 28, 28) * 2 - 1, torch.arange(8) % 10
    epsilon = torch.rand(8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fake = model.generator(torch.randn(8, 16), labels)
        assert fake.dtype == torch.bfloat16  # what reaches the penalty in a bf16-mixed run
        penalty = gradient_penalty(model.critic, real, fake, labels, epsilon=epsilon)
    reference = gradient_penalty(model.critic, real, fake.float(), labels, epsilon=epsilon)
    assert penalty.dtype == torch.float32
    assert torch.equal(penalty, reference)
    # and so is its gradient in the critic's weights, which is what the optimiser sees
    parameters = list(model.critic.parameters())  # the last bias does not move an input gradient: unused
    for ours, theirs in zip(torch.autograd.grad(penalty, parameters, allow_unused=True),
                            torch.autograd.grad(reference, parameters, allow_unused=True), strict=True):
        assert (ours is None and theirs is None) or (ours.dtype == torch.float32 and torch.equal(ours, theirs))


def test_float64_inputs_stay_float64():
    critic = torch.nn.Linear(4, 1).double()
    penalty = gradient_penalty(critic, torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64))
    assert penalty.dtype == torch.float64


def test_a_bf16_mixed_trainer_computes_the_float32_penalty(monkeypatch):
    """Under ``trainer.precision=bf16-mixed`` (Lightning's autocast around the step), each penalty WGANGP computes
    equals one recomputed in float32 without autocast from the same weights, batch and random draws."""
    seen = []

    def recording(critic, real, fake, *args, **kwargs):
        state = torch.get_rng_state()
        penalty = gradient_penalty(critic, real, fake, *args, **kwargs)
        after = torch.get_rng_state()
        autocast = torch.is_autocast_enabled("cpu")
        torch.set_rng_state(state)  # the same interpolation coefficients
        with torch.autocast("cpu", enabled=False):
            reference = gradient_penalty(critic, real.float(), fake.float(), *args, **kwargs)
        torch.set_rng_state(after)
        seen.append((autocast, fake.dtype, penalty.detach(), reference.detach()))
        return penalty

    monkeypatch.setattr(ssgen.models.gan, "gradient_penalty", recording)
    torch.manual_seed(0)
    model = WGANGP(arch=ARCH, latent_dim=16, critic_norm="layer", n_critic=1)
    loader = DataLoader(TensorDataset(torch.rand(16, 1, 28, 28) * 2 - 1, torch.arange(16) % 10), batch_size=8)
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", devices=1, precision="bf16-mixed", logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, train_dataloaders=loader)
    assert len(seen) == 2
    for autocast, fake_dtype, penalty, reference in seen:
        assert autocast and fake_dtype == torch.bfloat16, "the step did not run under bf16 autocast"
        assert penalty.dtype == torch.float32 and torch.equal(penalty, reference)
