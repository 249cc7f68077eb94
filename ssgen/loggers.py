"""What every logger of a run gets, whichever trackers ``logger=`` picks (TensorBoard, CSV, MLflow, Weights & Biases):
the same scalars through Lightning, and images and figures where the logger takes them.

    log_image(trainer.loggers, "samples/fixed_noise", grid, step)   # TensorBoard, MLflow, W&B; CSV has no images
    log_figure(trainer.loggers, "heads/confusion_n100", figure, step)

``LOGGER_PACKAGES`` names the package each of Lightning's loggers needs and the ssgen extra that installs it
(``check_logger_packages`` refuses a missing one in one line, before anything is made).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from typing import Any

from ssgen.errors import ConfigError

log = logging.getLogger("ssgen")

# Lightning logger class -> (the module it imports, the pip requirement that brings it)
LOGGER_PACKAGES = {
    "MLFlowLogger": ("mlflow", "'ssgen[mlflow]'"),
    "WandbLogger": ("wandb", "'ssgen[wandb]'"),
    "CometLogger": ("comet_ml", "comet-ml"),
    "NeptuneLogger": ("neptune", "neptune"),
}


def logger_specs(cfg: Any) -> list[tuple[str, Any]]:
    """``(name, spec)`` of each logger ``cfg.logger`` selects (``logger=tensorboard``, ``logger=[tensorboard,csv]``);
    a null entry is switched off (``logger.csv=null``), ``logger=null`` selects none. A spec with a ``_target_`` of
    its own at the top (a one-logger YAML of an earlier release, a user's own) is one logger named ``logger``."""
    if not cfg.get("logger"):
        return []
    if "_target_" in cfg.logger:
        return [("logger", cfg.logger)]
    return [(name, spec) for name, spec in cfg.logger.items() if spec is not None]


def check_logger_packages(specs: Iterable[tuple[str, Any]]) -> None:
    """For each ``(name, spec)`` of ``cfg.logger``: the package its ``_target_`` needs imports, else one ConfigError
    line naming what to install (``logger=wandb needs the wandb package: pip install 'ssgen[wandb]'``)."""
    for name, spec in specs:
        target = str(spec.get("_target_", "")) if hasattr(spec, "get") else ""
        module, requirement = LOGGER_PACKAGES.get(target.rsplit(".", 1)[-1], (None, None))
        if module is None:
            continue
        try:
            importlib.import_module(module)
        except ImportError:
            raise ConfigError(f"logger={name} needs the {module} package, which is not installed: pip install "
                              f"{requirement} (or choose another logger: logger=tensorboard, csv, ...)") from None


IMAGE_LOGGERS = ("TensorBoardLogger", "MLFlowLogger", "WandbLogger")


def _kind(logger: Any) -> str:
    return type(logger).__name__


def takes_images(loggers: Iterable[Any]) -> bool:
    """Whether any of ``loggers`` keeps images (``log_image``): a run logging to CSV alone skips making them."""
    return any(_kind(logger) in IMAGE_LOGGERS for logger in loggers)


def log_image(loggers: Iterable[Any], tag: str, image: Any, step: int) -> None:
    """``image`` (a (C, H, W) tensor in [0, 1], e.g. ``torchvision.utils.make_grid``) under ``tag`` at ``step`` in each
    logger that takes images: TensorBoard (its Images tab), MLflow (an artifact ``<tag>_step<step>.png``), W&B;
    the others (CSV) are skipped."""
    for logger in loggers:
        kind = _kind(logger)
        if kind == "TensorBoardLogger":
            logger.experiment.add_image(tag, image, step)
        elif kind == "MLFlowLogger":
            array = (image.detach().clamp(0, 1).mul(255).byte().permute(1, 2, 0).cpu().numpy())
            logger.experiment.log_image(logger.run_id, array.squeeze(-1) if array.shape[-1] == 1 else array,
                                        f"{tag}_step{step}.png")
        elif kind == "WandbLogger":
            logger.log_image(key=tag, images=[image.detach().cpu()], step=step)


def log_figure(loggers: Iterable[Any], tag: str, figure: Any, step: int) -> None:
    """A matplotlib ``figure`` under ``tag`` in each logger that takes figures (TensorBoard, MLflow, W&B)."""
    for logger in loggers:
        kind = _kind(logger)
        if kind == "TensorBoardLogger":
            logger.experiment.add_figure(tag, figure, step, close=False)
        elif kind == "MLFlowLogger":
            logger.experiment.log_figure(logger.run_id, figure, f"{tag}_step{step}.png")
        elif kind == "WandbLogger":
            import wandb

            logger.experiment.log({tag: wandb.Image(figure)})
