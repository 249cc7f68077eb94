"""Class-conditional DCGAN, WGAN (weight clipping) and WGAN-GP: one LightningModule, three update rules.

    ssgen-train experiment=gan method=dcgan arch=dcgan              # Radford et al. 2016
    ssgen-train experiment=gan method=wgan_clip arch=dcgan          # Arjovsky et al. 2017
    ssgen-train experiment=gan method=wgan_gp arch=mlp_generator    # Gulrajani et al. 2017, Table 1 row
    ssgen-train experiment=gan method=wgan_gp arch=dcgan_softplus   # the write-up's arch B: no norm, softplus
    ssgen-train -m experiment=gan method=dcgan,wgan_clip,wgan_gp arch=dcgan,dcgan_softplus,mlp_generator
    ssgen-train experiment=gan method=dcgan method.ema_decay=0.999   # sample from a weight average of G

The networks (``ssgen.nets.dcgan``, ``ssgen.nets.mlp_generator``) are plain ``nn.Module``s that
take ``(input, labels)``; the arch yaml names them and the module builds them with the method's
``latent_dim`` and ``critic_norm`` (an arch that sets the critic's ``norm`` itself keeps it).
``ConditionalGAN`` holds the training loop; ``DCGAN``, ``WGANClip`` and ``WGANGP`` override only the
losses, the optimiser and what happens after a critic step.

Update schedule: every ``training_step`` takes one real batch and makes one critic step on it; every
``n_critic``-th batch is followed by one generator step. With n_critic=5 this is the official WGAN-GP
code's 'critic iters' (each critic iteration draws a fresh real batch), so one epoch of 60k images
makes 938 critic steps and 188 generator steps (DCGAN, n_critic=1: 938 of each).

Conditioning: the generator concatenates a learned label embedding to the noise; the critic is a
projection discriminator (Miyato & Koyama 2018), score = linear(h) + <embed(y), h> on its last
features h. ``conditioning: input`` in the arch yaml instead feeds one-hot label planes to the
critic's first convolution (cGAN style), for the class-consistency comparison.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

import lightning as L
import torch
import torchvision
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.optim.swa_utils import AveragedModel

from ssgen.compat import foreach_clamp_
from ssgen.data import dataset_info
from ssgen.errors import ConfigError, positive
from ssgen.loggers import log_image, takes_images
from ssgen.losses import (
    critic_wasserstein,
    discriminator_bce,
    generator_bce_nonsaturating,
    generator_wasserstein,
    gradient_penalty,
)
from ssgen.models import logs_this_step, make_optimizer
from ssgen.nets import build_network, eval_mode

log = logging.getLogger("ssgen")

GRID_COLUMNS = 10  # fixed-noise grid: one row per class, the same 10 noise vectors in every row
Toggle = Callable[[torch.optim.Optimizer], contextlib.AbstractContextManager]  # LightningModule.toggled_optimizer
Backward = Callable[[torch.Tensor], None]  # LightningModule.manual_backward


def toggled_plain(optimizers: list[torch.optim.Optimizer]) -> Toggle:
    """Lightning's ``toggled_optimizer`` without a Trainer, for a plain PyTorch loop over ``optimizers``: inside ``with toggled(optimizer):`` the parameters of the other optimizers do not require
    gradients (so a generator step computes none for the critic's weights, only the input gradient that flows
    through them); each parameter's flag is put back after."""

    @contextlib.contextmanager
    def toggled(optimizer: torch.optim.Optimizer) -> Iterator[None]:
        own = {id(p) for group in optimizer.param_groups for p in group["params"]}
        others = [p for other in optimizers if other is not optimizer for group in other.param_groups
                  for p in group["params"] if id(p) not in own]
        flags = [p.requires_grad for p in others]
        for parameter in others:
            parameter.requires_grad_(False)
        try:
            yield
        finally:
            for parameter, flag in zip(others, flags, strict=True):
                parameter.requires_grad_(flag)

    return toggled


# ================================================================================================ methods
def _plain(arch: dict[str, Any] | DictConfig) -> dict[str, Any]:
    """Hydra hands nested configs over as DictConfig; a plain dict keeps checkpoints loadable with
    ``weights_only=True`` (save_hyperparameters reads the reassigned local, not the original argument)."""
    return OmegaConf.to_container(arch, resolve=True) if isinstance(arch, DictConfig) else arch


def ema_with_warm_up(decay: float) -> Callable[[list[torch.Tensor], list[torch.Tensor], torch.Tensor], None]:
    """``multi_avg_fn`` for ``torch.optim.swa_utils.AveragedModel``: average <- d * average + (1 - d) * current with
    d = min(decay, (1 + t) / (10 + t)) at the t-th update, t = ``n_averaged`` - 1 (the warm-up of TensorFlow's
    ExponentialMovingAverage: early on the average follows the generator instead of remembering its random
    initialisation). ``d`` is computed on the tensors' device, so an update never waits for the host."""

    @torch.no_grad()
    def update(averages: list[torch.Tensor], currents: list[torch.Tensor], n_averaged: torch.Tensor) -> None:
        t = (n_averaged - 1).to(torch.float64)
        keep = torch.clamp((1 + t) / (10 + t), max=decay).to(averages[0].dtype)
        for average, current in zip(averages, currents, strict=True):
            average.lerp_(current, 1 - keep)

    return update


def _nest_old_ema_keys(module: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
    """Checkpoints from before the average was an AveragedModel name its weights ``generator_ema.<name>``; today's
    are ``generator_ema.module.<name>``: rename them on load (``load_state_dict`` pre-hook)."""
    old = f"{prefix}generator_ema."
    for key in [key for key in state_dict if key.startswith(old) and not key.startswith((f"{old}module.",
                                                                                          f"{old}n_averaged"))]:
        state_dict[f"{old}module.{key[len(old):]}"] = state_dict.pop(key)
    state_dict.setdefault(f"{old}n_averaged", torch.tensor(1))


class ConditionalGAN(L.LightningModule):
    """The shared training loop; subclasses define ``critic_loss``, ``generator_loss``, ``make_optimizer``.

    Args:
        arch: the arch config: ``{name, family, networks: {generator: {_target_, ...}, critic: {...}}}``.
        latent_dim: noise dimension, passed to the generator.
        lr_generator, lr_critic, beta1, beta2: optimiser settings (Adam; WGANClip uses RMSprop, no betas).
        n_critic: critic steps (= real batches) per generator step.
        critic_norm: 'batch' | 'layer' | 'spectral' | 'none' (``ssgen.nets.dcgan.CRITIC_NORMS``), passed to the
            critic as ``norm``, unless the arch fixes the critic's ``norm`` itself (arch B, ``dcgan_softplus``: none
            anywhere), which then wins. The method YAMLs pick spectral (dcgan), batch (wgan_clip), layer (wgan_gp).
        fixed_noise_seed: seeds the noise of the per-epoch sample grid (kept in a buffer, survives resume).
        ema_decay: > 0 keeps an exponential moving average of the generator's weights (``generator_ema``,
            updated after every generator step; Yazici et al. 2019, Karras et al. 2018), and every sample
            (``generate``: in-training metrics, hence best.ckpt selection and the collapse checks, the grids,
            the final report, ssgen-generate) comes from it; training itself always uses the live generator.
            0 (the default) = off. 0.999 averages over about the last 1000 generator steps; on arch A at the
            study's 10 epochs it made DCGAN (batch-norm discriminator) worse (FID 10.3 vs 7.0, docs/design/gans.md), hence off.
        dataset: the data set it models (``ssgen.data.dataset_info``; ssgen-train passes ``data.dataset``): the
            networks take its class count and image shape (``data_info``).
    """

    hp_metric_names = ("fid", "kid", "class_consistency")
    # what the run needs around the module (ssgen.config.schemas.MethodConfig): labelled images in [-1, 1] (tanh)
    family, pixel_range, train_stream, batch_size = "gan", "symmetric", "labelled", 64
    # data.n_labels unless set: every labelled training image (the study's data), so `method=dcgan` alone
    # trains the study's model; M1's 100 would give 2 batches an epoch
    default_n_labels = "all"
    # trainer.precision unless set: bf16 autocast, fp32 weights: faster on a CPU with native bf16 and no worse in
    # FID at the study's budget (the step times: docs/design/performance.md; the same-seed FID pairs: docs/design/gans.md);
    # ssgen.run.lifecycle.bf16_pays keeps fp32 where bf16 does not pay (GPUs, CPUs without native bf16)
    default_precision = "bf16-mixed"
    # critic norms this method cannot train with, each with why (check_config refuses them, naming the others)
    refused_critic_norms: dict[str, str] = {}

    @classmethod
    def check_config(cls, cfg: DictConfig) -> None:
        """Refuse values that type-check but cannot train (``ssgen.config.validation.validate`` calls this)."""
        method = cfg.method
        hint = f"the paper's default for {method.name} is in conf/method/{method.name}.yaml"
        positive(method.lr_generator, "method.lr_generator", hint)
        positive(method.lr_critic, "method.lr_critic", hint)
        positive(method.latent_dim, "method.latent_dim", "use e.g. 128")
        if method.n_critic < 1:
            raise ConfigError(f"method.n_critic={method.n_critic} must be >= 1 (critic steps per generator step); the paper uses 5")
        from ssgen.nets.dcgan import CRITIC_NORMS  # the arch's module: imported when a GAN is configured

        if method.critic_norm not in CRITIC_NORMS:
            raise ConfigError(f"method.critic_norm={method.critic_norm} is unknown; use {', '.join(CRITIC_NORMS)}")
        reason = cls.refused_critic_norms.get(method.critic_norm)
        if reason and not cls.arch_fixes_critic_norm(cfg.arch):  # an arch that fixes the norm never uses it
            usable = [norm for norm in CRITIC_NORMS if norm not in cls.refused_critic_norms]
            raise ConfigError(f"method.critic_norm={method.critic_norm} {reason}; "
                              f"use {', '.join(usable[:-1])} or {usable[-1]}")
        if not (0 <= method.beta1 < 1 and 0 <= method.beta2 < 1):
            raise ConfigError(f"Adam betas ({method.beta1}, {method.beta2}) must lie in [0, 1)")
        if not 0 <= method.ema_decay < 1:
            raise ConfigError(f"method.ema_decay={method.ema_decay} must lie in [0, 1); 0 turns the average off, "
                              "0.999 averages over about the last 1000 generator steps")

    @staticmethod
    def arch_fixes_critic_norm(arch: dict[str, Any] | DictConfig) -> bool:
        """Whether the arch's critic spec sets ``norm`` itself (arch B): then ``method.critic_norm`` is unused."""
        return "norm" in arch["networks"]["critic"]

    def __init__(self, arch: dict[str, Any], latent_dim: int = 128, lr_generator: float = 2e-4,
                 lr_critic: float = 2e-4, beta1: float = 0.5, beta2: float = 0.999, n_critic: int = 1,
                 critic_norm: str = "batch", fixed_noise_seed: int = 1234, ema_decay: float = 0.0,
                 dataset: str = "fashion_mnist") -> None:
        super().__init__()
        arch = _plain(arch)
        # every __init__ argument, subclasses' included (clip, gp_lambda); plain values only
        self.save_hyperparameters(logger=False)
        self.automatic_optimization = False
        self.latent_dim = latent_dim
        # the data set it models (ssgen-train passes data.dataset): its classes and image shape shape the networks
        self.data_info = dataset_info(dataset)
        self.n_classes, shape = self.data_info.n_classes, self.data_info.image_shape
        networks = arch["networks"]
        self.generator = build_network(networks["generator"], latent_dim=latent_dim, n_classes=self.n_classes,
                                       image_shape=shape)
        critic_kwargs = {} if self.arch_fixes_critic_norm(arch) else {"norm": critic_norm}
        self.critic = build_network(networks["critic"], n_classes=self.n_classes, image_shape=shape, **critic_kwargs)
        # the average is a second copy of the generator (torch's AveragedModel), outside both optimizers; its weights
        # and its count of updates (n_averaged) are checkpointed with the module
        self.generator_ema: AveragedModel | None = None
        if ema_decay > 0:
            self.generator_ema = AveragedModel(self.generator, multi_avg_fn=ema_with_warm_up(ema_decay))
            self.generator_ema.requires_grad_(False)
            # n_averaged = 1 + updates so far: every update, the first included, goes through the warm-up average
            # (AveragedModel would copy the generator on its first update instead)
            self.generator_ema.n_averaged.fill_(1)
            self.register_load_state_dict_pre_hook(_nest_old_ema_keys)
        noise = torch.randn(GRID_COLUMNS, latent_dim, generator=torch.Generator().manual_seed(fixed_noise_seed))
        # row = class, column = noise vector: reading down a column shows the label alone changing the image
        self.register_buffer("fixed_noise", noise.repeat(self.n_classes, 1))
        self.register_buffer("fixed_labels", torch.arange(self.n_classes).repeat_interleave(GRID_COLUMNS))
        self.batches_seen = 0  # real batches (= critic steps) so far, across epochs; saved in checkpoints
        self._last_generator_loss: torch.Tensor | None = None

    # ------------------------------------------------------------------ sampling
    def generate(self, labels: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Images (N, 1, 28, 28) in [-1, 1] for class labels (N,) int64; noise (N, latent_dim) or drawn.

        Runs the sampling generator (``sampling_generator``: the EMA one when ``ema_decay`` > 0) in whatever
        mode it is in and keeps the autograd graph: wrap the call in ``torch.no_grad()`` and ``eval()`` (or use
        ``sample``) when only the images are wanted.
        """
        labels = labels.to(self.device, torch.long)
        if noise is None:
            noise = torch.randn(len(labels), self.latent_dim, device=self.device)
        return self.sampling_generator(noise.to(self.device), labels)

    @property
    def sampling_generator(self) -> nn.Module:
        """The network samples come from: the weight average when there is one, else the live generator."""
        return self.generator_ema if self.generator_ema is not None else self.generator

    @torch.no_grad()
    def sample(self, labels: torch.Tensor, noise: torch.Tensor | None = None, seed: int | None = None,
               batch_size: int = 1000) -> torch.Tensor:
        """``generate`` in eval mode without gradients, in chunks, on CPU output: (N, 1, 28, 28) in [-1, 1].

        ``seed`` draws the noise from its own CPU generator, so the same seed gives the same images on any device.
        """
        labels = labels.long().cpu()
        if noise is None:
            rng = torch.Generator().manual_seed(seed) if seed is not None else None
            noise = torch.randn(len(labels), self.latent_dim, generator=rng)
        with eval_mode(self.sampling_generator):
            chunks = [self.generate(labels[start : start + batch_size], noise[start : start + batch_size]).cpu()
                      for start in range(0, len(labels), batch_size)]
        return torch.cat(chunks) if chunks else torch.zeros(0, *self.data_info.image_shape)

    # ------------------------------------------------------------------ what subclasses change
    def critic_loss(self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor, real_scores: torch.Tensor,
                    fake_scores: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(loss to minimise, extra tensors to log) for one critic step."""
        raise NotImplementedError

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def make_optimizer(self, parameters: list[nn.Parameter], lr: float) -> torch.optim.Optimizer:
        return make_optimizer(torch.optim.Adam, parameters, lr=lr, betas=(self.hparams.beta1, self.hparams.beta2))

    def after_critic_step(self) -> None:
        """Hook run after every critic optimiser step (WGAN clips the weights here)."""

    # ------------------------------------------------------------------ training
    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        # Only the two networks: anything else attached to the module (a frozen evaluator) must not train.
        return [self.make_optimizer(list(self.generator.parameters()), self.hparams.lr_generator),
                self.make_optimizer(list(self.critic.parameters()), self.hparams.lr_critic)]

    # ------------------------------------------------------------------ one batch: what the plain loop calls too
    # The updates take the two things Lightning supplies as arguments: ``toggled`` (a context manager that lets
    # only the optimizer's own parameters require gradients) and ``backward``. The Trainer's are the defaults;
    # the benchmark's plain PyTorch loop (benchmarks/arms.py) passes ``toggled_plain`` and ``Tensor.backward``, so
    # both run this very code and cannot drift apart (tests/unit/models/test_plain_twin.py).
    def critic_step(self, real: torch.Tensor, labels: torch.Tensor, optimizer: Any,
                    toggled: Toggle | None = None, backward: Backward | None = None) -> dict[str, torch.Tensor]:
        """One critic update on a real batch (N, 1, 28, 28) and fakes drawn for the same labels (N,): the method's
        loss, the optimizer step, ``after_critic_step`` (WGAN's clipping). Returns the detached values to log."""
        toggled, backward = toggled or self.toggled_optimizer, backward or self.manual_backward
        noise = torch.randn(len(real), self.latent_dim, device=real.device)
        with torch.no_grad():  # the critic step never needs the generator's graph
            fake = self.generator(noise, labels)
        with toggled(optimizer):
            real_scores, fake_scores = self.critic(real, labels), self.critic(fake, labels)
            loss, extra = self.critic_loss(real, fake, labels, real_scores, fake_scores)
            optimizer.zero_grad(set_to_none=True)
            backward(loss)
            optimizer.step()
        self.after_critic_step()
        real_score, fake_score = real_scores.detach().mean(), fake_scores.detach().mean()
        return {"loss/critic": loss.detach(), "critic/wasserstein_estimate": real_score - fake_score,
                "critic/real_score": real_score, "critic/fake_score": fake_score,
                **{key: value.detach() for key, value in extra.items()}}

    def generator_step(self, labels: torch.Tensor, optimizer: Any, toggled: Toggle | None = None,
                       backward: Backward | None = None) -> torch.Tensor:
        """One generator update on fresh noise for labels (N,), then the weight average's (``update_generator_ema``);
        the critic's weights stay as they are. Returns the detached loss."""
        toggled, backward = toggled or self.toggled_optimizer, backward or self.manual_backward
        noise = torch.randn(len(labels), self.latent_dim, device=labels.device)
        with toggled(optimizer):  # critic weights stop requiring grad; the input gradient flows
            loss = self.generator_loss(self.critic(self.generator(noise, labels), labels))
            optimizer.zero_grad(set_to_none=True)
            backward(loss)
            optimizer.step()
        self.update_generator_ema()
        return loss.detach()

    def update(self, real: torch.Tensor, labels: torch.Tensor, optimizer_generator: Any, optimizer_critic: Any,
               toggled: Toggle | None = None, backward: Backward | None = None) -> dict[str, torch.Tensor]:
        """The update schedule of one real batch: a critic step, and a generator step after every ``n_critic``-th
        batch (counted across epochs in ``batches_seen``). Returns the detached values to log, the latest
        generator loss (``loss/generator``) included once there is one."""
        logs = self.critic_step(real, labels, optimizer_critic, toggled, backward)
        self.batches_seen += 1
        if self.batches_seen % self.hparams.n_critic == 0:
            self._last_generator_loss = self.generator_step(labels, optimizer_generator, toggled, backward)
        if self._last_generator_loss is not None:
            # the latest value, so the curve exists whichever batches the logger writes
            logs["loss/generator"] = self._last_generator_loss
        return logs

    @torch.no_grad()
    def update_generator_ema(self) -> None:
        """One update of the generator's weight average (``ema_with_warm_up``: torch's ``AveragedModel`` with the
        warm-up of TensorFlow's ExponentialMovingAverage); buffers (batch-norm statistics) are copied as they are."""
        if self.generator_ema is not None:
            self.generator_ema.update_parameters(self.generator)

    @property
    def ema_updates(self) -> int:
        """Updates of the generator's weight average so far (0 without one)."""
        return int(self.generator_ema.n_averaged) - 1 if self.generator_ema is not None else 0

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        real, labels = batch
        if labels is None:
            raise ValueError("class-conditional GANs train on the labelled stream (method.train_stream=labelled)")
        optimizer_generator, optimizer_critic = self.optimizers()
        logs = self.update(real, labels, optimizer_generator, optimizer_critic)
        # Only on the batches the logger writes (log_every_n_steps): every self.log key costs Lightning Python
        # bookkeeping whether or not it is written, 7 keys a batch here (docs/design/performance.md).
        if logs_this_step(self):
            self.log_dict(logs, on_step=True, on_epoch=False, batch_size=len(real))
            self.log("critic_loss", logs["loss/critic"], prog_bar=True, logger=False, batch_size=len(real))
        return logs  # read by FailedConvergence in on_train_batch_end, without another sync

    def on_fit_start(self) -> None:
        n_train = self.data_info.n_train
        n_labels = getattr(self.trainer.datamodule, "n_labels", n_train)
        if n_labels < n_train:
            log.warning("%s trains on only %d labelled images (data.n_labels=%d); the study uses all %d: "
                        "add experiment=gan or data.n_labels=all", type(self).__name__, n_labels, n_labels, n_train)

    def on_train_epoch_end(self) -> None:
        if not takes_images(self.loggers):  # CSV alone (or no logger): no sampling for nothing
            return
        images = self.sample(self.fixed_labels, self.fixed_noise.cpu())
        grid = torchvision.utils.make_grid(images, nrow=GRID_COLUMNS, normalize=True, value_range=(-1, 1))
        log_image(self.loggers, "samples/fixed_noise", grid, self.global_step)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["gan_batches_seen"] = self.batches_seen

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.batches_seen = int(checkpoint.get("gan_batches_seen", 0))
        updates = checkpoint.pop("gan_ema_updates", None)  # a checkpoint from before the average kept its own count
        if updates is not None and self.generator_ema is not None:
            checkpoint["state_dict"].setdefault("generator_ema.n_averaged", torch.tensor(int(updates) + 1))


class DCGAN(ConditionalGAN):
    """Radford et al. 2016: BCE discriminator, non-saturating generator loss, Adam 2e-4 (0.5, 0.999), 1:1.

    ``method=dcgan`` (conf/method/dcgan.yaml) spectrally normalises the discriminator (``critic_norm='spectral'``,
    measured against within-class collapse, docs/design/gans.md); built directly in Python it takes ``critic_norm``
    like every ConditionalGAN, whose default is the paper's 'batch' (so older checkpoints rebuild as trained).
    """

    def critic_loss(self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor, real_scores: torch.Tensor,
                    fake_scores: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return discriminator_bce(real_scores, fake_scores), {}

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return generator_bce_nonsaturating(fake_scores)


class WGANClip(ConditionalGAN):
    """Arjovsky et al. 2017, Algorithm 1: Wasserstein losses, RMSprop 5e-5, critic weights clipped to [-c, c].

    ``beta1`` / ``beta2`` are accepted (the config schema is shared) and ignored: the paper uses RMSprop
    because momentum made the clipped critic unstable.
    """

    # the clip acts on the raw weights, which spectral norm divides by their norm: the weights the critic uses
    # would escape the bound the clipping is for
    refused_critic_norms = {"spectral": "defeats wgan_clip's weight clipping (it clips the raw weights, spectral "
                                        "norm rescales them)"}

    @classmethod
    def check_config(cls, cfg: DictConfig) -> None:
        super().check_config(cfg)
        positive(cfg.method.clip, "method.clip", "the paper clips critic weights to [-0.01, 0.01]")

    def __init__(self, arch: dict[str, Any], clip: float = 0.01, **kwargs: Any) -> None:
        arch = _plain(arch)  # this frame's locals are saved as hyperparameters too (Lightning walks the __init__ chain)
        super().__init__(arch, **kwargs)
        self.clip = clip

    def critic_loss(self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor, real_scores: torch.Tensor,
                    fake_scores: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return critic_wasserstein(real_scores, fake_scores), {}

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return generator_wasserstein(fake_scores)

    def make_optimizer(self, parameters: list[nn.Parameter], lr: float) -> torch.optim.Optimizer:
        return make_optimizer(torch.optim.RMSprop, parameters, lr=lr)

    @torch.no_grad()
    def after_critic_step(self) -> None:
        # every critic parameter, norm scales and the projection embedding included: the Lipschitz bound
        # the clipping buys holds only if nothing in the critic escapes it
        # one multi-tensor op per bound over all the parameters instead of a clamp_ per parameter (a launch each)
        foreach_clamp_([parameter.data for parameter in self.critic.parameters()], -self.clip, self.clip)


class WGANGP(ConditionalGAN):
    """Gulrajani et al. 2017, Algorithm 1: Wasserstein losses + lambda * gradient penalty, Adam 1e-4 (0, 0.9)."""

    refused_critic_norms = {"batch": "breaks the per-sample gradient penalty of wgan_gp"}

    @classmethod
    def check_config(cls, cfg: DictConfig) -> None:
        super().check_config(cfg)
        method = cfg.method
        if method.gp_lambda < 0:
            raise ConfigError(f"method.gp_lambda={method.gp_lambda} must be >= 0; the paper uses 10")
        if cfg.compile:
            raise ConfigError("compile=true cannot train wgan_gp: torch.compile does not support the gradient penalty's "
                              "double backward; drop compile=true")

    def __init__(self, arch: dict[str, Any], gp_lambda: float = 10.0, **kwargs: Any) -> None:
        arch = _plain(arch)  # this frame's locals are saved as hyperparameters too (Lightning walks the __init__ chain)
        super().__init__(arch, **kwargs)
        self.gp_lambda = gp_lambda

    def critic_loss(self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor, real_scores: torch.Tensor,
                    fake_scores: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        # interpolates of a real and a fake row share that row's label (gradient_penalty passes labels through)
        penalty = gradient_penalty(self.critic, real, fake, labels)
        return critic_wasserstein(real_scores, fake_scores) + self.gp_lambda * penalty, {"critic/gradient_penalty": penalty}

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return generator_wasserstein(fake_scores)
