"""Architectures A and B of the GAN study, adapted to 28x28x1 and class labels.

    ssgen-train experiment=gan method=wgan_gp arch=dcgan             # A: Gulrajani et al. 2017's DCGAN baseline
    ssgen-train experiment=gan method=wgan_gp arch=dcgan_softplus    # B: A without normalisation, softplus(2x+2)/2

Arch B is the same two networks built with ``norm='none'`` and ``activation='softplus'`` (``SoftplusActivation``).

``DCGANGenerator``: (noise (N, latent_dim), labels (N,)) -> images (N, 1, 28, 28) in [-1, 1].
``DCGANCritic``: (images (N, 1, 28, 28), labels (N,)) -> raw scores (N,); a projection discriminator
(Miyato & Koyama 2018) by default. The method supplies ``latent_dim``, ``n_classes``, ``image_shape`` (its data
set's: ``ssgen.data.DatasetInfo``; H and W multiples of 4) and the critic's ``norm``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ssgen.nets import quarter_size


def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation (Radford et al. 2016, sec. 4): weights N(0, 0.02), norm scales N(1, 0.02)."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d | nn.GroupNorm):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class SoftplusActivation(nn.Module):
    """Architecture B's nonlinearity, exactly the write-up's ``softplus(2x + 2) / 2``, elementwise, any shape.

    A smooth max(x + 1, 0): slope 1 for large x, 0 for very negative x, value softplus(2) / 2 = 1.063 at 0.
    No shift is applied. Gulrajani et al. 2017 (appendix, random-architecture study) use
    ``softplus(2x + 2) / 2 - 1``, a smooth ELU with asymptote -1; the write-up's arch B names the formula
    without the -1 and this is what it specifies. The two differ by a constant +1 on every activation, and
    every layer that reads one (convolution, transposed convolution, linear head; biases are on in arch B
    since there is no normalisation to cancel them) has a bias that can absorb it exactly, so both span the
    same functions; they differ only at initialisation and in the critic's projection term
    <embed(y), h> (which gains a learnable per-class constant). Smooth everywhere, so the gradient
    penalty's second derivatives exist (the reason Gulrajani et al. chose it over ELU).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.softplus(2.0 * x + 2.0) / 2.0


ACTIVATIONS = ("relu", "leaky_relu", "softplus")


def make_activation(name: str) -> nn.Module:
    """'relu' (arch A's generator), 'leaky_relu' (slope 0.2, arch A's critic) or 'softplus' (arch B:
    ``SoftplusActivation``). Raises ValueError for another name."""
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2, inplace=True)
    if name == "softplus":
        return SoftplusActivation()
    raise ValueError(f"activation {name!r} is unknown; use one of {', '.join(ACTIVATIONS)}")


CRITIC_NORMS = ("batch", "layer", "spectral", "none")


def critic_norm(kind: str, channels: int) -> nn.Module:
    """The activation normalisation inside the critic. 'layer' is GroupNorm with one group: each sample
    normalised over (C, H, W) on its own, as WGAN-GP needs (batch norm couples the samples the penalty treats
    separately). 'spectral' normalises weights instead (``spectral_normalize``), so here it is the identity.
    Raises ValueError for a kind not in ``CRITIC_NORMS``."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind in ("spectral", "none"):
        return nn.Identity()
    raise ValueError(f"critic norm {kind!r} is unknown; use {', '.join(CRITIC_NORMS)}")


def spectral_normalize(critic: nn.Module) -> None:
    """Divide every weight of ``critic`` (convolutions, linear layers, embeddings) by its largest singular
    value, estimated by one power iteration a training-mode forward pass (Miyato et al. 2018, "Spectral
    normalization for GANs"; with the projection discriminator as in Miyato & Koyama 2018, the embedding
    included), through ``torch.nn.utils.parametrizations.spectral_norm``. A convolution's weight is normalised
    as the (out, in x k x k) matrix, Miyato et al.'s approximation: the convolution itself can still scale
    its input by more than 1 (about 2 in arch A's trained critic). Layers already normalised are left as they
    are, so calling it twice changes nothing."""
    for module in list(critic.modules()):
        if isinstance(module, nn.Conv2d | nn.Linear | nn.Embedding) and not nn.utils.parametrize.is_parametrized(module, "weight"):
            nn.utils.parametrizations.spectral_norm(module)


class DCGANGenerator(nn.Module):
    """DCGAN generator for 28x28: (noise (N, latent_dim), labels (N,)) -> images (N, 1, 28, 28) in [-1, 1].

    [noise, embed(label)] -> linear -> (2w, 7, 7) -> convT -> (w, 14, 14) -> convT -> (1, 28, 28) -> tanh,
    norm + activation after every layer but the last, w = ``width``. Arch A: ``norm='batch'``,
    ``activation='relu'`` (the DCGAN recipe); arch B: ``norm='none'``, ``activation='softplus'``.
    Without batch norm the layers before it get their biases back. Raises ValueError for an unknown
    norm ('batch' | 'none') or activation (``ACTIVATIONS``).
    """

    def __init__(self, latent_dim: int = 128, width: int = 64, label_embedding_dim: int = 32, norm: str = "batch",
                 activation: str = "relu", *, n_classes: int, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        if norm not in ("batch", "none"):
            raise ValueError(f"generator norm {norm!r} is unknown; use batch or none")
        self.latent_dim, self.width = latent_dim, width
        self.start = quarter_size(image_shape, "DCGANGenerator")  # (7, 7) for 28x28
        self.label_embedding = nn.Embedding(n_classes, label_embedding_dim)
        bias = norm == "none"  # a bias before batch norm is cancelled by its mean subtraction

        def norm_layer(channels: int) -> nn.Module:
            return nn.BatchNorm2d(channels) if norm == "batch" else nn.Identity()

        self.project = nn.Linear(latent_dim + label_embedding_dim, 2 * width * self.start[0] * self.start[1], bias=bias)
        # the same indices for every norm/activation, so arch A's state_dict keys (body.0, body.2, ...) never change
        self.body = nn.Sequential(
            norm_layer(2 * width), make_activation(activation),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=bias),  # 7 -> 14
            norm_layer(width), make_activation(activation),
            nn.ConvTranspose2d(width, image_shape[0], 4, stride=2, padding=1),  # 14 -> 28
            nn.Tanh(),
        )
        self.apply(dcgan_init)

    def forward(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        hidden = self.project(torch.cat([noise, self.label_embedding(labels)], dim=1))
        return self.body(hidden.view(-1, 2 * self.width, *self.start))


class DCGANCritic(nn.Module):
    """DCGAN critic / discriminator for 28x28: (images (N, 1, 28, 28), labels (N,)) -> raw scores (N,).

    conv (w) 28 -> 14, activation; conv (2w) 14 -> 7, norm, activation; linear -> 1 (no sigmoid: DCGAN's
    loss takes logits, the WGAN critic's output is unbounded). No norm on the first layer (DCGAN recipe).
    ``conditioning``: 'projection' adds <embed(label), h> to the score; 'input' concatenates one-hot
    label planes to the image. ``activation``: 'leaky_relu' (arch A) or 'softplus' (arch B), see
    ``make_activation``. ``norm`` (``CRITIC_NORMS``) comes from the method (``method.critic_norm``) unless the
    arch YAML fixes it (arch B: 'none'); 'spectral' spectrally normalises every weight (``spectral_normalize``).
    """

    def __init__(self, width: int = 64, norm: str = "batch", conditioning: str = "projection",
                 activation: str = "leaky_relu", *, n_classes: int, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        if conditioning not in ("projection", "input"):
            raise ValueError(f"critic conditioning {conditioning!r} is unknown; use projection or input")
        self.n_classes, self.conditioning = n_classes, conditioning
        in_channels = image_shape[0] + (n_classes if conditioning == "input" else 0)
        height, width_after = quarter_size(image_shape, "DCGANCritic")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 4, stride=2, padding=1),  # 28 -> 14
            make_activation(activation),
            # a bias before batch / layer norm is cancelled by its mean subtraction
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=norm in ("spectral", "none")),  # 14 -> 7
            critic_norm(norm, 2 * width),
            make_activation(activation),
            nn.Flatten(),
        )
        feature_dim = 2 * width * height * width_after
        self.score = nn.Linear(feature_dim, 1)
        self.apply(dcgan_init)
        if conditioning == "projection":
            self.class_embedding = nn.Embedding(n_classes, feature_dim)
            # same scale as the linear head's weights, so neither term dominates the score at the start
            nn.init.normal_(self.class_embedding.weight, 0.0, 0.02)
        if norm == "spectral":
            spectral_normalize(self)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.conditioning == "input":
            planes = F.one_hot(labels, self.n_classes).to(images.dtype)[:, :, None, None]
            images = torch.cat([images, planes.expand(-1, -1, *images.shape[2:])], dim=1)
        hidden = self.features(images)
        score = self.score(hidden).squeeze(1)
        if self.conditioning == "projection":
            score = score + (self.class_embedding(labels) * hidden).sum(dim=1)
        return score
