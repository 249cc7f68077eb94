"""Classify new images with the classifier q(y|x) of a trained M2 or M1+M2 run.

    from ssgen.predict_m2 import predict_m2, is_m2_run
    labels = predict_m2("outputs/m2/2026-11-25_07-00-00", images_uint8)   # (N, 28, 28) uint8 -> (N,) int64

Unlike M1 there is no separate head file: the classifier is part of the model, so the checkpoint alone
(``checkpoints/best.ckpt``, else ``checkpoints/last.ckpt``, or a .ckpt path) is enough. For M1+M2 the
frozen M1 encoder is inside the same checkpoint; the M1 run it came from is not read.

``is_m2_run(path)`` tells ssgen-predict which path to take: it reads the ``ssgen_module`` entry that
ssgen-train stores in every checkpoint (``ssgen.models.m2.M2`` or ``ssgen.models.m2.M1M2``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ssgen.checkpoints import load_module, read_checkpoint

M2_MODULES = ("ssgen.models.m2.M2", "ssgen.models.m2.M1M2")


def is_m2_run(path: str | Path) -> bool:
    """True if the run dir's (or .ckpt's) checkpoint was saved from M2 or M1M2; False for any other model.

    Raises CheckpointError when there is no readable checkpoint at all (the caller's usual message applies).
    """
    return read_checkpoint(path).get("ssgen_module") in M2_MODULES


def load_m2(path: str | Path) -> torch.nn.Module:
    """The M2 / M1+M2 module of a run dir or .ckpt, on CPU in eval mode; CheckpointError for anything else."""
    from ssgen.models.m2 import M2

    return load_module(path, (M2,), "method=m2 or method=m1_m2 model")


def predict_m2(run_dir: str | Path, images_uint8: np.ndarray | torch.Tensor) -> np.ndarray:
    """argmax_y q(y | x): labels ``(N,)`` int64 for uint8 images ``(N, 28, 28)`` (or ``(N, 1, 28, 28)``).

    Shape, dtype and range are checked as ssgen-predict checks them (DataError with one clear line).
    """
    from ssgen.predict import check_images

    array = images_uint8.numpy() if isinstance(images_uint8, torch.Tensor) else np.asarray(images_uint8)
    images = check_images(array, "images")
    model = load_m2(run_dir)
    return model.predict_labels(images).numpy().astype(np.int64)
