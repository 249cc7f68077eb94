"""The evaluator network: cache, identity, safe loading. A tiny config (1 epoch, 3000 images) keeps it fast.

    python -m pytest tests/unit/evaluation/test_evaluator.py -q -p no:cacheprovider
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import TINY_EVALUATOR as TINY

from ssgen.errors import CheckpointError, ConfigError
from ssgen.evaluation.evaluator import (
    Evaluator,
    EvaluatorConfig,
    evaluator_path,
    load_evaluator,
    load_evaluator_file,
    random_shift,
    train_evaluator,
)


def test_trained_on_first_use_then_loaded_from_cache(tiny_cache: Path) -> None:
    path = evaluator_path(TINY, tiny_cache)
    evaluator = load_evaluator(tiny_cache, config=TINY, progress=False)
    assert path.is_file() and path.with_suffix(".json").is_file()
    assert path.name == f"{TINY.config_hash}.safetensors"
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["config_hash"] == TINY.config_hash == evaluator.identity["config_hash"]
    assert sidecar["test_accuracy"] == evaluator.identity["test_accuracy"]
    assert 0.3 < sidecar["test_accuracy"] < 1.0 and sidecar["train_seconds"] >= 0
    mtime = path.stat().st_mtime_ns
    again = load_evaluator(tiny_cache, config=TINY, train_if_missing=False)
    assert path.stat().st_mtime_ns == mtime  # not retrained
    for (name, a), (_, b) in zip(evaluator.state_dict().items(), again.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_shapes_and_eval_mode(tiny_cache: Path) -> None:
    evaluator = load_evaluator(tiny_cache, config=TINY, progress=False)
    images = torch.rand(5, 1, 28, 28)
    assert not evaluator.training
    assert evaluator(images).shape == (5, 10)
    assert evaluator.features(images).shape == (5, 128) and evaluator.num_features == 128
    assert evaluator.predict(images).shape == (5,)


def test_missing_without_training_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="python -m ssgen.evaluation.evaluator"):
        load_evaluator(tmp_path, config=TINY, train_if_missing=False)


def test_truncated_file_is_refused(tiny_cache: Path, tmp_path: Path) -> None:
    load_evaluator(tiny_cache, config=TINY, progress=False)
    data = evaluator_path(TINY, tiny_cache).read_bytes()
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated|corrupt"):
        load_evaluator_file(broken)


def test_config_hash_identifies_the_recipe() -> None:
    assert EvaluatorConfig().config_hash == EvaluatorConfig().config_hash
    assert EvaluatorConfig(epochs=3).config_hash != EvaluatorConfig().config_hash
    assert EvaluatorConfig.from_dict(TINY.to_dict()) == TINY
    with pytest.raises(ConfigError, match="unknown keys"):
        EvaluatorConfig.from_dict({"epochz": 3})


def test_training_leaves_the_global_rng_alone() -> None:
    state = torch.random.get_rng_state()
    train_evaluator(EvaluatorConfig(channels=(4, 4, 4), feature_dim=8, epochs=1, n_train=256), progress=False)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_random_shift_moves_content_and_zero_fills() -> None:
    images = torch.zeros(64, 1, 28, 28)
    images[:, :, 10:18, 10:18] = 1.0
    shifted = random_shift(images, 2, torch.Generator().manual_seed(0))
    assert shifted.shape == images.shape
    assert torch.allclose(shifted.sum(dim=(1, 2, 3)), images.sum(dim=(1, 2, 3)))  # the square never leaves the frame
    assert not torch.equal(shifted, images)
    assert torch.equal(random_shift(images, 0, torch.Generator()), images)


def test_evaluator_parameters_are_plain_tensors() -> None:
    # safetensors stores tensors only: the module must need nothing else to be rebuilt
    model = Evaluator(TINY)
    assert all(isinstance(value, torch.Tensor) for value in model.state_dict().values())
