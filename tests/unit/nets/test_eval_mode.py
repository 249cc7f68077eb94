"""``ssgen.nets.eval_mode``: the one "eval() for a block, then back" of the package."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torch import nn

from ssgen.models.gan import DCGAN
from ssgen.nets import eval_mode

PACKAGE_DIR = Path(__file__).resolve().parents[3] / "ssgen"


def mixed_modes() -> nn.Module:
    """A parent in train mode whose two children differ: one training, one frozen in eval mode."""
    module = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.5), nn.BatchNorm1d(2)))
    module.train()
    module[1].eval()
    return module


def modes(module: nn.Module) -> list[bool]:
    return [submodule.training for submodule in module.modules()]


def test_inside_the_block_everything_is_in_eval_mode_and_each_mode_comes_back_after():
    module = mixed_modes()
    before = modes(module)
    assert before == [True, True, False, False, False]
    with eval_mode(module) as inside:
        assert inside is module and not any(modes(module))
    assert modes(module) == before


def test_an_exception_in_the_block_still_restores_every_mode_and_propagates():
    module = mixed_modes()
    before = modes(module)
    with pytest.raises(RuntimeError, match="boom"), eval_mode(module):
        raise RuntimeError("boom")
    assert modes(module) == before


def test_a_module_in_eval_mode_stays_in_eval_mode():
    module = mixed_modes().eval()
    with eval_mode(module):
        pass
    assert not any(modes(module))


def test_the_models_sampling_restores_train_mode_after_a_failing_network():
    """A real user: ConditionalGAN.sample with a generator that raises leaves the generator training."""
    arch = {"name": "tiny", "family": "gan",
            "networks": {"generator": {"_target_": "ssgen.nets.dcgan.DCGANGenerator", "width": 8},
                         "critic": {"_target_": "ssgen.nets.dcgan.DCGANCritic", "width": 8}}}
    model = DCGAN(arch=arch, latent_dim=16)
    model.train()

    def failing_forward(*args: object) -> torch.Tensor:
        assert not model.generator.training  # sampling runs the network in eval mode
        raise RuntimeError("generator failed")

    model.generator.forward = failing_forward
    with pytest.raises(RuntimeError, match="generator failed"):
        model.sample(torch.zeros(2, dtype=torch.long), seed=0)
    assert model.generator.training and all(sub.training for sub in model.generator.modules())


def test_no_module_writes_the_pattern_out_again():
    """'save the mode, eval(), restore' lives in eval_mode only."""
    pattern = re.compile(r"\bwas_training\s*=|\.train\(\s*was_training\s*\)")
    offending = [f"{path.relative_to(PACKAGE_DIR.parent)}:{number}"
                 for path in sorted(PACKAGE_DIR.rglob("*.py"))
                 for number, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert not offending, "write `with eval_mode(module):` (ssgen.nets) instead: " + ", ".join(offending)
