"""Each default lives once: the data schema is FashionMNISTDataModule's signature, and conf/data/ repeats none of it."""

from __future__ import annotations

import dataclasses
import inspect

import yaml
from conftest import compose_config

from ssgen.config.files import CONF_DIR
from ssgen.config.schemas import DATA_WIRING, DataConfig
from ssgen.data import FashionMNISTDataModule

SIGNATURE = {name: parameter for name, parameter in inspect.signature(FashionMNISTDataModule.__init__).parameters.items()
             if name != "self"}


def test_the_data_schema_is_the_data_module_signature():
    fields = {field.name: field for field in dataclasses.fields(DataConfig)}
    assert list(fields) == ["_target_", *SIGNATURE]  # same keys, same order
    assert fields["_target_"].default == "ssgen.data.FashionMNISTDataModule"
    for name, parameter in SIGNATURE.items():
        assert fields[name].default == DATA_WIRING.get(name, parameter.default), name


def test_the_data_yaml_sets_no_default_of_the_class():
    for path in sorted((CONF_DIR / "data").glob("*.yaml")):
        spec = yaml.safe_load(path.read_text()) or {}
        repeated = [key for key, value in spec.items() if key in SIGNATURE and value == SIGNATURE[key].default]
        assert not repeated, f"{path.name} repeats the data module's defaults of {repeated}"


def test_the_composed_data_config_is_what_it_was():
    """The values the hand-written DataConfig and conf/data/fashion_mnist.yaml gave before the schema was derived."""
    data = compose_config(["run_dir=/tmp/unused"]).data
    assert {key: data[key] for key in ("root", "val_size", "labelled_holdout", "eval_batch_size", "download",
                                       "device_resident")} == {
        "root": None, "val_size": 0, "labelled_holdout": 0.0, "eval_batch_size": 1000, "download": True,
        "device_resident": "auto"}
    assert (data.n_labels, data.batch_size, data.seed, data.pixel_range, data.train_stream, data.run_dir) == (
        100, 100, 0, "unit", "unlabelled", "/tmp/unused")
