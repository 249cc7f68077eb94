"""ssgen: semi-supervised (M1, M2, M1+M2) and class-conditional generative models (DCGAN, WGAN, WGAN-GP) on Fashion-MNIST.

    import ssgen
    model = ssgen.load("outputs/m2/<run>")     # see ssgen.api

``import ssgen`` stays cheap: torch, Lightning and the models are imported on the first ``ssgen.load``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path


__version__ = "0.1.0"


def load(path: str | Path) -> Any:
    """The trained model of a run dir or .ckpt, as ``ssgen.api.GAN``, ``M1`` or ``M2`` (see ``ssgen.api.load``)."""
    from ssgen.api import load as load_model

    return load_model(path)
