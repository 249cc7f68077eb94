"""M1 of Kingma et al. 2014: a VAE trained on all unlabelled images; its encoder means feed the SVM head.

    ssgen-train method=m1 data.n_labels=100 trainer.max_epochs=40

The loss is -ELBO with a Bernoulli decoder on dynamically binarised pixels (a fresh binarisation
of the [0, 1] intensities every time an image is seen, as the official code does). Labels never
reach this module: the training stream is unlabelled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
import torchvision
from omegaconf import DictConfig

from ssgen.data import dataset_info, to_pixels
from ssgen.errors import ConfigError, positive
from ssgen.loggers import log_image, takes_images
from ssgen.losses import negative_elbo
from ssgen.models import logs_this_step, make_optimizer
from ssgen.nets import build_network, eval_mode

Forward = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]  # images -> logits, mean, log_var
TERM_NAMES = ("train/elbo", "train/reconstruction", "train/kl", "train/loss")
ACTIVE_UNIT_STD = 0.1  # a latent unit is 'active' if its encoder mean varies with std > 0.1 over the data (Burda et al.)


def elbo_terms(terms: torch.Tensor) -> torch.Tensor:
    """(reconstruction, kl, loss) -> the four values of TERM_NAMES: elbo (the true bound, kl weight 1, whatever
    kl_weight the optimiser sees), reconstruction, kl and the optimised loss."""
    return torch.cat([-(terms[:1] + terms[1:2]), terms])


class M1VAE(L.LightningModule):
    """The M1 VAE; its defaults are the paper's MNIST recipe (Kingma et al. 2014, sec. 4).

    Args:
        arch: ``{networks: {encoder: {_target_, ...}, decoder: {...}}}`` (conf/arch/vae_*.yaml).
        lr: Adam step size (the paper's 3e-4).
        kl_weight: weight of the KL term; 1.0 is the ELBO, < 1 (a beta-VAE) fights posterior collapse.
        binarize: dynamic binarisation of the [0, 1] pixels for the Bernoulli likelihood (the official code).
        n_image_rows: rows of the reconstruction / prior-sample grids logged each epoch.
        free_bits: nats per latent unit below which KL is not penalised (Kingma et al. 2016); 0 = the ELBO.
        dataset: the data set it models (``ssgen.data.dataset_info``; ssgen-train passes ``data.dataset``): the
            networks take its image shape (``data_info``).
    """

    hp_metric_names = ("test_accuracy", "raw_pixel_accuracy")
    # what the run needs around the module (ssgen.config.schemas.MethodConfig): the paper's minibatch of 100
    family, pixel_range, train_stream, batch_size = "vae", "unit", "unlabelled", 100
    # as many conv-VAE epochs as fit the default run (the heads at four N included) in about 8 minutes on an idle
    # 2-core CPU: longer training raised the heads' CV accuracy, and M1 + SVM with it (docs/results.md)
    default_max_epochs = 17

    @classmethod
    def check_config(cls, cfg: DictConfig) -> None:
        """Refuse values that type-check but cannot train (``ssgen.config.validation.validate`` calls this)."""
        method = cfg.method
        positive(method.lr, "method.lr", "the paper uses 3e-4")
        if method.kl_weight < 0:
            raise ConfigError(f"method.kl_weight={method.kl_weight} must be >= 0; 1.0 is the plain ELBO")
        if method.free_bits < 0:
            raise ConfigError(f"method.free_bits={method.free_bits} must be >= 0; 0 is the plain ELBO")

    def __init__(self, arch: dict[str, Any], lr: float = 3e-4, kl_weight: float = 1.0, binarize: bool = True,
                 n_image_rows: int = 8, free_bits: float = 0.0, dataset: str = "fashion_mnist") -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.data_info = dataset_info(dataset)
        shape = self.data_info.image_shape
        self.encoder = build_network(arch["networks"]["encoder"], image_shape=shape)
        self.decoder = build_network(arch["networks"]["decoder"], image_shape=shape)
        self.latent_dim = self.encoder.latent_dim
        self.pixel_range = "unit"
        # Fixed prior draws so the epoch-to-epoch sample grids are comparable; a buffer survives resume.
        self.register_buffer("fixed_latents", torch.randn(n_image_rows * 8, self.latent_dim,
                                                          generator=torch.Generator().manual_seed(0)))
        self._mean_sum: torch.Tensor | None = None  # (2 * latent_dim,) sums of encoder means and squares this epoch
        self._mean_count = 0
        self._epoch_terms: torch.Tensor | None = None
        self._epoch_images = 0

    # ------------------------------------------------------------------ model
    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N, 1, 28, 28) in [0, 1] -> decoder logits (N, 1, 28, 28), mean and log_var (N, D)."""
        mean, log_var = self.encoder(images)
        latents = mean + torch.randn_like(mean) * (0.5 * log_var).exp()  # reparameterisation
        return self.decoder(latents), mean, log_var

    @torch.no_grad()
    def encode_means(self, images: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
        """Encoder means (N, D) for uint8 (N, 28, 28) or float [0, 1] (N, 1, 28, 28) images; eval mode, no grad."""
        outputs = []
        with eval_mode(self):
            for start in range(0, len(images), batch_size):
                chunk = images[start : start + batch_size]
                chunk = to_pixels(chunk, "unit") if chunk.dtype == torch.uint8 else chunk
                outputs.append(self.encoder(chunk.to(self.device))[0].float().cpu())
        return torch.cat(outputs) if outputs else torch.zeros(0, self.latent_dim)

    @torch.no_grad()
    def generate_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n images (N, 1, 28, 28) in [0, 1]: Bernoulli means of the decoder at z ~ N(0, I)."""
        latents = torch.randn(n, self.latent_dim, generator=generator).to(self.device)
        return torch.sigmoid(self.decoder(latents))

    # ------------------------------------------------------------------ training
    def loss_terms(self, images: torch.Tensor, forward: Forward | None = None,
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The loss of one minibatch of [0, 1] images (N, 1, 28, 28) with this module's kl_weight and free_bits
        (``ssgen.losses.negative_elbo``), on a fresh binarisation when ``binarize`` (drawn from the global RNG, as
        is the reparameterisation noise). Returns the loss to minimise, the reconstruction term and the true KL
        (batch means) and the encoder means (N, D).

        ``forward`` replaces ``self`` as the network call (the benchmark's plain PyTorch loop passes a compiled
        one): the training step and that loop run this one function, so their losses cannot drift apart.
        """
        target = torch.bernoulli(images) if self.hparams.binarize else images
        logits, mean, log_var = (forward or self)(images)
        loss, reconstruction, kl = negative_elbo(logits, target, mean, log_var, self.hparams.kl_weight,
                                                   self.hparams.get("free_bits", 0.0))
        return loss, reconstruction, kl, mean

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor | None], batch_idx: int) -> torch.Tensor:
        images, labels = batch
        assert labels is None, "M1's VAE trains on the unlabelled stream; a label reached it"
        loss, reconstruction, kl, mean = self.loss_terms(images)
        # One stacked tensor per step, accumulated in place and logged only on the steps the logger writes: each
        # self.log call costs Lightning bookkeeping (a sizeable share of an MLP step on CPU), and each small tensor
        # op a kernel launch on a GPU, where the step is launch-bound (the measurements: docs/design/performance.md).
        terms = torch.stack([reconstruction, kl, loss]).detach()
        if self._epoch_terms is None:
            self._epoch_terms = terms * len(images)
        else:
            self._epoch_terms.add_(terms, alpha=len(images))
        self._epoch_images += len(images)
        if logs_this_step(self):
            self.log_dict({f"{name}_step": value for name, value in zip(TERM_NAMES, elbo_terms(terms), strict=True)},
                          on_step=True, on_epoch=False, batch_size=len(images))
            self.log("elbo", -(terms[0] + terms[1]), prog_bar=True, logger=False, batch_size=len(images))
        self._accumulate_means(mean.detach())
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor | None], batch_idx: int) -> None:
        loss, reconstruction, kl, _ = self.loss_terms(batch[0])
        self.log_dict({"val/elbo": -(reconstruction + kl), "val/reconstruction": reconstruction, "val/kl": kl},
                      batch_size=len(batch[0]))

    def _accumulate_means(self, mean: torch.Tensor) -> None:
        """Running first and second moments of the encoder means over the epoch, for the active-unit count."""
        moments = torch.cat([mean, mean * mean], dim=1).sum(0)  # (2D,): sums of the means and of their squares
        self._mean_sum = moments if self._mean_sum is None else self._mean_sum.add_(moments)
        self._mean_count += len(mean)

    def on_train_epoch_end(self) -> None:
        if self._epoch_terms is not None:  # epoch means over all images (all ranks under DDP): one sync per epoch
            means = elbo_terms(self._epoch_terms / self._epoch_images)
            self.log_dict({f"{name}_epoch": value for name, value in zip(TERM_NAMES, means, strict=True)}, sync_dist=True)
            self._epoch_terms, self._epoch_images = None, 0
        if self._mean_sum is not None:
            total, total_sq = (self._mean_sum / self._mean_count).chunk(2)
            std = (total_sq - total.pow(2)).clamp_min(0).sqrt()
            self.log("train/active_units", (std > ACTIVE_UNIT_STD).sum().float())
            self._mean_sum, self._mean_count = None, 0
        self._log_image_grids()

    @torch.no_grad()
    def _log_image_grids(self) -> None:
        if not takes_images(self.loggers):  # CSV alone (or no logger): no sampling for nothing
            return
        datamodule = self.trainer.datamodule
        rows = self.hparams.n_image_rows
        originals = to_pixels(datamodule.images("train")[: rows * 4], "unit").to(self.device)
        with eval_mode(self):
            reconstructions = torch.sigmoid(self.decoder(self.encoder(originals)[0]))
            samples = torch.sigmoid(self.decoder(self.fixed_latents))
        # originals and reconstructions interleaved column-wise: each original sits left of its reconstruction
        pairs = torch.stack([originals, reconstructions], dim=1).flatten(0, 1)
        log_image(self.loggers, "images/reconstructions", torchvision.utils.make_grid(pairs.cpu(), nrow=8), self.global_step)
        log_image(self.loggers, "images/prior_samples", torchvision.utils.make_grid(samples.cpu(), nrow=8), self.global_step)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        parameters = list(self.encoder.parameters()) + list(self.decoder.parameters())
        return make_optimizer(torch.optim.Adam, parameters, lr=self.hparams.lr)
