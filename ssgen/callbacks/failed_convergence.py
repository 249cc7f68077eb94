"""Failed-convergence detection for the GANs: stop a run that has diverged, collapsed or stalled.

    ssgen-train experiment=gan method=wgan_gp restarts=2     # a failed run is relaunched with seed+1

Configured per method under ``callbacks.failed_convergence`` in ``conf/method/<method>.yaml``, e.g.
``method.callbacks.failed_convergence.max_abs_critic_loss=1e5``. On failure the callback raises
``TrainingFailed("diverged: ...")``; ``ssgen.train.train`` catches it, restarts with the next seed
(``restarts``) and counts ``failed_runs`` in results.json.

Checks:
  * non-finite critic or generator loss (every ``check_every_n_batches`` batches; the losses stay on the
    device and are read back to the host in one transfer every ``read_every_n_batches`` batches, each
    still judged at its own batch, so a GPU is not made to wait for the host at every step);
  * exploding critic loss: |loss/critic| > ``max_abs_critic_loss`` for ``explode_patience`` checks in a row;
  * collapse (at the end of every ``collapse_every_n_epochs``-th epoch, once ``collapse_min_batches``
    batches have been trained): per class, ``collapse_samples_per_class`` images from fixed noise, in eval
    mode; the per-pixel std across the noise, averaged over pixels and classes, below ``collapse_std``
    (images in [-1, 1]; 16 real images of one class give 0.20-0.48). The wait matters: an untrained
    DCGAN generator in eval mode (batch-norm running statistics still at their initial values, weights
    N(0, 0.02)) varies by only ~0.01, which is not collapse, and a run on 100 labelled images has only
    two batches per epoch;
  * a stuck quality metric: ``metric_key`` (e.g. metrics/fid, logged by GenerativeMetrics)
    not improved by ``metric_min_delta`` for ``metric_patience`` epochs *while its best value is still worse
    than* ``metric_fail_worse_than`` (None: any stall fails; on the metric's own scale, so
    conf/callbacks/failed_convergence.yaml sets it with the metric: FID 50, a generator that never learned; an untrained DCGAN generator
    scores 126-128 against 2000 training images, uniform noise 106, one epoch of DCGAN 24-34). A run whose FID
    plateaus at a good value has converged: its best.ckpt is kept, and a restart would throw it away (a 10-epoch
    DCGAN whose FID bottomed out at 6.8 in epoch 5 and wandered to 10.5 was once killed at its last epoch).
    List the metrics callback *before* this one so it reads the value of the same epoch (callbacks run in
    config order).

Flagged, never failed: **partial collapse**, some classes whose samples are near-duplicates while the others
vary (the whole-generator pixel-std check above misses it). Every epoch GenerativeMetrics logs
``metrics/class_spread/<class>``: the mean pairwise evaluator-feature distance of that class's samples over
that of the class's real *training* images (``ssgen.evaluation.metrics.class_spread_ratio``; about 1 for a generator
as varied as the data). A class below ``partial_collapse_spread`` (default 0.5: its samples spread less
than half as much as the real images of the class) is logged as a warning in that epoch, and the classes
below it at the last checked epoch are named in results.json ``warnings``; every flagged epoch is in
results.json ``partial_collapse``. The run goes on: a collapsed class is a finding to report, and a restart
with another seed would hide it.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import lightning as L
import torch

from ssgen.callbacks import EndOfRunStep
from ssgen.errors import TrainingFailed

log = logging.getLogger("ssgen")

# Batches between two reads of the losses when they live on a GPU (read_every_n_batches=None): one wait for the
# device per 50 steps, and a diverged run is still stopped within 50 batches of it.
ACCELERATOR_READ_EVERY = 50
CLASS_SPREAD_PREFIX = "metrics/class_spread/"  # logged per class by GenerativeMetrics


class FailedConvergence(EndOfRunStep):
    """Raises ``TrainingFailed`` on divergence, collapse or a stalled metric, and flags partial collapse in
    results.json (``warnings``, ``partial_collapse``); see the module docstring."""

    step_name = "failed_convergence"

    def __init__(self, check_every_n_batches: int = 1, max_abs_critic_loss: float = 1e4, explode_patience: int = 20,
                 collapse_std: float = 0.005, collapse_samples_per_class: int = 16, collapse_every_n_epochs: int = 1,
                 collapse_min_batches: int = 500,
                 metric_key: str | None = "metrics/fid", metric_mode: str = "min", metric_patience: int = 4,
                 metric_min_delta: float = 0.0, metric_fail_worse_than: float | None = None,
                 partial_collapse_spread: float = 0.5, seed: int = 0, read_every_n_batches: int | None = None) -> None:
        if metric_mode not in ("min", "max"):
            raise ValueError(f"metric_mode={metric_mode!r} must be 'min' or 'max'")
        self.check_every_n_batches = max(1, check_every_n_batches)
        # None: every batch when the losses live on the CPU (reading them costs nothing there), every
        # ACCELERATOR_READ_EVERY batches on a GPU (each read waits for the device to finish its queue)
        self.read_every_n_batches = read_every_n_batches
        self._pending: list[tuple[int, tuple[str, ...], torch.Tensor]] = []  # (batch number, names, losses) not yet read
        self.max_abs_critic_loss, self.explode_patience = max_abs_critic_loss, explode_patience
        self.collapse_std, self.collapse_samples_per_class = collapse_std, collapse_samples_per_class
        self.collapse_every_n_epochs, self.collapse_min_batches = collapse_every_n_epochs, collapse_min_batches
        self.metric_key, self.metric_mode = metric_key, metric_mode
        self.metric_patience, self.metric_min_delta = metric_patience, metric_min_delta
        self.metric_fail_worse_than = metric_fail_worse_than
        self.partial_collapse_spread = partial_collapse_spread
        self.seed = seed
        self.partial_collapse: dict[str, dict[str, float]] = {}  # {epoch: {class: spread}} of the flagged epochs
        self.last_spread_epoch: int | None = None  # the last epoch whose class spreads were checked
        self.explode_count = 0
        self.metric_best: float | None = None
        self.metric_best_epoch = -1
        self.metric_stale_epochs = 0

    # ------------------------------------------------------------------ per batch: divergence
    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if not isinstance(outputs, dict) or (batch_idx + 1) % self.check_every_n_batches:
            return
        names = tuple(name for name in ("loss/critic", "loss/generator") if isinstance(outputs.get(name), torch.Tensor))
        if not names:
            return
        losses = torch.stack([outputs[name].detach().float().reshape(()) for name in names])  # on the device: no sync
        self._pending.append((trainer.fit_loop.total_batch_idx + 1, names, losses))
        every = self.read_every_n_batches or (1 if losses.device.type == "cpu" else ACCELERATOR_READ_EVERY)
        if len(self._pending) >= every:
            self.read_pending()

    def read_pending(self) -> None:
        """Read the losses of the batches not yet judged (one device-to-host transfer) and judge each in order."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        # names differ before and after the first generator step: pad to two values per batch, one transfer
        rows = torch.stack([torch.cat([losses, losses.new_zeros(2 - len(losses))]) for _, _, losses in pending]).tolist()
        for (batch_number, names, _), values in zip(pending, rows, strict=True):
            self.judge(batch_number, dict(zip(names, values, strict=False)))

    def judge(self, batch_number: int, values: dict[str, float]) -> None:
        """TrainingFailed if a loss of batch ``batch_number`` is non-finite or the critic loss has exploded too long."""
        for name, value in values.items():
            if not math.isfinite(value):
                raise TrainingFailed(f"diverged: non-finite {name} ({value}) at batch {batch_number}")
        critic_loss = values.get("loss/critic", 0.0)
        self.explode_count = self.explode_count + 1 if abs(critic_loss) > self.max_abs_critic_loss else 0
        if self.explode_count >= self.explode_patience:
            raise TrainingFailed(
                f"diverged: |loss/critic| above {self.max_abs_critic_loss:g} for {self.explode_count} consecutive "
                f"checks (last {critic_loss:.4g}) at batch {batch_number}")

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.read_pending()  # a step budget can end the run between two reads

    # ------------------------------------------------------------------ per epoch: collapse, stalled metric
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.read_pending()  # every batch of the epoch judged before it counts as trained
        epoch = trainer.current_epoch
        if (self.collapse_std > 0 and trainer.fit_loop.total_batch_idx + 1 >= self.collapse_min_batches
                and (epoch + 1) % max(1, self.collapse_every_n_epochs) == 0):
            self.check_collapse(pl_module, epoch)
        self.check_partial_collapse(trainer.callback_metrics, epoch)
        if self.metric_key:
            self.check_metric(trainer.callback_metrics.get(self.metric_key), epoch)

    def check_partial_collapse(self, metrics: dict[str, Any], epoch: int) -> dict[str, float]:
        """``{class: spread}`` of the classes below ``partial_collapse_spread`` this epoch (logged, kept, never
        raised); empty when none is or when no class spread was logged this epoch."""
        spreads = {key.removeprefix(CLASS_SPREAD_PREFIX): float(value) for key, value in metrics.items()
                   if key.startswith(CLASS_SPREAD_PREFIX)}
        if not spreads or self.partial_collapse_spread <= 0:
            return {}
        self.last_spread_epoch = epoch
        low = {name: round(spread, 4) for name, spread in spreads.items() if spread < self.partial_collapse_spread}
        if low:
            self.partial_collapse[str(epoch)] = low
            log.warning("partial collapse at epoch %d: %s", epoch, self.describe(low))
        return low

    def describe(self, low: dict[str, float]) -> str:
        classes = ", ".join(f"{name} {spread:.3f}" for name, spread in sorted(low.items(), key=lambda item: item[1]))
        return (f"the samples of {len(low)} class(es) are near-duplicates (feature spread vs real images of the class "
                f"below {self.partial_collapse_spread:g}: {classes})")

    def end_of_run(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        """results.json: ``partial_collapse`` ({epoch: {class: spread}}, the threshold) when any epoch was flagged,
        and a ``warnings`` line naming the classes still below the threshold at the last checked epoch."""
        if not self.partial_collapse:
            return {}
        out: dict[str, Any] = {"partial_collapse": {"threshold": self.partial_collapse_spread,
                                                    "epochs": dict(self.partial_collapse)}}
        last = self.partial_collapse.get(str(self.last_spread_epoch))
        if last:
            out["warnings"] = [f"partial collapse at epoch {self.last_spread_epoch}, the last checked: {self.describe(last)}"]
        return out

    def sample_spread(self, pl_module: L.LightningModule) -> torch.Tensor:
        """Per class (n_classes,): the per-pixel std of images from different noise, averaged over pixels."""
        n_classes = getattr(pl_module, "n_classes", 10)
        labels = torch.arange(n_classes).repeat_interleave(self.collapse_samples_per_class)
        images = pl_module.sample(labels, seed=self.seed)  # eval mode, no grad, fixed noise
        return images.float().view(n_classes, self.collapse_samples_per_class, -1).std(dim=1).mean(dim=1)

    def check_collapse(self, pl_module: L.LightningModule, epoch: int) -> None:
        spread = self.sample_spread(pl_module)
        if not torch.isfinite(spread).all():
            raise TrainingFailed(f"diverged: non-finite generated images at epoch {epoch}")
        mean_spread = float(spread.mean())
        if mean_spread < self.collapse_std:
            raise TrainingFailed(
                f"collapsed: generated images vary by a per-pixel std of {mean_spread:.4f} across noise "
                f"(threshold {self.collapse_std:g}; least varied class {int(spread.argmin())}: "
                f"{float(spread.min()):.4f}) at epoch {epoch}")

    def check_metric(self, value: Any, epoch: int) -> None:
        if value is None:  # the metrics callback is off, or does not run this epoch
            return
        value = float(value)
        if not math.isfinite(value):
            raise TrainingFailed(f"diverged: {self.metric_key} is {value} at epoch {epoch}")
        sign = 1.0 if self.metric_mode == "min" else -1.0
        if self.metric_best is None or sign * (self.metric_best - value) > self.metric_min_delta:
            self.metric_best, self.metric_best_epoch, self.metric_stale_epochs = value, epoch, 0
            return
        self.metric_stale_epochs += 1
        converged = self.metric_fail_worse_than is not None and sign * (self.metric_fail_worse_than - self.metric_best) >= 0
        if self.metric_stale_epochs >= self.metric_patience and not converged:
            raise TrainingFailed(
                f"stuck: {self.metric_key} has not improved on {self.metric_best:.4g} (epoch {self.metric_best_epoch}) "
                f"for {self.metric_stale_epochs} epochs (now {value:.4g}) at epoch {epoch}"
                + (f", and never got better than {self.metric_fail_worse_than:g}" if self.metric_fail_worse_than is not None else ""))

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> dict[str, Any]:
        return {"explode_count": self.explode_count, "metric_best": self.metric_best,
                "metric_best_epoch": self.metric_best_epoch, "metric_stale_epochs": self.metric_stale_epochs,
                "partial_collapse": self.partial_collapse, "last_spread_epoch": self.last_spread_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.explode_count = state_dict.get("explode_count", 0)
        self.metric_best = state_dict.get("metric_best")
        self.metric_best_epoch = state_dict.get("metric_best_epoch", -1)
        self.metric_stale_epochs = state_dict.get("metric_stale_epochs", 0)
        self.partial_collapse = dict(state_dict.get("partial_collapse", {}))
        self.last_spread_epoch = state_dict.get("last_spread_epoch")
