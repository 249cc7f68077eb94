"""Issue 38, item 3, in process: every path option is resolved against the launch directory (Hydra's
hydra.runtime.cwd), whatever the working directory of the job is (hydra.job.chdir=true moves it to the run dir)."""

from __future__ import annotations

import os

import pytest
from conftest import compose_config
from hydra.conf import HydraConf
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from ssgen.cli import argument, parse
from ssgen.config.paths import absolute_path, path_options, resolve_paths


@pytest.fixture
def launched_then_moved(tmp_path, monkeypatch):
    """A job Hydra launched from tmp_path/launch and then moved into tmp_path/run (hydra.job.chdir=true)."""
    launch, run = tmp_path / "launch", tmp_path / "run"
    launch.mkdir()
    run.mkdir()
    hydra_node = OmegaConf.structured(HydraConf)
    hydra_node.runtime.cwd = str(launch)
    HydraConfig.instance().set_config(OmegaConf.create({"hydra": hydra_node}))
    monkeypatch.chdir(run)
    yield launch
    HydraConfig.instance().cfg = None


def test_every_path_option_is_resolved_against_the_launch_dir(launched_then_moved):
    launch = launched_then_moved
    cfg = compose_config(["run_dir=/runs/x", "method=m1_m2", "data.root=mydata", "method.m1_checkpoint=m1/seed0",
                          "ckpt_path=ckpts/last.ckpt", "callbacks.last_checkpoint.dirpath=ckpts"])
    changed = resolve_paths(cfg)
    assert changed == {"ckpt_path": f"{launch}/ckpts/last.ckpt", "data.root": f"{launch}/mydata",
                       "method.m1_checkpoint": f"{launch}/m1/seed0", "callbacks.last_checkpoint.dirpath": f"{launch}/ckpts"}
    assert cfg.data.root == f"{launch}/mydata"
    assert cfg.logger.tensorboard.save_dir == "/runs/x"  # ${run_dir}: absolute already, left as the interpolation


def test_the_evaluators_paths_are_path_options(launched_then_moved):
    cfg = compose_config(["run_dir=/runs/x", "method=wgan_gp", "method.callbacks.quality.cache_dir=cache",
                          "method.callbacks.quality.evaluator=ev.safetensors"])
    assert {"method.callbacks.quality.cache_dir", "method.callbacks.quality.evaluator"} <= set(path_options(cfg))
    resolve_paths(cfg)
    assert cfg.method.callbacks.quality.evaluator == f"{launched_then_moved}/ev.safetensors"


@pytest.mark.parametrize("value, expected", [
    ("~/data", os.path.expanduser("~/data")), ("/abs/x", "/abs/x"), ("file:mlruns", "file:{launch}/mlruns"),
    ("file:///abs/mlruns", "file:///abs/mlruns"), ("http://tracking:5000", "http://tracking:5000"), ("last", "{launch}/last"),
])
def test_absolute_path(launched_then_moved, value, expected):
    assert absolute_path(value) == expected.format(launch=launched_then_moved)


def test_ckpt_path_last_is_no_path():
    cfg = compose_config(["run_dir=/runs/x", "ckpt_path=last"])
    assert "ckpt_path" not in path_options(cfg)


def test_a_console_scripts_path_option_expands_a_tilde():
    from dataclasses import dataclass

    @dataclass
    class Arguments:
        out: str = argument("x", path=True)
        runs: list = argument(["a"], path=True)
        label: str = argument("~dress")

    args = parse(["out=~/x.png", "runs=[~/a,b]", "label=~dress"], Arguments, "test")
    assert args.out == os.path.expanduser("~/x.png") and args.runs == [os.path.expanduser("~/a"), "b"]
    assert args.label == "~dress"  # not a path: left as it is
