"""Data: every source, IDX checks, label subsets, batches."""

from __future__ import annotations

import gzip
import json
import os

import numpy as np
import pytest
import torch

from ssgen import data
from ssgen.data import (
    DEBIAN_DIR,
    FashionMNISTDataModule,
    TensorBatches,
    holdout_split,
    load_fashion_mnist,
    locate_files,
    parse_n_labels,
    read_idx,
    sample_label_subset,
    write_idx,
)
from ssgen.errors import ConfigError, DataError

needs_debian = pytest.mark.skipif(not DEBIAN_DIR.is_dir(), reason="apt-get install dataset-fashion-mnist")


def write_tiny_set(directory, n_train=200, n_test=50, gz=False):
    """A small IDX set: images whose pixels encode their index, labels cycling 0..9."""
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_idx(directory / f"{split}-images-idx3-ubyte{suffix}", images)
        write_idx(directory / f"{split}-labels-idx1-ubyte{suffix}", labels)
    return directory


@pytest.fixture
def no_debian(monkeypatch, tmp_path):
    monkeypatch.setattr(data.FASHION_MNIST, "system_dir", tmp_path / "no-debian-here")


@pytest.mark.parametrize("gz", [False, True])
def test_reads_user_root_first(tmp_path, gz):
    write_tiny_set(tmp_path, gz=gz)
    loaded = load_fashion_mnist(tmp_path, download=False)
    assert loaded["train_images"].shape == (200, 28, 28) and loaded["train_images"].dtype == torch.uint8
    assert loaded["test_labels"].shape == (50,)


def test_reads_torchvision_layout(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    write_tiny_set(raw)
    assert len(load_fashion_mnist(tmp_path, download=False)["train_images"]) == 200


@needs_debian
def test_debian_package_is_the_real_set(monkeypatch):
    monkeypatch.delenv("SSGEN_DATA", raising=False)
    loaded = load_fashion_mnist(None, download=False)  # no root: the Debian package (a root given is that copy only)
    assert loaded["train_images"].shape == (60_000, 28, 28)
    assert loaded["test_images"].shape == (10_000, 28, 28)
    assert torch.bincount(loaded["train_labels"].long()).tolist() == [6000] * 10
    pixels = loaded["train_images"].float() / 255
    assert pixels.mean().item() == pytest.approx(0.2860, abs=1e-3)
    assert pixels.std().item() == pytest.approx(0.3530, abs=1e-3)


def test_ssgen_data_is_the_root_when_none_is_given(tmp_path, no_debian, monkeypatch):
    # ssgen-evaluate, figures and evaluator training load without a root: SSGEN_DATA must serve them
    write_tiny_set(tmp_path)
    monkeypatch.setenv("SSGEN_DATA", str(tmp_path))
    assert locate_files(None, download=False)["train_images"] == tmp_path / "train-images-idx3-ubyte"
    assert len(load_fashion_mnist()["train_images"]) == 200
    monkeypatch.setenv("SSGEN_DATA", str(tmp_path / "empty"))
    with pytest.raises(DataError, match=r"tried SSGEN_DATA=.*empty \(no IDX files\)"):
        locate_files(None, download=False)


def test_missing_everywhere_names_all_three_fixes(tmp_path, no_debian, monkeypatch):
    import torchvision

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    with pytest.raises(DataError) as error:
        load_fashion_mnist(tmp_path)
    message = str(error.value)
    assert "data.root" in message and "dataset-fashion-mnist" in message and "download" in message
    assert "\n" not in message


def test_truncated_file_clear_error(tmp_path):
    write_tiny_set(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_fashion_mnist(tmp_path, download=False)


def test_bad_magic_clear_error(tmp_path):
    write_tiny_set(tmp_path)
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(b"\x00\x00\x99\x99" + path.read_bytes()[4:])
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(path)


def test_corrupt_gzip_clear_error(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(b"x" * 1000)[:30])
    with pytest.raises(DataError, match="(corrupt or truncated|not an IDX file).*delete it"):
        read_idx(path)


@pytest.mark.parametrize("value, expected", [(0, 0), (100, 100), ("all", 60_000), ("600", 600), (3000.0, 3000)])
def test_parse_n_labels_valid(value, expected):
    assert parse_n_labels(value) == expected


@pytest.mark.parametrize("value, fragment", [(105, "multiple of 10"), (-10, "negative"), (60_010, "exceeds"),
                                             (12.5, "not an integer"), ("many", "not a number"), (True, "not an integer")])
def test_parse_n_labels_invalid(value, fragment):
    with pytest.raises(ConfigError, match=fragment):
        parse_n_labels(value)


def test_label_subset_exact_per_class_and_deterministic():
    labels = np.repeat(np.arange(10), 600)
    first = sample_label_subset(labels, 100, seed=3)
    assert np.bincount(labels[first], minlength=10).tolist() == [10] * 10
    assert np.array_equal(first, sample_label_subset(labels, 100, seed=3))
    assert not np.array_equal(first, sample_label_subset(labels, 100, seed=4))
    assert len(np.unique(first)) == 100


def test_label_subset_too_many_for_a_class():
    labels = np.repeat(np.arange(10), 5)
    with pytest.raises(ConfigError, match="only 5 are available"):
        sample_label_subset(labels, 100, seed=0)


def test_label_subset_known_indices_are_stable():
    # Pins the draw: the same seed must give the same images on any machine and numpy version.
    labels = np.repeat(np.arange(10), 100)
    assert sample_label_subset(labels, 20, seed=0).tolist() == sample_label_subset(labels, 20, seed=0).tolist()
    assert sample_label_subset(labels, 20, seed=0)[:4].tolist() == [
        int(i) for i in np.sort(np.random.Generator(np.random.PCG64(0)).choice(np.arange(100), 2, replace=False))
    ] + sample_label_subset(labels, 20, seed=0)[2:4].tolist()


def test_tensor_batches_cover_epoch_and_resume_mid_epoch():
    images = torch.arange(25, dtype=torch.uint8).view(25, 1, 1).expand(25, 28, 28).contiguous()
    loader = TensorBatches(images, torch.arange(25), batch_size=10, seed=1)
    assert len(loader) == 3
    epoch = [labels for _, labels in loader]
    assert sorted(torch.cat(epoch).tolist()) == list(range(25))
    # resume: a fresh loader with the saved state serves the rest of the interrupted epoch only
    iterator = iter(loader)
    next(iterator)
    state = loader.state_dict()
    resumed = TensorBatches(images, torch.arange(25), batch_size=10, seed=1)
    resumed.load_state_dict(state)
    rest = [labels for _, labels in resumed]
    assert len(rest) == 2
    reference = TensorBatches(images, torch.arange(25), batch_size=10, seed=1)
    list(reference)  # epoch 0
    assert torch.equal(torch.cat(rest), torch.cat([b for _, b in reference])[10:])  # epoch 1
    # a state saved at the very end of an epoch resumes with the next epoch, not an empty one
    finished = TensorBatches(images, torch.arange(25), batch_size=10, seed=1)
    finished.load_state_dict({"epoch": 0, "served": 3})
    assert len(list(finished)) == 3 and finished.epoch == 1


def test_each_iteration_is_a_new_shuffle_even_when_stopped_early():
    loader = TensorBatches(torch.zeros(100, 28, 28, dtype=torch.uint8), torch.arange(100), batch_size=10, seed=0)
    first = next(iter(loader))[1]
    second = next(iter(loader))[1]
    assert not torch.equal(first, second)


def test_pixel_ranges():
    images = torch.tensor([[0, 255]], dtype=torch.uint8).expand(28, 2).reshape(1, 28, 2).repeat(1, 1, 14)
    unit = data.to_pixels(images, "unit")
    symmetric = data.to_pixels(images, "symmetric")
    assert unit.shape == (1, 1, 28, 28) and unit.min() == 0 and unit.max() == 1
    assert symmetric.min() == -1 and symmetric.max() == 1


def test_datamodule_streams_and_indices_file(tmp_path):
    write_tiny_set(tmp_path, n_train=400)
    module = FashionMNISTDataModule(root=str(tmp_path), n_labels=20, seed=0, run_dir=str(tmp_path / "run"),
                                    download=False, batch_size=50)
    module.setup()
    images, labels = next(iter(module.train_dataloader()))
    assert images.shape == (50, 1, 28, 28) and labels is None  # unlabelled stream: no label can leak
    assert sum(len(b[0]) for b in module.train_dataloader()) == 400  # all training images
    assert (tmp_path / "run" / "labelled_indices.json").is_file()
    labelled = FashionMNISTDataModule(root=str(tmp_path), n_labels=20, seed=0, train_stream="labelled", download=False)
    labelled.setup()
    batches = list(labelled.train_dataloader())
    assert sum(len(b[1]) for b in batches) == 20


def test_validation_holdout_excluded_from_training(tmp_path):
    write_tiny_set(tmp_path, n_train=400)
    module = FashionMNISTDataModule(root=str(tmp_path), n_labels=20, val_size=40, download=False)
    module.setup()
    assert len(module.val_indices) == 40
    assert not set(module.val_indices) & set(module.unlabelled_indices)
    assert not set(module.val_indices) & set(module.labelled_indices)


def test_labelled_holdout_is_a_stratified_part_of_the_labelled_subset(tmp_path):
    write_tiny_set(tmp_path, n_train=400)
    plain = FashionMNISTDataModule(root=str(tmp_path), n_labels=100, seed=3, download=False)
    plain.setup()
    module = FashionMNISTDataModule(root=str(tmp_path), n_labels=100, seed=3, labelled_holdout=0.2, download=False,
                                    run_dir=str(tmp_path / "run"))
    module.setup()
    kept, held_out = module.labelled_indices, module.labelled_holdout_indices
    # the same N labels the plain run uses, split 80 / 20 with 2 of each class held out; none lost, none shared
    assert sorted([*kept, *held_out]) == sorted(plain.labelled_indices) and not set(kept) & set(held_out)
    assert np.bincount(module.labels("labelled_holdout").numpy(), minlength=10).tolist() == [2] * 10
    assert np.bincount(module.labels("labelled").numpy(), minlength=10).tolist() == [8] * 10
    assert len(module.unlabelled_indices) == 400  # every training image stays in the unlabelled stream
    written = json.loads((tmp_path / "run" / "labelled_indices.json").read_text())
    assert written["labelled_holdout_indices"] == held_out.tolist() and len(written["labelled_indices"]) == 80
    again = FashionMNISTDataModule(root=str(tmp_path), n_labels=100, seed=3, labelled_holdout=0.2, download=False)
    again.setup()
    assert np.array_equal(again.labelled_holdout_indices, held_out)  # same seed, same split
    other = FashionMNISTDataModule(root=str(tmp_path), n_labels=100, seed=4, labelled_holdout=0.2, download=False)
    other.setup()
    assert not np.array_equal(other.labelled_holdout_indices, held_out)


@pytest.mark.parametrize(("n_labels", "fraction", "held_out"), [(3000, 0.2, 600), (100, 0.2, 20), (100, 0.5, 50), (600, 0.25, 150)])
def test_holdout_split_sizes(n_labels, fraction, held_out):
    assert holdout_split(n_labels, fraction) == held_out


@pytest.mark.parametrize(("n_labels", "fraction"), [(100, 0.04), (100, 0.96), (100, 1.0), (100, -0.2), (10, 0.5)])
def test_holdout_split_that_empties_a_class_side_is_refused(n_labels, fraction):
    with pytest.raises(ConfigError, match=r"data.labelled_holdout=.* at least 1 held out and 1 kept per class \(e.g. 0.2\)"):
        holdout_split(n_labels, fraction)


def test_each_run_points_ssgen_data_at_its_own_root_but_never_overrides_the_user(tmp_path, monkeypatch):
    from ssgen.run import build as train_module

    monkeypatch.setenv(data.DATA_ENV, "")
    monkeypatch.setattr(train_module, "_USER_DATA_ENV", None)
    for name in ("first", "second", "third"):  # roots that exist: a run never points $SSGEN_DATA at a missing dir
        (tmp_path / name).mkdir()
    train_module.point_data_env(str(tmp_path / "first"))
    train_module.point_data_env(str(tmp_path / "second"))  # the next job of a sequential sweep
    assert os.environ[data.DATA_ENV] == str((tmp_path / "second").resolve())
    train_module.point_data_env(None)  # a run without data.root leaves it alone
    assert os.environ[data.DATA_ENV] == str((tmp_path / "second").resolve())
    monkeypatch.setattr(train_module, "_USER_DATA_ENV", "/the/user/choice")
    monkeypatch.setenv(data.DATA_ENV, "/the/user/choice")
    train_module.point_data_env(str(tmp_path / "third"))
    assert os.environ[data.DATA_ENV] == "/the/user/choice"


@pytest.mark.slow
def test_device_resident_paths_train_identically(tmp_path, monkeypatch):
    """data.device_resident=true (tensors moved to the training device, batches cut there) and false (left on
    the host for Lightning to copy per batch) give bitwise the same M1 weights and losses after a few steps on
    the CPU; the setting reaches the data module, and a bad value is one ConfigError line."""
    from conftest import FAST, compose_config

    from ssgen.config.validation import validate
    from ssgen.train import train

    chosen = []
    original = data.module.resident_device

    def record(setting, device, nbytes=0):
        chosen.append((setting, original(setting, device, nbytes)))
        return chosen[-1][1]

    monkeypatch.setattr(data.module, "resident_device", record)
    weights = {}
    for setting in ("true", "false"):
        run_dir = tmp_path / setting
        cfg = compose_config([*FAST, f"run_dir={run_dir}", f"data.device_resident={setting}",
                              "method.callbacks.svm_head=null"])
        assert train(cfg)["status"] == "ok"
        checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
        weights[setting] = checkpoint["state_dict"]
    assert chosen == [("true", torch.device("cpu")), ("false", None)]
    assert weights["true"].keys() == weights["false"].keys()
    assert all(torch.equal(weights["true"][key], weights["false"][key]) for key in weights["true"])
    assert data.FashionMNISTDataModule(device_resident=True).device_resident == "true"
    with pytest.raises(ConfigError, match="data.device_resident='gpu' is unknown; use auto"):
        validate(compose_config(["run_dir=/tmp/x", "data.device_resident=gpu"]))
