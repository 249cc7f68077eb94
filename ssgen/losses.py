"""Every loss in ssgen, as small pure functions. A reader finds any method's objective here.

Shapes: images ``(N, C, H, W)``; critic outputs ``(N,)`` or ``(N, 1)``; latents ``(N, D)``.
Sign convention: every function returns a quantity to *minimise*.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------- VAE (M1)


def gaussian_kl(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(log_var)) || N(0, I)) per sample: ``(N, D) -> (N,)``."""
    return 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var).sum(dim=1)


def bernoulli_nll(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-log p(x | z) for a Bernoulli decoder, per sample: ``(N, ...) -> (N,)``; target in [0, 1]."""
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).sum(dim=1)


def negative_elbo(logits: torch.Tensor, target: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor,
                  kl_weight: float = 1.0, free_bits: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batch means of (reconstruction + kl_weight * KL', reconstruction, KL). kl_weight=1, free_bits=0 is the -ELBO.

    ``free_bits`` (Kingma et al. 2016, "Improved variational inference with inverse autoregressive flow"):
    KL' floors each latent unit's batch-mean KL at ``free_bits`` nats, so the optimiser gains nothing by
    pushing a unit below it: a cure for posterior collapse. The returned KL is always the true one.
    """
    reconstruction = bernoulli_nll(logits, target).mean()
    kl_per_unit = (0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var)).mean(dim=0)  # (D,)
    kl = kl_per_unit.sum()
    penalised = kl_per_unit.clamp_min(free_bits).sum() if free_bits > 0 else kl
    return reconstruction + kl_weight * penalised, reconstruction, kl


# ---------------------------------------------------------------------------------------------- GANs


def discriminator_bce(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """DCGAN discriminator loss: -log D(x) - log(1 - D(G(z))), from logits."""
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def generator_bce_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: -log D(G(z)) (Goodfellow et al. 2014, sec. 3)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def critic_wasserstein(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """WGAN critic loss E[f(G(z))] - E[f(x)]; its negative is the Wasserstein-1 estimate."""
    return fake_scores.mean() - real_scores.mean()


def generator_wasserstein(fake_scores: torch.Tensor) -> torch.Tensor:
    """WGAN generator loss -E[f(G(z))]."""
    return -fake_scores.mean()


def gradient_penalty(critic: Callable[..., torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     *critic_args: torch.Tensor, epsilon: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP penalty E[(||grad_x f(x_hat)||_2 - 1)^2] on x_hat = eps * real + (1 - eps) * fake.

    Returns the *unweighted* penalty: the caller multiplies by lambda exactly once. ``critic_args``
    (e.g. the class labels) are passed unchanged to every critic call, so real and fake rows that
    are mixed share the same label, as they must for a conditional critic.

    Shapes: real, fake ``(N, ...)``; epsilon ``(N,)`` uniform in [0, 1] (drawn when None).
    """
    if epsilon is None:
        epsilon = torch.rand(real.shape[0], device=real.device, dtype=real.dtype)
    epsilon = epsilon.view(-1, *([1] * (real.dim() - 1)))
    interpolates = (epsilon * real.detach() + (1.0 - epsilon) * fake.detach()).requires_grad_(True)
    scores = critic(interpolates, *critic_args)
    (gradients,) = torch.autograd.grad(scores.sum(), interpolates, create_graph=True)
    return (gradients.flatten(1).norm(2, dim=1) - 1.0).pow(2).mean()
