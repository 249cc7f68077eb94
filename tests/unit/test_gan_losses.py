"""GAN losses (ssgen.losses) on inputs whose answers are known by hand.

    python -m pytest tests/unit/test_gan_losses.py -q -p no:cacheprovider
"""

from __future__ import annotations

import math

import pytest
import torch

from ssgen.losses import (
    critic_wasserstein,
    discriminator_bce,
    generator_bce_nonsaturating,
    generator_wasserstein,
    gradient_penalty,
)


def test_bce_losses_at_zero_logits_are_log_two():
    zeros = torch.zeros(5)
    # D(x) = sigmoid(0) = 1/2: -log 1/2 on the real term and -log(1 - 1/2) on the fake term
    assert discriminator_bce(zeros, zeros).item() == pytest.approx(2 * math.log(2))
    assert generator_bce_nonsaturating(zeros).item() == pytest.approx(math.log(2))


def test_bce_losses_on_confident_logits():
    real, fake = torch.tensor([2.0, 3.0]), torch.tensor([-1.0, 0.5])
    expected = (-torch.log(torch.sigmoid(real)).mean() - torch.log(1 - torch.sigmoid(fake)).mean()).item()
    assert discriminator_bce(real, fake).item() == pytest.approx(expected, rel=1e-6)
    assert discriminator_bce(torch.full((4,), 30.0), torch.full((4,), -30.0)).item() < 1e-10  # a perfect discriminator
    # non-saturating: the generator's loss is large exactly when the discriminator rejects its samples
    assert generator_bce_nonsaturating(torch.tensor([-1.0, 0.5])).item() == pytest.approx(
        -torch.log(torch.sigmoid(torch.tensor([-1.0, 0.5]))).mean().item(), rel=1e-6)


def test_wasserstein_losses():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 2.0])
    assert critic_wasserstein(real, fake).item() == pytest.approx(-1.0)  # E f(G(z)) - E f(x) = 1 - 2
    assert generator_wasserstein(fake).item() == pytest.approx(-1.0)
    assert critic_wasserstein(real.view(2, 1), fake.view(2, 1)).item() == pytest.approx(-1.0)  # (N, 1) scores too


def _linear_critic(weights: torch.Tensor):
    """f(x, y) = <w_y, x>: its input gradient is w_y, so the penalty is known in closed form."""

    def critic(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return (images.flatten(1) * weights[labels]).sum(dim=1)

    return critic


def test_gradient_penalty_of_a_linear_critic_is_norm_minus_one_squared():
    weight = torch.zeros(1, 4)
    weight[0, :2] = torch.tensor([3.0, 4.0])  # ||w|| = 5
    real, fake = torch.randn(6, 1, 2, 2), torch.randn(6, 1, 2, 2)
    labels = torch.zeros(6, dtype=torch.long)
    penalty = gradient_penalty(_linear_critic(weight), real, fake, labels)
    assert penalty.item() == pytest.approx((5.0 - 1.0) ** 2)  # unweighted: no lambda inside
    # a 1-Lipschitz linear critic pays nothing, wherever the interpolates fall
    unit = torch.tensor([[0.6, 0.8, 0.0, 0.0]])
    assert gradient_penalty(_linear_critic(unit), real, fake, labels, epsilon=torch.rand(6)).item() == pytest.approx(0.0, abs=1e-10)


def test_gradient_penalty_keeps_each_rows_label():
    # class 0 has ||w|| = 2, class 1 has ||w|| = 3: the mean penalty depends on which label each interpolate gets
    weights = torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.0, 3.0, 0.0, 0.0]])
    labels = torch.tensor([0, 1, 1, 1])
    real, fake = torch.randn(4, 1, 2, 2), torch.randn(4, 1, 2, 2)
    seen = []

    def critic(images: torch.Tensor, call_labels: torch.Tensor) -> torch.Tensor:
        seen.append(call_labels)
        return _linear_critic(weights)(images, call_labels)

    penalty = gradient_penalty(critic, real, fake, labels)
    assert penalty.item() == pytest.approx(((2 - 1) ** 2 + 3 * (3 - 1) ** 2) / 4)
    assert len(seen) == 1 and torch.equal(seen[0], labels)


def test_gradient_penalty_is_differentiable_in_the_critic_weights():
    weight = torch.tensor([[3.0, 4.0, 0.0, 0.0]], requires_grad=True)
    penalty = gradient_penalty(_linear_critic(weight), torch.randn(3, 1, 2, 2), torch.randn(3, 1, 2, 2),
                               torch.zeros(3, dtype=torch.long))
    penalty.backward()
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = 2 * 4 * w / 5
    assert torch.allclose(weight.grad, 1.6 * weight.detach())
