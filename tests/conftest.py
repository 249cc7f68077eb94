"""Shared fixtures: compose the real Hydra config (conf/train.yaml) and shrink it for quick runs; run a console
script as a user does (``run_script``); the session's tiny trained runs and evaluator.

tests/unit/ holds the in-process tests, one folder per package of ssgen/ (the top-level modules' tests at its top);
tests/e2e/ the tests that start a console script as a subprocess. A subject tested both ways has a file in each (the
end-to-end one named ``..._cli.py``); what both halves build on is at the end of this file."""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from ssgen.config.files import CONF_DIR
from ssgen.config.schemas import register_configs
from ssgen.evaluation.evaluator import EvaluatorConfig, evaluator_path, load_evaluator

# A few batches, no progress bar: enough to run every code path of a training run in seconds.
FAST = ["trainer.max_epochs=1", "+trainer.limit_train_batches=3", "trainer.enable_progress_bar=false",
        "trainer.log_every_n_steps=1", "label_budgets=[${data.n_labels}]"]
QUICK = [item for item in FAST if "limit_train_batches" not in item]  # FAST with a batch limit of your own


# ------------------------------------------------------------------------------------------------ console scripts
TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
# What a console script started by a test imports first: this checkout's ssgen (not whatever an editable install
# points at), then the tests' own modules that runs load as callbacks (stop_probe, e2e/lifecycle_probe, the
# ParameterDigest of e2e/test_scale.py).
SCRIPT_PATH = (ROOT, TESTS, TESTS / "e2e")


def script_env(env: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """The environment of a console script under test: this process's, with OMP_NUM_THREADS=1 (shared cores: see
    one_thread) and SCRIPT_PATH in front of PYTHONPATH; then ``env``'s entries, where None removes a variable and a
    PYTHONPATH goes in front of the rest (a copied project's ssgen before the checkout's)."""
    extra = dict(env or {})
    first = extra.pop("PYTHONPATH", None)
    path = os.pathsep.join(filter(None, [first, *map(str, SCRIPT_PATH), os.environ.get("PYTHONPATH")]))
    merged = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}
    for name, value in extra.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def run_script(program: str, *args: str, timeout: float = 300, env: Mapping[str, str | None] | None = None,
               cwd: str | Path | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    """``program *args`` (ssgen-train, ``sys.executable -m ...``) run to its end in script_env(env), stdout and
    stderr captured as text: what every end-to-end test starts a console script with."""
    return subprocess.run([program, *args], capture_output=True, text=True, timeout=timeout, env=script_env(env),
                          cwd=cwd, input=input)


def assert_quiet_when_the_reader_stops_early(command: list[str]) -> None:
    """`command | head -1`: the reader is gone before anything is written; no traceback, exit status 0."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=script_env())
    process.stdout.close()
    stderr = process.stderr.read()
    process.wait(timeout=120)
    process.stderr.close()
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    assert process.returncode == 0


# ------------------------------------------------------------------------------------------------ evaluator, checkout
# A feature network that trains in a second or two (accuracy ~0.7): every FID / class-consistency code path is real.
TINY_EVALUATOR = EvaluatorConfig(channels=(8, 16, 16), epochs=1, n_train=3000)


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One evaluator cache dir per test session, so the tiny evaluator trains once for every test file."""
    return tmp_path_factory.getbasetemp() / "ssgen-cache"


@pytest.fixture(scope="session")
def tiny_evaluator_file(tiny_cache: Path) -> Path:
    """The tiny evaluator's .safetensors file, for ``ssgen-evaluate ... evaluator=<file>``."""
    load_evaluator(tiny_cache, config=TINY_EVALUATOR, progress=False)
    return evaluator_path(TINY_EVALUATOR, tiny_cache)


def _new_files_in_checkout() -> set[str] | None:
    """Untracked and ignored files of the checkout (git's view), caches aside; None outside a git checkout."""
    try:
        listing = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=all", "--ignored"],
                                 capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    caches = ("__pycache__", ".pytest_cache", ".ruff_cache", ".egg-info")
    return {line[3:] for line in listing.splitlines()
            if line[:2] in ("??", "!!") and not any(part in line for part in caches)}


@pytest.fixture(scope="session", autouse=True)
def nothing_written_to_the_checkout():
    """Every test writes under its tmp_path: the suite runs on a read-only checkout and beside other runs of itself.
    A file that appears in the checkout during the session (outputs/, data/, a module) fails the session."""
    before = _new_files_in_checkout()
    yield
    after = _new_files_in_checkout()
    if before is not None and after is not None:
        assert after <= before, f"tests wrote into the checkout: {sorted(after - before)[:10]}"


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """One torch thread in the test process: OpenMP threads spinning against the subprocesses that the
    end-to-end tests start (or other jobs on a shared machine) cost far more than they give on 2 cores."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def m1_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An M1 checkpoint as ssgen-train writes it (untrained weights: the plumbing around it is what is tested)."""
    import torch

    from ssgen.run.build import build_model

    path = tmp_path_factory.mktemp("m1") / "m1.ckpt"
    model = build_model(compose_config(["run_dir=/tmp/unused"]))
    torch.save({"ssgen_module": "ssgen.models.m1.M1VAE", "hyper_parameters": dict(model.hparams),
                "state_dict": model.state_dict()}, path)
    return path


@functools.cache
def _registered() -> None:
    """ssgen registers its schemas once per process (ssgen-train at start-up); rebuilding them for every compose cost
    the default tier half a second a test."""
    register_configs()


def compose_config(overrides: list[str], return_hydra_config: bool = False) -> DictConfig:
    _registered()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=overrides, return_hydra_config=return_hydra_config)


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """make_cfg("method=m1", fast=True) -> the composed config, run_dir in tmp_path."""

    def _make(*overrides: str, fast: bool = True) -> DictConfig:
        return compose_config([*(FAST if fast else []), f"run_dir={tmp_path / 'run'}", *overrides])

    return _make


# ------------------------------------------------------------------------------------------------ trained runs
# One real, tiny ssgen-train run per kind, trained once per test session and shared by every test file that needs
# one (tests only read them; a test that changes a run works on a copy). train()'s return value is kept beside.
TRAIN_RESULTS: dict[Path, dict] = {}


def _train_once(run_dir: Path, *overrides: str) -> Path:
    from ssgen.train import train

    TRAIN_RESULTS[run_dir] = results = train(compose_config([*QUICK, f"run_dir={run_dir}", "torch_threads=1", *overrides]))
    assert results["status"] == "ok", results["status"]
    return run_dir


@pytest.fixture(scope="session")
def m1_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An M1 run dir (30 batches) with SVM heads at N=20 and N=100 (its data.n_labels), each with the graph
    and raw-pixel heads beside it (2 CV folds, a 2000-node graph: accuracy well above chance in seconds)."""
    return _train_once(tmp_path_factory.mktemp("m1_run") / "run", "+trainer.limit_train_batches=30", "arch=vae_mlp",
                       "method.callbacks.svm_head.n_labels=[20,100]", "method.callbacks.svm_head.cv_folds=2",
                       "method.callbacks.svm_head.graph_nodes=2000")


@pytest.fixture(scope="session")
def m2_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An M2 run dir: 100 labels, 100 steps of 100 unlabelled + 100 labelled images (a sampler and a classifier)."""
    return _train_once(tmp_path_factory.mktemp("m2_run") / "run", "method=m2", "data.n_labels=100",
                       "+trainer.limit_train_batches=100")


@pytest.fixture(scope="session")
def gan_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A WGAN-GP run dir on arch A at width 8 (3 batches, all 60k labels, no quality metrics): what generate,
    evaluate, the figures and the API read from a GAN run."""
    return _train_once(tmp_path_factory.mktemp("gan_run") / "run", "+trainer.limit_train_batches=3", "method=wgan_gp",
                       "arch=dcgan", "data.n_labels=all", "arch.networks.generator.width=8",
                       "arch.networks.critic.width=8", "method.callbacks.quality=null",
                       "method.callbacks.best_checkpoint=null")


# ------------------------------------------------------------------------------------------------ shared by twins
# What a subject's in-process tests (tests/unit/...) and its end-to-end ones (tests/e2e/..._cli.py) both build on;
# a constant they assert on (an expected message, a file name) is restated in each file, beside its assertions.
@pytest.fixture(scope="module")
def test_set() -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST's test images and labels as arrays (unit/test_api.py, e2e/test_api_cli.py)."""
    from ssgen.data import load_fashion_mnist

    data = load_fashion_mnist()
    return data["test_images"].numpy(), data["test_labels"].numpy()


def fake_checkpoint(path: Path, overrides: list[str], **extra) -> Path:
    """A checkpoint as ssgen-train writes it (untrained weights): what the resume checks read (unit/run/test_audit.py,
    e2e/test_audit_cli.py)."""
    import torch

    from ssgen.run.build import build_model

    cfg = compose_config(["run_dir=/tmp/unused", *overrides])
    model = build_model(cfg)
    torch.save({"ssgen_module": cfg.method._target_, "hyper_parameters": dict(model.hparams),
                "state_dict": model.state_dict(), **extra}, path)
    return path


# the checkpoint gate (unit/models/test_checkpoint_gate.py, e2e/test_checkpoint_gate_cli.py): the routes by which a
# crafted checkpoint could name code to run
ROUTES = ["module", "network", "nested"]


def popen(marker: Path) -> dict:
    """A ``_target_`` that would create ``marker`` if anything instantiated it."""
    return {"_target_": "subprocess.Popen", "args": ["touch", str(marker)]}


def gan_checkpoint(path: Path, edit=None) -> Path:
    """A real (untrained, tiny) DCGAN checkpoint as ssgen-train writes it; ``edit(checkpoint)`` crafts it."""
    import copy

    import torch

    from ssgen.run.build import build_model

    model = build_model(compose_config(["method=dcgan", "run_dir=/tmp/unused", "arch.networks.generator.width=8",
                                        "arch.networks.critic.width=8"]))
    checkpoint = {"ssgen_module": "ssgen.models.gan.DCGAN", "hyper_parameters": copy.deepcopy(dict(model.hparams)),
                  "state_dict": model.state_dict()}
    if edit is not None:
        edit(checkpoint)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)
    return path


def crafted(tmp_path: Path, route: str) -> tuple[Path, Path]:
    """(checkpoint file inside a run dir, marker) for one route of ROUTES: a file that asks for
    ``subprocess.Popen(["touch", <marker>])``."""
    import torch

    marker = tmp_path / f"pwned_{route}"
    path = tmp_path / route / "checkpoints" / "last.ckpt"
    if route == "module":
        torch.save({"ssgen_module": "subprocess.Popen", "hyper_parameters": {"args": ["touch", str(marker)]},
                    "state_dict": {}}, path.parent.mkdir(parents=True) or path)
    elif route == "network":
        gan_checkpoint(path, lambda c: c["hyper_parameters"]["arch"]["networks"].update(generator=popen(marker)))
    elif route == "nested":
        gan_checkpoint(path, lambda c: c["hyper_parameters"]["arch"]["networks"]["critic"].update(width=popen(marker)))
    return path, marker


def write_noise(directory, gz=False):
    """Another data set under Fashion-MNIST's names: noise images, labels cycling 0..9 (as pytorch/vision#599)
    (unit/data/test_data_identity.py, e2e/test_data_identity_cli.py)."""
    from ssgen import data

    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    suffix = ".gz" if gz else ""
    for split, n in (("train", 200), ("t10k", 50)):
        data.write_idx(directory / f"{split}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        data.write_idx(directory / f"{split}-labels-idx1-ubyte{suffix}", (np.arange(n) % 10).astype(np.uint8))
    return directory


def write_small_set(directory: Path, n_train: int = 300, n_test: int = 50, seed: int = 0) -> Path:
    """Four IDX files under MNIST's (and every MNIST-format set's) names: noise images, labels cycling 0..9
    (unit/data/test_datasets.py, e2e/test_datasets_cli.py)."""
    from ssgen.data import write_idx

    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("t10k", n_test)):
        write_idx(directory / f"{split}-images-idx3-ubyte", rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8))
        write_idx(directory / f"{split}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))
    return directory


def fake_run(root, name, seed, kl_weight, accuracies, status="ok", extra=()):
    """An M1 run dir as a sweep leaves it (.hydra/overrides.yaml, results.json with heads), no checkpoint
    (unit/reporting/test_report.py, e2e/test_report_cli.py)."""
    import json

    import yaml

    run_dir = root / name
    (run_dir / ".hydra").mkdir(parents=True)
    overrides = [f"seed={seed}", f"method.kl_weight={kl_weight}", *extra]
    (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    heads = {n: {"m1_svm": {"accuracy": acc}, "raw_svm": {"accuracy": acc - 0.05}} for n, acc in accuracies.items()}
    payload = {"method": "m1", "seed": seed, "status": status, "epochs": 3, "wall_time_s": 60.0, "heads": heads}
    (run_dir / "results.json").write_text(json.dumps(payload))


def plain_table(text: str) -> str:
    """``text`` with every markdown table row's cell padding removed (``| a    | b |`` -> ``| a | b |``): the reports
    pad their columns (tabulate), the tests assert on the cells."""
    import re

    return "\n".join(re.sub(r"\s*\|\s*", " | ", line).strip() if "|" in line else line for line in text.splitlines())


def latin1_folder(tmp_path: Path) -> Path:
    """A folder of two 28x28 PNGs, one named in Latin-1 bytes (not UTF-8: a Windows zip, an SMB share)."""
    import os

    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    image = np.zeros((28, 28), dtype=np.uint8)
    image[6:22, 8:20] = 200
    for name in (b"caf\xe9_1.png", b"plain_2.png"):
        Image.fromarray(image).save(os.fsdecode(os.path.join(os.fsencode(folder), name)))
    return folder
