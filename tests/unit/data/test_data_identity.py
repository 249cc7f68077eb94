"""The data are identified: results.json names the files read and the md5 of their decoded bytes; files that are not
Fashion-MNIST's are refused in one line naming them unless data.allow_unknown=true; a missing $SSGEN_DATA is an error."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from conftest import FAST, compose_config, write_noise

from ssgen import data
from ssgen.config.validation import validate
from ssgen.data import (
    DEBIAN_DIR,
    FASHION_MNIST_MD5,
    data_record,
    decoded_md5,
    load_fashion_mnist,
    locate_files,
)
from ssgen.errors import DataError

needs_debian = pytest.mark.skipif(not DEBIAN_DIR.is_dir(), reason="apt-get install dataset-fashion-mnist")
NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def test_noise_under_fashion_mnist_names_is_refused_in_one_line_naming_the_files(tmp_path):
    root = write_noise(tmp_path / "noise")
    with pytest.raises(DataError) as error:
        validate(compose_config([f"data.root={root}", f"run_dir={tmp_path / 'run'}"]))
    message = str(error.value)
    assert "\n" not in message
    assert all(str(root / name) in message for name in NAMES)
    assert "are not Fashion-MNIST's" in message and "data.allow_unknown=true" in message
    validate(compose_config([f"data.root={root}", "data.allow_unknown=true", f"run_dir={tmp_path / 'run'}"]))
    assert not (tmp_path / "run").exists()


def test_one_foreign_file_among_real_ones_is_named_alone(tmp_path):
    if not DEBIAN_DIR.is_dir():
        pytest.skip("apt-get install dataset-fashion-mnist")
    root = tmp_path / "mixed"
    root.mkdir()
    for name in NAMES[1:]:
        (root / f"{name}.gz").symlink_to(DEBIAN_DIR / f"{name}.gz")
    data.write_idx(root / NAMES[0], np.zeros((60_000, 28, 28), np.uint8))
    with pytest.raises(DataError, match=rf"^{root / NAMES[0]} is not Fashion-MNIST's .*data.allow_unknown=true"):
        data_record(root, allow_unknown=False)


def test_allowed_unknown_data_train_with_a_warning_and_the_record_says_so(tmp_path, caplog, monkeypatch):
    from ssgen.train import train

    monkeypatch.setenv(data.DATA_ENV, "")  # train() points it at data.root; undone after the test
    root = write_noise(tmp_path / "noise", gz=True)
    cfg = compose_config([*FAST, f"run_dir={tmp_path / 'run'}", f"data.root={root}", "data.allow_unknown=true",
                          "method.callbacks.svm_head=null"])
    with caplog.at_level(logging.WARNING, logger="ssgen"):
        results = train(cfg)
    assert results["status"] == "ok"
    record = json.loads((tmp_path / "run" / "results.json").read_text())["data"]
    assert record["fashion_mnist"] is False and record["allow_unknown"] is True
    assert record["files"]["train_images"] == str(root / "train-images-idx3-ubyte.gz")
    assert record["md5"]["train_images"] == decoded_md5(root / "train-images-idx3-ubyte.gz")
    assert record["md5"]["train_images"] != FASHION_MNIST_MD5["train_images"]
    warnings = [r.getMessage() for r in caplog.records if "not Fashion-MNIST's" in r.getMessage()]
    assert len(warnings) == 1 and "data.allow_unknown=true" in warnings[0]  # once, not per load


@needs_debian
def test_the_real_set_is_recognised_and_recorded_gz_or_not(tmp_path):
    record = data_record(DEBIAN_DIR, allow_unknown=False)
    assert record["fashion_mnist"] is True and record["md5"] == FASHION_MNIST_MD5
    assert record["files"]["test_labels"] == str(DEBIAN_DIR / "t10k-labels-idx1-ubyte.gz")
    import gzip

    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / NAMES[3]).write_bytes(gzip.decompress((DEBIAN_DIR / f"{NAMES[3]}.gz").read_bytes()))
    assert decoded_md5(plain / NAMES[3]) == FASHION_MNIST_MD5["test_labels"]  # the decoded bytes, not the file's


def test_each_file_is_digested_once_per_process(tmp_path, monkeypatch):
    root = write_noise(tmp_path / "noise")
    reads = []
    original = data.files._read_decoded
    monkeypatch.setattr(data.files, "_read_decoded", lambda path, fix: reads.append(path) or original(path, fix))
    load_fashion_mnist(root, download=False)  # reads each file once; the digest comes with the read
    data_record(root, allow_unknown=True)
    data_record(root, allow_unknown=True)
    assert sorted(p.name for p in reads) == sorted(NAMES)
    data.write_idx(root / NAMES[3], (np.arange(50) % 10).astype(np.uint8)[::-1].copy())  # a new version: digested anew
    data_record(root, allow_unknown=True)
    assert len(reads) == 5


def test_other_loads_warn_about_unknown_data_and_refuse_when_asked(tmp_path, caplog):
    root = write_noise(tmp_path / "noise2")
    with caplog.at_level(logging.WARNING, logger="ssgen"):
        assert len(load_fashion_mnist(root, download=False)["train_images"]) == 200  # ssgen-evaluate, figures
    assert any(str(root / NAMES[0]) in r.getMessage() and "using them anyway" in r.getMessage() for r in caplog.records)
    with pytest.raises(DataError, match="not Fashion-MNIST's"):
        load_fashion_mnist(root, download=False, allow_unknown=False)
    module = data.FashionMNISTDataModule(root=str(root), download=False, allow_unknown=False)
    with pytest.raises(DataError, match="data.allow_unknown=true"):
        module.setup()


def test_a_missing_ssgen_data_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    monkeypatch.setenv(data.DATA_ENV, str(missing))
    for attempt in (lambda: locate_files(None), lambda: load_fashion_mnist(),
                    lambda: validate(compose_config([f"run_dir={tmp_path / 'run'}"]))):
        with pytest.raises(DataError) as error:
            attempt()
        assert f"SSGEN_DATA={missing} (no IDX files): that dir does not exist" in str(error.value)
        assert "unset it" in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "run").exists()
