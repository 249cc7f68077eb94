"""The standard Inception FID of a generator, a different scale from ssgen's domain FID (``ssgen.evaluation.metrics``).

    ssgen-evaluate run=<run>/checkpoints/last.ckpt fid_network=inception inception_weights=<file>

``inception_report`` (what ``ssgen-evaluate ... fid_network=inception`` runs): torchmetrics'
default ``FrechetInceptionDistance`` (Inception-v3 pool features, 2048-d, through torch-fidelity; the weights
are downloaded on first use unless a local file is given), the grey images repeated to 3 channels and resized
to 299x299 inside the metric. Its numbers are labelled ``INCEPTION_FID_LABEL``: an ImageNet network's view of
28x28 clothing, comparable with other papers' Fashion-MNIST FIDs only as far as their preprocessing matches,
and never with ssgen's domain FID.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ssgen.data import FASHION_MNIST, DatasetInfo, to_pixels
from ssgen.errors import ConfigError
from ssgen.evaluation.metrics import balanced_indices, balanced_labels
from ssgen.evaluation.scoring import SampleFn, default_dataset, sample_images
from ssgen.io import add_inputs, display_path

INCEPTION_FID_LABEL = "FID (Inception, torchmetrics; not comparable with ssgen's domain FID)"
INCEPTION_BATCH = 100  # 299x299x3 Inception inputs: 100 of them are ~100 MB of activations per layer


def inception_fid_metric(weights_path: str | None = None, device: str | torch.device = "cpu") -> nn.Module:
    """torchmetrics' standard ``FrechetInceptionDistance(feature=2048, normalize=True)`` with real statistics
    that survive ``reset()``, on ``device``.

    ``weights_path``: a local copy of torch-fidelity's Inception weights (a plain state dict, e.g.
    ``pt_inception-2015-12-05-6726825d.pth``) for a machine without internet; None downloads them on first use
    (cached by torch.hub). Raises ConfigError, one line each, when torch-fidelity is missing, the file is not
    there or is not a plain state dict, or the download fails.
    """
    try:
        import torch_fidelity  # noqa: F401  (torchmetrics' Inception lives in it)
    except ImportError:
        raise ConfigError("fid_network=inception needs torch-fidelity, which is not installed; "
                          "pip install 'ssgen[inception]' (or pip install torch-fidelity)") from None
    from torchmetrics.image.fid import FrechetInceptionDistance

    if weights_path is not None:
        path = Path(weights_path)
        add_inputs([path], f"inception_weights={display_path(path)}")
        if not path.is_file():
            raise ConfigError(f"inception_weights={weights_path}: no such file; give torch-fidelity's "
                              "pt_inception-2015-12-05-6726825d.pth or drop the option to download it")
        try:  # torch-fidelity loads the file with weights_only=False: only a plain state dict gets that far
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ConfigError(f"inception_weights={weights_path} is not a plain PyTorch state dict "
                              f"({type(exc).__name__}); give torch-fidelity's Inception weights file") from None
        if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
            raise ConfigError(f"inception_weights={weights_path} is not a state dict of tensors; "
                              "give torch-fidelity's Inception weights file")
    try:
        metric = FrechetInceptionDistance(feature=2048, normalize=True, reset_real_features=False, sync_on_compute=False,
                                          feature_extractor_weights_path=None if weights_path is None else str(weights_path))
    except (OSError, RuntimeError) as exc:  # URLError is an OSError; a refused connection surfaces as either
        if weights_path is not None:
            raise ConfigError(f"inception_weights={weights_path} does not fit torch-fidelity's Inception "
                              f"({type(exc).__name__}); give its pt_inception-2015-12-05 weights") from None
        raise ConfigError(f"could not download the Inception weights ({type(exc).__name__}: {exc}); on a machine "
                          "without internet give a local copy with inception_weights=<file>") from None
    return metric.to(device)


def _feed_inception(metric: nn.Module, images: torch.Tensor, real: bool, batch_size: int) -> None:
    """Grey ``(N, 1, 28, 28)`` [0, 1] images as the RGB ``(N, 3, 28, 28)`` the metric resizes to 299x299."""
    device = metric.device
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size].to(device)
        metric.update(chunk.expand(-1, 3, -1, -1), real=real)


def inception_report(sample_fn: SampleFn, n: int = 10000, seed: int = 0, floor: bool = True,
                     data: dict[str, torch.Tensor] | None = None, weights_path: str | None = None,
                     device: str | torch.device | None = None, batch_size: int = INCEPTION_BATCH,
                     info: DatasetInfo = FASHION_MNIST) -> dict[str, Any]:
    """The standard Inception FID of a generator against the test images (and the floor: ``n`` real training
    images, class-balanced, drawn with ``seed``), with ``fid_label`` = ``INCEPTION_FID_LABEL``.

    ``sample_fn`` as for ``generator_report`` (labels -> [0, 1] images); ``device`` defaults to CUDA when
    available (Inception at 299x299 is slow on a CPU: tens of minutes for n=10000). Returns ``fid_inception``
    (+ ``fid_inception_floor``), ``fid_label``, ``n``, ``reference`` ('test'), ``n_reference``,
    ``inception_weights`` and ``seconds``. ``info``: the data set (its classes; its files when ``data`` is None).
    """
    start = time.time()
    if n < 20:
        raise ConfigError(f"n={n} is too small for FID; use at least 20 (10000 for reported numbers)")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    metric = inception_fid_metric(weights_path, device)
    data = data if data is not None else default_dataset(info)
    test_images = to_pixels(data["test_images"], "unit")
    _feed_inception(metric, test_images, True, batch_size)
    images = sample_images(sample_fn, balanced_labels(n, info))
    _feed_inception(metric, images, False, batch_size)
    report: dict[str, Any] = {"fid_inception": float(metric.compute()), "fid_label": INCEPTION_FID_LABEL, "n": n,
                              "reference": "test", "n_reference": len(test_images),
                              "inception_weights": str(weights_path) if weights_path else "torch-fidelity download"}
    if floor:
        if n > len(data["train_images"]):
            raise ConfigError(f"n={n} exceeds the {len(data['train_images'])} training images the floor draws from; "
                              "use a smaller n or floor=false")
        index = balanced_indices(data["train_labels"].long(), n, seed, info)
        metric.reset()  # keeps the real (test) statistics
        _feed_inception(metric, to_pixels(data["train_images"][index], "unit"), False, batch_size)
        report["fid_inception_floor"] = float(metric.compute())
    report["seconds"] = round(time.time() - start, 1)
    return report
