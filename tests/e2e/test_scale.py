"""Scale-out through the real ``ssgen-train``: DDP on 2 CPU processes (gloo) and Hydra's joblib launcher. Data
sharding under DDP: tests/unit/data/test_sharding.py; the launcher configs: tests/unit/config/test_launchers.py.

    python -m pytest tests/e2e/test_scale.py -m slow  # about 60-90 s on a 2-core CPU (three real subprocess runs)

The DDP runs are real ``ssgen-train`` subprocesses: Lightning's DDP launcher re-executes the command line once
per extra rank, which an in-process test cannot do. ``ParameterDigest`` below is loaded by those runs (this
directory goes on PYTHONPATH: conftest ``run_script``) to show that the ranks saw different batches yet ended with
equal weights, i.e. that DDP averaged the gradients of both GAN optimizers.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import lightning as L
import numpy as np
import pytest
from conftest import run_script

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
