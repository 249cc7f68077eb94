"""What the records end-to-end tests share: the environment their console scripts run in (this checkout's package,
the probes of tests/ and tests/e2e on PYTHONPATH) and the runs they train."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

E2E = Path(__file__).resolve().parent
TESTS = E2E.parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(E2E), str(TESTS), os.environ.get("PYTHONPATH")])),
       "OMP_NUM_THREADS": "1"}
# experiment=debug without the heads' minutes: every code path of a run in seconds
DEBUG = ["experiment=debug", "arch=vae_mlp", "method.callbacks.svm_head=null", "torch_threads=1",
         "callbacks.last_checkpoint.every_n_train_steps=0"]


def run(command: list[str], timeout: int = 600, **kwargs) -> subprocess.CompletedProcess:
    """A console script to its end, its output captured as text."""
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=ENV, **kwargs)


def error_lines(stderr: str) -> list[str]:
    """The lines a console script ended with: its one-line errors (warnings and library noise left out)."""
    return [line for line in stderr.splitlines() if ": error: " in line]


def untrained_checkpoint(path: Path, method: str = "m2", arch: str | None = None) -> Path:
    """A checkpoint as ssgen-train writes it, of an untrained model (the commands' plumbing is what is tested): M2
    classifies and generates without heads, so no training is needed."""
    import torch
    from conftest import compose_config

    from ssgen.run.build import build_model

    model = build_model(compose_config([f"method={method}", *([f"arch={arch}"] if arch else []), "run_dir=/tmp/unused"]))
    cls = type(model)
    torch.save({"ssgen_module": f"{cls.__module__}.{cls.__qualname__}", "hyper_parameters": dict(model.hparams),
                "state_dict": model.state_dict(), "global_step": 0}, path)
    return path


def sample_images(path: Path, n: int = 20) -> Path:
    """``n`` Fashion-MNIST test images as an .npz (key images), as a user hands them to ssgen-predict."""
    import numpy as np

    from ssgen.data import load_fashion_mnist

    np.savez(path, images=load_fashion_mnist()["test_images"][:n].numpy())
    return path
