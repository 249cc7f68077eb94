"""The precision a run trains in: bf16 autocast where it is measured faster, the trained-in precision on a resume.

    ssgen-train method=dcgan                              # bf16-mixed on a CPU with native bf16, else 32-true
    ssgen-train method=dcgan trainer.precision=bf16-mixed # forced, even where bf16 is only emulated

A method's default (``default_precision``: bf16-mixed for the GANs, 32-true for M1/M2) is a wish that
``device_precision`` settles once per launch, before the config hash and the relaunch check (both describe the
precision that runs). The measurements behind ``bf16_pays``: docs/performance.md.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from ssgen.results import read_results
from ssgen.resume import resolve_ckpt_path

log = logging.getLogger("ssgen")


def bf16_pays(accelerator: str) -> bool:
    """Whether bf16 autocast is measured faster than fp32 for ssgen's networks on the device Lightning's
    ``accelerator`` picks: only on a CPU with native bf16 instructions (AVX512-BF16 or AMX). Not on a GPU (at
    28x28 the casts cost more than the tensor cores save); not on Apple's MPS (unmeasured); not on a CPU that only
    emulates bf16 (oneDNN runs bf16 on any AVX512BW CPU, converting in software). The measurements, CPU and GPU:
    docs/performance.md."""
    if accelerator not in ("auto", "cpu"):
        return False
    if accelerator == "auto" and (torch.cuda.is_available() or torch.backends.mps.is_available()):
        return False
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # private probes: a torch without them gets fp32
        return False


def device_precision(cfg: DictConfig) -> None:
    """Settles ``trainer.precision`` while it is still the method's default (``${method.default_precision}``,
    bf16-mixed for the GANs): a run being resumed keeps the precision it trained in (results.json
    ``trainer_precision``; a run from before the bf16 default, without that field, trained in 32-true), else
    bf16 falls back to 32-true where it does not pay (``bf16_pays``). A precision set on the command line or in
    a preset is left as it is. Logs each change."""
    if not OmegaConf.is_interpolation(cfg.trainer, "precision"):
        return
    precision = str(cfg.trainer.precision)
    previous = read_results(Path(cfg.run_dir)) if cfg.get("run_dir") else None
    # resolve_ckpt_path is the one place that decides whether a relaunch resumes
    if previous and resolve_ckpt_path(cfg, Path(cfg.run_dir)) is not None:
        trained_in = str(previous.get("trainer_precision", "32-true"))
        if trained_in != precision:
            log.info("trainer.precision: %s, the precision this run trained in (the method's default is now %s; "
                     "set trainer.precision to change it)", trained_in, precision)
        chosen = trained_in
    elif precision.startswith("bf16") and not bf16_pays(str(cfg.trainer.accelerator)):
        log.info("trainer.precision: the method's default %s is not faster on this device; training in 32-true "
                 "(set trainer.precision=%s to force it)", precision, precision)
        chosen = "32-true"
    else:
        return
    with open_dict(cfg):
        cfg.trainer.precision = chosen
