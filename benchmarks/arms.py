"""The two arms: the project's Lightning path (``LightningArm``) and a hand-written loop (``PlainArm``)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import hydra
import lightning as L
import torch
from omegaconf import DictConfig

from benchmarks.config import autocast_context
from benchmarks.measure import Measurement, Window, WindowCallback, WindowProbe
from ssgen.callbacks.checkpointing import AtomicCheckpointIO
from ssgen.config.schemas import to_plain
from ssgen.data import TensorBatches
from ssgen.models.gan import toggled_plain
from ssgen.run.build import build_callbacks, build_logger, build_model


class LightningArm:
    """The project's own path: LightningModule + DataModule + Trainer from the composed config."""

    def __init__(self, cfg: DictConfig, device: torch.device) -> None:
        self.cfg, self.device = cfg, device
        self.datamodule = hydra.utils.instantiate(cfg.data)
        self.model = build_model(cfg)
        if cfg.compile:  # as ssgen.train.fit_once does
            self.model = torch.compile(self.model)
        self.batch_size = int(cfg.data.batch_size)

    def _trainer(self, callbacks: list[L.Callback], n_batches: int) -> L.Trainer:
        run_dir = Path(self.cfg.run_dir)
        logger = build_logger(self.cfg, self.model, run_dir)  # as ssgen-train builds them: every logger of cfg.logger
        kwargs = to_plain(self.cfg.trainer)
        kwargs.update(max_epochs=1, max_steps=-1, limit_train_batches=n_batches, limit_val_batches=0,
                      enable_model_summary=False, devices=1,
                      accelerator="gpu" if self.device.type == "cuda" else "cpu")
        kwargs.pop("strategy", None)  # one device: a DDP config would otherwise spawn processes
        # ssgen.run.build.build_trainer's checkpoint IO plugin (the checkpoint save is part of the epoch end)
        plugins = [AtomicCheckpointIO()]
        return L.Trainer(**kwargs, callbacks=[*callbacks, *build_callbacks(self.cfg)], logger=logger,
                         default_root_dir=str(run_dir), plugins=plugins)

    def measure(self, warmup: int, n: int, probe: WindowProbe | None = None) -> Measurement:
        window = Window(warmup, n, self.device, probe)
        timer = WindowCallback(window)
        began = time.perf_counter()
        trainer = self._trainer([timer], warmup + n + 1)
        # the progress bar writes to stdout, Lightning's warnings to stderr: both still run, unseen
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull), contextlib.redirect_stderr(devnull):
            trainer.fit(self.model, datamodule=self.datamodule)
        ended = time.perf_counter()
        result = window.result(self.batch_size)
        # everything but the batches: Trainer construction, fit start, the epoch end (last.ckpt, image grids)
        batch_seconds = (warmup + n + 1) * self.batch_size / result.images_per_s
        result.fixed_s = max(0.0, (ended - began) - batch_seconds)
        self.last_trainer = trainer
        return result

    def checkpoint_seconds(self) -> float:
        """One ``save_checkpoint`` (what ModelCheckpoint does each epoch and every ``every_n_train_steps``)."""
        path = Path(self.cfg.run_dir) / "bench_timing.ckpt"
        began = time.perf_counter()
        self.last_trainer.save_checkpoint(path)
        seconds = time.perf_counter() - began
        path.unlink(missing_ok=True)
        return seconds


class PlainArm:
    """A hand-written loop over the same networks, optimizers, batches and update schedule: no Trainer, no
    callbacks, no logging. Each step calls the module's own per-batch math (``M1VAE.loss_terms``,
    ``ConditionalGAN.update``), so what differs between the arms is the framework around it, not the step;
    tests/unit/models/test_plain_twin.py checks that one step of each gives the same losses and weights."""

    def __init__(self, cfg: DictConfig, datamodule: L.LightningDataModule, device: torch.device) -> None:
        self.cfg, self.device = cfg, device
        self.module = build_model(cfg).to(device)
        self.module.train()
        self.batch_size = int(cfg.data.batch_size)
        self.autocast = autocast_context(cfg, device)
        datamodule.setup("fit")
        labelled = cfg.method.train_stream == "labelled"
        split = "labelled" if labelled else "unlabelled"
        labels = datamodule.labels(split).to(device) if labelled else None
        self.loader = TensorBatches(datamodule.images(split).to(device), labels, self.batch_size,
                                    str(cfg.method.pixel_range), shuffle=True, seed=int(cfg.seed))
        self._batches = self._forever()
        self.family = str(cfg.method.family)
        if self.family == "vae":
            self.optimizer = self.module.configure_optimizers()
            self.forward = torch.compile(self.module) if cfg.compile else self.module
            self.step = self._vae_step
        else:
            self.optimizer_generator, self.optimizer_critic = self.module.configure_optimizers()
            self.toggled = toggled_plain([self.optimizer_generator, self.optimizer_critic])
            self.step = self._gan_step

    def _forever(self) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        while True:
            yield from self.loader

    def _vae_step(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """M1VAE's own loss (``loss_terms``: binarisation, free bits, KL weight), then zero_grad, backward, step as
        Lightning's automatic optimization does them. Returns the detached loss."""
        with self.autocast():
            loss = self.module.loss_terms(images, self.forward)[0]
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        return loss.detach()

    def _gan_step(self, real: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """ConditionalGAN's own ``update`` (the schedule, the method's losses, clipping, the EMA of G), with the
        plain stand-ins for what Lightning supplies: ``toggled_plain`` and ``Tensor.backward``."""
        with self.autocast():
            return self.module.update(real, labels, self.optimizer_generator, self.optimizer_critic,
                                      self.toggled, torch.Tensor.backward)

    def measure(self, warmup: int, n: int, probe: WindowProbe | None = None) -> Measurement:
        window = Window(warmup, n, self.device, probe)
        for index in range(warmup + n + 1):
            window.at_batch(index)
            if index == warmup + n:
                break
            self.step(*next(self._batches))
        return window.result(self.batch_size)
