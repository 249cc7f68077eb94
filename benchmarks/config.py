"""Which models the bench knows and the config each arm is built from (the composed conf/train.yaml)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

from ssgen.config.files import CONF_DIR, arch_names, method_targets
from ssgen.config.schemas import register_configs
from ssgen.errors import ConfigError
from ssgen.models import module_class


def all_models() -> tuple[str, ...]:
    """'m1' and every GAN method x GAN arch of conf/ (a new method or arch file is benchmarked as is)."""
    gans = [stem for stem, target in method_targets().items() if module_class(target).family == "gan"]
    return ("m1", *(f"{method}/{arch}" for method in gans for arch in arch_names("gan")))


ALL_MODELS = all_models()
QUICK_MODELS = ("m1", "wgan_gp/dcgan")
# Timed batches of the first (discarded) run of each arm; the windows after it are sized from its rate to last
# --window-s seconds (DEFAULT_WINDOW_S), so that a GPU step of 1 ms is timed as long as a CPU step of 100 ms.
# GAN counts are rounded up to whole multiples of n_critic, so every window holds the same generator steps.
DEFAULT_BATCHES = {"vae": 100, "gan": 20}
DEFAULT_WARMUP = {"vae": 10, "gan": 5}
DEFAULT_WINDOW_S = 2.0
DEFAULT_REPEATS = 10
QUICK_BATCHES, QUICK_WARMUP = {"vae": 30, "gan": 5}, {"vae": 3, "gan": 2}  # quick=true: a smoke test, not a figure
# Reference figures (plain PyTorch loops on a 2-core CPU of this kind; /work/shared/NOTES.md and the issue).
REFERENCE_IMAGES_PER_S = {"m1": 6000.0, "wgan_gp/dcgan": 550.0}
# Per-epoch evaluations, not the training step: switched off in the 'ours' arm (see the module docstring).
EPOCH_EVALUATION_CALLBACKS = ("svm_head", "quality", "best_checkpoint")
CHANNELS_LAST = "channels_last"  # a --compare token that is not a Hydra override

PLAIN_FAMILIES = ("vae", "gan")  # the plain loop knows these update schedules

def model_overrides(spec: str) -> list[str]:
    """'m1' or 'method/arch' -> Hydra overrides; GANs train on all 60k labelled images, as in the study."""
    method, _, arch = spec.partition("/")
    overrides = [f"method={method}"] + ([f"arch={arch}"] if arch else [])
    if method != "m1":
        overrides.append("data.n_labels=all")
    return overrides


def compose_bench_config(spec: str, run_dir: Path, extra: list[str]) -> DictConfig:
    """The composed conf/train.yaml for one model, per-epoch evaluation callbacks off, run_dir in a temp dir."""
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[*model_overrides(spec), f"run_dir={run_dir}", *extra])
    with open_dict(cfg):
        for name in EPOCH_EVALUATION_CALLBACKS:
            if name in cfg.method.callbacks:
                cfg.method.callbacks[name] = None
    return cfg


def bench_device(cfg: DictConfig) -> torch.device:
    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return torch.device("cuda", 0)
    return torch.device("cpu")


def autocast_context(cfg: DictConfig, device: torch.device) -> Callable[[], contextlib.AbstractContextManager]:
    """What Lightning's precision plugin wraps the training step in, for the plain loop.

    Its cast cache off, as Lightning's ``MixedPrecision`` has it: with the cache a weight used by two forwards of
    one step (the critic on the real and on the fake batch) is cast once and its two gradients summed in bf16
    before the cast back, which rounds differently from Lightning's sum in float32: the critic's weights after one
    WGAN-GP step differed in the last bits (tests/unit/models/test_plain_twin.py).
    """
    precision = str(cfg.trainer.get("precision", "32-true"))
    if precision in ("32-true", "32"):
        return contextlib.nullcontext
    if precision == "bf16-mixed" or (precision == "16-mixed" and device.type == "cpu"):  # CPU: 16-mixed runs as bf16
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False)
    raise ConfigError(f"trainer.precision={precision} has no plain-loop twin here; use 32-true or bf16-mixed")


def check_models(models: list[str]) -> None:
    """ConfigError unless every model is 'm1' or 'method/arch' of a family the plain loop knows."""
    targets = method_targets()
    unknown = [m for m in models if m.partition("/")[0] not in targets
               or module_class(targets[m.partition("/")[0]]).family not in PLAIN_FAMILIES]
    if unknown or not models:
        raise ConfigError(f"no plain-loop twin for {', '.join(unknown) or 'an empty models='}; "
                          f"models: {', '.join(ALL_MODELS)}")
