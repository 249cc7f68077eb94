# ssgen/nets/mlp_critic.py
"""An MLP critic for 28x28 images with a projection on the label (Miyato & Koyama 2018).

    ssgen-train method=wgan_gp arch=mlp_gan
"""

from __future__ import annotations

import torch
from torch import nn

from ssgen.data import N_CLASSES


class MLPCritic(nn.Module):
    """(images (N, 1, 28, 28), labels (N,)) -> scores (N,): hidden_layers x (linear, LeakyReLU 0.2), no norm."""

    def __init__(self, n_classes: int = N_CLASSES, hidden_units: int = 256, hidden_layers: int = 2,
                 norm: str = "none") -> None:
        super().__init__()
        if norm not in ("none", "layer"):
            raise ValueError(f"MLPCritic norm {norm!r} is unknown; use none or layer")
        sizes = [28 * 28] + [hidden_units] * hidden_layers
        layers: list[nn.Module] = [nn.Flatten()]
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(fan_in, fan_out), nn.LayerNorm(fan_out) if norm == "layer" else nn.Identity(),
                       nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.score = nn.Linear(hidden_units, 1)
        self.class_embedding = nn.Embedding(n_classes, hidden_units)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        hidden = self.features(images)
        return self.score(hidden).squeeze(1) + (self.class_embedding(labels) * hidden).sum(dim=1)
