"""Issue 38, Deliver: a non-editable install (`pip install .`, a wheel) finds the Hydra configs: conf/ stays at the
top of the repository and the wheel carries it as ssgen/conf."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_wheel_runs_ssgen_train_without_the_checkout(tmp_path):
    source = tmp_path / "source"  # a copy: building writes build/ and *.egg-info beside the sources
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", "outputs", "build", "*.egg-info", "__pycache__",
                                                                 ".pytest_cache", ".ruff_cache", "tests", "docs"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(source),
                            "-w", str(tmp_path / "dist")], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("ssgen-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(site)
    assert "ssgen/conf/train.yaml" in names and "ssgen/conf/experiment/debug.yaml" in names
    # only the unpacked wheel is importable as ssgen (not the checkout), from a directory without conf/
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    code = ("import sys, ssgen; from pathlib import Path; "
            f"assert Path(ssgen.__file__).is_relative_to({str(site)!r}), ssgen.__file__; "
            "sys.argv = ['ssgen-train', '--cfg', 'job', 'experiment=debug', 'method=dcgan']; "
            "from ssgen.train import main; main()")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                            env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "name: dcgan" in result.stdout and "limit_train_batches: 5" in result.stdout
