# ssgen/models/hinge_gan.py
"""Class-conditional GAN with the hinge loss (Lim & Ye 2017; the loss of SNGAN and BigGAN).

    ssgen-train method=hinge_gan experiment=gan
"""

from __future__ import annotations

import torch

from ssgen.losses import critic_hinge, generator_hinge
from ssgen.models.gan import ConditionalGAN


class HingeGAN(ConditionalGAN):
    """ConditionalGAN's loop with the hinge critic and generator losses; Adam as DCGAN's."""

    def critic_loss(self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor, real_scores: torch.Tensor,
                    fake_scores: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return critic_hinge(real_scores, fake_scores), {}

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return generator_hinge(fake_scores)
