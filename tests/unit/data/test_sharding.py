"""Data sharding under DDP: every rank serves a disjoint, equal share of each epoch (padded like DistributedSampler),
and the data module takes its rank and device from the trainer. The DDP runs themselves: tests/e2e/test_scale.py."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ssgen.data import FashionMNISTDataModule, TensorBatches, write_idx


def served_labels(loader: TensorBatches) -> list[int]:
    """One epoch of a loader whose labels are the image indices: which images it served."""
    return [index for _, labels in loader for index in labels.tolist()]


def indexed_loader(n: int, batch_size: int, rank: int, world_size: int, seed: int = 0) -> TensorBatches:
    loader = TensorBatches(torch.zeros(n, 28, 28, dtype=torch.uint8), torch.arange(n), batch_size, seed=seed)
    loader.rank, loader.world_size = rank, world_size
    return loader


@pytest.mark.parametrize("world_size", [2, 4])
def test_ranks_split_every_epoch_into_disjoint_shares(world_size):
    n, batch_size = 1000, 64
    loaders = [indexed_loader(n, batch_size, rank, world_size) for rank in range(world_size)]
    previous = None
    for _epoch in range(3):
        shares = [served_labels(loader) for loader in loaders]
        assert all(len(share) == n // world_size for share in shares)  # an equal share each
        assert sorted(index for share in shares for index in share) == list(range(n))  # disjoint and complete
        assert len({len(loader) for loader in loaders}) == 1  # same number of batches: no rank waits in all-reduce
        assert shares[0] != previous  # a new shuffle each epoch, the same one on every rank
        previous = shares[0]


def test_single_process_sees_everything_in_a_seeded_order():
    first, second = indexed_loader(300, 64, 0, 1, seed=3), indexed_loader(300, 64, 0, 1, seed=3)
    assert served_labels(first) == served_labels(second) and sorted(served_labels(first)) == list(range(300))


def test_uneven_shards_still_give_every_rank_the_same_number_of_batches():
    """130 images, batch 32, 4 ranks: padded like DistributedSampler, so no rank waits alone in an all-reduce."""
    loaders = [indexed_loader(130, 32, rank, 4) for rank in range(4)]
    assert len({len(loader) for loader in loaders}) == 1
    shares = [served_labels(loader) for loader in loaders]
    assert {len(share) for share in shares} == {33}
    assert set().union(*shares) == set(range(130))  # every image served; two wrapped around


def test_datamodule_takes_rank_and_device_from_the_trainer(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 200), ("t10k", 50)):
        write_idx(tmp_path / f"{split}-images-idx3-ubyte", rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8))
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))
    loaders = []
    for rank in range(2):
        datamodule = FashionMNISTDataModule(root=str(tmp_path), n_labels=100, train_stream="labelled", batch_size=16,
                                            download=False)
        datamodule.trainer = SimpleNamespace(global_rank=rank, world_size=2,
                                             strategy=SimpleNamespace(root_device=torch.device("cpu")))
        datamodule.setup("fit")
        loaders.append(datamodule.train_dataloader())
    assert [(loader.rank, loader.world_size) for loader in loaders] == [(0, 2), (1, 2)]
    images = [torch.cat([batch for batch, _ in loader]) for loader in loaders]
    assert len(images[0]) == len(images[1]) == 50
    # no image served to both ranks (random pixels: equal rows would mean the same image)
    assert not (images[0].flatten(1)[:, None, :] == images[1].flatten(1)[None, :, :]).all(-1).any()
