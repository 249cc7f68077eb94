"""Hydra's launchers: the joblib and SLURM launcher configs compose with ssgen's run dirs, and the SLURM one renders the
sbatch script a GPU DDP job needs. A joblib sweep that runs: tests/e2e/test_scale.py."""

from __future__ import annotations

import os

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from ssgen.config.files import CONF_DIR
from ssgen.config.schemas import register_configs


def hydra_config(*overrides: str):
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=True)


def test_launcher_configs_compose_with_our_run_dirs():
    joblib = hydra_config("hydra/launcher=joblib_local").hydra
    assert joblib.launcher._target_.endswith("JoblibLauncher") and joblib.launcher.n_jobs == 2
    assert joblib.sweep.dir.startswith("outputs/")  # conf/hydra/default.yaml still decides where runs land
    slurm = hydra_config("hydra/launcher=slurm", "hydra.launcher.partition=gpu",
                         "hydra.launcher.gpus_per_node=4", "hydra.launcher.tasks_per_node=4").hydra.launcher
    assert slurm._target_.endswith("SlurmLauncher")
    assert (slurm.partition, slurm.gpus_per_node, slurm.tasks_per_node) == ("gpu", 4, 4)
    assert slurm.timeout_min > 0 and slurm.array_parallelism > 0 and slurm.max_num_timeout > 0


def test_plain_joblib_launcher_name_also_composes():
    assert hydra_config("hydra/launcher=joblib").hydra.launcher._target_.endswith("JoblibLauncher")


def test_slurm_config_renders_a_valid_sbatch_script(tmp_path, monkeypatch):
    """The parameters of conf/hydra/launcher/slurm.yaml, converted as the submitit launcher converts them, make
    the sbatch script a GPU DDP job needs. No cluster here: a stub ``srun`` satisfies submitit's check."""
    submitit = pytest.importorskip("submitit")
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "srun").write_text("#!/bin/sh\nexit 0\n")
    (tmp_path / "bin" / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    cfg = hydra_config("hydra/launcher=slurm", "hydra.launcher.partition=gpu", "hydra.launcher.gpus_per_node=4",
                       "hydra.launcher.tasks_per_node=4", "trainer=ddp", "trainer.devices=4",
                       f"hydra.sweep.dir={tmp_path / 'sweep'}", "hydra.job.name=train")
    params = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    params.pop("_target_")
    # hydra_submitit_launcher.submitit_launcher.BaseSubmititLauncher.launch, without the submission
    executor = submitit.AutoExecutor(cluster="slurm", folder=params.pop("submitit_folder"),
                                     slurm_max_num_timeout=params.pop("max_num_timeout"))
    base_keys = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{key if key in base_keys else f"slurm_{key}": value for key, value in params.items()})
    script = executor._executor._make_submission_file_text("python -u -m submitit.core._submit FOLDER", "uid")
    for line in ("--partition=gpu", "--gpus-per-node=4", "--ntasks-per-node=4", "--time=240", "--nodes=1"):
        assert f"#SBATCH {line}" in script, script
    assert cfg.trainer.devices == cfg.hydra.launcher.tasks_per_node  # one DDP process per SLURM task
