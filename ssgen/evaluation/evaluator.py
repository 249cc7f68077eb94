"""The evaluator: a small CNN trained on the run's data set (Fashion-MNIST by default) whose 128-d penultimate
layer is the feature space of FID/KID, and whose predictions score class-consistency.

    python -m ssgen.evaluation.evaluator threads=1            # train the default evaluator into the cache (or show it)
    python -m ssgen.evaluation.evaluator epochs=4             # another config: another hash, another file
    python -m ssgen.evaluation.evaluator cache_dir=/tmp/c force=true
    python -m ssgen.evaluation.evaluator dataset=mnist        # MNIST's own evaluator (a GAN run on data=mnist uses it)

    from ssgen.evaluation.evaluator import load_evaluator
    evaluator = load_evaluator()                   # trained on first use (minutes on a CPU: docs/evaluator.md), then cached
    logits = evaluator(images)                     # images (N, 1, 28, 28) in [0, 1] -> (N, 10)
    features = evaluator.features(images)          # -> (N, 128)

Inception features (the usual FID space) know nothing of 28x28 grey clothing; a network trained on
Fashion-MNIST itself gives features that separate its classes (FID/KID) and a classifier for
class-consistency (does a sample generated for 'sandal' look like a sandal?). Each data set has its own
evaluator (``EvaluatorConfig.dataset``, a module of ``ssgen/data/sets``), trained on that set's files
(``$SSGEN_DATA``, which ssgen-train points at ``data.root``) and cached under its own name.

Identity: the weights are a pure function of ``EvaluatorConfig`` (data, architecture, training recipe,
seed) up to floating-point non-determinism; the config's hash names the cached file
``${SSGEN_CACHE:-~/.cache/ssgen}/evaluator/[<dataset>-]<config_hash>.safetensors`` (no prefix for Fashion-MNIST,
whose hashes are what they were before there were other data sets; plus a JSON sidecar with the
config, test accuracy and training time). Every metric ssgen writes carries ``config_hash`` and
``test_accuracy`` of the evaluator that produced it, so scores from different evaluators are never
compared by mistake. Weights are stored as safetensors (no pickle), written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ssgen.cli import Legacy, argument, help_text, parse, run_console_script
from ssgen.data import DatasetInfo, dataset_info, load_dataset, to_pixels
from ssgen.errors import CheckpointError, ConfigError, SSGenError
from ssgen.io import add_inputs, atomic_write, atomic_write_json, display_path
from ssgen.nets import eval_mode

DEFAULT_DATASET = "fashion_mnist"  # the data set whose configs hash as they did before there were others
FORMAT_VERSION = 1  # bump when the code (not the config) changes what a config trains


@dataclass(frozen=True)
class EvaluatorConfig:
    """Everything that determines the evaluator's weights; its hash names the cached file.

    channels: output channels of the conv blocks (conv3x3 + BN + ReLU each).
    pooled_blocks: the first this many blocks end in a 2x2 max-pool (2: 28 -> 14 -> 7, the last block at 7x7).
    feature_dim: width of the penultimate layer (the FID/KID feature space).
    dropout: before the feature layer and before the classifier.
    epochs, batch_size, lr, weight_decay: AdamW with a one-cycle learning-rate schedule.
    label_smoothing: of the cross-entropy targets.
    max_shift: random translations of up to this many pixels (0 = none: at 7 epochs the network underfits,
        and shifts cost ~1 point of test accuracy; see docs/evaluator.md).
    n_train: train on the first n_train images of a fixed permutation of the 60k (None = all); tests use a few thousand.
    seed: initialisation, shuffling and augmentation.
    dataset: the data set it is trained on and classifies (``ssgen.data.dataset_info``): its image shape, classes
        and pixel statistics (inputs are standardised inside the network, so callers hand it plain [0, 1] images).
    """

    channels: tuple[int, ...] = (32, 64, 128)
    pooled_blocks: int = 2
    feature_dim: int = 128
    dropout: float = 0.3
    epochs: int = 7
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.0
    max_shift: int = 0
    n_train: int | None = None
    seed: int = 0
    dataset: str = DEFAULT_DATASET

    def to_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["channels"] = list(self.channels)
        if payload["dataset"] == DEFAULT_DATASET:  # so Fashion-MNIST's hashes (and cached files) stay what they were
            del payload["dataset"]
        return payload

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> EvaluatorConfig:
        known = {field.name for field in fields(cls)}
        unknown = set(payload) - known
        if unknown:
            raise ConfigError(f"evaluator config has unknown keys {sorted(unknown)}; known: {sorted(known)}")
        payload = dict(payload)
        if "channels" in payload:
            payload["channels"] = tuple(int(c) for c in payload["channels"])
        return cls(**payload)

    @property
    def config_hash(self) -> str:
        """12 hex digits of sha256 over the config and FORMAT_VERSION: equal hashes, same recipe."""
        text = json.dumps({"format_version": FORMAT_VERSION, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


class Evaluator(nn.Module):
    """A classifier of ``config.dataset`` (``data_info``): images ``(N, C, H, W)`` in [0, 1] -> logits ``(N, K)``
    ((N, 1, 28, 28) -> (N, 10) for the MNIST family).

    ``features(images)`` gives the ``(N, feature_dim)`` penultimate activations (after BN + ReLU, the
    input of the classifier). ``identity`` holds ``config_hash`` and ``test_accuracy`` once trained or
    loaded; ``num_features`` tells torchmetrics the feature width without a probe.
    """

    def __init__(self, config: EvaluatorConfig | None = None) -> None:
        super().__init__()
        self.config = config or EvaluatorConfig()
        self.data_info = info = dataset_info(self.config.dataset)
        # standardised inside the network by the set's training-pixel statistics, (0, 1) where it has none
        self.pixel_mean, self.pixel_std = info.pixel_mean or 0.0, info.pixel_std or 1.0
        layers: list[nn.Module] = []
        in_channels, (height, width) = info.image_shape[0], info.size
        for index, out_channels in enumerate(self.config.channels):
            layers += [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
                       nn.ReLU(inplace=True)]
            if index < self.config.pooled_blocks:
                layers.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
            in_channels = out_channels
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.embed = nn.Sequential(nn.Dropout(self.config.dropout),
                                   nn.Linear(in_channels * height * width, self.config.feature_dim, bias=False),
                                   nn.BatchNorm1d(self.config.feature_dim), nn.ReLU(inplace=True))
        self.classifier = nn.Sequential(nn.Dropout(self.config.dropout), nn.Linear(self.config.feature_dim, info.n_classes))
        self.num_features = self.config.feature_dim
        # channels_last: oneDNN's faster convolutions on CPU (docs/evaluator.md); load_state_dict keeps the layout
        self.to(memory_format=torch.channels_last)
        self.identity: dict[str, Any] = {"config_hash": self.config.config_hash, "test_accuracy": None}

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, 1, 28, 28)`` in [0, 1] -> ``(N, feature_dim)``."""
        return self.embed(self.body((images - self.pixel_mean) / self.pixel_std))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, 1, 28, 28)`` in [0, 1] -> logits ``(N, 10)``."""
        return self.classifier(self.features(images))

    @torch.no_grad()
    def features_and_predictions(self, images: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
        """One pass in eval mode, in chunks: features ``(N, feature_dim)`` float32 and predicted classes ``(N,)``
        int64, both on CPU; images float ``(N, 1, 28, 28)`` in [0, 1] or uint8 ``(N, 28, 28)``.

        The one code path behind the recorded test accuracy, ``class_consistency`` and every metric's
        features, so they agree exactly on the same images and a metric never runs the network twice.
        """
        device = next(self.parameters()).device
        features, predictions = [], []
        with eval_mode(self):
            for start in range(0, len(images), batch_size):
                chunk = images[start : start + batch_size]
                chunk = to_pixels(chunk, "unit") if chunk.dtype == torch.uint8 else chunk
                chunk_features = self.features(chunk.to(device, torch.float32))
                features.append(chunk_features.float().cpu())
                predictions.append(self.classifier(chunk_features).argmax(dim=1).cpu())
        if not features:
            return torch.zeros(0, self.num_features), torch.zeros(0, dtype=torch.long)
        return torch.cat(features), torch.cat(predictions)

    def predict(self, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Predicted classes ``(N,)`` int64 on CPU (``features_and_predictions``)."""
        return self.features_and_predictions(images, batch_size)[1]


# ------------------------------------------------------------------------------------------------ training
def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image of ``(N, 1, H, W)`` by its own random offset in [-max_shift, max_shift], zero fill.

    One gather on a zero-padded batch: no per-image Python loop, so augmentation costs ~nothing.
    """
    if max_shift <= 0:
        return images
    n, _, height, width = images.shape
    padded = F.pad(images, (max_shift,) * 4)
    offsets = torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator)
    rows = offsets[0][:, None] + torch.arange(height)[None, :]  # (N, H)
    cols = offsets[1][:, None] + torch.arange(width)[None, :]  # (N, W)
    batch = torch.arange(n)[:, None, None]
    return padded[batch, 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)


def train_evaluator(config: EvaluatorConfig | None = None, data: dict[str, torch.Tensor] | None = None,
                    progress: bool = True, threads: int | None = None) -> tuple[Evaluator, dict[str, Any]]:
    """Train an evaluator from scratch; returns it (eval mode) and ``info`` (test accuracy, time, ...).

    ``threads``: torch intra-op threads while training (restored after); None keeps the current setting.
    On a CPU shared with other jobs, 1 thread can be many times faster than 2 (OpenMP threads spin
    while waiting for a busy core).

    The global RNG is left untouched (own generators, forked RNG for the initialisation), so training
    an evaluator in the middle of a GAN run does not change that run's random stream.
    """
    from tqdm.auto import tqdm

    config = config or EvaluatorConfig()
    # the config's data set, from $SSGEN_DATA (ssgen-train points it at data.root) or where else it is found
    data = data if data is not None else load_dataset(info=dataset_info(config.dataset))
    generator = torch.Generator().manual_seed(config.seed)
    order = torch.randperm(len(data["train_images"]), generator=generator)
    if config.n_train is not None:
        order = order[: config.n_train]
    images = to_pixels(data["train_images"][order], "unit")  # in memory: (n, 1, 28, 28) float, ~190 MB for 60k
    labels = data["train_labels"][order].long()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = Evaluator(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = -(-len(images) // config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, epochs=config.epochs,
                                                   steps_per_epoch=steps_per_epoch)
    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    start = time.time()
    model.train()
    bar = tqdm(total=config.epochs * steps_per_epoch, desc=f"evaluator {config.config_hash}", unit="batch",
               disable=not progress, file=sys.stderr)
    try:
        _fit(model, optimizer, schedule, images, labels, config, generator, bar, steps_per_epoch)
    finally:
        bar.close()
        torch.set_num_threads(previous_threads)
    train_seconds = time.time() - start
    # Measured on a copy rebuilt from the stored tensors, exactly as load_evaluator will run it.
    state = _state_for_saving(model)
    model = _from_state(config, state)
    test_accuracy = float((model.predict(data["test_images"]) == data["test_labels"].long()).float().mean())
    info = {"config": config.to_dict(), "config_hash": config.config_hash, "format_version": FORMAT_VERSION,
            "test_accuracy": test_accuracy, "weights_digest": weights_digest(state),
            "train_seconds": round(train_seconds, 1), "train_images": len(images),
            "torch_threads": threads or previous_threads, "torch_version": torch.__version__,
            "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    model.identity = identity_from_info(info)
    return model, info


def _fit(model: Evaluator, optimizer: torch.optim.Optimizer, schedule: torch.optim.lr_scheduler.LRScheduler,
         images: torch.Tensor, labels: torch.Tensor, config: EvaluatorConfig, generator: torch.Generator,
         bar: Any, steps_per_epoch: int) -> None:
    """The training loop: shuffled in-memory batches of ``(B, 1, 28, 28)`` images, optional random shifts."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed + 1)  # dropout masks
        for epoch in range(config.epochs):
            permutation = torch.randperm(len(images), generator=generator)
            for step in range(steps_per_epoch):
                index = permutation[step * config.batch_size : (step + 1) * config.batch_size]
                batch = random_shift(images[index], config.max_shift, generator)
                loss = F.cross_entropy(model(batch), labels[index], label_smoothing=config.label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                bar.update(1)
                if step % 50 == 0:
                    bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    """12 hex digits of ``ssgen.models.checkpoints.weights_digest`` (SHA-256 over names, dtypes, shapes and bytes).

    The evaluator's identity: its config hash names the recipe, but the same recipe trained at another thread count
    (or on another machine) gives other weights, so another feature space and other FIDs (docs/evaluator.md)."""
    from ssgen.models.checkpoints import weights_digest as state_digest

    return state_digest(state)[:12]


def identity_from_info(info: dict[str, Any]) -> dict[str, Any]:
    return {"config_hash": info["config_hash"], "test_accuracy": info["test_accuracy"],
            "weights_digest": info.get("weights_digest")}


def _state_for_saving(model: Evaluator) -> dict[str, torch.Tensor]:
    return {key: value.detach().cpu().contiguous().clone() for key, value in model.state_dict().items()}


def _from_state(config: EvaluatorConfig, state: dict[str, torch.Tensor]) -> Evaluator:
    with torch.random.fork_rng(devices=[]):  # the throw-away initialisation must not advance the caller's RNG
        model = Evaluator(config)
    model.load_state_dict(state, strict=True)
    return model.eval()


# ------------------------------------------------------------------------------------------------ cache
def default_cache_dir() -> Path:
    """``$SSGEN_CACHE`` if set, else ``~/.cache/ssgen``."""
    return Path(os.environ.get("SSGEN_CACHE") or Path.home() / ".cache" / "ssgen").expanduser()


def evaluator_path(config: EvaluatorConfig | None = None, cache_dir: str | Path | None = None) -> Path:
    config = config or EvaluatorConfig()
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    prefix = "" if config.dataset == DEFAULT_DATASET else f"{config.dataset}-"
    return root / "evaluator" / f"{prefix}{config.config_hash}.safetensors"


def save_evaluator(model: Evaluator, info: dict[str, Any], path: str | Path) -> Path:
    """Weights as safetensors (the info JSON also in its metadata, so the file stands alone) + a JSON sidecar."""
    from safetensors.torch import save_file

    path = Path(path)
    metadata = {"ssgen_evaluator": json.dumps(info, sort_keys=True)}
    state = _state_for_saving(model)
    atomic_write(path, lambda tmp: save_file(state, tmp, metadata=metadata))
    atomic_write_json(path.with_suffix(".json"), info)
    return path


def load_evaluator_file(path: str | Path) -> Evaluator:
    """An evaluator from one ``.safetensors`` file written by ``save_evaluator`` (eval mode, CPU)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    add_inputs([path], f"the evaluator {display_path(path)}")
    if not path.is_file():
        raise CheckpointError(f"evaluator weights {path} do not exist; train them with `python -m ssgen.evaluation.evaluator`")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        info = json.loads(metadata["ssgen_evaluator"])
        state = load_file(str(path))
        config = EvaluatorConfig.from_dict(info["config"])
        model = _from_state(config, state)
    except (OSError, ValueError, KeyError, RuntimeError, TypeError, SSGenError) as exc:  # safetensors raises its own errors too
        raise CheckpointError(f"evaluator weights {path} are truncated, corrupt or from another ssgen version "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}); "
                              "delete the file to retrain it") from exc
    except Exception as exc:  # safetensors_rust.SafetensorError does not derive from the above
        raise CheckpointError(f"evaluator weights {path} are truncated or corrupt ({type(exc).__name__}); "
                              "delete the file to retrain it") from exc
    if config.config_hash != info.get("config_hash"):
        raise CheckpointError(f"evaluator weights {path} claim config hash {info.get('config_hash')} but their config "
                              f"hashes to {config.config_hash} (written by another ssgen version?); delete the file to retrain it")
    info = {**info, "weights_digest": weights_digest(state)}  # of the weights as read (files older than the digest too)
    model.identity = identity_from_info(info)
    model.info = info
    return model


def load_evaluator(cache_dir: str | Path | None = None, train_if_missing: bool = True,
                   config: EvaluatorConfig | None = None, progress: bool = True, threads: int | None = None) -> Evaluator:
    """The cached evaluator for ``config`` (default: ``EvaluatorConfig()``), trained and cached if missing.

    Returned in eval mode on CPU. ``train_if_missing=False`` raises CheckpointError instead of training;
    ``threads`` applies to that training only (see ``train_evaluator``).
    """
    config = config or EvaluatorConfig()
    path = evaluator_path(config, cache_dir)
    if not path.is_file():
        if not train_if_missing:
            raise CheckpointError(f"no evaluator at {path}; train it with `python -m ssgen.evaluation.evaluator"
                                  f"{' cache_dir=' + str(cache_dir) if cache_dir else ''}`")
        print(f"ssgen: training the {dataset_info(config.dataset).title} evaluator {config.config_hash} once "
              f"(cached at {path})",
              file=sys.stderr)
        model, info = train_evaluator(config, progress=progress, threads=threads)
        save_evaluator(model, info, path)
        print(f"ssgen: evaluator {config.config_hash} (weights {info['weights_digest']}): test accuracy {info['test_accuracy']:.4f}, "
              f"trained in {info['train_seconds']:.0f} s", file=sys.stderr)
    return load_evaluator_file(path)


def evaluator_for(info: DatasetInfo, evaluator: Evaluator | str | Path | None = None, cache_dir: str | Path | None = None,
                  **options: Any) -> Evaluator:
    """The evaluator that scores images of ``info``'s data set: ``evaluator`` itself (an Evaluator, or a
    ``.safetensors`` file of one), else the cached evaluator of that data set (``EvaluatorConfig(dataset=...)``,
    trained on first use; ``options`` go to ``load_evaluator``). Raises ConfigError for an evaluator of another
    data set (FID in its feature space, and its classes, would mean nothing for these images)."""
    if evaluator is None:
        return load_evaluator(cache_dir, config=EvaluatorConfig(dataset=info.name), **options)
    model = evaluator if isinstance(evaluator, Evaluator) else load_evaluator_file(evaluator)
    if model.data_info.name != info.name:
        raise ConfigError(f"the evaluator {model.identity['config_hash']} was trained on {model.data_info.title}, but "
                          f"these images are {info.title}'s; give an evaluator of {info.name} (`python -m ssgen.evaluation.evaluator "
                          f"dataset={info.name}`), or none to use the cached one")
    return model


# ------------------------------------------------------------------------------------------------ CLI
@dataclass
class EvaluatorArguments:
    """``python -m ssgen.evaluation.evaluator``'s arguments (``ssgen.cli.parse``): the evaluator config to train or show."""

    epochs: int = argument(EvaluatorConfig.epochs, help="training epochs")
    n_train: int | None = argument(None, help="train on this many images (default: all 60k)")
    seed: int = argument(EvaluatorConfig.seed, help="seeds the training")
    dataset: str = argument(EvaluatorConfig.dataset, help="the data set (its own evaluator)")
    cache_dir: str | None = argument(None, help="the cache (default $SSGEN_CACHE or ~/.cache/ssgen)", path=True)
    force: bool = argument(False, help="retrain even if the cached file exists")
    threads: int | None = argument(None, help="torch threads while training (1 is fastest on a CPU shared with others)")


PROGRAM = "python -m ssgen.evaluation.evaluator"
LEGACY = Legacy(options={"--epochs": "epochs", "--n-train": "n_train", "--seed": "seed", "--dataset": "dataset",
                         "--cache-dir": "cache_dir", "--threads": "threads"}, switches={"--force": "force"})
HELP = help_text(PROGRAM, "Train (or show) the cached evaluator network of a data set: the feature space of FID / KID "
                 "and the classifier of class-consistency.", EvaluatorArguments,
                 [f"{PROGRAM} threads=1", f"{PROGRAM} epochs=4 cache_dir=/tmp/cache force=true",
                  f"{PROGRAM} dataset=mnist"], docs="docs/evaluator.md")


def main(argv: list[str] | None = None) -> None:
    """``python -m ssgen.evaluation.evaluator [epochs=N] [cache_dir=DIR] [force=true] ...``: train (or show) the cached
    evaluator; prints its path, config hash and test accuracy as JSON."""
    def train_or_show(argv: list[str]) -> None:
        args = parse(argv, EvaluatorArguments, PROGRAM, LEGACY)
        config = EvaluatorConfig(epochs=args.epochs, n_train=args.n_train, seed=args.seed,
                                 dataset=dataset_info(args.dataset).name)
        path = evaluator_path(config, args.cache_dir)
        if args.force and path.exists():
            path.unlink()
        model = load_evaluator(args.cache_dir, config=config, threads=args.threads)
        info = getattr(model, "info", {})
        print(json.dumps({"path": str(path), **{k: info.get(k) for k in ("config_hash", "weights_digest", "test_accuracy", "train_seconds",
                                                                          "train_images", "config")}}, indent=2))

    run_console_script(PROGRAM, HELP, argv, train_or_show)


if __name__ == "__main__":
    main()
