"""Data sets beside Fashion-MNIST: the description (``DatasetInfo``) each consumer takes, ``data=mnist`` / ``data=kmnist``
read from IDX files in data.root, the one-line refusal when neither files nor a download are there, and the evaluator
cached per data set.

These machines cannot download MNIST: the tests write small IDX files under MNIST's names (noise, labels cycling
0..9, conftest ``write_small_set``) and run the real path on them in-process; an M1 and a GAN run through the real
``ssgen-train`` console script: tests/e2e/test_datasets_cli.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import write_small_set

from ssgen import data
from ssgen.data import (
    FASHION_MNIST,
    DatasetInfo,
    FashionMNISTDataModule,
    dataset_info,
    dataset_names,
    locate_files,
    parse_labels,
)
from ssgen.errors import ConfigError, DataError


@pytest.fixture
def offline(monkeypatch):
    """No download for any data set, and no system copy of Fashion-MNIST: only what the test writes exists."""
    import torchvision

    def refuse(*args, **kwargs):
        raise RuntimeError("offline")

    for name in ("MNIST", "KMNIST", "FashionMNIST"):
        monkeypatch.setattr(torchvision.datasets, name, refuse)
    monkeypatch.setattr(data.FASHION_MNIST, "system_dir", Path("/nonexistent/fashion-mnist"))
    monkeypatch.delenv(data.DATA_ENV, raising=False)


# ------------------------------------------------------------------------------------------------ the description
def test_each_data_set_is_described_once():
    assert dataset_names() == ["fashion_mnist", "kmnist", "mnist"]
    for name in dataset_names():
        info = dataset_info(name)
        assert info.name == name and info.n_classes == len(info.class_names) == 10
        assert info.image_shape == (1, 28, 28) and info.n_pixels == 784 and info.size == (28, 28)
    assert dataset_info("mnist").class_names[7] == "7" and dataset_info("kmnist").class_names[0] == "o"
    assert FASHION_MNIST.md5 is not None and dataset_info("mnist").md5 is None  # no invented digests
    assert data.CLASS_NAMES == FASHION_MNIST.class_names and data.N_CLASSES == 10  # the old names still import
    assert parse_labels("seven,zero", dataset_info("mnist")) == [7, 0]
    assert parse_labels("ki", dataset_info("kmnist")) == [1]


def test_an_unknown_data_set_is_one_line_naming_the_known_ones():
    with pytest.raises(ConfigError) as error:
        dataset_info("cifar10")
    message = str(error.value)
    assert "\n" not in message and message.startswith("data.dataset='cifar10' is unknown; use one of fashion_mnist, kmnist, mnist")


def test_the_networks_take_the_shape_and_classes_they_are_handed():
    """Another shape and class count than the MNIST family's reach every network family through build_network."""
    from ssgen.nets import build_network

    info = DatasetInfo(name="toy", title="Toy", class_names=("a", "b", "c"), image_shape=(1, 32, 32))
    k, shape = info.n_classes, info.image_shape
    images, labels = torch.rand(4, *shape), torch.tensor([0, 1, 2, 0])
    generator = build_network({"_target_": "ssgen.nets.dcgan.DCGANGenerator", "width": 8}, latent_dim=16,
                              n_classes=k, image_shape=shape)
    assert generator(torch.randn(4, 16), labels).shape == (4, *shape)
    mlp = build_network({"_target_": "ssgen.nets.mlp_generator.MLPGenerator", "hidden_units": 16}, latent_dim=16,
                        n_classes=k, image_shape=shape)
    assert mlp(torch.randn(4, 16), labels).shape == (4, *shape)
    critic = build_network({"_target_": "ssgen.nets.dcgan.DCGANCritic", "width": 8, "conditioning": "input"},
                           n_classes=k, image_shape=shape)
    assert critic(images, labels).shape == (4,)
    for family in ("vae_mlp.Encoder", "vae_conv.ConvEncoder"):
        encoder = build_network({"_target_": f"ssgen.nets.{family}"}, image_shape=shape)
        decoder = build_network({"_target_": f"ssgen.nets.{family.replace('Encoder', 'Decoder')}"}, image_shape=shape)
        mean, _ = encoder(images)
        assert decoder(mean).shape == (4, *shape)
    classifier = build_network({"_target_": "ssgen.nets.m2_mlp.Classifier"}, input_dim=info.n_pixels, n_classes=k)
    assert classifier(images.flatten(1)).shape == (4, k)
    with pytest.raises(ValueError, match=r"image_shape \(1, 30, 30\) needs H and W multiples of 4"):
        build_network({"_target_": "ssgen.nets.dcgan.DCGANCritic"}, n_classes=k, image_shape=(1, 30, 30))


def test_methods_and_the_evaluator_follow_the_run_s_data_set():
    from ssgen.evaluation.evaluator import Evaluator, EvaluatorConfig, evaluator_for, evaluator_path
    from ssgen.models.gan import WGANGP
    from ssgen.models.m1 import M1VAE

    gan_arch = {"name": "dcgan", "family": "gan", "networks": {
        "generator": {"_target_": "ssgen.nets.dcgan.DCGANGenerator", "width": 8},
        "critic": {"_target_": "ssgen.nets.dcgan.DCGANCritic", "width": 8}}}
    gan = WGANGP(gan_arch, latent_dim=16, dataset="mnist")
    assert gan.data_info.name == "mnist" and gan.hparams["dataset"] == "mnist" and gan.n_classes == 10
    vae_arch = {"networks": {"encoder": {"_target_": "ssgen.nets.vae_mlp.Encoder"},
                             "decoder": {"_target_": "ssgen.nets.vae_mlp.Decoder"}}}
    assert M1VAE(vae_arch).data_info is FASHION_MNIST  # a module built without a data set: the default, as before

    config = EvaluatorConfig(dataset="mnist")
    assert config.config_hash != EvaluatorConfig().config_hash
    assert EvaluatorConfig().to_dict().get("dataset") is None  # Fashion-MNIST's hashes, hence cached files, unchanged
    assert evaluator_path(config, "/c").name == f"mnist-{config.config_hash}.safetensors"
    assert evaluator_path(EvaluatorConfig(), "/c").name == f"{EvaluatorConfig().config_hash}.safetensors"
    evaluator = Evaluator(EvaluatorConfig(channels=(4, 4, 4), dataset="mnist"))
    assert evaluator.data_info.name == "mnist" and evaluator(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert evaluator.pixel_mean == dataset_info("mnist").pixel_mean
    with pytest.raises(ConfigError, match="trained on Fashion-MNIST, but these images are MNIST's"):
        evaluator_for(dataset_info("mnist"), Evaluator(EvaluatorConfig(channels=(4, 4, 4))))


# ------------------------------------------------------------------------------------------------ files
@pytest.mark.parametrize("name", ["mnist", "kmnist"])
def test_a_set_is_read_from_idx_files_in_data_root_and_recorded_unverified(tmp_path, offline, name):
    info = dataset_info(name)
    root = tmp_path / "root"
    write_small_set(root / info.raw_dir / "raw")  # torchvision's layout: <root>/MNIST/raw
    module = FashionMNISTDataModule(dataset=name, root=str(root), n_labels=100, download=False, allow_unknown=False)
    module.setup()
    assert module.info is info and len(module.labelled_indices) == 100
    assert module.identity["dataset"] == name and module.identity["verified"] is None  # digests recorded, not claimed
    assert set(module.identity["md5"]) == {"train_images", "train_labels", "test_images", "test_labels"}
    images, labels = next(iter(module.labelled_dataloader()))
    assert images.shape == (100, 1, 28, 28) and torch.bincount(labels).tolist() == [10] * 10


@pytest.mark.parametrize("name, title", [("mnist", "MNIST"), ("kmnist", "Kuzushiji-MNIST")])
def test_no_files_and_no_download_is_refused_in_one_line(tmp_path, offline, name, title):
    empty = tmp_path / "empty"
    empty.mkdir()
    for attempt in (lambda: locate_files(str(empty), info=dataset_info(name)),
                    lambda: FashionMNISTDataModule(dataset=name, root=str(empty)).prepare_data()):
        with pytest.raises(DataError) as error:
            attempt()
        message = str(error.value)
        assert "\n" not in message
        assert message.startswith(f"{title} not found; tried data.root={empty} (no IDX files); "
                                  f"torchvision download into {empty} (RuntimeError: offline)")
        assert message.endswith("fix one of: set data.root=<dir with the four IDX files>; "
                                "or go online so torchvision can download them")


def test_data_mnist_composes_and_validates(tmp_path, offline):
    from conftest import compose_config

    from ssgen.config.validation import validate

    root = write_small_set(tmp_path / "mnist")
    cfg = compose_config(["data=mnist", f"data.root={root}", f"run_dir={tmp_path / 'run'}"])
    assert cfg.data.dataset == "mnist" and cfg.data.n_labels == 100 and "dataset" not in cfg.method
    validate(cfg)
    with pytest.raises(ConfigError, match="data.dataset='emnist' is unknown"):
        validate(compose_config(["data=mnist", "data.dataset=emnist", f"run_dir={tmp_path / 'run'}"]))
