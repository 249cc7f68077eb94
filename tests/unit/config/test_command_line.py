"""Issue 38, items 1 and 2, in process: ssgen-train's pre-flight check asks Hydra's parser and config loader, so every
sweep form Hydra accepts passes, every option on Hydra's search path is a choice (a --config-dir's, a
hydra.searchpath's, a plugin's), and real mistakes are one line."""

from __future__ import annotations

import pytest

from ssgen.config.command_line import check_command_line, sweep_job_overrides
from ssgen.config.files import CONF_DIR
from ssgen.config.schemas import register_configs
from ssgen.errors import ConfigError


def check(*argv: str) -> None:
    register_configs()
    check_command_line(list(argv), str(CONF_DIR), "train")


@pytest.fixture
def myconf(tmp_path):
    """A user's own configs: a preset, a method (ssgen's m1 with another KL weight) and an arch."""
    (tmp_path / "experiment").mkdir()
    (tmp_path / "method").mkdir()
    (tmp_path / "arch").mkdir()
    (tmp_path / "experiment" / "mine.yaml").write_text("# @package _global_\ntrainer:\n  max_epochs: 2\n")
    (tmp_path / "method" / "m1_beta.yaml").write_text("defaults:\n  - m1\n  - _self_\nname: m1_beta\nkl_weight: 0.25\n")
    (tmp_path / "arch" / "vae_tiny.yaml").write_text("defaults:\n  - vae_mlp\n  - _self_\nname: vae_tiny\n")
    return tmp_path


@pytest.mark.parametrize("argv", [
    ["-m", "arch=glob(vae_*)", "seed=range(0,3)", "label_budgets=[100,600]", "data.root='a dir with spaces'",
     "callbacks=[default,progress]"],
    ["-m", "arch=choice(vae_mlp,vae_conv)", "method.kl_weight=interval(0.1,1.0)", "hydra/sweeper=optuna"],
    ["-m", "experiment=m1_tune"],  # its hydra.sweeper.params: interval(), tag(log, ...), range()
    ["--cfg", "job", "method=dcgan", "arch=mlp_generator"],
])
def test_every_form_hydra_accepts_passes(argv):
    check(*argv)


@pytest.mark.parametrize("argv, message", [
    (["method=nope"], "method=nope is unknown; choose one of: dcgan, m1, m1_m2, m2, wgan_clip, wgan_gp"),
    (["-m", "arch=choice(vae_mlp,nope)"], "arch=nope is unknown; choose one of: dcgan,"),
    (["-m", "arch=glob(zzz*)"], "arch=glob(zzz*) matches no option of arch; choose from: dcgan,"),
    (["arch=choice(vae_mlp"], "arch=choice(vae_mlp is not an override Hydra can parse"),
    (["method.lrr=1"], "Could not override 'method.lrr'; To append to your config use +method.lrr=1; Key 'lrr' not in"),
    (["seed=abc"], "Error merging override seed=abc"),
    (["hydra/launcher=nope"], "hydra/launcher=nope is unknown; choose one of: basic, joblib, joblib_local, slurm,"),
    (["experiment=mine"], "experiment=mine is unknown; choose one of: debug, gan, gan_tune,"),
    (["--config-dir", "/nonexistent/conf", "seed=1"], "--config-dir /nonexistent/conf is not a directory"),
])
def test_a_real_mistake_is_one_line(argv, message):
    with pytest.raises(ConfigError) as error:
        check(*argv)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_options_on_hydras_search_path_are_choices(myconf):
    for argv in (["--config-dir", str(myconf)], [f"hydra.searchpath=[file://{myconf}]"]):
        check(*argv, "experiment=mine", "method=m1_beta", "arch=vae_tiny")
        check("-m", *argv, "arch=glob(vae_t*)", "method=m1,m1_beta")
        with pytest.raises(ConfigError, match="arch=nope is unknown; choose one of: dcgan, .*vae_mlp, vae_tiny$"):
            check(*argv, "arch=nope")


def test_a_plugins_options_are_choices():
    """hydra-optuna-sweeper and the launchers register theirs in Hydra's ConfigStore, not in conf/."""
    check("-m", "hydra/sweeper=optuna", "hydra/sweeper/sampler=tpe", "hydra/launcher=joblib")


def test_a_sweep_expands_as_hydras_basic_sweeper_does():
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path

    register_configs()
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(CONF_DIR)))
    jobs = sweep_job_overrides(["arch=glob(vae_*)", "seed=range(2)"], loader, params=["seed=5,6", "method=m1"])
    # the command line wins over hydra.sweeper.params for the same key, glob is expanded over conf/arch
    assert jobs == [["seed=0", "method=m1", "arch=vae_conv"], ["seed=0", "method=m1", "arch=vae_mlp"],
                    ["seed=1", "method=m1", "arch=vae_conv"], ["seed=1", "method=m1", "arch=vae_mlp"]]
