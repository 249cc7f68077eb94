"""Scale-out: data sharding under DDP, DDP on 2 CPU processes (gloo), Hydra's joblib and SLURM launchers.

    python -m pytest tests/test_scale.py            # about 60-90 s on a 2-core CPU (three real subprocess runs)

The DDP runs are real ``ssgen-train`` subprocesses: Lightning's DDP launcher re-executes the command line once
per extra rank, which an in-process test cannot do. ``ParameterDigest`` below is loaded by those runs (this
directory goes on PYTHONPATH) to show that the ranks saw different batches yet ended with equal weights,
i.e. that DDP averaged the gradients of both GAN optimizers.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import torch
from conftest import run_script
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from ssgen.config.files import CONF_DIR
from ssgen.config.schemas import register_configs
from ssgen.data import FashionMNISTDataModule, TensorBatches, write_idx

# A few batches of tiny networks, no per-epoch evaluation: every code path of a DDP run in seconds.
TINY_M1 = ["method=m1", "arch=vae_mlp", "method.callbacks.svm_head=null", "arch.networks.encoder.hidden_dims=[32]",
           "arch.networks.decoder.hidden_dims=[32]", "arch.networks.encoder.latent_dim=4"]
TINY_GAN = ["method=wgan_gp", "data.n_labels=all", "method.callbacks.quality=null",
            "method.callbacks.best_checkpoint=null", "arch.networks.generator.width=8",
            "arch.networks.critic.width=8", "method.latent_dim=16", "method.n_critic=2"]
FEW_BATCHES = ["trainer.max_epochs=1", "+trainer.limit_train_batches=4", "trainer.enable_progress_bar=false",
               "trainer.log_every_n_steps=1"]
DDP_CPU = ["trainer=ddp", "trainer.accelerator=cpu", "+callbacks.digest._target_=test_scale.ParameterDigest"]


class ParameterDigest(L.Callback):
    """Written by every rank at the end of fit: its first batch and a fingerprint of its trained weights."""

    def __init__(self) -> None:
        self.first_batch: list[float] | None = None

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: object,
                             batch_idx: int) -> None:
        if self.first_batch is None:
            images = batch[0]
            self.first_batch = images.flatten(1).sum(1).tolist()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        weights = {name: [float(p.double().sum()), float(p.double().pow(2).sum())]
                   for name, p in pl_module.named_parameters()}
        payload = {"rank": trainer.global_rank, "world_size": trainer.world_size, "first_batch": self.first_batch,
                   "weights": weights}
        Path(trainer.default_root_dir, f"digest_rank{trainer.global_rank}.json").write_text(json.dumps(payload))


# ------------------------------------------------------------------------------------------------ sharding
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


# ------------------------------------------------------------------------------------------------ DDP
def check_ddp_run(run_dir: Path, result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "ok", results
    digests = [json.loads((run_dir / f"digest_rank{rank}.json").read_text()) for rank in range(2)]
    assert [d["world_size"] for d in digests] == [2, 2]
    assert digests[0]["first_batch"] != digests[1]["first_batch"], "both ranks trained on the same batch"
    for name, (total, squares) in digests[0]["weights"].items():  # all-reduced gradients keep the replicas equal
        other_total, other_squares = digests[1]["weights"][name]
        assert np.isclose(total, other_total, rtol=1e-5, atol=1e-6), name
        assert np.isclose(squares, other_squares, rtol=1e-5, atol=1e-6), name


@pytest.mark.slow
def test_ddp_two_cpu_processes_gan(tmp_path):
    """WGAN-GP: two optimizers on disjoint parameters, a double backward for the penalty, under gloo DDP."""
    result = run_script("ssgen-train", *DDP_CPU, *TINY_GAN, *FEW_BATCHES, f"hydra.run.dir={tmp_path}")
    check_ddp_run(tmp_path, result)


@pytest.mark.slow
def test_ddp_two_cpu_processes_vae(tmp_path):
    result = run_script("ssgen-train", *DDP_CPU, *TINY_M1, *FEW_BATCHES, f"hydra.run.dir={tmp_path}")
    check_ddp_run(tmp_path, result)


# ------------------------------------------------------------------------------------------------ launchers
@pytest.mark.slow
def test_joblib_sweep_runs_two_jobs_in_parallel(tmp_path):
    result = run_script("ssgen-train", "-m", "hydra/launcher=joblib_local", "seed=0,1", "trainer=debug", *TINY_M1,
                        f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    runs = sorted(tmp_path.glob("*/results.json"))
    assert len(runs) == 2, result.stderr[-3000:]
    assert sorted(json.loads(run.read_text())["seed"] for run in runs) == [0, 1]
    assert all(json.loads(run.read_text())["status"] == "ok" for run in runs)


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
