"""What the records end-to-end tests (issue 39) share beyond conftest's ``run_script``: the runs they train, the
lines their commands end with, and the inputs they hand over."""

from __future__ import annotations

from pathlib import Path

from conftest import fake_checkpoint

# experiment=debug without the heads' minutes: every code path of a run in seconds
DEBUG = ["experiment=debug", "arch=vae_mlp", "method.callbacks.svm_head=null", "torch_threads=1",
         "callbacks.last_checkpoint.every_n_train_steps=0"]


def error_lines(stderr: str) -> list[str]:
    """The lines a console script ended with: its one-line errors (warnings and library noise left out)."""
    return [line for line in stderr.splitlines() if ": error: " in line]


def untrained_checkpoint(path: Path, method: str = "m2", arch: str | None = None) -> Path:
    """A checkpoint as ssgen-train writes it, of an untrained model (the commands' plumbing is what is tested): M2
    classifies and generates without heads, so no training is needed."""
    return fake_checkpoint(path, [f"method={method}", *([f"arch={arch}"] if arch else [])], global_step=0)


def sample_images(path: Path, n: int = 20) -> Path:
    """``n`` Fashion-MNIST test images as an .npz (key images), as a user hands them to ssgen-predict."""
    import numpy as np

    from ssgen.data import load_fashion_mnist

    np.savez(path, images=load_fashion_mnist()["test_images"][:n].numpy())
    return path
