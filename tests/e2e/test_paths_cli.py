"""Issue 38, item 3: every path a user gives ssgen-train is read from the directory they launched it in, in the
pre-flight check and inside the job alike, with hydra.job.chdir on or off (hydra#990, #2414); a missing one is
refused before any dir is made; data.root names the copy that is read, never replaced by another."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ssgen.data import DEBIAN_DIR

TINY_M1 = ["experiment=debug", "arch=vae_mlp", "trainer.enable_progress_bar=false", "method.callbacks.svm_head.cv_folds=2",
           "method.callbacks.svm_head.graph_nodes=2000", "method.callbacks.svm_head.raw_pixel_baseline=false",
           "torch_threads=1"]


def ssgen_train(*args: str, cwd=None, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("SSGEN_DATA", None)
    return subprocess.run(["ssgen-train", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


@pytest.mark.slow
@pytest.mark.skipif(not (DEBIAN_DIR / "train-images-idx3-ubyte.gz").is_file(), reason="needs dataset-fashion-mnist")
@pytest.mark.parametrize("chdir", ["true", "false"])
def test_a_relative_data_root_is_the_copy_read_chdir_or_not(tmp_path, chdir):
    """data.root=mydata was replaced by /usr/share's copy under chdir (results.json's data named it)."""
    mydata = tmp_path / "mydata"
    mydata.mkdir()
    for path in DEBIAN_DIR.glob("*-ubyte.gz"):
        (mydata / path.name).symlink_to(path)
    result = ssgen_train(*TINY_M1, "data.root=mydata", f"hydra.job.chdir={chdir}", "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["status"] == "ok"
    assert {Path(path).parent for path in results["data"]["files"].values()} == {mydata}


@pytest.mark.slow
@pytest.mark.parametrize("override, message", [
    ("ckpt_path=missing.ckpt", "ckpt_path={launch}/missing.ckpt does not exist; give a .ckpt file"),
    ("ckpt_path=last", "ckpt_path=last but {launch}/run/checkpoints/last.ckpt does not exist"),
])
def test_a_missing_path_is_refused_before_any_dir_is_made(tmp_path, override, message):
    result = ssgen_train(override, "hydra.job.chdir=true", "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ssgen-train: error: " + message.format(launch=tmp_path)), result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_relative_m1_checkpoint_that_exists_is_loaded_under_chdir(tmp_path, m1_checkpoint):
    """It passed the pre-flight check (read from the launch dir), then failed in the job (read from the run dir)."""
    (tmp_path / "m1.ckpt").symlink_to(m1_checkpoint)
    result = ssgen_train("experiment=debug", "method=m1_m2", "method.m1_checkpoint=m1.ckpt", "data.n_labels=100",
                         "trainer.enable_progress_bar=false", "torch_threads=1", "hydra.job.chdir=true",
                         "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["status"] == "ok" and results["method"] == "m1_m2"
