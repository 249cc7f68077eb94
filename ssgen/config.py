"""Structured config schemas (registered in Hydra's ConfigStore) and checks run before any training.

The YAML files under ``conf/`` name these schemas first in their defaults list, so a typo
(``method.lrr=1``) or a wrong type (``seed=abc``) fails with Hydra's one-line message, and
``validate(cfg)`` catches values that type-check but make no sense (``n_critic=0``, ``lr=-1``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from ssgen.data import holdout_split, parse_n_labels
from ssgen.errors import ConfigError


# ------------------------------------------------------------------------------------------------ data
@dataclass
class DataConfig:
    _target_: str = "ssgen.data.FashionMNISTDataModule"
    root: str | None = None  # searched first; then /usr/share/datasets/fashion-mnist; then download here
    n_labels: Any = 0  # int multiple of 10, 0 (none) or 'all'
    seed: int = "${seed}"  # type: ignore[assignment]  # the label draw follows the run's seed
    pixel_range: str = "${method.pixel_range}"  # type: ignore[assignment]
    train_stream: str = "${method.train_stream}"  # type: ignore[assignment]
    val_size: int = 0  # stratified holdout from train for validation; the test set is never used for selection
    # fraction of the n_labels labelled images held out (stratified) to choose M2's alpha and epochs by;
    # 0 = none. A run with a holdout is a selection run: it never scores the test set.
    labelled_holdout: float = 0.0
    batch_size: int = 100
    eval_batch_size: int = 1000
    download: bool = True
    run_dir: str | None = "${run_dir}"  # type: ignore[assignment]  # labelled_indices.json lands here


# ------------------------------------------------------------------------------------------------ methods
@dataclass
class MethodConfig:
    _target_: str = MISSING
    name: str = MISSING
    family: str = MISSING  # 'vae' or 'gan': which arch family it takes
    pixel_range: str = "unit"
    train_stream: str = "unlabelled"
    batch_size: int = 100
    callbacks: dict[str, Any] = field(default_factory=dict)  # method-specific callbacks, merged with cfg.callbacks


@dataclass
class M1Config(MethodConfig):
    _target_: str = "ssgen.models.m1.M1VAE"
    name: str = "m1"
    family: str = "vae"
    lr: float = 3e-4  # the paper's Adam step size
    kl_weight: float = 1.0  # 1.0 = the ELBO; < 1 fights posterior collapse (see docs/results.md)
    binarize: bool = True  # dynamic binarisation of [0,1] pixels for the Bernoulli likelihood, as the official code
    free_bits: float = 0.0  # nats per latent unit below which KL is not penalised; 0 = the plain ELBO
    n_image_rows: int = 8  # reconstruction / prior-sample grids logged each epoch


@dataclass
class GANConfig(MethodConfig):
    family: str = "gan"
    pixel_range: str = "symmetric"
    train_stream: str = "labelled"
    batch_size: int = 64
    latent_dim: int = 128
    lr_generator: float = 2e-4
    lr_critic: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    n_critic: int = 1  # critic steps per generator step
    critic_norm: str = "batch"  # normalisation inside the critic: batch | layer | none


@dataclass
class DCGANConfig(GANConfig):
    _target_: str = "ssgen.models.gan.DCGAN"
    name: str = "dcgan"


@dataclass
class WGANClipConfig(GANConfig):
    _target_: str = "ssgen.models.gan.WGANClip"
    name: str = "wgan_clip"
    lr_generator: float = 5e-5
    lr_critic: float = 5e-5
    n_critic: int = 5
    clip: float = 0.01


@dataclass
class WGANGPConfig(GANConfig):
    _target_: str = "ssgen.models.gan.WGANGP"
    name: str = "wgan_gp"
    lr_generator: float = 1e-4
    lr_critic: float = 1e-4
    beta1: float = 0.0
    beta2: float = 0.9
    n_critic: int = 5
    gp_lambda: float = 10.0
    critic_norm: str = "layer"  # the paper drops batch norm from the critic: the penalty is per sample


@dataclass
class M2Config(MethodConfig):
    _target_: str = "ssgen.models.m2.M2"
    name: str = "m2"
    family: str = "semi"
    lr: float = 3e-4  # Adam, the paper's step size
    alpha_factor: float = 0.1  # alpha = alpha_factor * N_unlabelled / N_labelled (the paper's 0.1 * N)
    alpha: float | None = None  # an explicit alpha overrides the rule above
    labelled_batch_size: int = 100  # labelled images per step, cycled through the subset
    binarize: bool = True  # dynamic binarisation of the Bernoulli targets, as M1


@dataclass
class M1M2Config(MethodConfig):
    _target_: str = "ssgen.models.m2.M1M2"
    name: str = "m1_m2"
    family: str = "semi"
    m1_checkpoint: str | None = None  # required: an M1 run dir or .ckpt (ssgen-train method=m1 first)
    m1_sample: bool = True  # train on x1 ~ q(z1|x) of M1 (the paper); eval uses the means
    lr: float = 3e-4
    alpha_factor: float = 0.1
    alpha: float | None = None
    labelled_batch_size: int = 100


# ------------------------------------------------------------------------------------------------ arch
@dataclass
class ArchConfig:
    name: str = MISSING
    family: str = MISSING
    networks: dict[str, Any] = field(default_factory=dict)  # _target_ specs, built by the method


# ------------------------------------------------------------------------------------------------ top level
@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    method: Any = MISSING
    arch: Any = MISSING
    trainer: dict[str, Any] = field(default_factory=dict)
    logger: dict[str, Any] = field(default_factory=dict)
    callbacks: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    restarts: int = 0  # GANs: on failed convergence, relaunch with seed+1 up to this many times
    ckpt_path: str | None = None  # resume: a .ckpt path, or 'last' for <run_dir>/checkpoints/last.ckpt
    run_dir: str = "${hydra:runtime.output_dir}"
    task_name: str = "train"
    compile: bool = False  # torch.compile the model (measure first; fails with arch=dcgan on CUDA, torch 2.11: docs/performance.md)
    matmul_precision: str | None = None  # e.g. 'high' for TF32 on Ampere+ GPUs
    torch_threads: int | None = None  # CPU intra-op threads; None = torch's default (all cores)


def register_configs() -> None:
    cs = ConfigStore.instance()
    cs.store(name="base_train", node=TrainConfig)
    cs.store(group="data", name="base_data", node=DataConfig)
    cs.store(group="method", name="base_m1", node=M1Config)
    cs.store(group="method", name="base_dcgan", node=DCGANConfig)
    cs.store(group="method", name="base_wgan_clip", node=WGANClipConfig)
    cs.store(group="method", name="base_wgan_gp", node=WGANGPConfig)
    cs.store(group="arch", name="base_arch", node=ArchConfig)
    cs.store(group="method", name="base_m2", node=M2Config)
    cs.store(group="method", name="base_m1_m2", node=M1M2Config)


# ------------------------------------------------------------------------------------------------ checks
def _positive(value: Any, key: str, hint: str) -> None:
    if value is None or not value > 0:
        raise ConfigError(f"{key}={value} must be > 0; {hint}")


CONF_DIR = Path(__file__).resolve().parents[1] / "conf"  # the Hydra configs, beside the package (editable install)
ARCH_DIR = CONF_DIR / "arch"


def arch_names(family: str, arch_dir: str | Path = ARCH_DIR) -> list[str]:
    """The ``arch`` options of one family, read from ``conf/arch/*.yaml``: a new arch file is listed as is."""
    names = []
    for path in sorted(Path(arch_dir).glob("*.yaml")):
        spec = yaml.safe_load(path.read_text()) or {}
        if spec.get("family") == family:
            names.append(spec.get("name", path.stem))
    return names


def validate(cfg: DictConfig) -> None:
    """Reject values that type-check but cannot train, each with one line saying how to fix it."""
    method = cfg.method
    if cfg.arch.family != method.family:
        options = ", ".join(arch_names(method.family)) or f"an arch with family={method.family}"
        raise ConfigError(
            f"arch={cfg.arch.name} is a {cfg.arch.family} architecture but method={method.name} needs a "
            f"{method.family} one; choose arch from: {options}"
        )
    parse_n_labels(cfg.data.n_labels)
    if method.train_stream == "labelled" and parse_n_labels(cfg.data.n_labels) == 0:
        raise ConfigError(f"method={method.name} trains on labels but data.n_labels=0; use data.n_labels=all")
    if cfg.data.val_size:
        parse_n_labels(cfg.data.val_size)
    if cfg.data.labelled_holdout:
        if method.family != "semi":
            raise ConfigError(f"data.labelled_holdout={cfg.data.labelled_holdout} selects M2's alpha and epochs, but "
                              f"method={method.name} has no use for it (M1's SVM head cross-validates on its labels); "
                              "drop it or use method=m2 / m1_m2")
        holdout_split(parse_n_labels(cfg.data.n_labels), cfg.data.labelled_holdout)
    _positive(cfg.data.batch_size, "data.batch_size", "use e.g. 64 or 100")
    if method.family == "vae":
        _positive(method.lr, "method.lr", "the paper uses 3e-4")
        if method.kl_weight < 0:
            raise ConfigError(f"method.kl_weight={method.kl_weight} must be >= 0; 1.0 is the plain ELBO")
        if method.free_bits < 0:
            raise ConfigError(f"method.free_bits={method.free_bits} must be >= 0; 0 is the plain ELBO")
    elif method.family == "gan":
        _positive(method.lr_generator, "method.lr_generator", f"the paper's default for {method.name} is in conf/method/{method.name}.yaml")
        _positive(method.lr_critic, "method.lr_critic", f"the paper's default for {method.name} is in conf/method/{method.name}.yaml")
        _positive(method.latent_dim, "method.latent_dim", "use e.g. 128")
        if method.n_critic < 1:
            raise ConfigError(f"method.n_critic={method.n_critic} must be >= 1 (critic steps per generator step); the paper uses 5")
        if method.critic_norm not in ("batch", "layer", "none"):
            raise ConfigError(f"method.critic_norm={method.critic_norm} is unknown; use batch, layer or none")
        if not (0 <= method.beta1 < 1 and 0 <= method.beta2 < 1):
            raise ConfigError(f"Adam betas ({method.beta1}, {method.beta2}) must lie in [0, 1)")
        if method.name == "wgan_clip":
            _positive(method.clip, "method.clip", "the paper clips critic weights to [-0.01, 0.01]")
        if method.name == "wgan_gp":
            if method.gp_lambda < 0:
                raise ConfigError(f"method.gp_lambda={method.gp_lambda} must be >= 0; the paper uses 10")
            if method.critic_norm == "batch":
                raise ConfigError("method.critic_norm=batch breaks the per-sample gradient penalty of wgan_gp; use layer or none")
    elif method.family == "semi":
        _positive(method.lr, "method.lr", "the paper uses 3e-4")
        _positive(method.alpha_factor, "method.alpha_factor", "the paper uses 0.1")
        if method.alpha is not None:
            _positive(method.alpha, "method.alpha", "or leave it null for alpha_factor * N_unlabelled / N_labelled")
        _positive(method.labelled_batch_size, "method.labelled_batch_size", "use e.g. 100")
        if parse_n_labels(cfg.data.n_labels) == 0:
            raise ConfigError(f"method={method.name} is semi-supervised but data.n_labels=0; use e.g. data.n_labels=100")
        expected_arch = {"m2": "m2_mlp", "m1_m2": "m1_m2_mlp"}.get(method.name)
        if expected_arch and cfg.arch.name != expected_arch:
            raise ConfigError(f"method={method.name} needs arch={expected_arch} (its likelihood matches the method), "
                              f"not arch={cfg.arch.name}")
        if method.name == "m1_m2" and not method.m1_checkpoint:
            raise ConfigError("method=m1_m2 needs method.m1_checkpoint=<M1 run dir or .ckpt>; "
                              "train one first with `ssgen-train method=m1 ...`")
    if cfg.compile and method.name == "wgan_gp":
        raise ConfigError("compile=true cannot train wgan_gp: torch.compile does not support the gradient penalty's "
                          "double backward; drop compile=true")
    max_epochs = cfg.trainer.get("max_epochs")
    if max_epochs is not None and max_epochs != -1 and max_epochs < 1:
        raise ConfigError(f"trainer.max_epochs={max_epochs} must be >= 1")
    if cfg.restarts < 0:
        raise ConfigError(f"restarts={cfg.restarts} must be >= 0")


def to_plain(cfg: DictConfig) -> dict[str, Any]:
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
