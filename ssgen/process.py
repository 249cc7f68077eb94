"""What a run sets for its whole process: torch's thread pool and matmul precision, and ``$SSGEN_DATA``.

    ssgen-train torch_threads=1 matmul_precision=high     # apply_run_settings
    ssgen-train data.root=/data/fashion                   # point_data_env: later loads that never see cfg.data
                                                          # (evaluator training, child processes) read the same files

Called by ``ssgen.train`` once per run; the bench's copies call ``apply_run_settings`` too, to run as ssgen-train.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from omegaconf import DictConfig

from ssgen.data import DATA_ENV

# $SSGEN_DATA as the user set it before this process started: ssgen-train never overrides that one.
_USER_DATA_ENV = os.environ.get(DATA_ENV)


def apply_run_settings(cfg: DictConfig) -> None:
    """Process-wide torch settings a run asks for: ``torch_threads`` (only when set: otherwise the ThreadBudget
    callback adapts the pool) and ``matmul_precision``."""
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    if cfg.matmul_precision:
        torch.set_float32_matmul_precision(cfg.matmul_precision)


def point_data_env(root: str | None) -> None:
    """Point ``$SSGEN_DATA`` at this run's ``data.root`` unless the user set it before the process started.

    Loads that never see cfg.data (evaluator training, the final report's fallback, child processes) read
    $SSGEN_DATA; without it they find nothing where the Debian package is missing. Each job of a sequential
    sweep sets its own root, so a sweep over data.root does not keep the first job's.
    """
    # a data.root that is not a dir holds no files (the run read another copy): pointing there would make every
    # such load fail, as a missing $SSGEN_DATA is refused rather than silently replaced
    if root and not _USER_DATA_ENV and Path(root).expanduser().is_dir():
        os.environ[DATA_ENV] = str(Path(root).expanduser().resolve())
