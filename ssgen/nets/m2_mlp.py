"""M2's networks (Kingma et al. 2014, sec. 3.1.2 and 4): softplus MLPs for q(y|x), q(z|x,y) and p(x|y,z).

    ssgen-train method=m2 arch=m2_mlp            # Bernoulli decoder on pixels
    ssgen-train method=m1_m2 arch=m1_m2_mlp ...  # Gaussian decoder on M1's latents

``input_dim`` / ``output_dim`` (the image's pixels, or M1's latent size) and ``n_classes`` are filled in by the
method, from its data set's ``ssgen.data.DatasetInfo``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ssgen.errors import ConfigError
from ssgen.losses import bernoulli_nll, gaussian_log_likelihood
from ssgen.nets.vae_mlp import softplus_mlp


class Classifier(nn.Module):
    """q(y | x): inputs ``(N, input_dim)`` -> class logits ``(N, n_classes)``; softplus MLP."""

    def __init__(self, hidden_dims: list[int] = (500,), *, input_dim: int, n_classes: int) -> None:
        super().__init__()
        self.body = softplus_mlp([input_dim, *hidden_dims])
        self.logits = nn.Linear(list(hidden_dims)[-1], n_classes)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.logits(self.body(inputs))


class ConditionalEncoder(nn.Module):
    """q(z | x, y): inputs ``(N, input_dim)`` and labels ``(N,)`` -> (mean, log_var), each ``(N, latent_dim)``.

    The first layer is Linear([x, onehot(y)]) written as W_x x + W_y[y], so ``forward_every_class``
    projects x once and adds each class's column: the unlabelled ELBO needs all K classes of every image
    and the 784 x 500 projection of x dominates the encoder's cost.
    """

    def __init__(self, hidden_dims: list[int] = (500,), latent_dim: int = 50, *, input_dim: int, n_classes: int) -> None:
        super().__init__()
        hidden_dims = list(hidden_dims)
        self.latent_dim, self.n_classes = latent_dim, n_classes
        self.input_layer = nn.Linear(input_dim, hidden_dims[0])
        self.label_layer = nn.Linear(n_classes, hidden_dims[0], bias=False)  # W_y; a one-hot row picks a column
        self.body = nn.Sequential(nn.Softplus(), *softplus_mlp(hidden_dims))
        self.mean = nn.Linear(hidden_dims[-1], latent_dim)
        self.log_var = nn.Linear(hidden_dims[-1], latent_dim)

    def _head(self, first_layer: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.body(first_layer)
        return self.mean(hidden), self.log_var(hidden)

    def forward(self, inputs: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._head(self.input_layer(inputs) + self.label_layer.weight.t()[labels])

    def forward_every_class(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log_var), each ``(K, N, latent_dim)``: q(z | x, y) for every class y of every input."""
        first = self.input_layer(inputs).unsqueeze(0) + self.label_layer.weight.t().unsqueeze(1)  # (K, N, H)
        return self._head(first)


class ConditionalDecoder(nn.Module):
    """p(x | y, z): latents ``(N, latent_dim)`` and labels ``(N,)`` -> parameters of the likelihood.

    ``likelihood='bernoulli'``: logits ``(N, output_dim)`` (pixels). ``likelihood='gaussian'``: mean and
    log-variance ``(N, output_dim)`` each (M1 latents); log_var is floored at ``min_log_var`` so an
    almost constant feature cannot drive the density to infinity.
    """

    def __init__(self, hidden_dims: list[int] = (500,), latent_dim: int = 50, likelihood: str = "bernoulli",
                 min_log_var: float = -6.0, *, output_dim: int, n_classes: int) -> None:
        super().__init__()
        if likelihood not in ("bernoulli", "gaussian"):
            raise ConfigError(f"decoder likelihood={likelihood!r} is unknown; use bernoulli (pixels) or gaussian (M1 latents)")
        self.likelihood, self.min_log_var, self.n_classes = likelihood, min_log_var, n_classes
        hidden_dims = list(hidden_dims)
        self.body = softplus_mlp([latent_dim + n_classes, *reversed(hidden_dims)])
        self.out = nn.Linear(hidden_dims[0], output_dim * (2 if likelihood == "gaussian" else 1))

    def forward(self, latents: torch.Tensor, labels: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        output = self.out(self.body(torch.cat([latents, F.one_hot(labels, self.n_classes).to(latents.dtype)], dim=1)))
        if self.likelihood == "bernoulli":
            return output
        mean, log_var = output.chunk(2, dim=1)
        return mean, log_var.clamp_min(self.min_log_var)

    def log_likelihood(self, latents: torch.Tensor, labels: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """log p(target | y, z) per sample: ``(N, latent_dim), (N,), (N, output_dim) -> (N,)``."""
        if self.likelihood == "bernoulli":
            return -bernoulli_nll(self(latents, labels), target)
        mean, log_var = self(latents, labels)
        return gaussian_log_likelihood(target, mean, log_var)

    def expected_output(self, latents: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """E[x | y, z] ``(N, output_dim)``: Bernoulli means in [0, 1], or the Gaussian mean."""
        output = self(latents, labels)
        return torch.sigmoid(output) if self.likelihood == "bernoulli" else output[0]
