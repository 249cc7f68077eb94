"""M2 and stacked M1+M2 of Kingma et al. 2014 (sec. 3.1.2 and 3.1.3): semi-supervised deep generative models.

    ssgen-train method=m2 data.n_labels=100 trainer.max_epochs=10
    ssgen-train method=m1 trainer.max_epochs=3 hydra.run.dir=/tmp/m1_for_m2      # M1+M2 needs an M1 VAE first
    ssgen-train method=m1_m2 method.m1_checkpoint=/tmp/m1_for_m2 data.n_labels=100
    ssgen-train -m experiment=m2_study data.n_labels=100,600,1000,3000 seed=0,1,2

M2 is a VAE whose latent space is split into a class y and a continuous z:
    p(y) = Cat(uniform),  p(z) = N(0, I),  p(x | y, z) = Bernoulli(decoder(y, z))      (generative model)
    q(y | x) = Cat(classifier(x)),  q(z | x, y) = N(encoder(x, y))                       (inference model)
Labelled images (x, y) maximise the ELBO L(x, y); for unlabelled images y is a latent variable summed
out exactly over the 10 classes: U(x) = sum_y q(y|x) L(x, y) + H(q(y|x)). The classifier q(y|x) would
otherwise learn only through U, so labelled images also train it directly, weighted by alpha:
    loss per step = -mean L(x_l, y_l) - mean U(x_u) + alpha * mean(-log q(y_l | x_l)),
    alpha = alpha_factor * N_unlabelled / N_labelled        (the paper's alpha = 0.1 * N, per-sample scaled).
Every training step takes one unlabelled batch from the data module's unlabelled stream (all 60k
images, labels hidden) and one labelled batch from the labelled subset held in memory, cycled with a
permutation that is a pure function of (seed, step), so a resumed run sees the same batches.

M1+M2 (``M1M2``) is the same model trained on the 50-d latent space of a trained, frozen M1 VAE
(``method.m1_checkpoint``): x1 ~ q(z1 | x) of M1 replaces the pixels and p(x1 | y, z2) is a diagonal
Gaussian. The M1 encoder and decoder are copied into this module, so its checkpoint is self-contained
(prediction and generation do not need the M1 file any more).

Scoring: the ``ClassifierTestScore`` callback classifies the 10k test set with q(y|x) once, at the end of
training (nothing is selected on the test set), and returns results.json's ``test_accuracy``,
``macro_f1`` and ``heads[str(N)]["m2" | "m1_m2"]``, the schema of M1's SVM heads.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
import torchvision
from omegaconf import DictConfig

from ssgen.data import dataset_info, parse_n_labels, to_pixels
from ssgen.errors import ConfigError, positive
from ssgen.loggers import log_image, takes_images
from ssgen.losses import labelled_elbo, m2_loss_terms, unlabelled_elbo
from ssgen.models import make_optimizer
from ssgen.models.checkpoints import check_file, describe_version, load_versioned
from ssgen.models.m1 import M1VAE
from ssgen.nets import build_network, eval_mode

log = logging.getLogger("ssgen")

GRID_COLUMNS = 8  # class-conditional sample grid logged each epoch: one row per class


def decoder_likelihood(arch: Any) -> str:
    """The likelihood an arch's decoder models: 'bernoulli' (pixels, the default) or 'gaussian' (M1 latents)."""
    return str(((arch.get("networks") or {}).get("decoder") or {}).get("likelihood", "bernoulli"))


# ================================================================================================ module
class M2(L.LightningModule):
    """M2 on pixels. ``head_key`` names its results.json head; ``generate`` makes class-conditional samples.

    ``dataset`` is the data set it models (``ssgen.data.dataset_info``; ssgen-train passes ``data.dataset``):
    the networks take its class count and pixel count (``data_info``).
    """

    hp_metric_names = ("test_accuracy",)
    head_key = "m2"
    # what the run needs around the module (ssgen.config.schemas.MethodConfig): 100 unlabelled images per step
    family, pixel_range, train_stream, batch_size = "semi", "unit", "unlabelled", 100
    likelihood = "bernoulli"  # the arch's decoder must model pixels
    selects_on_labelled_holdout = True  # data.labelled_holdout > 0 makes a selection run (no test score)

    @classmethod
    def check_config(cls, cfg: DictConfig) -> None:
        """Refuse values that type-check but cannot train (``ssgen.config.validation.validate`` calls this)."""
        method = cfg.method
        positive(method.lr, "method.lr", "the paper uses 3e-4")
        positive(method.alpha_factor, "method.alpha_factor", "the paper uses 0.1")
        if method.alpha is not None:
            positive(method.alpha, "method.alpha", "or leave it null for alpha_factor * N_unlabelled / N_labelled")
        positive(method.labelled_batch_size, "method.labelled_batch_size", "use e.g. 100")
        if parse_n_labels(cfg.data.n_labels, info=dataset_info(cfg.data.get("dataset", "fashion_mnist"))) == 0:
            raise ConfigError(f"method={method.name} is semi-supervised but data.n_labels=0; use e.g. data.n_labels=100")

    @classmethod
    def fits_arch(cls, spec: Any) -> bool:
        """Whether an arch of the method's family suits it: its decoder models this method's likelihood (Bernoulli
        pixels for M2, Gaussian M1 latents for M1+M2). ``ssgen.config.validation`` names the archs that do."""
        return decoder_likelihood(spec) == cls.likelihood

    def __init__(self, arch: dict[str, Any], lr: float = 3e-4, alpha_factor: float = 0.1, alpha: float | None = None,
                 labelled_batch_size: int = 100, binarize: bool = True, dataset: str = "fashion_mnist") -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)  # a subclass's own __init__ arguments are collected too
        # the data set it models (ssgen-train passes data.dataset): its classes and image shape shape the networks
        self.data_info = dataset_info(dataset)
        self.n_classes = self.data_info.n_classes
        self.pixel_range = "unit"
        self._build_feature_extractor()
        self._build_networks(arch, self._feature_dim())
        self.latent_dim = self.encoder.latent_dim
        # Fixed prior draws for the per-epoch sample grid (the same z in every class row); a buffer survives resume.
        self.register_buffer("fixed_noise", torch.randn(GRID_COLUMNS, self.latent_dim,
                                                        generator=torch.Generator().manual_seed(0)))
        self.alpha = alpha  # final value set in on_fit_start, once the labelled subset's size is known
        self._labelled: tuple[torch.Tensor, torch.Tensor] | None = None
        self._permutation: tuple[int, torch.Tensor] | None = None

    # ------------------------------------------------------------------ networks and features
    def _build_feature_extractor(self) -> None:
        """Hook run before the M2 networks are built: M2 reads pixels, nothing to build."""

    def _feature_dim(self) -> int:
        return self.data_info.n_pixels

    def _build_networks(self, arch: dict[str, Any], feature_dim: int) -> None:
        networks = arch["networks"]
        k = self.n_classes
        self.classifier = build_network(networks["classifier"], input_dim=feature_dim, n_classes=k)
        self.encoder = build_network(networks["encoder"], input_dim=feature_dim, n_classes=k)
        self.decoder = build_network(networks["decoder"], output_dim=feature_dim, latent_dim=self.encoder.latent_dim,
                                     n_classes=k)

    def features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets), each ``(N, P)``, for float images ``(N, 1, 28, 28)`` in [0, 1].

        Inputs of q(y|x) and q(z|x,y) are the grey levels; the Bernoulli target is a fresh binarisation
        in training (dynamic binarisation, as M1) and the grey levels themselves in eval mode.
        """
        inputs = images.flatten(1)
        binarise = self.hparams.binarize and self.training
        return inputs, torch.bernoulli(inputs) if binarise else inputs

    # ------------------------------------------------------------------ the model
    def _reparameterise(self, mean: torch.Tensor, log_var: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        noise = torch.randn_like(mean) if noise is None else noise.to(mean)
        return mean + noise * (0.5 * log_var).exp()

    def labelled_elbos(self, inputs: torch.Tensor, targets: torch.Tensor, labels: torch.Tensor,
                       noise: torch.Tensor | None = None) -> torch.Tensor:
        """L(x, y) ``(N,)`` for inputs/targets ``(N, P)`` and labels ``(N,)``; noise ``(N, D)`` fixes z (tests)."""
        mean, log_var = self.encoder(inputs, labels)
        latents = self._reparameterise(mean, log_var, noise)
        return labelled_elbo(self.decoder.log_likelihood(latents, labels, targets), mean, log_var, self.n_classes)

    def elbo_per_class(self, inputs: torch.Tensor, targets: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """L(x, y) for every class y: ``(N, K)``; one z sample per (x, y); noise ``(K, N, D)`` fixes them."""
        n, k = len(inputs), self.n_classes
        mean, log_var = self.encoder.forward_every_class(inputs)  # (K, N, D)
        latents = self._reparameterise(mean, log_var, noise).flatten(0, 1)  # row k * N + i is class k of input i
        labels = torch.arange(k, device=inputs.device).repeat_interleave(n)
        log_likelihood = self.decoder.log_likelihood(latents, labels, targets.repeat(k, 1))
        elbos = labelled_elbo(log_likelihood, mean.flatten(0, 1), log_var.flatten(0, 1), k)
        return elbos.view(k, n).t()

    def loss_terms(self, unlabelled_images: torch.Tensor, labelled_images: torch.Tensor | None = None,
                   labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """M2's loss and its terms for one unlabelled batch and an optional labelled batch (float images)."""
        inputs_u, targets_u = self.features(unlabelled_images)
        unlabelled = unlabelled_elbo(self.classifier(inputs_u), self.elbo_per_class(inputs_u, targets_u))
        if labelled_images is None or labels is None or len(labels) == 0:
            empty = inputs_u.new_zeros(0)
            terms = m2_loss_terms(empty, unlabelled, inputs_u.new_zeros(0, self.n_classes), empty.long(), self.alpha or 0.0)
            terms["labelled_accuracy"] = empty.new_tensor(float("nan"))
            return terms
        inputs_l, targets_l = self.features(labelled_images)
        logits_l = self.classifier(inputs_l)
        terms = m2_loss_terms(self.labelled_elbos(inputs_l, targets_l, labels), unlabelled, logits_l, labels,
                              self.alpha or 0.0)
        terms["labelled_accuracy"] = (logits_l.argmax(1) == labels).float().mean().detach()
        return terms

    # ------------------------------------------------------------------ classification and generation
    @torch.no_grad()
    def class_probabilities(self, images: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
        """q(y | x) ``(N, K)`` on CPU for uint8 ``(N, 28, 28)`` or float [0, 1] ``(N, 1, 28, 28)`` images; eval mode."""
        chunks = []
        with eval_mode(self):
            for start in range(0, len(images), batch_size):
                chunk = images[start : start + batch_size]
                chunk = to_pixels(chunk, "unit") if chunk.dtype == torch.uint8 else chunk.float()
                inputs, _ = self.features(chunk.to(self.device))
                chunks.append(F.softmax(self.classifier(inputs), dim=1).float().cpu())
        return torch.cat(chunks) if chunks else torch.zeros(0, self.n_classes)

    def predict_labels(self, images: torch.Tensor) -> torch.Tensor:
        """argmax_y q(y | x): ``(N,)`` int64 for uint8 ``(N, 28, 28)`` or float ``(N, 1, 28, 28)`` images."""
        return self.class_probabilities(images).argmax(dim=1)

    def split_accuracy(self, datamodule: Any, split: str) -> float:
        """Accuracy of argmax_y q(y | x) on one labelled split of the data module ('val', 'labelled', ...)."""
        return float((self.predict_labels(datamodule.images(split)) == datamodule.labels(split)).float().mean())

    def _decode_to_pixels(self, latents: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Bernoulli means ``(N, 1, 28, 28)`` in [0, 1] of p(x | y, z)."""
        return self.decoder.expected_output(latents, labels).view(-1, *self.data_info.image_shape)

    def generate(self, labels: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Images ``(N, 1, 28, 28)`` in [-1, 1] for labels ``(N,)`` int64 from p(x | y, z), z = noise ``(N, latent_dim)``.

        The Bernoulli means in [0, 1] are mapped to [-1, 1] as x * 2 - 1, the GANs' convention, so the
        generation command and the metrics treat M2 like a conditional GAN. Keeps the autograd graph and
        the current mode, as ``ConditionalGAN.generate``; ``sample`` is the no-grad, eval-mode wrapper.
        """
        labels = labels.to(self.device, torch.long)
        if noise is None:
            noise = torch.randn(len(labels), self.latent_dim, device=self.device)
        return self._decode_to_pixels(noise.to(self.device), labels) * 2.0 - 1.0

    @torch.no_grad()
    def sample(self, labels: torch.Tensor, noise: torch.Tensor | None = None, seed: int | None = None,
               batch_size: int = 1000) -> torch.Tensor:
        """``generate`` in eval mode without gradients, in chunks, on CPU: ``(N, 1, 28, 28)`` in [-1, 1]."""
        labels = labels.long().cpu()
        if noise is None:
            rng = torch.Generator().manual_seed(seed) if seed is not None else None
            noise = torch.randn(len(labels), self.latent_dim, generator=rng)
        with eval_mode(self):
            chunks = [self.generate(labels[start : start + batch_size], noise[start : start + batch_size]).cpu()
                      for start in range(0, len(labels), batch_size)]
        return torch.cat(chunks) if chunks else torch.zeros(0, *self.data_info.image_shape)

    # ------------------------------------------------------------------ training
    def on_fit_start(self) -> None:
        datamodule = self.trainer.datamodule
        n_labelled = len(datamodule.labelled_indices)
        if n_labelled == 0:
            raise ConfigError(f"method={self.head_key} needs labelled images but data.n_labels=0; set e.g. data.n_labels=100")
        if self.hparams.alpha is None:
            # the paper's alpha = 0.1 * N with the unlabelled ELBO summed over the data set; per-sample means
            # divide that sum by N_unlabelled and the labelled means by N_labelled, hence this ratio
            self.alpha = self.hparams.alpha_factor * len(datamodule.unlabelled_indices) / n_labelled
        else:
            self.alpha = float(self.hparams.alpha)
        images = to_pixels(datamodule.images("labelled"), "unit").to(self.device)
        self._labelled = (images, datamodule.labels("labelled").to(self.device))
        self._labelled_seed = int(datamodule.seed)
        log.info("%s: %d labelled images, alpha = %.3g", self.head_key, n_labelled, self.alpha)

    def labelled_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The labelled batch of optimizer step ``step``: a pure function of (seed, step), so resuming replays it.

        The subset is walked through a fresh seeded permutation per pass (batches may straddle two passes);
        with fewer labelled images than ``labelled_batch_size`` every step sees all of them, shuffled.
        """
        assert self._labelled is not None, "on_fit_start loads the labelled subset"
        images, labels = self._labelled
        n = len(labels)
        size = min(self.hparams.labelled_batch_size, n)
        positions = torch.arange(step * size, (step + 1) * size)
        index = torch.empty(size, dtype=torch.long)
        for cycle in positions.div(n, rounding_mode="floor").unique().tolist():
            in_cycle = positions.div(n, rounding_mode="floor") == cycle
            index[in_cycle] = self._cycle_permutation(cycle, n)[positions[in_cycle] % n]
        index = index.to(labels.device)
        return images[index], labels[index]

    def _cycle_permutation(self, cycle: int, n: int) -> torch.Tensor:
        if self._permutation is None or self._permutation[0] != cycle:
            generator = torch.Generator().manual_seed(self._labelled_seed * 1_000_003 + cycle)
            self._permutation = (cycle, torch.randperm(n, generator=generator))
        return self._permutation[1]

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor | None], batch_idx: int) -> torch.Tensor:
        images, hidden_labels = batch
        assert hidden_labels is None, "M2 trains on the unlabelled stream; its labels come only from the labelled subset"
        labelled_images, labels = self.labelled_batch(self.global_step)
        terms = self.loss_terms(images, labelled_images, labels)
        self.log_dict({f"train/{name}": value for name, value in terms.items()}, on_step=True, on_epoch=True,
                      batch_size=len(images))
        self.log("train/alpha", float(self.alpha), on_step=False, on_epoch=True, batch_size=len(images))
        self.log("acc", terms["labelled_accuracy"], prog_bar=True, logger=False, batch_size=len(labels))
        return terms["loss"]

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor | None], batch_idx: int) -> None:
        """Unlabelled ELBO of the holdout (data.val_size > 0); val accuracy is computed at epoch end."""
        inputs, targets = self.features(batch[0])
        value = unlabelled_elbo(self.classifier(inputs), self.elbo_per_class(inputs, targets)).mean()
        self.log("val/unlabelled_elbo", value, batch_size=len(batch[0]))

    def on_validation_epoch_end(self) -> None:
        datamodule = self.trainer.datamodule
        if getattr(datamodule, "val_size", 0) and not self.trainer.sanity_checking:
            self.log("val/accuracy", self.split_accuracy(datamodule, "val"))

    def on_train_epoch_end(self) -> None:
        if not takes_images(self.loggers):  # CSV alone (or no logger): no sampling for nothing
            return
        labels = torch.arange(self.n_classes).repeat_interleave(GRID_COLUMNS)
        images = self.sample(labels, noise=self.fixed_noise.cpu().repeat(self.n_classes, 1))
        grid = torchvision.utils.make_grid((images + 1) / 2, nrow=GRID_COLUMNS)
        log_image(self.loggers, "images/class_conditional_samples", grid, self.global_step)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        parameters = [p for net in (self.classifier, self.encoder, self.decoder) for p in net.parameters()]
        return make_optimizer(torch.optim.Adam, parameters, lr=self.hparams.lr)


class M1M2(M2):
    """M2 on the latent space of a trained, frozen M1 VAE (Kingma et al. 2014, the stacked model).

    ``m1_checkpoint``: an M1 run dir or .ckpt, read once here; its encoder and decoder specs are
    recorded in the hyperparameters (``m1_networks``) and their weights in this module's state dict,
    so rebuilding from this checkpoint never opens the M1 file. Which M1 it froze is recorded too
    (``m1_version``: the M1 checkpoint's optimizer step and weights digest; results.json ``built_from``).
    ``m1_sample``: in training, x1 is a fresh draw from M1's q(z1 | x) (the paper's choice; inactive latent units are then N(0, 1) noise,
    not constants a Gaussian could collapse onto); in eval mode, and with m1_sample=false, the mean.
    """

    head_key = "m1_m2"
    likelihood = "gaussian"  # the arch's decoder models M1's real-valued latents
    checkpoint_only = ("m1_networks", "m1_version")  # written by __init__ for reloading; not config keys
    path_arguments = ("m1_checkpoint",)  # resolved against the launch directory before the run (ssgen.config.paths)

    @classmethod
    def check_config(cls, cfg: DictConfig) -> None:
        super().check_config(cfg)
        if not cfg.method.m1_checkpoint:
            raise ConfigError("method=m1_m2 needs method.m1_checkpoint=<M1 run dir or .ckpt>; "
                              "train one first with `ssgen-train method=m1 ...`")
        check_file(cfg.method.m1_checkpoint, (M1VAE,), "method=m1 VAE")  # missing, foreign or unsafe: refused now

    def __init__(self, arch: dict[str, Any], m1_checkpoint: str | None = None, m1_sample: bool = True,
                 lr: float = 3e-4, alpha_factor: float = 0.1, alpha: float | None = None, labelled_batch_size: int = 100,
                 m1_networks: dict[str, Any] | None = None, dataset: str = "fashion_mnist",
                 m1_version: dict[str, Any] | None = None) -> None:
        # binarize=False: the M1 latents are real-valued; M2.__init__ calls _build_feature_extractor below.
        super().__init__(arch, lr=lr, alpha_factor=alpha_factor, alpha=alpha, labelled_batch_size=labelled_batch_size,
                         binarize=False, dataset=dataset)
        self.hparams.pop("binarize", None)  # collected from M2's frame, but not an argument of this class
        if self.decoder.likelihood != "gaussian":
            raise ConfigError("method=m1_m2 models M1 latents with a Gaussian: use arch=m1_m2_mlp "
                              "(decoder likelihood: gaussian)")

    def _build_feature_extractor(self) -> None:
        """Copy M1's encoder and decoder, frozen: from the M1 checkpoint on the first build, else from the specs."""
        m1_networks, m1 = self.hparams.get("m1_networks"), None
        if m1_networks is None:
            m1_checkpoint = self.hparams.get("m1_checkpoint")
            if not m1_checkpoint:
                raise ConfigError("method=m1_m2 needs a trained M1 VAE: run `ssgen-train method=m1 ...` first, then "
                                  "pass method.m1_checkpoint=<its run dir or .ckpt>")
            m1, version = load_versioned(m1_checkpoint, (M1VAE,), "method=m1 VAE")
            # resolved, so a sweep with m1_checkpoint=<dir>_seed${seed} shows which VAE each job froze
            log.info("m1_m2: frozen M1 VAE from %s (%s)", Path(m1_checkpoint).resolve(), describe_version(version))
            m1_networks = {name: dict(m1.hparams["arch"]["networks"][name]) for name in ("encoder", "decoder")}
            # recorded so that rebuilding this module from its own checkpoint never needs the M1 file
            self.hparams["m1_networks"] = m1_networks
            self.hparams["m1_checkpoint"] = str(m1_checkpoint)
            self.hparams["m1_version"] = version
        shape = self.data_info.image_shape
        self.m1_encoder = build_network(m1_networks["encoder"], image_shape=shape)
        self.m1_decoder = build_network(m1_networks["decoder"], image_shape=shape)
        if m1 is not None:
            self.m1_encoder.load_state_dict(m1.encoder.state_dict())
            self.m1_decoder.load_state_dict(m1.decoder.state_dict())
        for network in (self.m1_encoder, self.m1_decoder):
            network.requires_grad_(False)
            network.eval()

    def _feature_dim(self) -> int:
        return self.m1_encoder.latent_dim

    @property
    def built_from(self) -> dict[str, Any]:
        """results.json ``built_from``: the M1 this model froze, where it came from and its version."""
        return {"method.m1_checkpoint": {"path": self.hparams.get("m1_checkpoint"),
                                         **(self.hparams.get("m1_version") or {})}}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """A resumed run keeps the record of the M1 it froze then (its state dict restores that copy), not of what
        the M1 file holds now."""
        super().on_load_checkpoint(checkpoint)
        frozen = (checkpoint.get("hyper_parameters") or {}).get("m1_version")
        if frozen:
            self.hparams["m1_version"] = frozen

    def features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x1, x1), each ``(N, 50)``: M1's latent for float images ``(N, 1, 28, 28)``, no gradient into M1."""
        with torch.no_grad():
            mean, log_var = self.m1_encoder(images)
            if self.training and self.hparams.m1_sample:
                mean = mean + torch.randn_like(mean) * (0.5 * log_var).exp()
        return mean, mean

    def _decode_to_pixels(self, latents: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """z2, y -> E[x1 | y, z2] (M2's Gaussian mean) -> M1's Bernoulli means ``(N, 1, 28, 28)`` in [0, 1]."""
        return torch.sigmoid(self.m1_decoder(self.decoder.expected_output(latents, labels)))

    def train(self, mode: bool = True) -> M1M2:
        super().train(mode)
        self.m1_encoder.eval()  # frozen feature extractor: never in training mode
        self.m1_decoder.eval()
        return self
