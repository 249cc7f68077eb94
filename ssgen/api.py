"""Use a trained run from Python: ``ssgen.load(path)`` gives a small object per family.

    import ssgen
    model = ssgen.load("outputs/m2/2026-11-30_10-00-00")     # a run dir or a .ckpt
    model.info.method, model.info.metrics["test_accuracy"]
    dresses = model.sample("dress", n=8, seed=0)              # uint8 (8, 28, 28) and labels (8,)
    model.predict(dresses.images).names                        # or a file, a folder, a glob of image files

What each family can do (``isinstance(model, ssgen.api.Sampler)`` / ``Classifier`` tells):

=========================  ==========================  ===========================================
loaded run                 class                       methods
=========================  ==========================  ===========================================
dcgan, wgan_clip, wgan_gp  ``GAN`` (Sampler)           ``sample``
m2, m1_m2                  ``M2`` (Sampler, Classifier) ``sample``, ``predict``, ``probabilities``
m1                         ``M1`` (Classifier)         ``encode``; ``predict`` with its saved SVM head
=========================  ==========================  ===========================================

Every model is rebuilt through the checkpoint gate of the console scripts (``ssgen.models.checkpoints.load_module``:
``torch.load(weights_only=True)``, only ssgen's own classes), on CPU, in eval mode. A model's parts are one version:
a checkpoint that is not the one its run's record was made from is refused, and so are M1 heads fitted on other
weights than the checkpoint they would be paired with (``ssgen.models.heads.check_fitted_on``): one line saying to use
the run as it was or to finish training so that the heads are refitted. ``ssgen-generate`` and
``ssgen-predict`` are thin wrappers over ``load_sampler`` / ``load_classifier`` and these methods. Class labels
go in as an index 0-9, ssgen's names (``ankle_boot``) or torchvision's (``Ankle boot``), and come out as indices
(``.labels``) with both spellings beside them (``.names``, ``.torchvision_names``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ssgen.data import FASHION_MNIST, DatasetInfo, parse_labels, parse_n_labels
from ssgen.data.images import ImageFile, read_images, save_pngs
from ssgen.errors import CheckpointError, ConfigError, SSGenError
from ssgen.models.checkpoints import load_versioned, resolve_checkpoint, snapshot_name
from ssgen.models.gan import ConditionalGAN
from ssgen.models.m1 import M1VAE
from ssgen.models.m2 import M2 as M2Module
from ssgen.run.results import read_results, recorded_version_problem

MAX_IMAGES = 1_000_000  # one sample() call; a typo such as n=10000000 should not fill the memory or the disk
IDENTITY_KEYS = ("method", "family", "arch", "n_labels", "seed", "config_hash", "settings_hash", "overrides", "status",
                 "schema_version")
SAMPLER_WHAT = "class-conditional generator (method dcgan, wgan_clip, wgan_gp, m2 or m1_m2)"
CLASSIFIER_WHAT = "classifier (method m1 with its SVM head, m2 or m1_m2)"


# ------------------------------------------------------------------------------------------------ results
@dataclass(frozen=True)
class Info:
    """Where a loaded model came from. ``metrics`` is the run's results.json without the identity keys
    (``test_accuracy``, ``heads``, ``fid``, ``wall_time_s``, ...), empty for a checkpoint outside a run dir;
    ``method``, ``arch``, ``seed``, ``n_labels`` come from results.json, else its ``.hydra/config.yaml``, else
    (method and arch only) the checkpoint itself."""

    method: str
    arch: str | None
    seed: int | None
    n_labels: int | None
    status: str | None
    model: str  # the LightningModule class, e.g. 'M1M2'
    checkpoint: Path
    run_dir: Path | None
    metrics: dict[str, Any] = field(default_factory=dict, repr=False)
    weights: dict[str, Any] | None = field(default=None, repr=False)  # the checkpoint's version (global_step, digest)


@dataclass(frozen=True)
class Samples:
    """``images`` uint8 ``(N, 28, 28)`` (0 = black, light objects on dark as the data set) and their class
    ``labels`` int64 ``(N,)``, of the data set ``data_info`` (the model's)."""

    images: np.ndarray
    labels: np.ndarray
    data_info: DatasetInfo = field(default=FASHION_MNIST, repr=False)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def names(self) -> list[str]:
        """ssgen's class name of each image (``t_shirt`` ... ``ankle_boot``)."""
        return [self.data_info.class_names[label] for label in self.labels]

    def save_pngs(self, out_dir: str | Path) -> list[Path]:
        """One 28x28 PNG per image, ``<out_dir>/<class>_<index within its class>.png``; returns the paths."""
        return save_pngs(out_dir, self.images, self.labels, self.data_info)


@dataclass(frozen=True)
class Predictions:
    """``labels`` int64 ``(N,)``; for image files, ``files`` says which file each row is and which inversion it
    got (``ImageFile.path``, ``.inverted``, ``.inversion``); ``warnings`` as issued (``InputWarning``); classes
    of the data set ``data_info`` (the model's)."""

    labels: np.ndarray
    files: tuple[ImageFile, ...] | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    data_info: DatasetInfo = field(default=FASHION_MNIST, repr=False)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def names(self) -> list[str]:
        """ssgen's class name of each prediction."""
        return [self.data_info.class_names[label] for label in self.labels]

    @property
    def torchvision_names(self) -> list[str]:
        """torchvision's class name of each prediction (``T-shirt/top`` ... ``Ankle boot``)."""
        return [self.data_info.names()[label] for label in self.labels]

    def counts(self) -> dict[str, int]:
        """Predictions per class, every class listed: ``{'t_shirt': 3, 'trouser': 0, ...}``."""
        names = self.data_info.class_names
        return dict(zip(names, np.bincount(self.labels, minlength=len(names)).tolist(), strict=True))


# ------------------------------------------------------------------------------------------------ models
class Model:
    """A loaded model: ``module`` (the LightningModule, CPU, eval mode) and ``info`` (``Info``)."""

    def __init__(self, module: torch.nn.Module, info: Info) -> None:
        self.module = module
        self.info = info

    def __repr__(self) -> str:
        return f"<ssgen {type(self).__name__}: method={self.info.method} arch={self.info.arch} seed={self.info.seed} " \
               f"from {self.info.checkpoint}>"

    @property
    def data_info(self) -> DatasetInfo:
        """The data set the model was trained on (its classes, image shape): ``ssgen.data.DatasetInfo``."""
        return getattr(self.module, "data_info", FASHION_MNIST)


def sample_labels(labels: Any = "all", n: int = 1, info: DatasetInfo = FASHION_MNIST) -> np.ndarray:
    """Class labels int64 ``(len(classes) * n,)``: each class of ``labels`` (see ``ssgen.data.parse_labels``:
    'all', an index, a name in either spelling, comma-separated or a list; classes of ``info``) ``n`` times in a row.

    Raises ConfigError for an unknown class, n < 1 or more than ``MAX_IMAGES`` images.
    """
    if isinstance(labels, np.ndarray | torch.Tensor):
        labels = labels.tolist()
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ConfigError(f"n={n} must be an integer >= 1 (images per class)")
    classes = parse_labels(labels, info)
    if not classes:
        raise ConfigError("labels= names no class; use all, an index 0-9 or a class name")
    if n * len(classes) > MAX_IMAGES:
        raise ConfigError(f"n={n} asks for {n * len(classes)} images; at most {MAX_IMAGES} per call")
    return np.repeat(np.asarray(classes, dtype=np.int64), n)


class Sampler(Model):
    """A class-conditional generator (the GANs, M2, M1+M2)."""

    def sample(self, labels: Any = "all", n: int = 1, seed: int | None = None) -> Samples:
        """``n`` images of every class in ``labels`` (see ``sample_labels``), grouped by class in that order.

        ``seed`` draws the noise from its own generator (the same seed gives the same images on any machine,
        as ``ssgen-generate seed=``); None uses torch's global random state. Returns uint8 ``Samples``.
        """
        classes = torch.from_numpy(sample_labels(labels, n, self.data_info))
        images = self.module.sample(classes, seed=seed)  # (N, 1, 28, 28) in [-1, 1]
        return Samples(to_uint8(images), classes.numpy(), self.data_info)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, 1, 28, 28) in [-1, 1] -> (N, 28, 28) uint8 in 0..255."""
    return ((images.squeeze(1).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()


class Classifier(Model):
    """A classifier of Fashion-MNIST-like images (M1 with its SVM head, M2, M1+M2)."""

    def predict(self, images: Any, invert: str | bool = "auto", n_labels: int | None = None) -> Predictions:
        """Class of each image: ``Predictions`` with labels int64 ``(N,)``.

        ``images``: uint8 ``(N, 28, 28)`` (or ``(N, 1, 28, 28)``, one ``(28, 28)``), other integers 0..255,
        floats in [0, 1], a torch tensor of those, or a path or list of paths: image files (PNG, JPEG, BMP,
        TIFF), folders, globs, an .npz or IDX file (see ``ssgen.data.images``: image files are made light-on-dark
        per ``invert`` and fitted into 28x28). ``n_labels``: M1's head to use (default its first).
        Raises DataError (one line, naming the file) for unreadable or impossible input; ``InputWarning``
        for suspicious images.
        """
        batch = read_images(images, invert, info=self.data_info)
        labels = self._classify(batch.pixels, n_labels)
        return Predictions(labels, tuple(batch.files) if batch.files is not None else None, tuple(batch.warnings),
                           self.data_info)

    def _classify(self, pixels: np.ndarray, n_labels: int | None) -> np.ndarray:
        raise NotImplementedError


class GAN(Sampler):
    """A conditional DCGAN / WGAN (weight clipping) / WGAN-GP generator (Gulrajani et al. 2017)."""


class M2(Sampler, Classifier):
    """M2 or M1+M2 (Kingma et al. 2014, sec. 3.1.2-3.1.3): p(x | y, z) samples and q(y | x) predictions."""

    def _classify(self, pixels: np.ndarray, n_labels: int | None) -> np.ndarray:
        if n_labels is not None:
            raise SSGenError("an M2 / M1+M2 run has one classifier, trained on its own n_labels; drop n_labels=")
        return self.module.predict_labels(torch.from_numpy(pixels)).numpy().astype(np.int64)

    def probabilities(self, images: Any, invert: str | bool = "auto") -> np.ndarray:
        """q(y | x): float32 ``(N, 10)``, rows summing to 1, for the inputs ``predict`` takes."""
        pixels = read_images(images, invert, info=self.data_info).pixels
        return self.module.class_probabilities(torch.from_numpy(pixels)).numpy()


class M1(Classifier):
    """The M1 VAE (Kingma et al. 2014, sec. 3.1.1): encoder means, and labels from the run's saved SVM heads."""

    def __init__(self, module: torch.nn.Module, info: Info) -> None:
        super().__init__(module, info)
        self._heads: dict[int, Any] = {}

    def encode(self, images: Any, invert: str | bool = "auto") -> np.ndarray:
        """Encoder means float32 ``(N, latent_dim)`` (every unit; the SVM heads use the active ones) for the
        inputs ``predict`` takes."""
        return self.module.encode_means(torch.from_numpy(read_images(images, invert, info=self.data_info).pixels)).numpy()

    @property
    def heads(self) -> list[int]:
        """The label budgets N with a saved SVM head in the run dir ([] for a checkpoint outside a run dir)."""
        try:
            return [int(n) for n in self._metadata()["heads"]]
        except CheckpointError:
            return []

    def _metadata(self) -> dict[str, Any]:
        from ssgen.models.heads import read_head_metadata

        if self.info.run_dir is None:
            raise CheckpointError(f"{self.info.checkpoint} is a checkpoint outside a run dir, so it has no SVM head; "
                                  "load the run dir of a finished method=m1 run to predict (encode works)")
        return read_head_metadata(self.info.run_dir)

    def _classify(self, pixels: np.ndarray, n_labels: int | None) -> np.ndarray:
        from ssgen.models.graph_heads import StoredGraphHead
        from ssgen.models.heads import check_fitted_on, head_record_path, load_svm, predict

        metadata = self._metadata()
        assert self.info.run_dir is not None  # _metadata refused a checkpoint outside a run dir
        check_fitted_on(head_record_path(self.info.run_dir), metadata, self.info.checkpoint, self.info.weights or {},
                        heads_fix(self.info.run_dir, self.info.checkpoint, metadata.get("fitted_on")))
        n = int(n_labels if n_labels is not None else metadata["n_labels"][0])
        if str(n) not in metadata["heads"]:
            raise SSGenError(f"{self.info.run_dir} has no head for n_labels={n}; available: {', '.join(metadata['heads'])}")
        best = metadata["heads"][str(n)].get("m1_best", {}).get("head", "svm")  # the head CV chose (graph heads)
        if n not in self._heads:
            self._heads[n] = (load_svm(self.info.run_dir / "checkpoints" / f"svm_head_n{n}.skops") if best == "svm"
                              else StoredGraphHead.load(self.info.run_dir / "checkpoints", n))
        units = metadata["latent_units"]
        features = self.module.encode_means(torch.from_numpy(pixels)).numpy()[:, units]
        if best != "svm":  # each image joins the stored graph alone: its label does not depend on the batch
            return self._heads[n].predict(features)
        # a head trained with mirror=true scores both views, as it was scored on the test set
        mirrored = (self.module.encode_means(torch.from_numpy(pixels).flip(-1)).numpy()[:, units]
                    if metadata.get("mirror") else None)
        return predict(self._heads[n], features, mirrored)


# ------------------------------------------------------------------------------------------------ loading
def load(path: str | Path) -> GAN | M1 | M2:
    """The model of a run dir (its checkpoints/best.ckpt, else last.ckpt) or a .ckpt file, through the checkpoint
    gate: ``GAN``, ``M1`` or ``M2`` (also M1+M2). Raises CheckpointError (one line) for a missing, truncated,
    foreign or unsafe checkpoint."""
    return _load(path, None, "model")


def load_gan(path: str | Path) -> ConditionalGAN:
    """The class-conditional generator module of a checkpoint or run dir (a GAN, M2 or M1+M2: the same
    ``sample()`` hook), on CPU, in eval mode; CheckpointError if it is anything else or not the version its run's
    record describes."""
    return load_checked(path, (ConditionalGAN, M2Module),
                        "class-conditional generator (method dcgan, wgan_clip, wgan_gp, m2 or m1_m2)")[0]


def load_checked(path: str | Path, expected: tuple[type, ...] | None = None, what: str = "model",
                 fallback_target: str | None = None) -> tuple[torch.nn.Module, Path, dict[str, Any]]:
    """Every loader's way in: the checkpoint gate (``load_versioned``), then the version check against the run's
    record (``ssgen.run.results.recorded_version_problem``). Returns the module, the resolved .ckpt and its version;
    raises CheckpointError (one line)."""
    checkpoint = resolve_checkpoint(path)
    module, version = load_versioned(checkpoint, expected, what, fallback_target)
    problem = recorded_version_problem(checkpoint, version)
    if problem:
        raise CheckpointError(problem)
    return module, checkpoint, version


def heads_fix(run_dir: Path, checkpoint: Path, fitted_on: dict[str, Any] | None) -> str:
    """What to do about heads that belong to other weights than ``checkpoint``: use the run as it was (the weights the
    heads were fitted on, kept in ``checkpoints/finished_step<N>.ckpt`` when a finished run is trained on), or finish
    training so that the heads are refitted (the command that resumes it)."""
    kept = run_dir / "checkpoints" / snapshot_name(fitted_on) if fitted_on else None
    if kept is not None and kept.is_file() and kept != checkpoint:
        as_it_was = f"use the run as it was (run={kept})"
    elif checkpoint.name not in ("last.ckpt", "best.ckpt"):
        as_it_was = f"use the run's own checkpoint (run={run_dir})"
    else:
        as_it_was = "use a copy of the run from before it was trained on"
    results = read_results(run_dir) or {}
    command = results.get("resume")
    if not command:
        from ssgen.run.lifecycle import resume_command  # Hydra's parser, only for this message

        try:
            import yaml

            overrides = yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text()) or []
        except (OSError, ValueError):
            overrides = []
        command = resume_command(run_dir, [str(item) for item in overrides])
    return f"{as_it_was}, or finish training so that the heads are refitted (`{command}`)"


def load_sampler(path: str | Path) -> GAN | M2:
    """``load`` for a class-conditional generator; CheckpointError 'is a M1VAE checkpoint, not a ...' else."""
    return _load(path, (ConditionalGAN, M2Module), SAMPLER_WHAT)


def load_classifier(path: str | Path) -> M1 | M2:
    """``load`` for a classifier (M1, M2, M1+M2); CheckpointError 'is a WGANGP checkpoint, not a ...' else."""
    return _load(path, (M1VAE, M2Module), CLASSIFIER_WHAT)


def _load(path: str | Path, expected: tuple[type, ...] | None, what: str) -> Any:
    module, checkpoint, version = load_checked(path, expected, what)
    info = read_info(module, checkpoint, version)
    for base, wrapper in ((ConditionalGAN, GAN), (M2Module, M2), (M1VAE, M1)):
        if isinstance(module, base):
            return wrapper(module, info)
    raise CheckpointError(f"{checkpoint} is a {type(module).__name__} checkpoint, which ssgen.load does not wrap; "
                          "use ssgen.models.checkpoints.load_module for the bare LightningModule")


def read_info(module: torch.nn.Module, checkpoint: Path, weights: dict[str, Any] | None = None) -> Info:
    """``Info`` for a module loaded from ``checkpoint`` (whose version is ``weights``): its run dir is the parent of
    ``checkpoints/``."""
    run_dir = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else None
    results = (read_results(run_dir) if run_dir else None) or {}
    config = _run_config(run_dir)
    arch = dict(getattr(module, "hparams", {}) or {}).get("arch")
    arch_name = arch.get("name") if hasattr(arch, "get") else None
    method = results.get("method") or config.get("method") or type(module).__name__
    return Info(method=method, arch=results.get("arch") or config.get("arch") or arch_name,
                seed=results.get("seed", config.get("seed")), n_labels=results.get("n_labels", config.get("n_labels")),
                status=results.get("status"), metrics={k: v for k, v in results.items() if k not in IDENTITY_KEYS},
                model=type(module).__name__, checkpoint=checkpoint, run_dir=run_dir, weights=weights)


def _run_config(run_dir: Path | None) -> dict[str, Any]:
    """method, arch, seed and n_labels from a run dir's .hydra/config.yaml; {} when there is none or it is unreadable."""
    if run_dir is None or not (run_dir / ".hydra" / "config.yaml").is_file():
        return {}
    from omegaconf import OmegaConf

    from ssgen.io import add_inputs

    add_inputs([run_dir / ".hydra" / "config.yaml"], f"the run's config {run_dir / '.hydra' / 'config.yaml'}")
    try:
        cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
        return {"method": cfg.method.get("name"), "arch": cfg.arch.get("name"), "seed": cfg.get("seed"),
                "n_labels": parse_n_labels(cfg.data.get("n_labels"))}
    except Exception:  # a config we cannot read just means: no hint from it
        return {}
