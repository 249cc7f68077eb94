"""Every method of ssgen, as a LightningModule; networks live in ``ssgen.nets``, objectives in ``ssgen.losses``.

    m1.py   M1VAE: the VAE of M1 (Kingma et al. 2014); its SVM head is a callback (ssgen.callbacks.svm_head)
    gan.py  ConditionalGAN (the shared loop) and DCGAN, WGANClip, WGANGP (their update rules)
    m2.py   M2 and M1M2 (Kingma et al. 2014, sec. 3.1.2-3.1.3)

A method YAML (``conf/method/<name>.yaml``) names its class by ``_target_``. ``module_class`` is the gate
through which every command and checkpoint rebuilds a model: only LightningModule classes defined in a
module of this package are accepted (a new method joins by living here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L

from ssgen.nets import package_class

PACKAGE = __name__  # "ssgen.models"
PACKAGE_DIR = Path(__file__).resolve().parent


def module_class(target: Any) -> type[L.LightningModule]:
    """The LightningModule class ``target`` names (``ssgen.models.<module>.<Class>``); CheckpointError otherwise.

    Nothing outside this package is imported: see ``ssgen.nets.package_class``.
    """
    return package_class(target, PACKAGE, PACKAGE_DIR, L.LightningModule, "model")
