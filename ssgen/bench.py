"""Training throughput of the project's Lightning loop against a plain PyTorch loop of the same networks.

    python -m ssgen.bench                                   # every model, printed (nothing is written)
    python -m ssgen.bench --models m1,wgan_gp/dcgan --out docs/performance.md --section cpu_main   # write a table
    python -m ssgen.bench --quick                           # 1-minute smoke run
    python -m ssgen.bench --models m1 --concurrent 4        # 4 copies of 'ours' at once against one alone
    python -m ssgen.bench --models m1,wgan_gp/dcgan --profile-only
    python -m ssgen.bench --models m1,wgan_gp/dcgan --compare trainer.precision=bf16-mixed --compare torch_threads=1
                                                            # settings raced against the default, 'ours' arm only

Two arms per model, built from the composed Hydra config (conf/train.yaml + ``method=<m> arch=<a>``):

* ours: ``ssgen.train.build_model(cfg)``, ``hydra.utils.instantiate(cfg.data)``, and a Trainer built as
  ``ssgen.train.fit_once`` builds it (cfg.trainer, TensorBoard logger, the checkpoint and progress-bar
  callbacks, the GANs' FailedConvergence check). Switched off, because they are per-epoch evaluations and
  not the training step: the method's ``svm_head`` (M1), ``quality`` (FID/KID) and ``best_checkpoint`` (it
  monitors FID). The model summary is off; stdout (the progress bar) and stderr go to /dev/null during
  the fit, so the bar still formats and writes its text.
* plain: a fresh ``build_model(cfg)`` (same networks, same ``configure_optimizers``), fed by the same
  in-memory ``TensorBatches`` stream, trained by a hand-written loop with the losses of ``ssgen.losses``
  and the same update schedule (one critic step per real batch, a generator step every ``n_critic``
  batches, weight clipping after each WGAN critic step, the critic frozen during the generator step).

Each window times a number of training batches between two ``on_train_batch_start`` calls (ours) or loop
iterations (plain), after ``--warmup`` batches of the same run. A first run of each arm is discarded and sizes
the windows to ``--window-s`` seconds (``--batches`` fixes the count instead). Then ``--repeats`` pairs: ours
and plain back to back, the order alternating, so load from other processes and its drift hit both alike.
Throughputs are medians; the ratio is the geometric mean of the pairs' ratios with a 95% t-interval
(``ratio_interval``). Images/s counts real training images (a WGAN generator step consumes none). Peak memory
is the process RSS sampled every 10 ms during the window (and CUDA ``max_memory_allocated`` on a GPU).

``--concurrent K`` runs copies of the 'ours' arm as separate processes (``--copy-of``, threads as ssgen-train
sets them): one alone, then K at once, and reports each copy's images/s as a fraction of the lone copy's.

Nothing is written unless ``--out FILE`` is given: then the results go between ``<!-- bench:NAME:begin -->``
and ``<!-- bench:NAME:end -->`` of FILE (``--section NAME``, default 'main'), leaving the rest of it alone.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import ctypes
import gc
import io
import json
import logging
import math
import os
import platform
import pstats
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import hydra
import lightning as L
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

from ssgen import losses
from ssgen.build import build_callbacks, build_model
from ssgen.checkpoints import AtomicCheckpointIO
from ssgen.cli import run_console_script
from ssgen.conf_files import CONF_DIR, arch_names, method_targets
from ssgen.config import register_configs, to_plain
from ssgen.data import TensorBatches
from ssgen.errors import ConfigError
from ssgen.models import module_class
from ssgen.precision import device_precision
from ssgen.process import apply_run_settings


def all_models() -> tuple[str, ...]:
    """'m1' and every GAN method x GAN arch of conf/ (a new method or arch file is benchmarked as is)."""
    gans = [stem for stem, target in method_targets().items() if module_class(target).family == "gan"]
    return ("m1", *(f"{method}/{arch}" for method in gans for arch in arch_names("gan")))


ALL_MODELS = all_models()
QUICK_MODELS = ("m1", "wgan_gp/dcgan")
# Timed batches of the first (discarded) run of each arm; the windows after it are sized from its rate to last
# --window-s seconds (DEFAULT_WINDOW_S), so that a GPU step of 1 ms is timed as long as a CPU step of 100 ms.
# GAN counts are rounded up to whole multiples of n_critic, so every window holds the same generator steps.
DEFAULT_BATCHES = {"vae": 100, "gan": 20}
DEFAULT_WARMUP = {"vae": 10, "gan": 5}
DEFAULT_WINDOW_S = 2.0
DEFAULT_REPEATS = 10
QUICK_BATCHES, QUICK_WARMUP = {"vae": 30, "gan": 5}, {"vae": 3, "gan": 2}  # --quick: a smoke test, not a figure
CONFIDENCE = 0.95
# Reference figures (plain PyTorch loops on a 2-core CPU of this kind; /work/shared/NOTES.md and the issue).
REFERENCE_IMAGES_PER_S = {"m1": 6000.0, "wgan_gp/dcgan": 550.0}
# Per-epoch evaluations, not the training step: switched off in the 'ours' arm (see the module docstring).
EPOCH_EVALUATION_CALLBACKS = ("svm_head", "quality", "best_checkpoint")
CHANNELS_LAST = "channels_last"  # a --compare token that is not a Hydra override

PLAIN_FAMILIES = ("vae", "gan")  # the plain loop knows these update schedules

# ------------------------------------------------------------------------------------------------ config
def model_overrides(spec: str) -> list[str]:
    """'m1' or 'method/arch' -> Hydra overrides; GANs train on all 60k labelled images, as in the study."""
    method, _, arch = spec.partition("/")
    overrides = [f"method={method}"] + ([f"arch={arch}"] if arch else [])
    if method != "m1":
        overrides.append("data.n_labels=all")
    return overrides


def compose_bench_config(spec: str, run_dir: Path, extra: list[str]) -> DictConfig:
    """The composed conf/train.yaml for one model, per-epoch evaluation callbacks off, run_dir in a temp dir."""
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[*model_overrides(spec), f"run_dir={run_dir}", *extra])
    with open_dict(cfg):
        for name in EPOCH_EVALUATION_CALLBACKS:
            if name in cfg.method.callbacks:
                cfg.method.callbacks[name] = None
    return cfg


def bench_device(cfg: DictConfig) -> torch.device:
    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return torch.device("cuda", 0)
    return torch.device("cpu")


def autocast_context(cfg: DictConfig, device: torch.device) -> Callable[[], contextlib.AbstractContextManager]:
    """What Lightning's precision plugin wraps the training step in, for the plain loop."""
    precision = str(cfg.trainer.get("precision", "32-true"))
    if precision in ("32-true", "32"):
        return contextlib.nullcontext
    if precision == "bf16-mixed" or (precision == "16-mixed" and device.type == "cpu"):  # CPU: 16-mixed runs as bf16
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    raise ConfigError(f"trainer.precision={precision} has no plain-loop twin here; use 32-true or bf16-mixed")


# ------------------------------------------------------------------------------------------------ measuring
class PeakRSS:
    """Peak resident set size during a window: a thread samples /proc/self/statm every ``interval`` seconds.

    ``ru_maxrss`` alone cannot tell two arms of one process apart (it never goes down), hence the sampling.
    """

    def __init__(self, interval: float = 0.01) -> None:
        self.interval, self.peak_bytes = interval, 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def _current(self) -> int:
        try:
            with open("/proc/self/statm") as statm:
                return int(statm.read().split()[1]) * self._page
        except OSError:  # no procfs (macOS): the process-wide peak is the best there is
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_bytes = max(self.peak_bytes, self._current())

    def start(self) -> None:
        self.peak_bytes = self._current()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak_bytes = max(self.peak_bytes, self._current())


def release_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS, so each window's RSS starts from live memory.

    Without this, glibc keeps the pages of earlier models and runs, and RSS only ever grows across the run.
    """
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@dataclass
class Measurement:
    images_per_s: float
    peak_rss_mib: float
    cuda_peak_mib: float | None = None
    fixed_s: float | None = None  # ours: Trainer construction, fit start, epoch end (checkpoint, grids), teardown


@dataclass
class WindowProbe:
    """What to run around the timed window: a torch profiler or cProfile, started and stopped with it."""

    start: Callable[[], None] = lambda: None
    stop: Callable[[], None] = lambda: None


class Window:
    """Times ``n`` batches after ``warmup`` ones; shared by both arms so they are measured the same way."""

    def __init__(self, warmup: int, n: int, device: torch.device, probe: WindowProbe | None = None) -> None:
        self.warmup, self.n, self.device = warmup, n, device
        self.probe = probe or WindowProbe()
        self.rss = PeakRSS()
        self.started = self.stopped = 0.0

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def at_batch(self, index: int) -> None:
        """Call at the start of batch ``index`` (0-based); the window is [warmup, warmup + n)."""
        if index == self.warmup:
            release_memory()
            self._sync()
            if self.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(self.device)
            self.rss.start()
            self.probe.start()
            self.started = time.perf_counter()
        elif index == self.warmup + self.n:
            self._sync()
            self.stopped = time.perf_counter()
            self.probe.stop()
            self.rss.stop()

    def result(self, batch_size: int) -> Measurement:
        if not self.stopped:
            raise RuntimeError("the timed window never closed: fewer batches ran than warmup + n + 1")
        cuda_peak = torch.cuda.max_memory_allocated(self.device) / 2**20 if self.device.type == "cuda" else None
        return Measurement(self.n * batch_size / (self.stopped - self.started), self.rss.peak_bytes / 2**20, cuda_peak)


class _WindowCallback(L.Callback):
    def __init__(self, window: Window) -> None:
        self.window = window
        self.first_batch_at = 0.0

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if batch_idx == 0:
            self.first_batch_at = time.perf_counter()
        self.window.at_batch(batch_idx)


# ------------------------------------------------------------------------------------------------ the two arms
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
        logger = hydra.utils.instantiate(self.cfg.logger, save_dir=str(run_dir)) if self.cfg.logger else False
        kwargs = to_plain(self.cfg.trainer)
        kwargs.update(max_epochs=1, max_steps=-1, limit_train_batches=n_batches, limit_val_batches=0,
                      enable_model_summary=False, devices=1,
                      accelerator="gpu" if self.device.type == "cuda" else "cpu")
        kwargs.pop("strategy", None)  # one device: a DDP config would otherwise spawn processes
        # fit_once's checkpoint IO plugin, when train.py has one (the checkpoint save is part of the epoch end)
        plugins = [AtomicCheckpointIO()]
        return L.Trainer(**kwargs, callbacks=[*callbacks, *build_callbacks(self.cfg)], logger=logger,
                         default_root_dir=str(run_dir), plugins=plugins)

    def measure(self, warmup: int, n: int, probe: WindowProbe | None = None) -> Measurement:
        window = Window(warmup, n, self.device, probe)
        timer = _WindowCallback(window)
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
    """A hand-written loop over the same networks, optimizers, batches and update schedule."""

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
            self.batches_seen = 0
            self.step = self._gan_step

    def _forever(self) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        while True:
            yield from self.loader

    def _vae_step(self, images: torch.Tensor, labels: torch.Tensor | None) -> None:
        hparams = self.module.hparams
        with self.autocast():
            target = torch.bernoulli(images) if hparams.binarize else images
            logits, mean, log_var = self.forward(images)
            loss, _, _ = losses.negative_elbo(logits, target, mean, log_var, hparams.kl_weight)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()

    def _gan_step(self, real: torch.Tensor, labels: torch.Tensor) -> None:
        """ConditionalGAN's schedule, written out: the method's own losses (ssgen.losses via its critic_loss /
        generator_loss) and after_critic_step (weight clipping), without Lightning around them."""
        module, hparams = self.module, self.module.hparams
        generator, critic = module.generator, module.critic
        with self.autocast():
            noise = torch.randn(len(real), module.latent_dim, device=self.device)
            with torch.no_grad():
                fake = generator(noise, labels)
            real_scores, fake_scores = critic(real, labels), critic(fake, labels)
            loss, _ = module.critic_loss(real, fake, labels, real_scores, fake_scores)
            self.optimizer_critic.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer_critic.step()
            module.after_critic_step()
            self.batches_seen += 1
            if self.batches_seen % hparams.n_critic == 0:
                noise = torch.randn(len(labels), module.latent_dim, device=self.device)
                critic.requires_grad_(False)  # no weight gradients for the critic: only the input gradient flows
                generator_loss = module.generator_loss(critic(generator(noise, labels), labels))
                self.optimizer_generator.zero_grad(set_to_none=True)
                generator_loss.backward()
                self.optimizer_generator.step()
                critic.requires_grad_(True)

    def measure(self, warmup: int, n: int, probe: WindowProbe | None = None) -> Measurement:
        window = Window(warmup, n, self.device, probe)
        for index in range(warmup + n + 1):
            window.at_batch(index)
            if index == warmup + n:
                break
            self.step(*next(self._batches))
        return window.result(self.batch_size)


# ------------------------------------------------------------------------------------------------ statistics
@dataclass(frozen=True)
class RatioInterval:
    """A ratio of two throughputs and its confidence interval (``low``, ``high``) over ``n`` paired repeats."""

    estimate: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        """Half the interval's width relative to the estimate: 0.02 means +-2%, enough to see a 5% difference."""
        return (self.high - self.low) / 2 / self.estimate if math.isfinite(self.high) else math.inf

    def text(self) -> str:
        if self.n < 2:
            return f"{self.estimate:.2f} (1 repeat: no interval)"
        return f"{self.estimate:.2f} [{self.low:.2f}, {self.high:.2f}]"


def ratio_interval(numerator: list[float], denominator: list[float], confidence: float = CONFIDENCE) -> RatioInterval:
    """Geometric mean of the paired ratios ``numerator[i] / denominator[i]`` and its Student-t interval.

    Each pair is measured back to back, so load that drifts over minutes hits both sides of a pair alike and
    cancels in its ratio; the interval is the t-interval of the mean log ratio over the pairs (ratios are
    multiplicative and skewed: in logs they are symmetric), mapped back with exp. With ``n`` pairs of log
    standard deviation ``s`` its half-width is about ``t(n-1) * s / sqrt(n)``: 10 pairs at a 3% spread give
    +-2%. Raises ValueError on unpaired or non-positive figures.
    """
    if len(numerator) != len(denominator) or not numerator:
        raise ValueError(f"paired figures expected, got {len(numerator)} and {len(denominator)}")
    if min(numerator + denominator) <= 0:
        raise ValueError("throughputs must be positive")
    logs = [math.log(a / b) for a, b in zip(numerator, denominator, strict=True)]
    mean = statistics.fmean(logs)
    if len(logs) < 2:
        return RatioInterval(math.exp(mean), -math.inf, math.inf, 1)
    from scipy.stats import t

    half = float(t.ppf(0.5 + confidence / 2, len(logs) - 1)) * statistics.stdev(logs) / math.sqrt(len(logs))
    return RatioInterval(math.exp(mean), math.exp(mean - half), math.exp(mean + half), len(logs))


def spread(values: list[float]) -> float:
    """(max - min) / median over the repeats: how much the machine moved the figures."""
    return (max(values) - min(values)) / statistics.median(values)


# ------------------------------------------------------------------------------------------------ results
@dataclass
class ModelResult:
    spec: str
    batch_size: int
    n_batches: int
    ours: list[Measurement] = field(default_factory=list)
    plain: list[Measurement] = field(default_factory=list)
    checkpoint_s: float | None = None
    error: str | None = None  # set when the model could not be measured

    @staticmethod
    def _median(values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return statistics.median(present) if present else None

    @property
    def ours_images_per_s(self) -> float:
        return statistics.median(m.images_per_s for m in self.ours)

    @property
    def plain_images_per_s(self) -> float:
        return statistics.median(m.images_per_s for m in self.plain)

    @property
    def interval(self) -> RatioInterval:
        """ours / plain over the paired repeats (each repeat measures both arms back to back)."""
        return ratio_interval([m.images_per_s for m in self.ours], [m.images_per_s for m in self.plain])

    @property
    def ratio(self) -> float:
        return self.interval.estimate

    def spread(self, arm: list[Measurement]) -> float:
        return spread([m.images_per_s for m in arm])

    def row(self) -> list[str]:
        if self.error:
            return [self.spec, "", f"failed: {self.error}", "", "", "", "", "", "", ""]
        cuda_ours = self._median([m.cuda_peak_mib for m in self.ours])
        cuda_plain = self._median([m.cuda_peak_mib for m in self.plain])
        memory = f"{self._median([m.peak_rss_mib for m in self.ours]):.0f} / {self._median([m.peak_rss_mib for m in self.plain]):.0f}"
        if cuda_ours is not None:
            memory += f" (CUDA {cuda_ours:.0f} / {cuda_plain:.0f})"
        interval = self.interval
        return [self.spec, str(self.batch_size), f"{self.ours_images_per_s:,.0f}", f"{self.plain_images_per_s:,.0f}",
                interval.text() + ("" if interval.estimate >= 0.90 else " **below 0.90**"),
                "" if interval.n < 2 else f"{interval.half_width:.1%}",
                f"{self.spread(self.ours):.0%} / {self.spread(self.plain):.0%}", memory,
                f"{self._median([m.fixed_s for m in self.ours]):.2f}",
                "" if self.checkpoint_s is None else f"{self.checkpoint_s:.3f}"]


TABLE_HEADER = ["model (method/arch)", "batch", "ours img/s", "plain img/s", f"ratio [{CONFIDENCE:.0%} CI]", "CI +-",
                "spread ours / plain",
                "peak RSS MiB ours / plain", "fixed s per fit (ours)", "checkpoint save s"]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} cores, {device}; torch {torch.__version__} "
            f"({torch.get_num_threads()} intra-op threads), lightning {L.__version__}, Python {platform.python_version()}")


def busy_machine_warning() -> str:
    """Several OpenMP threads on a CPU that other processes keep busy wait on each other at every op."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return ""
    cores = os.cpu_count() or 1
    if torch.get_num_threads() > 1 and load > cores - 0.5:
        return (f"Warning: load average {load:.1f} on {cores} cores with {torch.get_num_threads()} torch threads: "
                "OpenMP threads stall each other on a busy CPU and the figures swing by several times; "
                "add --override torch_threads=1 (docs/performance.md).")
    return ""


def load_average() -> str:
    try:
        return "/".join(f"{value:.2f}" for value in os.getloadavg()) + " (1/5/15 min)"
    except OSError:
        return "unavailable"


# ------------------------------------------------------------------------------------------------ running
def window_size(args: argparse.Namespace, family: str) -> tuple[int, int]:
    """(untimed warm-up batches, timed batches) of the first run of each arm, for a family ('vae' or 'gan')."""
    batches, warmups = (QUICK_BATCHES, QUICK_WARMUP) if args.quick else (DEFAULT_BATCHES, DEFAULT_WARMUP)
    return (args.warmup if args.warmup is not None else warmups[family]), (args.batches or batches[family])


def calibrated_batches(args: argparse.Namespace, n: int, images_per_s: float, batch_size: int, multiple: int = 1) -> int:
    """Timed batches per window: ``n`` under --batches or --quick, else enough for ``--window-s`` seconds at
    ``images_per_s``, rounded up to a whole multiple of ``multiple`` (a GAN's n_critic; at least one cycle)."""
    if args.batches or args.quick or not images_per_s > 0:
        return n
    wanted = math.ceil(args.window_s * images_per_s / batch_size)
    return max(multiple, math.ceil(wanted / multiple) * multiple)


def update_period(cfg: DictConfig) -> int:
    """Batches per full update cycle: a GAN's n_critic (one generator step each), 1 for a VAE."""
    return int(cfg.method.get("n_critic", 1)) if str(cfg.method.family) == "gan" else 1


def run_model(spec: str, args: argparse.Namespace, work_dir: Path) -> ModelResult:
    """Both arms of one model: a discarded first run each (which sizes the windows), then ``--repeats`` pairs.

    The order within a pair alternates (ours-plain, plain-ours, ...), so load that rises or falls over the run
    favours neither arm; each pair's ratio feeds the confidence interval (``ratio_interval``).
    """
    cfg = compose_bench_config(spec, work_dir / spec.replace("/", "_"), args.override)
    family = str(cfg.method.family)
    warmup, n = window_size(args, family)
    device = bench_device(cfg)
    ours = LightningArm(cfg, device)
    plain = PlainArm(cfg, ours.datamodule, device)
    if args.channels_last:
        ours.model.to(memory_format=torch.channels_last)
        plain.module.to(memory_format=torch.channels_last)
    # the first run of each arm is a warm-up (allocator, oneDNN primitive caches, compile) and is discarded
    first = [arm.measure(warmup, n).images_per_s for arm in (ours, plain)]
    print(f"  {spec:24s} warm-up   ours {first[0]:8,.0f} img/s, plain {first[1]:8,.0f} img/s", flush=True)
    n = calibrated_batches(args, n, max(first), ours.batch_size, update_period(cfg))
    result = ModelResult(spec, ours.batch_size, n)
    arms = [("ours", ours, result.ours), ("plain", plain, result.plain)]
    for repeat in range(args.repeats):
        for name, arm, store in (arms if repeat % 2 == 0 else arms[::-1]):
            measurement = arm.measure(warmup, n)
            store.append(measurement)
            print(f"  {spec:24s} {name:5s} {f'repeat {repeat + 1}':9s} {measurement.images_per_s:8,.0f} img/s  "
                  f"peak RSS {measurement.peak_rss_mib:6.0f} MiB", flush=True)
    result.checkpoint_s = ours.checkpoint_seconds()
    del ours, plain  # the next model starts from the same baseline
    release_memory()
    print(f"  {spec}: ours {result.ours_images_per_s:,.0f} img/s, plain {result.plain_images_per_s:,.0f} img/s, "
          f"ratio {result.interval.text()}", flush=True)
    return result


def profile_model(spec: str, args: argparse.Namespace, work_dir: Path) -> str:
    """Where one training step's time goes, in both arms: torch.profiler per op, cProfile per package (ours)."""
    cfg = compose_bench_config(spec, work_dir / f"profile_{spec.replace('/', '_')}", args.override)
    family = str(cfg.method.family)
    warmup, n = window_size(args, family)
    if not args.batches:  # profilers slow every step down: a third of the table's window is enough
        n = max(5, n // 3 - n // 3 % 5)  # whole n_critic cycles
    device = bench_device(cfg)
    ours = LightningArm(cfg, device)
    plain = PlainArm(cfg, ours.datamodule, device)
    ours.measure(warmup, n)  # warm-up
    plain.measure(warmup, n)
    lines = [f"### {spec} (batch {ours.batch_size}, {n} batches profiled per arm)", ""]
    per_arm: dict[str, tuple[float, Any]] = {}
    for name, arm in (("ours", ours), ("plain", plain)):
        activities = [torch.profiler.ProfilerActivity.CPU]
        if device.type == "cuda":
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        profiler = torch.profiler.profile(activities=activities)
        measurement = arm.measure(warmup, n, WindowProbe(profiler.start, profiler.stop))
        step_ms = 1000 * ours.batch_size / measurement.images_per_s
        per_arm[name] = (step_ms, profiler.key_averages())
    rows = []
    for name, (step_ms, averages) in per_arm.items():
        aten_ms = sum(a.self_cpu_time_total for a in averages if a.key.startswith("aten::")) / 1000 / n
        rest_ms = max(0.0, step_ms - aten_ms)
        rows.append([name, f"{step_ms:.2f}", f"{aten_ms:.2f} ({aten_ms / step_ms:.0%})",
                     f"{rest_ms:.2f} ({rest_ms / step_ms:.0%})"])
    lines += ["Per training batch, from torch.profiler over the timed window (the profiler adds a little to every "
              "op, in both arms alike). 'aten ops' is the self time of every tensor operation (the kernels and their "
              "dispatch); the rest is Python: the training loop, Lightning's hooks and logging, the optimizers' "
              "per-parameter loops, the autograd engine's bookkeeping.", "",
              markdown_table(["arm", "ms per batch", "aten ops (self)", "rest: Python, framework, hooks"], rows), ""]
    op_rows = []
    step_ms, averages = per_arm["plain"]
    ours_by_key = {a.key: a for a in per_arm["ours"][1]}
    for average in sorted((a for a in averages if a.key.startswith("aten::")),
                          key=lambda a: a.self_cpu_time_total, reverse=True)[:8]:
        theirs = ours_by_key.get(average.key)
        op_rows.append([f"`{average.key}`", f"{average.self_cpu_time_total / 1000 / n:.2f}",
                        f"{average.self_cpu_time_total / 1000 / n / step_ms:.0%}",
                        "" if theirs is None else f"{theirs.self_cpu_time_total / 1000 / n:.2f}",
                        f"{average.count / n:.0f}"])
    lines += ["Heaviest ops (self time, ms per batch):", "",
              markdown_table(["op", "plain ms", "share of plain step", "ours ms", "calls per batch (plain)"], op_rows), ""]
    # cProfile: which Python code runs in the 'ours' arm; it inflates Python-heavy code, so read shares, not times
    stats_profile = cProfile.Profile()
    ours.measure(warmup, n, WindowProbe(stats_profile.enable, stats_profile.disable))
    stats = pstats.Stats(stats_profile, stream=io.StringIO())
    by_package: dict[str, float] = {}
    total = log_seconds = 0.0
    lightning_functions: list[tuple[float, str]] = []
    for (filename, line, function), (_, _, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        package = code_origin(filename)
        by_package[package] = by_package.get(package, 0.0) + tottime
        total += tottime
        if package == "lightning":
            short = filename.split("site-packages/", 1)[-1]
            lightning_functions.append((tottime, f"`{short}:{line}({function})`"))
            if short.endswith("pytorch/core/module.py") and function == "log":
                log_seconds = cumtime
    package_rows = [[package, f"{seconds / total:.0%}"] for package, seconds in
                    sorted(by_package.items(), key=lambda item: item[1], reverse=True)]
    lines += ["cProfile of the 'ours' window (it slows Python down more than kernels: read shares, not times). "
              "Self time by where the code lives; 'C / builtins' holds the torch kernels called from Python:", "",
              markdown_table(["code", "share of self time"], package_rows), "",
              f"`LightningModule.log` (every `self.log` / `log_dict` key, cumulative): {1000 * log_seconds / n:.2f} ms "
              f"per batch of {1000 * total / n:.2f} ms under cProfile ({log_seconds / total:.0%}).", ""]
    top = sorted(lightning_functions, reverse=True)[:8]
    lines += ["Lightning's own code by self time (ms per batch, under cProfile):", "",
              markdown_table(["function", "self ms per batch"], [[f, f"{1000 * t / n:.2f}"] for t, f in top]), ""]
    return "\n".join(lines)


def run_compare(spec: str, args: argparse.Namespace, work_dir: Path, default_threads: int) -> list[list[str]]:
    """'ours' under the base overrides against 'ours' under each --compare set, interleaved; one row per set."""
    configs = [("base", args.override)] + [(variant, [*args.override, *variant.split()]) for variant in args.compare]
    arms = []
    for index, (label, overrides) in enumerate(configs):
        # 'channels_last' is no config key: it converts the networks' conv weights (and so their outputs)
        hydra_overrides = [o for o in overrides if o != CHANNELS_LAST]
        cfg = compose_bench_config(spec, work_dir / f"compare_{spec.replace('/', '_')}_{index}", hydra_overrides)
        arm = LightningArm(cfg, bench_device(cfg))
        if CHANNELS_LAST in overrides or args.channels_last:
            arm.model.to(memory_format=torch.channels_last)
        arms.append((label, arm, cfg.torch_threads or default_threads))
    family = str(arms[0][1].cfg.method.family)
    warmup, n = window_size(args, family)
    figures: dict[str, list[float]] = {label: [] for label, _, _ in arms}
    failures: dict[str, str] = {}
    for repeat in range(-1, args.repeats):
        # alternate the order, as run_model does, so drifting load favours no setting
        for label, arm, threads in (arms if repeat % 2 else arms[::-1]):
            if label in failures:
                continue
            torch.set_num_threads(threads)  # torch_threads is per process in ssgen-train; here per measurement
            try:
                images_per_s = arm.measure(warmup, n).images_per_s
            except Exception as exc:  # a setting that cannot train (compile=true with WGAN-GP) is a result too
                failures[label] = failure_text(exc)
                print(f"  {spec:24s} {label:32s} failed: {failures[label]}", flush=True)
                continue
            if repeat >= 0:
                figures[label].append(images_per_s)
            elif label == "base":
                base_rate = images_per_s
            print(f"  {spec:24s} {label:32s} {'warm-up' if repeat < 0 else f'repeat {repeat + 1}':9s} "
                  f"{images_per_s:8,.0f} img/s", flush=True)
        if repeat < 0 and "base" not in failures:  # windows sized from the base setting's first run
            n = calibrated_batches(args, n, base_rate, arms[0][1].batch_size, update_period(arms[0][1].cfg))
    torch.set_num_threads(arms[0][2])
    rows = []
    for label, values in figures.items():
        if label in failures:
            rows.append([spec, label, f"failed: {failures[label]}", ""])
        elif label == "base" or not figures["base"]:
            rows.append([spec, label, f"{statistics.median(values):,.0f}", "1.00" if label == "base" else ""])
        else:
            rows.append([spec, label, f"{statistics.median(values):,.0f}", ratio_interval(values, figures["base"]).text()])
    return rows


def failure_text(exc: BaseException) -> str:
    """One line for a table cell: the exception's type and the first line of its message."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}"[:160].replace("|", "/")


def code_origin(filename: str) -> str:
    """Which layer a profiled Python function belongs to, for the cProfile summary."""
    if filename == "~":
        return "C / builtins"
    for marker, name in (("/lightning/", "lightning"), ("/lightning_utilities/", "lightning"), ("/torch/", "torch (Python side)"),
                         ("/ssgen/", "ssgen")):
        if marker in filename:
            return name
    return "other packages" if "-packages/" in filename else "Python standard library (copy, inspect, ...)"


# ------------------------------------------------------------------------------------------------ concurrency
COPY_READY, COPY_RESULT = "ssgen-bench-copy-ready", "ssgen-bench-copy-result"  # the copies' stdout protocol


def copy_main(args: argparse.Namespace) -> None:
    """One copy of the 'ours' arm (``--copy-of SPEC``, started by ``run_copies``): build it, run one discarded fit,
    print COPY_READY, wait for a line on stdin, time ``--repeats`` windows, print COPY_RESULT with their images/s,
    then keep training untimed until stdin closes, so the other copies' windows end under the same load."""
    spec = args.copy_of
    with tempfile.TemporaryDirectory(prefix="ssgen-bench-copy-") as work:
        cfg = compose_bench_config(spec, Path(work) / "run", args.override)
        apply_run_settings(cfg)
        device_precision(cfg)
        arm = LightningArm(cfg, bench_device(cfg))
        warmup, n = window_size(args, str(cfg.method.family))
        first = arm.measure(warmup, n).images_per_s
        n = calibrated_batches(args, n, first, arm.batch_size, update_period(cfg))
        print(COPY_READY, flush=True)
        if not sys.stdin.readline():  # 'go': every copy is built and warm; end of input: the bench gave up
            return
        stop = threading.Event()
        threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
        figures = [arm.measure(warmup, n).images_per_s for _ in range(args.repeats)]
        print(f"{COPY_RESULT} {json.dumps({'images_per_s': figures, 'threads': torch.get_num_threads()})}", flush=True)
        while not stop.is_set():
            arm.measure(0, n)


def run_copies(spec: str, args: argparse.Namespace, k: int, timeout_s: float = 3600) -> list[dict[str, Any]]:
    """Start ``k`` copies of the 'ours' arm of ``spec`` as processes, let them time their windows at once, and
    return each copy's COPY_RESULT. Each copy inherits this process's environment and sets threads only as
    the config asks (``apply_run_settings``). Raises RuntimeError, with the tail of its stderr, if a copy fails."""
    command = [sys.executable, "-m", "ssgen.bench", "--copy-of", spec, "--repeats", str(args.repeats),
               "--window-s", str(args.window_s), *(["--quick"] if args.quick else []),
               *([f"--batches={args.batches}"] if args.batches else []),
               *([f"--warmup={args.warmup}"] if args.warmup is not None else []),
               *(f"--override={override}" for override in args.override)]
    with contextlib.ExitStack() as stack:
        logs = [stack.enter_context(tempfile.TemporaryFile(mode="w+")) for _ in range(k)]
        # the copies import the same ssgen as this process (a checkout on PYTHONPATH, not another install)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                                         os.environ.get("PYTHONPATH")]))}
        copies = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
                  for log in logs]
        # a copy that hangs without a line would block the reads below for good: kill them all at the deadline
        watchdog = threading.Timer(timeout_s, lambda: [copy.kill() for copy in copies])
        watchdog.daemon = True
        watchdog.start()
        stack.callback(watchdog.cancel)

        def fail(index: int, what: str) -> RuntimeError:
            for copy in copies:
                copy.kill()
            logs[index].seek(0)
            tail = " | ".join(logs[index].read().strip().splitlines()[-3:])
            return RuntimeError(f"copy {index + 1} of {spec} {what}: {tail[-400:]}")

        def wait_for(index: int, prefix: str) -> str:
            for line in copies[index].stdout:  # type: ignore[union-attr]
                if line.startswith(prefix):
                    return line[len(prefix):].strip()
            raise fail(index, f"ended before '{prefix}' (exit status {copies[index].wait()}; "
                              f"killed after {timeout_s:.0f} s if negative)")

        try:
            for index in range(k):
                wait_for(index, COPY_READY)
            for copy in copies:  # as close together as the pipes allow
                copy.stdin.write("go\n")  # type: ignore[union-attr]
                copy.stdin.flush()  # type: ignore[union-attr]
            results = [json.loads(wait_for(index, COPY_RESULT)) for index in range(k)]
        finally:
            for copy in copies:
                with contextlib.suppress(OSError):
                    copy.stdin.close()  # type: ignore[union-attr]
            for copy in copies:
                try:
                    copy.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    copy.kill()
    return results


@dataclass
class ConcurrencyResult:
    """``k`` copies of the 'ours' arm at once against one copy alone, measured in the same invocation."""

    spec: str
    k: int
    solo: list[float]  # images/s of each window of the copy that ran alone
    copies: list[list[float]]  # images/s of each window, per concurrent copy
    threads: int = 0  # torch intra-op threads each copy ran with
    error: str | None = None

    def fractions(self) -> list[float]:
        """Each concurrent copy's median images/s over the solo copy's median."""
        solo = statistics.median(self.solo)
        return [statistics.median(values) / solo for values in self.copies]

    def row(self) -> list[str]:
        if self.error:
            return [self.spec, str(self.k), "", f"failed: {self.error}", "", "", ""]
        fractions = self.fractions()
        return [self.spec, str(self.k), str(self.threads), f"{statistics.median(self.solo):,.0f}",
                ", ".join(f"{statistics.median(values):,.0f}" for values in self.copies),
                ", ".join(f"{fraction:.2f}" for fraction in fractions), f"{sum(fractions):.2f}"]


CONCURRENCY_HEADER = ["model", "copies", "threads per copy", "alone img/s", "each copy img/s", "each copy / alone",
                      "all copies / alone"]


def run_concurrent(spec: str, args: argparse.Namespace) -> ConcurrencyResult:
    """One copy alone, then ``--concurrent`` copies at once: each copy's throughput as a fraction of the lone one."""
    print(f"  {spec}: 1 copy alone", flush=True)
    solo = run_copies(spec, args, 1)[0]
    print(f"  {spec}: alone {statistics.median(solo['images_per_s']):,.0f} img/s; {args.concurrent} copies at once",
          flush=True)
    copies = run_copies(spec, args, args.concurrent)
    result = ConcurrencyResult(spec, args.concurrent, solo["images_per_s"], [c["images_per_s"] for c in copies],
                               threads=int(solo.get("threads", 0)))
    print(f"  {spec}: each copy / alone: {', '.join(f'{f:.2f}' for f in result.fractions())}", flush=True)
    return result


def render_section(args: argparse.Namespace, results: list[ModelResult], profiles: list[str], load_before: str,
                   seconds: float, compare_rows: list[list[str]] | None = None,
                   concurrency: list[ConcurrencyResult] | None = None) -> str:
    lines = [f"Command: `{' '.join(['python -m ssgen.bench', *map(shlex.quote, args.argv)])}`  ",
             f"Machine: {machine_description()}  ",
             f"Load average: {load_before} before, {load_average()} after; run took {seconds:.0f} s; "
             f"peak RSS of the whole process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB.  ",
             f"Overrides: {' '.join(args.override) or 'none'}{'; channels_last' if args.channels_last else ''}.", ""]
    if busy_machine_warning():
        lines += [busy_machine_warning(), ""]
    if results:
        lines += [f"{args.repeats} pairs of windows (ours and plain back to back, the order alternating) after a "
                  "discarded first run of each arm; img/s are medians, the ratio is the geometric mean of the pairs' "
                  f"ratios with its {CONFIDENCE:.0%} t-interval ('CI +-': half its width; under 2.5% a 5% difference "
                  f"is visible). Batches timed per window: "
                  f"{', '.join(f'{r.spec} {r.n_batches}' for r in results if not r.error)}.", "",
                  markdown_table(TABLE_HEADER, [r.row() for r in results]), ""]
        reference_lines = []
        for result in results:
            reference = REFERENCE_IMAGES_PER_S.get(result.spec)
            if reference and not result.error:
                reference_lines.append(
                    f"- {result.spec}: reference {reference:,.0f} img/s (plain loop); here plain "
                    f"{result.plain_images_per_s:,.0f} ({result.plain_images_per_s / reference:.0%} of it), ours "
                    f"{result.ours_images_per_s:,.0f} ({result.ours_images_per_s / reference:.0%}).")
        if reference_lines:
            lines += ["Against the reference figures:", "", *reference_lines, ""]
    if compare_rows:
        lines += [f"'ours' arm only, each setting against the base (overrides above), interleaved, median of "
                  f"{args.repeats}; 'vs base' is the geometric mean of the paired ratios [{CONFIDENCE:.0%} CI]:", "",
                  markdown_table(["model", "setting", "ours img/s", "vs base"], compare_rows), ""]
    if concurrency:
        lines += [f"'ours' arm only: {concurrency[0].k} copies as separate processes at once (threads as ssgen-train "
                  f"sets them) against one copy alone, in the same invocation; medians of {args.repeats} windows "
                  "per copy. 'all copies / alone' above 1 means running them side by side beats running them in turn.",
                  "", markdown_table(CONCURRENCY_HEADER, [c.row() for c in concurrency]), ""]
    lines += profiles
    return "\n".join(lines).rstrip() + "\n"


def write_section(path: Path, section: str, body: str) -> None:
    """Replace (or append) the text between this section's markers; everything else in the file stays."""
    begin, end = f"<!-- bench:{section}:begin -->", f"<!-- bench:{section}:end -->"
    block = f"{begin}\n{body}{end}"
    text = path.read_text() if path.exists() else "# Performance\n\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


class _ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are one ConfigError line (``ssgen.bench: error: ...``), like the console scripts'."""

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        raise ConfigError(f"{message} (see `python -m ssgen.bench --help`)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; raises ConfigError for a bad one (nothing has run or been written then)."""
    parser = _ArgumentParser(prog="python -m ssgen.bench", description=__doc__.split("\n\n")[0],
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(ALL_MODELS),
                        help="comma-separated 'm1' or 'method/arch' (default: M1 and every GAN method x arch)")
    parser.add_argument("--batches", type=int, default=None,
                        help="timed batches per window, fixed (default: as many as --window-s seconds take)")
    parser.add_argument("--window-s", type=float, default=DEFAULT_WINDOW_S,
                        help=f"seconds per timed window, sized from each arm's first run (default {DEFAULT_WINDOW_S})")
    parser.add_argument("--warmup", type=int, default=None, help=f"untimed batches first in every run ({DEFAULT_WARMUP})")
    parser.add_argument("--repeats", type=int, default=None,
                        help=f"paired windows per arm (default {DEFAULT_REPEATS}, --quick 1); the ratio's CI narrows "
                             "with their square root")
    parser.add_argument("--override", action="append", default=[],
                        help="Hydra override for both arms, repeatable: trainer.precision=bf16-mixed, torch_threads=1")
    parser.add_argument("--channels-last", action="store_true", help="both arms' networks in channels_last memory format")
    parser.add_argument("--compare", action="append", default=[],
                        help="space-separated overrides to race against the base, 'ours' arm only, repeatable: "
                             "--compare trainer.precision=bf16-mixed --compare torch_threads=1 --compare channels_last")
    parser.add_argument("--concurrent", type=int, default=None, metavar="K",
                        help="run K copies of the 'ours' arm at once as processes and report each one's throughput "
                             "against one copy alone (threads as ssgen-train sets them)")
    parser.add_argument("--profile", default=None, help="comma-separated models to profile as well (after the table)")
    parser.add_argument("--profile-only", action="store_true", help="profile --models, measure no table")
    parser.add_argument("--out", default=None,
                        help="markdown file to write the results into, e.g. docs/performance.md (default: print only)")
    parser.add_argument("--section", default=None,
                        help="marker name of the section written in --out (default 'main'; needs --out)")
    parser.add_argument("--quick", action="store_true", help="smoke run: m1 and wgan_gp/dcgan, few batches, 1 repeat")
    parser.add_argument("--copy-of", default=None, help=argparse.SUPPRESS)  # one copy of --concurrent (run_copies)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    args.argv = list(argv)  # the command as given, for the 'Command:' line of the results
    if args.quick:
        if args.models == ",".join(ALL_MODELS):
            args.models = ",".join(QUICK_MODELS)
    if args.repeats is None:
        args.repeats = 1 if args.quick else DEFAULT_REPEATS
    if args.section is not None and args.out is None:
        raise ConfigError(f"--section {args.section} names a part of the --out file, and there is none: add "
                          "--out docs/performance.md (the bench writes no file unless asked)")
    args.section = args.section or "main"
    if args.repeats < 1 or (args.batches is not None and args.batches < 1) or not args.window_s > 0:
        raise ConfigError("--repeats and --batches must be >= 1 and --window-s > 0")
    if args.concurrent is not None:
        if args.concurrent < 1:
            raise ConfigError(f"--concurrent {args.concurrent} must be >= 1 (copies of the 'ours' arm run at once)")
        if args.compare or args.profile or args.profile_only or args.channels_last:
            raise ConfigError("--concurrent runs the 'ours' arm alone; drop --compare, --profile, --profile-only and "
                              "--channels-last, or run them in another invocation")
    return args


def check_models(models: list[str]) -> None:
    """ConfigError unless every model is 'm1' or 'method/arch' of a family the plain loop knows."""
    targets = method_targets()
    unknown = [m for m in models if m.partition("/")[0] not in targets
               or module_class(targets[m.partition("/")[0]]).family not in PLAIN_FAMILIES]
    if unknown or not models:
        raise ConfigError(f"no plain-loop twin for {', '.join(unknown) or 'an empty --models'}; "
                          f"models: {', '.join(ALL_MODELS)}")


def quiet_frameworks() -> None:
    """Lightning's info lines and warnings (few batches, no validation) would drown the figures."""
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


def bench(argv: list[str]) -> None:
    """Measure, print, and write ``--out`` only when given. Raises ConfigError for a bad command line."""
    args = parse_args(argv)
    if args.copy_of:
        quiet_frameworks()
        copy_main(args)
        return
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    check_models(models)
    quiet_frameworks()
    L.seed_everything(0, verbose=False)
    probe_cfg = compose_bench_config(models[0], Path(tempfile.gettempdir()), args.override)
    default_threads = probe_cfg.torch_threads or torch.get_num_threads()
    if args.concurrent is None:  # the copies of --concurrent set their own, in their own processes
        apply_run_settings(probe_cfg)  # as ssgen.train.train does, for both arms alike
        device_precision(probe_cfg)
    load_before, began = load_average(), time.perf_counter()
    print(f"{machine_description()}\nload average {load_before}", flush=True)
    if busy_machine_warning():
        print(busy_machine_warning(), flush=True)
    results: list[ModelResult] = []
    profiles: list[str] = []
    compare_rows: list[list[str]] = []
    concurrency: list[ConcurrencyResult] = []
    with tempfile.TemporaryDirectory(prefix="ssgen-bench-") as work:
        if args.concurrent is not None:
            for spec in models:
                try:
                    concurrency.append(run_concurrent(spec, args))
                except Exception as exc:  # one model that cannot train must not cost the others' figures
                    print(f"  {spec}: failed: {failure_text(exc)}", flush=True)
                    concurrency.append(ConcurrencyResult(spec, args.concurrent, [], [], error=failure_text(exc)))
        elif args.compare:
            for spec in models:
                compare_rows += run_compare(spec, args, Path(work), default_threads)
        elif not args.profile_only:
            for spec in models:
                try:
                    results.append(run_model(spec, args, Path(work)))
                except Exception as exc:  # one model that cannot train must not cost the others' figures
                    print(f"  {spec}: failed: {failure_text(exc)}", flush=True)
                    results.append(ModelResult(spec, 0, 0, error=failure_text(exc)))
                    release_memory()
        for spec in (models if args.profile_only else [m for m in (args.profile or "").split(",") if m]):
            print(f"  profiling {spec}", flush=True)
            profiles.append(profile_model(spec, args, Path(work)))
    body = render_section(args, results, profiles, load_before, time.perf_counter() - began, compare_rows, concurrency)
    print("\n" + body, flush=True)
    if args.out:
        write_section(Path(args.out), args.section, body)
        print(f"wrote section '{args.section}' of {args.out}")


def main(argv: list[str] | None = None) -> None:
    """``python -m ssgen.bench``: a bad command line is one ``ssgen.bench: error: ...`` line and exit status 2."""
    run_console_script("ssgen.bench", None, argv, bench)


if __name__ == "__main__":
    main()
