"""The one LightningDataModule every ssgen model uses: a data set of MNIST's format read once into memory.

    from ssgen.data import FashionMNISTDataModule
    dm = FashionMNISTDataModule(n_labels=100, seed=0); dm.setup()            # Fashion-MNIST (the default)
    dm = FashionMNISTDataModule(dataset="mnist", root="data/mnist")           # any set of ssgen/data/sets
    images, labels = next(iter(dm.labelled_dataloader()))   # (100, 1, 28, 28) float, (100,) int64
    dm.info                                                  # its DatasetInfo: classes, image shape, names

Batches are cut out of in-memory uint8 tensors (``TensorBatches``; ``to_pixels``: uint8 -> float in the method's
range), and ``data.device_resident`` decides where the tensors live during a fit (``resident_device``: the
training device, unless the set would crowd it, or the host).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from ssgen.data.files import identify, load_files, locate_files
from ssgen.data.labels import (
    holdout_split,
    parse_n_labels,
    sample_label_subset,
    split_labelled,
    stratified_holdout,
)
from ssgen.data.sets import dataset_info
from ssgen.errors import ConfigError
from ssgen.io import atomic_write_text


def to_pixels(images: torch.Tensor, pixel_range: str) -> torch.Tensor:
    """uint8 (N, H, W) -> float (N, 1, H, W) in [0, 1] ('unit') or [-1, 1] ('symmetric')."""
    x = images.unsqueeze(1).float().div_(255.0)
    if pixel_range == "symmetric":
        x = x.mul_(2.0).sub_(1.0)
    elif pixel_range != "unit":
        raise ConfigError(f"data.pixel_range={pixel_range!r} is unknown; use 'unit' ([0,1], VAE) or 'symmetric' ([-1,1], GANs)")
    return x


class TensorBatches:
    """Batches sliced out of in-memory tensors: no per-sample ``__getitem__``, no collate, no workers.

    Yields ``(images, labels)`` with images ``(B, 1, H, W)`` float and labels ``(B,)`` int64
    (``labels`` is None for the unlabelled stream, so a label can never leak into an unsupervised loss).
    The shuffle order of epoch ``e`` is a pure function of ``(seed, e)``; ``state_dict`` records the
    epoch and the batches already served, so Lightning can resume mid-epoch at the next batch.
    Under DDP each rank takes every ``world_size``-th index of the same permutation.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None,
        batch_size: int,
        pixel_range: str = "unit",
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
    ) -> None:
        self.images, self.labels = images, labels
        self.batch_size, self.pixel_range = batch_size, pixel_range
        self.shuffle, self.drop_last, self.seed = shuffle, drop_last, seed
        self.rank, self.world_size = 0, 1
        self.epoch, self._served = -1, 0  # the epoch being served and how many of its batches went out
        self._resume: tuple[int, int] | None = None

    def _n_local(self) -> int:
        # every rank gets the same count (padded like DistributedSampler): unequal batch counts hang DDP
        return -(-len(self.images) // self.world_size)

    def __len__(self) -> int:
        n = self._n_local()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        # Each iter() is a new epoch (also when Lightning stops early with limit_train_batches),
        # unless a checkpoint's state asks to finish an interrupted one first.
        epoch, start = self._resume if self._resume is not None else (self.epoch + 1, 0)
        if start >= len(self):
            epoch, start = epoch + 1, 0
        self._resume, self.epoch, self._served = None, epoch, start
        n = len(self.images)
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
            order = torch.randperm(n, generator=generator)
        else:
            order = torch.arange(n)
        if self.world_size > 1:  # wrap the first few indices around so the order splits evenly
            order = torch.cat([order, order[: self._n_local() * self.world_size - n]])
        order = order[self.rank :: self.world_size].to(self.images.device)
        for batch in range(start, len(self)):
            index = order[batch * self.batch_size : (batch + 1) * self.batch_size]
            self._served = batch + 1
            images = to_pixels(self.images[index], self.pixel_range)
            yield images, (None if self.labels is None else self.labels[index].long())

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "served": self._served}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._resume = (state["epoch"], state["served"])


DEVICE_RESIDENT_CHOICES = ("auto", "true", "false")


def parse_device_resident(value: Any) -> str:
    """``data.device_resident`` as 'auto', 'true' or 'false' (YAML booleans accepted). Raises ConfigError."""
    text = str(value).strip().lower()
    if text not in DEVICE_RESIDENT_CHOICES:
        raise ConfigError(f"data.device_resident={value!r} is unknown; use auto (the data set on the GPU when training "
                          "on one), true (always on the training device) or false (on the host, batches copied per step)")
    return text


def resident_device(setting: str, device: torch.device, nbytes: int = 0) -> torch.device | None:
    """Where a stream's tensors live for ``data.device_resident=setting`` on a run training on ``device``.

    'true': on ``device``. On a GPU the whole set (Fashion-MNIST's 60k training images: 47 MB of uint8) is
    copied once, and batches are then cut and converted there, with no host-to-device copy and no host sync per
    step. 'auto': the same, unless the ``nbytes`` of the stream would take more than a quarter of the GPU's free
    memory (never for this data set; a guard for a small MIG slice shared with other jobs). 'false': None, the
    tensors stay on the host and Lightning copies each float batch to the device (4 bytes a pixel, not 1). On the
    CPU every setting leaves the same tensors in place; 'true' and 'false' still take their own code path, which
    is what the tests compare.
    """
    setting = parse_device_resident(setting)
    if setting == "false":
        return None
    if setting == "auto" and device.type == "cuda" and nbytes:
        free, _ = torch.cuda.mem_get_info(device)
        if nbytes > free // 4:
            return None
    return device


class FashionMNISTDataModule(L.LightningDataModule):
    """The one data module every ssgen model uses (named for its default data set; ``dataset`` picks another).

    Args:
        root: directory searched first for the IDX files (and download target).
        n_labels: labelled training images, class-balanced (n_labels / n_classes per class); 0 = none; 'all' = the
            whole training set (60000).
        seed: draws the label subset (and the holdout); same seed, same indices, any machine.
        pixel_range: 'unit' ([0,1], VAE) or 'symmetric' ([-1,1], GANs).
        train_stream: what ``train_dataloader`` serves: 'unlabelled' (all training images, no
            labels), 'labelled' (the labelled subset with labels).
        val_size: images held out of training (stratified) for validation; 0 = none. The 10k test
            set is never used for training or model selection.
        labelled_holdout: fraction of the ``n_labels`` labelled images held out of the labelled subset
            (stratified) as ``labelled_holdout`` split, to select hyperparameters by; 0 = none. The
            held-out images stay in the unlabelled stream, as every training image does, so an M2's
            accuracy on them is optimistic against the test set (docs/design/m2.md): compare settings with it.
        batch_size: batch size of the training stream.
        eval_batch_size: batch size of the validation, labelled and test streams.
        download: let torchvision download the files into ``root`` when they are nowhere else.
        run_dir: where ``labelled_indices.json`` is written (None = not written).
        device_resident: 'auto' | 'true' | 'false': whether the training and validation streams keep their
            uint8 tensors on the training device and cut batches there (``resident_device``).
        allow_unknown: files that are not the data set's (``identify``; Fashion-MNIST's are known by digest):
            False refuses them (a DataError naming them; ssgen-train's default, ``data.allow_unknown``), True uses
            them with a warning, None (the default of a data module built in Python) warns as True does.
            ``identity`` records what was read.
        dataset: which data set (``ssgen.data.dataset_info``: a module of ``ssgen/data/sets``); ``data=mnist``
            sets it. ``info`` is its description, which the methods, metrics and evaluator take theirs from.
    """

    # paths a user gives: resolved against the launch directory before the run (ssgen.config.paths)
    path_arguments = ("root",)

    def __init__(
        self,
        root: str | None = None,
        n_labels: int | str = 0,
        seed: int = 0,
        pixel_range: str = "unit",
        train_stream: str = "unlabelled",
        val_size: int = 0,
        labelled_holdout: float = 0.0,
        batch_size: int = 100,
        eval_batch_size: int = 1000,
        download: bool = True,
        run_dir: str | None = None,
        device_resident: str | bool = "auto",
        allow_unknown: bool | None = None,
        dataset: str = "fashion_mnist",
    ) -> None:
        super().__init__()
        self.dataset, self.info = dataset, dataset_info(dataset)
        info = self.info
        self.allow_unknown = allow_unknown
        self.identity: dict[str, Any] | None = None  # identify()'s record of the files read, after setup
        self.root, self.download, self.run_dir = root, download, run_dir
        self.device_resident = parse_device_resident(device_resident)
        self.n_labels = parse_n_labels(n_labels, info=info)
        self.seed, self.pixel_range, self.train_stream = seed, pixel_range, train_stream
        self.val_size = parse_n_labels(val_size, "data.val_size", info) if val_size else 0
        self.n_labelled_holdout = holdout_split(self.n_labels, labelled_holdout, info) if labelled_holdout else 0
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        if train_stream not in ("unlabelled", "labelled"):
            raise ConfigError(f"data.train_stream={train_stream!r} is unknown; use 'unlabelled' or 'labelled'")
        if train_stream == "labelled" and self.n_labels == 0:
            raise ConfigError("this method trains on labelled images but data.n_labels=0; set data.n_labels (e.g. 'all')")
        self.data: dict[str, torch.Tensor] | None = None
        self._loaders: dict[str, TensorBatches] = {}

    def prepare_data(self) -> None:
        locate_files(self.root, self.download, self.info)  # downloads once, on rank 0, before setup on every rank

    def setup(self, stage: str | None = None) -> None:
        if self.data is not None:
            return
        info = self.info
        files = locate_files(self.root, self.download, info)
        self.data = load_files(files, info)
        self.identity = identify(files, self.allow_unknown, info)
        train_labels = self.data["train_labels"].numpy()
        self.val_indices = stratified_holdout(train_labels, self.val_size, self.seed, info)
        keep = np.ones(len(train_labels), dtype=bool)
        keep[self.val_indices] = False
        self.unlabelled_indices = np.flatnonzero(keep)
        k = info.n_classes
        if self.n_labels == info.n_train and self.val_size == 0:
            self.labelled_indices = np.arange(len(train_labels))
        else:
            self.labelled_indices = sample_label_subset(train_labels, min(self.n_labels, len(self.unlabelled_indices) // k * k),
                                                        self.seed, exclude=self.val_indices, info=info)
        self.labelled_holdout_indices = np.zeros(0, dtype=np.int64)
        if self.n_labelled_holdout:
            self.labelled_indices, self.labelled_holdout_indices = split_labelled(
                train_labels, self.labelled_indices, self.n_labelled_holdout, self.seed, info)
        if self.run_dir is not None and getattr(self.trainer, "is_global_zero", True):
            self.write_indices(Path(self.run_dir) / "labelled_indices.json")

    def write_indices(self, path: Path) -> None:
        payload = {"seed": self.seed, "n_labels": self.n_labels, "labelled_indices": self.labelled_indices.tolist(),
                   "val_indices": self.val_indices.tolist(),
                   "labelled_holdout_indices": self.labelled_holdout_indices.tolist()}
        atomic_write_text(path, json.dumps(payload))

    # --- tensors for heads and metrics (uint8 kept until needed)
    def images(self, split: str) -> torch.Tensor:
        """uint8 (N, H, W) images of 'train', 'test', 'labelled', 'unlabelled', 'val' or 'labelled_holdout'."""
        assert self.data is not None, "call setup() first"
        if split in ("train", "test"):
            return self.data[f"{split}_images"]
        return self.data["train_images"][torch.from_numpy(getattr(self, f"{split}_indices"))]

    def labels(self, split: str) -> torch.Tensor:
        assert self.data is not None, "call setup() first"
        if split in ("train", "test"):
            return self.data[f"{split}_labels"].long()
        return self.data["train_labels"][torch.from_numpy(getattr(self, f"{split}_indices"))].long()

    def _loader(self, name: str, split: str, with_labels: bool, shuffle: bool, batch_size: int) -> TensorBatches:
        if name not in self._loaders:
            loader = TensorBatches(self.images(split), self.labels(split) if with_labels else None, batch_size,
                                   self.pixel_range, shuffle=shuffle, seed=self.seed)
            if self.trainer is not None:
                loader.rank, loader.world_size = self.trainer.global_rank, self.trainer.world_size
                nbytes = loader.images.nbytes + (0 if loader.labels is None else loader.labels.nbytes)
                device = resident_device(self.device_resident, self.trainer.strategy.root_device, nbytes)
                if device is not None:  # once per fit: every batch is then cut where the model is
                    loader.images = loader.images.to(device)
                    if loader.labels is not None:
                        loader.labels = loader.labels.to(device)
            self._loaders[name] = loader
        return self._loaders[name]

    def train_dataloader(self) -> TensorBatches:
        if self.train_stream == "labelled":
            return self._loader("train", "labelled", True, True, self.batch_size)
        return self._loader("train", "unlabelled", False, True, self.batch_size)

    def val_dataloader(self) -> TensorBatches | list:
        if self.val_size == 0:
            return []
        return self._loader("val", "val", self.train_stream == "labelled", False, self.eval_batch_size)

    def labelled_dataloader(self) -> TensorBatches:
        return TensorBatches(self.images("labelled"), self.labels("labelled"), self.eval_batch_size, self.pixel_range, shuffle=False)

    def test_dataloader(self) -> TensorBatches:
        return TensorBatches(self.images("test"), self.labels("test"), self.eval_batch_size, self.pixel_range, shuffle=False)
