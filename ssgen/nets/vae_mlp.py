"""The M1 paper's MNIST networks: 784-600-600-50 softplus MLPs (Kingma et al. 2014, sec. 4)."""

from __future__ import annotations

import math

import torch
from torch import nn


def softplus_mlp(sizes: list[int]) -> nn.Sequential:
    """Linear + Softplus for each consecutive pair of ``sizes`` (the paper's hidden layers)."""
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(fan_in, fan_out), nn.Softplus()]
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """q(z | x): images ``(N, C, H, W)`` = ``image_shape`` (the data set's, from the method) in [0, 1] ->
    (mean, log_var), each ``(N, latent_dim)``."""

    def __init__(self, hidden_dims: list[int] = (600, 600), latent_dim: int = 50, *,
                 image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.body = softplus_mlp([math.prod(image_shape), *hidden_dims])
        self.mean = nn.Linear(hidden_dims[-1], latent_dim)
        self.log_var = nn.Linear(hidden_dims[-1], latent_dim)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.body(images.flatten(1))
        return self.mean(hidden), self.log_var(hidden)


class Decoder(nn.Module):
    """p(x | z): latents ``(N, latent_dim)`` -> Bernoulli logits ``(N, *image_shape)``."""

    def __init__(self, hidden_dims: list[int] = (600, 600), latent_dim: int = 50, *,
                 image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.body = softplus_mlp([latent_dim, *reversed(list(hidden_dims))])
        self.logits = nn.Linear(hidden_dims[0], math.prod(image_shape))

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.logits(self.body(latents)).view(-1, *self.image_shape)
