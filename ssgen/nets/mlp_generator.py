"""Gulrajani et al. 2017, Table 1 row '4-layer 512-dim ReLU MLP G' (the official code's FCGenerator).

    ssgen-train experiment=gan method=wgan_gp arch=mlp_generator
"""

from __future__ import annotations

import math

import torch
from torch import nn


class MLPGenerator(nn.Module):
    """Gulrajani et al. 2017, Table 1 row '4-layer 512-dim ReLU MLP G' (the official code's FCGenerator):
    [noise, embed(label)] -> ``hidden_layers`` x (linear ``hidden_units``, ReLU) -> linear 784 -> tanh.

    No batch norm, as in the official code. Shapes: noise (N, latent_dim), labels (N,) -> (N, *image_shape),
    (N, 1, 28, 28) for the MNIST family; ``n_classes`` and ``image_shape`` come from the method's data set.
    """

    def __init__(self, latent_dim: int = 128, hidden_units: int = 512, hidden_layers: int = 4,
                 label_embedding_dim: int = 32, *, n_classes: int, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.latent_dim, self.image_shape = latent_dim, tuple(image_shape)
        self.label_embedding = nn.Embedding(n_classes, label_embedding_dim)
        sizes = [latent_dim + label_embedding_dim] + [hidden_units] * hidden_layers
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers, nn.Linear(sizes[-1], math.prod(image_shape)), nn.Tanh())
        # He initialisation keeps the activations' scale through the ReLU stack; PyTorch's default shrinks
        # it layer by layer, and a near-constant initial output looks like mode collapse to the detector.
        for module in self.body:
            if isinstance(module, nn.Linear):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([noise, self.label_embedding(labels)], dim=1)).view(-1, *self.image_shape)
