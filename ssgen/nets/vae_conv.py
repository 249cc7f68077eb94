"""A convolutional VAE for M1, an extra `arch` beside the paper's MLP (issue 3 invites one).

    ssgen-train method=m1 arch=vae_conv trainer.max_epochs=15

Same interface as ``ssgen.nets.vae_mlp``: the encoder maps images ``(N, C, H, W)`` (the data set's
``image_shape``, 1x28x28 for the MNIST family; H and W multiples of 4) in [0, 1] to (mean, log_var)
``(N, latent_dim)``, the decoder maps latents back to Bernoulli logits of that shape,
so M1VAE, the SVM head, ssgen-predict and M1+M2 take either network unchanged. Why convolutions: the
MLP must learn every translated copy of an edge separately; shared 4x4 filters give the latent space
local shape features (collars, sleeves, heels) that separate Fashion-MNIST's look-alike classes.
"""

from __future__ import annotations

import torch
from torch import nn

from ssgen.nets import quarter_size


class ConvEncoder(nn.Module):
    """q(z | x): ``(N, 1, 28, 28)`` -> conv 28->14->7 -> dense -> (mean, log_var), each ``(N, latent_dim)``
    (for another ``image_shape`` (C, H, W): C channels in, H/4 x W/4 after the convolutions)."""

    def __init__(self, channels: tuple[int, int] = (32, 64), hidden_dim: int = 256, latent_dim: int = 50, *,
                 image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.latent_dim, self.image_shape = latent_dim, tuple(image_shape)
        first, second = channels
        height, width = quarter_size(image_shape, "ConvEncoder")
        self.body = nn.Sequential(
            nn.Conv2d(image_shape[0], first, 4, stride=2, padding=1), nn.Softplus(),   # (N, first, 14, 14)
            nn.Conv2d(first, second, 4, stride=2, padding=1), nn.Softplus(),          # (N, second, 7, 7)
            nn.Flatten(),
            nn.Linear(second * height * width, hidden_dim), nn.Softplus(),
        )
        self.mean = nn.Linear(hidden_dim, latent_dim)
        self.log_var = nn.Linear(hidden_dim, latent_dim)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.body(images.view(-1, *self.image_shape))
        return self.mean(hidden), self.log_var(hidden)


class ConvDecoder(nn.Module):
    """p(x | z): ``(N, latent_dim)`` -> dense -> transposed conv 7->14->28 -> logits ``(N, 1, 28, 28)``."""

    def __init__(self, channels: tuple[int, int] = (32, 64), hidden_dim: int = 256, latent_dim: int = 50, *,
                 image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        first, second = channels
        height, width = quarter_size(image_shape, "ConvDecoder")
        self.body = nn.Sequential(
            nn.Linear(latent_dim, hidden_dim), nn.Softplus(),
            nn.Linear(hidden_dim, second * height * width), nn.Softplus(),
            nn.Unflatten(1, (second, height, width)),
            nn.ConvTranspose2d(second, first, 4, stride=2, padding=1), nn.Softplus(),  # (N, first, 14, 14)
            nn.ConvTranspose2d(first, image_shape[0], 4, stride=2, padding=1),         # (N, 1, 28, 28) logits
        )

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.body(latents)
