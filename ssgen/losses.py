"""Every objective in ssgen, as small pure functions. A reader finds any method's objective here.

    M1 (VAE):   gaussian_kl, bernoulli_nll, negative_elbo
    GANs:       discriminator_bce, generator_bce_nonsaturating, critic_wasserstein, generator_wasserstein,
                gradient_penalty, critic_hinge, generator_hinge
    M2, M1+M2:  gaussian_log_likelihood, labelled_elbo, unlabelled_elbo, classification_loss, m2_loss_terms

Shapes: images ``(N, C, H, W)``; critic outputs ``(N,)`` or ``(N, 1)``; latents ``(N, D)``; N = batch,
K = classes, D = latent units, P = observed dimensions.

Sign convention: every function returns a quantity to *minimise*, except three that are named for the
probabilities they are: ``gaussian_log_likelihood`` and M2's two bounds ``labelled_elbo`` and
``unlabelled_elbo`` (to *maximise*, as in the paper); ``m2_loss_terms`` turns them into M2's loss to minimise.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2.0 * math.pi)

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
    """WGAN-GP penalty E[(||grad_x f(x_hat)||_2 - 1)^2] on x_hat = eps * real + (1 - eps) * fake
    (Gulrajani et al. 2017, Algorithm 1).

    Returns the *unweighted* penalty, a scalar of at least float32: the caller multiplies by lambda exactly once.
    ``critic_args`` (e.g. the class labels) are passed unchanged to every critic call, so real and fake rows that
    are mixed share the same label, as they must for a conditional critic.

    Always computed in float32 (float64 inputs stay float64), autocast or not: the interpolation, the critic's
    forward on the interpolates, the input gradient and its norm, hence the double backward through them too. The
    bf16 check behind the GANs' bf16-mixed default was a DCGAN one, which has no double backward; measured on the
    default WGAN-GP critic (tools/gp_precision.py, docs/design/performance.md), bf16 moved the penalty by under 0.1% and
    its gradient in the critic's weights by under 1%: small, but nothing then bounds it as the critic trains, and
    float32 takes bf16 rounding out of the term the method is named for, whatever the precision. The critic's weights must be
    float32 (they are under every ``*-mixed`` precision).

    Shapes: real, fake ``(N, ...)`` of any float dtype; epsilon ``(N,)`` uniform in [0, 1] (drawn when None). The
    critic must return a float32 (or float64) score when autocast is off.
    """
    dtype = torch.promote_types(torch.promote_types(real.dtype, fake.dtype), torch.float32)  # float64 stays
    if epsilon is None:
        epsilon = torch.rand(real.shape[0], device=real.device, dtype=dtype)
    with torch.autocast(real.device.type, enabled=False):
        epsilon = epsilon.to(dtype).view(-1, *([1] * (real.dim() - 1)))
        interpolates = (epsilon * real.detach().to(dtype) + (1.0 - epsilon) * fake.detach().to(dtype)).requires_grad_(True)
        scores = critic(interpolates, *critic_args)
        (gradients,) = torch.autograd.grad(scores.sum(), interpolates, create_graph=True)
        return (gradients.flatten(1).norm(2, dim=1) - 1.0).pow(2).mean()


def critic_hinge(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Hinge critic loss E[max(0, 1 - f(x))] + E[max(0, 1 + f(G(z)))] (Lim & Ye 2017; Miyato et al. 2018)."""
    return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()


def generator_hinge(fake_scores: torch.Tensor) -> torch.Tensor:
    """Hinge generator loss -E[f(G(z))] (the generator side of the hinge GAN)."""
    return -fake_scores.mean()


# ---------------------------------------------------------------------------------------------- M2, M1+M2


def gaussian_log_likelihood(target: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """log N(target; mean, diag exp(log_var)) per sample: ``(N, P) x3 -> (N,)``."""
    return -0.5 * (LOG_2PI + log_var + (target - mean).pow(2) / log_var.exp()).sum(dim=1)


def labelled_elbo(log_likelihood: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor,
                  n_classes: int) -> torch.Tensor:
    """L(x, y) = E_q(z|x,y)[log p(x|y,z)] + log p(y) - KL(q(z|x,y) || p(z)), per sample.

    Shapes: log_likelihood ``(N,)`` (one reparameterised sample of z), mean and log_var of q(z|x,y)
    ``(N, D)`` -> ``(N,)``. p(y) is uniform over the data set's ``n_classes`` = K classes, so log p(y) = -log K;
    the KL to N(0, I) is analytic.
    """
    return log_likelihood - math.log(n_classes) - gaussian_kl(mean, log_var)


def unlabelled_elbo(class_logits: torch.Tensor, elbo_per_class: torch.Tensor) -> torch.Tensor:
    """U(x) = sum_y q(y|x) L(x, y) + H(q(y|x)), y summed out exactly (not sampled), per sample.

    Shapes: class_logits of q(y|x) ``(N, K)``, elbo_per_class ``(N, K)`` = L(x, y) for every y -> ``(N,)``.
    The gradient reaches the classifier through both the weights q(y|x) and the entropy: that is how
    unlabelled images train it.
    """
    log_probabilities = F.log_softmax(class_logits, dim=1)
    probabilities = log_probabilities.exp()
    entropy = -(probabilities * log_probabilities).sum(dim=1)
    return (probabilities * elbo_per_class).sum(dim=1) + entropy


def classification_loss(class_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """-log q(y|x) of the true labels, per sample: ``(N, K), (N,) -> (N,)``; labelled images only."""
    return F.cross_entropy(class_logits, labels, reduction="none")


def m2_loss_terms(labelled_elbos: torch.Tensor, unlabelled_elbos: torch.Tensor, labelled_logits: torch.Tensor,
                  labels: torch.Tensor, alpha: float) -> dict[str, torch.Tensor]:
    """The loss to minimise and its terms (batch means): ``(N_l,), (N_u,), (N_l, K), (N_l,)`` -> scalars.

    An empty labelled batch (``N_l = 0``) contributes exactly 0 to the labelled and the classification
    terms (a mean over nothing would be NaN), so a batch without labels never trains the classifier
    through the alpha term.
    """
    zero = unlabelled_elbos.new_zeros(())
    labelled = labelled_elbos.mean() if labelled_elbos.numel() else zero
    unlabelled = unlabelled_elbos.mean() if unlabelled_elbos.numel() else zero
    classification = classification_loss(labelled_logits, labels).mean() if labels.numel() else zero
    loss = -labelled - unlabelled + alpha * classification
    return {"loss": loss, "labelled_elbo": labelled, "unlabelled_elbo": unlabelled, "classification": classification}
