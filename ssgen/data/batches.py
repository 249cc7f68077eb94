"""Batches cut out of in-memory uint8 tensors: ``to_pixels`` (uint8 -> float in the method's range), ``TensorBatches``.

    loader = TensorBatches(images, labels, batch_size=100, pixel_range="unit", seed=0)
    for images, labels in loader: ...     # (100, 1, H, W) float, (100,) int64
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from ssgen.errors import ConfigError


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
