"""Every method of ssgen, as a LightningModule; networks live in ``ssgen.nets``, objectives in ``ssgen.losses``.

    m1.py   M1VAE: the VAE of M1 (Kingma et al. 2014); its SVM head is a callback (ssgen.callbacks.svm_head)
    gan.py  ConditionalGAN (the shared loop) and DCGAN, WGANClip, WGANGP (their update rules)
    m2.py   M2 and M1M2 (Kingma et al. 2014, sec. 3.1.2-3.1.3)
    loading.py  the checkpoint gate: a model rebuilt from a file (M1+M2 loads its M1 VAE through it)

A method YAML (``conf/method/<name>.yaml``) names its class by ``_target_``. ``module_class`` is the gate
through which every command and checkpoint rebuilds a model: only LightningModule classes defined in a
module of this package are accepted (a new method joins by living here).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import lightning as L
import torch

from ssgen.compat import logger_writes_now
from ssgen.nets import package_class

PACKAGE = __name__  # "ssgen.models"
PACKAGE_DIR = Path(__file__).resolve().parent


def module_class(target: Any) -> type[L.LightningModule]:
    """The LightningModule class ``target`` names (``ssgen.models.<module>.<Class>``); CheckpointError otherwise.

    Nothing outside this package is imported: see ``ssgen.nets.package_class``.
    """
    return package_class(target, PACKAGE, PACKAGE_DIR, L.LightningModule, "model")


def make_optimizer(optimizer_class: type[torch.optim.Optimizer], parameters: Iterable[torch.nn.Parameter],
                   **options: Any) -> torch.optim.Optimizer:
    """``optimizer_class(parameters, **options)`` with its multi-tensor implementation: ``fused=True`` on CUDA
    where the class has a fused kernel (Adam, AdamW, SGD), otherwise ``foreach=True`` where it takes that flag.

    torch picks the per-parameter Python loop for CPU tensors by default: 6-7 small ops per parameter per step,
    about 90 for M1's 14 parameters, each a kernel launch on a GPU. ``foreach`` runs each op over all parameters
    at once and gives bitwise the same numbers as the loop on CPU (checked on torch 2.14); ``fused`` does the
    whole update in one kernel per group and differs from the loop in the last bits (~1e-7), which is why it is
    kept to CUDA, where the launches are what the step waits for. ``parameters`` must already sit on the training
    device (``configure_optimizers`` runs after Lightning moved the module there).
    """
    parameters = list(parameters)
    accepted = inspect.signature(optimizer_class.__init__).parameters
    on_cuda = bool(parameters) and parameters[0].device.type == "cuda"
    if on_cuda and "fused" in accepted:
        options.setdefault("fused", True)
    elif "foreach" in accepted:
        options.setdefault("foreach", True)
    return optimizer_class(parameters, **options)


def logs_this_step(module: L.LightningModule) -> bool:
    """Whether the logger writes the values ``module.log`` gets in this training step.

    Lightning writes on-step values every ``trainer.log_every_n_steps`` batches (and when the run stops); a
    ``self.log`` call on any other batch costs its bookkeeping (docs/design/performance.md) and is never written. True
    outside a fit (nothing to skip there). Asks the logger connector itself (``ssgen.compat.logger_writes_now``),
    so it agrees with the logger whatever the optimizers count.
    """
    try:
        trainer = module.trainer
    except RuntimeError:  # not attached to a Trainer
        return True
    return logger_writes_now(trainer)
