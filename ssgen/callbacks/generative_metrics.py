"""FID / KID / class-consistency / precision / recall / class spread of a generator during training (vs training
images) and once at the end (vs test).

    ssgen-train experiment=gan method=wgan_gp                                  # on by default for the GANs
    ssgen-train experiment=gan method=dcgan method.callbacks.quality.every_n_epochs=2

Configured in ``conf/callbacks/generative_metrics.yaml`` (shared by every GAN method as ``method.callbacks.quality``).
The math lives in ``ssgen.evaluation.metrics``, the final report in ``ssgen.evaluation.scoring``; this file only decides when to compute
it and what reaches results.json.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
import torch

from ssgen.callbacks import EndOfRunStep
from ssgen.data import FASHION_MNIST, DatasetInfo, to_pixels
from ssgen.errors import ConfigError

if TYPE_CHECKING:  # the evaluation stack is imported when a GAN run sets the callback up: an M1 run never loads it
    from ssgen.evaluation.evaluator import Evaluator
    from ssgen.evaluation.metrics import Reference

log = logging.getLogger("ssgen")


class GenerativeMetrics(EndOfRunStep):
    """FID / KID / class-consistency during training (vs training images) and at the end (vs the test set).

    Every ``every_n_epochs`` epochs (and at the last one): ``n_samples`` samples (class-balanced labels,
    the same noise each time) scored against ``n_samples`` class-balanced *training* images (the
    datamodule's validation holdout when it has one), logged as ``metrics/fid``, ``metrics/kid``,
    ``metrics/precision``, ``metrics/recall`` (improved P/R, k=3, in the evaluator's feature space) and, for
    conditional generators only, ``metrics/class_consistency``, ``metrics/min_class_spread`` and one
    ``metrics/class_spread/<class>`` per class (``ssgen.evaluation.metrics.class_spread_ratio``).
    ModelCheckpoint(monitor="metrics/fid") and the failed-convergence detector (stalls, partial collapse)
    read them: model selection never sees the test set.

    After training, ``final_n_samples`` samples of the best checkpoint by ``metrics/fid`` (the final
    weights when there is none) are scored against the 10k test images with the floor beside them
    (``generator_report``); ``results()`` hands that to results.json. An unconditional generator
    (``generate_prior``, e.g. the M1 VAE) gets FID/KID only.

    Args:
        every_n_epochs: in-training metrics every this many epochs (0 = only at the last epoch).
        n_samples: samples (and reference images) for the in-training metrics.
        final_n_samples: samples for the final report (0 = no final report).
        enabled: False turns the callback off (e.g. for quick debug runs).
        cache_dir: evaluator cache (default ``$SSGEN_CACHE`` or ``~/.cache/ssgen``).
        evaluator: a ``.safetensors`` file of another evaluator, or an Evaluator (tests); default: the cached one of
            the data set the module generates (``data_info``: an MNIST GAN trains and uses an MNIST evaluator).
        score: 'best' (the checkpoint ModelCheckpoint(monitor='metrics/fid') kept) or 'last' (the final weights).
        seed: the noise of the samples and the reference draw.
    """

    path_arguments = ("cache_dir", "evaluator")  # resolved against the launch directory (ssgen.config.paths)

    def __init__(self, every_n_epochs: int = 1, n_samples: int = 2000, final_n_samples: int = 10000, enabled: bool = True,
                 cache_dir: str | None = None, evaluator: Evaluator | str | None = None, score: str = "best",
                 seed: int = 0) -> None:
        if score not in ("best", "last"):
            raise ConfigError(f"GenerativeMetrics score={score!r} is unknown; use best or last")
        if enabled and n_samples < 20:
            raise ConfigError(f"GenerativeMetrics n_samples={n_samples} is too small for FID/KID; use at least 20")
        self.every_n_epochs, self.n_samples, self.final_n_samples = every_n_epochs, n_samples, final_n_samples
        self.enabled, self.cache_dir, self.score, self.seed = enabled, cache_dir, score, seed
        self._evaluator_spec = evaluator
        self.evaluator: Evaluator | None = None
        self.reference: Reference | None = None
        self.history: list[dict[str, float]] = []
        self._final: dict[str, Any] = {}

    # ------------------------------------------------------------------ setup
    def _load_evaluator(self, info: DatasetInfo) -> Evaluator:
        """The given evaluator, or the cached one of the data set the module generates (trained on first use)."""
        from ssgen.evaluation.evaluator import evaluator_for

        return evaluator_for(info, self._evaluator_spec, self.cache_dir)

    def _reference_images(self, trainer: L.Trainer) -> tuple[torch.Tensor, torch.Tensor, str]:
        """Training images for the in-training reference: the datamodule's validation holdout when it is
        large enough (images the generator never trained on), else a class-balanced draw from the
        training set. Never the test set. Returns (images (n, 1, 28, 28) in [0, 1], labels (n,), source)."""
        from ssgen.evaluation.metrics import balanced_indices
        from ssgen.evaluation.scoring import default_dataset

        datamodule = getattr(trainer, "datamodule", None)
        val_indices = getattr(datamodule, "val_indices", None)
        if val_indices is not None and len(val_indices) >= self.n_samples:
            images, labels = datamodule.images("val"), datamodule.labels("val")
            source = "validation holdout"
        else:
            data = getattr(datamodule, "data", None) or default_dataset(self.info)
            images, labels = data["train_images"], data["train_labels"].long()
            source = "training set"
        index = balanced_indices(labels.cpu(), self.n_samples, self.seed, self.info)
        return to_pixels(images[index.to(images.device)].cpu(), "unit"), labels.cpu()[index].long(), source

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if not self.enabled or stage != "fit":
            return
        from ssgen.evaluation.metrics import Reference, balanced_labels
        from ssgen.evaluation.scoring import is_conditional, is_generator, make_sampler

        if not is_generator(pl_module):
            raise ConfigError(f"GenerativeMetrics is attached to {type(pl_module).__name__}, which has neither "
                              "generate(labels, noise) nor generate_prior(n); remove the callback from its method config")
        self.conditional = is_conditional(pl_module)
        self.info = getattr(pl_module, "data_info", FASHION_MNIST)  # the data set the module generates
        # frozen: a measuring instrument, never part of the GAN's graph or its optimizers
        self.evaluator = self._load_evaluator(self.info).to(pl_module.device).eval().requires_grad_(False)
        images, self.reference_labels, self.reference_source = self._reference_images(trainer)
        self.reference = Reference(images, self.evaluator, seed=self.seed)  # keeps the features for P/R and spread
        self.sampler, _ = make_sampler(pl_module, seed=self.seed)
        self.labels = balanced_labels(self.n_samples, self.info)
        log.info("GenerativeMetrics: evaluator %s (weights %s, test accuracy %s), reference %d images from the %s",
                 self.evaluator.identity["config_hash"], self.evaluator.identity.get("weights_digest"),
                 self.evaluator.identity["test_accuracy"], len(images),
                 self.reference_source)

    # ------------------------------------------------------------------ per epoch
    def _due(self, trainer: L.Trainer) -> bool:
        epoch = trainer.current_epoch
        last = bool(trainer.max_epochs) and trainer.max_epochs > 0 and epoch + 1 >= trainer.max_epochs  # -1: step budget
        return last or (self.every_n_epochs > 0 and (epoch + 1) % self.every_n_epochs == 0)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.enabled or self.reference is None or trainer.sanity_checking or not self._due(trainer):
            return
        from ssgen.evaluation.metrics import class_consistency, diversity_scores, evaluate_images
        from ssgen.evaluation.scoring import sample_images

        start = time.time()
        self.sampler.reset()  # the same noise every epoch: epoch-to-epoch changes are the generator's
        images = sample_images(self.sampler, self.labels)
        features, predictions = evaluate_images(images, self.evaluator)  # the one evaluator pass of this epoch
        scores = self.reference.fid_kid(features=features)
        values = {"metrics/fid": scores["fid"], "metrics/kid": scores["kid"]}
        diversity = diversity_scores(self.reference.features, self.reference_labels, features,
                                     self.labels if self.conditional else None, info=self.info)
        values["metrics/precision"], values["metrics/recall"] = diversity["precision"], diversity["recall"]
        if self.conditional:
            values["metrics/class_consistency"] = class_consistency(None, self.labels, predictions=predictions)
            values["metrics/min_class_spread"] = diversity["min_class_spread"]
        for key, value in values.items():
            pl_module.log(key, value, on_step=False, on_epoch=True, prog_bar=key == "metrics/fid")
        entry: dict[str, Any] = {"epoch": trainer.current_epoch, **{k.split("/")[1]: round(v, 5) for k, v in values.items()}}
        if "class_spread" in diversity:
            # per class, for TensorBoard and for FailedConvergence's partial-collapse flag (read in the same epoch)
            for name, ratio in diversity["class_spread"].items():
                if math.isfinite(ratio):
                    pl_module.log(f"metrics/class_spread/{name}", ratio, on_step=False, on_epoch=True)
            entry["class_spread"] = diversity["class_spread"]
        self.history.append({**entry, "seconds": round(time.time() - start, 2)})

    # ------------------------------------------------------------------ at the end
    def _best_checkpoint(self, trainer: L.Trainer) -> str | None:
        for callback in trainer.checkpoint_callbacks:
            if getattr(callback, "monitor", None) == "metrics/fid" and getattr(callback, "best_model_path", ""):
                if Path(callback.best_model_path).is_file():
                    return callback.best_model_path
        return None

    step_name = "generative_metrics"

    def end_of_run(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        """The final report (vs the 10k test images, with the floor) of the best checkpoint, plus the in-training
        history; what results.json gets (see ``results``)."""
        if not self.enabled or self.final_n_samples <= 0 or self.evaluator is None:
            return self.results()
        best = self._best_checkpoint(trainer) if self.score == "best" else None
        saved = None
        if best is not None:
            try:
                state = torch.load(best, map_location=pl_module.device, weights_only=True)["state_dict"]
            except Exception as exc:  # an unreadable best file must not cost the run its final numbers
                log.warning("GenerativeMetrics: cannot read %s (%s); scoring the final weights", best, exc)
                best, state = None, None
            if state is not None:
                # score the selected weights without leaving them in the module (later callbacks see the final ones)
                saved = {key: value.detach().clone() for key, value in pl_module.state_dict().items()}
                pl_module.load_state_dict(state)
        from ssgen.evaluation.scoring import generator_report, make_sampler

        try:
            sampler, conditional = make_sampler(pl_module, seed=self.seed)
            # the datamodule's tensors: no second read, and the files of its data.root
            report = generator_report(sampler, self.evaluator, n=self.final_n_samples, conditional=conditional,
                                      seed=self.seed, data=getattr(trainer.datamodule, "data", None))
        finally:
            if saved is not None:
                pl_module.load_state_dict(saved)
        report["scored_checkpoint"] = Path(best).name if best else "final weights"
        self._final = report
        log.info("GenerativeMetrics (%s, vs test): FID %.3f (floor %.3f), KID %.5f, class-consistency %.4f, "
                 "precision %.3f, recall %.3f (floor %.3f / %.3f)", report["scored_checkpoint"], report["fid"],
                 report.get("fid_floor", math.nan), report["kid"], report.get("class_consistency", math.nan),
                 report["precision"], report["recall"], report.get("precision_floor", math.nan),
                 report.get("recall_floor", math.nan))
        return self.results()

    def results(self) -> dict[str, Any]:
        if not self.enabled:
            return {}
        out: dict[str, Any] = {}
        if self.evaluator is not None:
            from ssgen.evaluation.scoring import evaluator_fields

            out.update(evaluator_fields(self.evaluator))
        if self.history:
            out["metrics_history"] = self.history  # in-training values (vs training images)
            out["metrics_reference_during_training"] = self.reference_source
        if self._final:
            final = dict(self._final)
            # bookkeeping keys get a prefix in results.json, where 'n' or 'seconds' alone would be ambiguous
            for key in ("n", "reference", "n_reference", "seconds", "conditional"):
                out[f"metrics_{key}"] = final.pop(key)
            out.update(final)
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict.get("history", []))
