"""ssgen-evaluate in-process: the M1 path, the error paths and the Inception FID; the round trip as a subprocess on the
session's tiny real WGAN-GP run is tests/e2e/test_evaluate_cli.py.

    python -m pytest tests/unit/test_evaluate.py -q -p no:cacheprovider
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ssgen.evaluate import main


def test_m1_run_dir_scored_unconditionally(tiny_evaluator_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """No ssgen_module in the checkpoint: the class comes from the run dir's .hydra/config.yaml."""
    from ssgen.models.m1 import M1VAE

    arch = {"networks": {"encoder": {"_target_": "ssgen.nets.vae_mlp.Encoder", "hidden_dims": [16], "latent_dim": 4},
                         "decoder": {"_target_": "ssgen.nets.vae_mlp.Decoder", "hidden_dims": [16], "latent_dim": 4}}}
    model = M1VAE(arch=arch)
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("method:\n  _target_: ssgen.models.m1.M1VAE\n  name: m1\n")
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams)},
               tmp_path / "checkpoints" / "last.ckpt")
    main([f"run={tmp_path}", "n_samples=100", f"evaluator={tiny_evaluator_file}", "floor=false"])
    report = json.loads((tmp_path / "checkpoints" / "last.metrics.json").read_text())
    assert report["model"] == "M1VAE" and "fid" in report and "class_consistency" not in report
    assert "wrote" in capsys.readouterr().out


def _error_line(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("ssgen-evaluate: error: ")
    return err


def test_missing_checkpoint(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    assert "does not exist" in _error_line(capsys, [f"run={tmp_path / 'nope.ckpt'}"])
    assert "no checkpoints/best.ckpt" in _error_line(capsys, [f"run={tmp_path}"])


def test_truncated_checkpoint(gan_run: Path, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    data = (gan_run / "checkpoints" / "last.ckpt").read_bytes()
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(data[: len(data) // 2])
    assert "truncated" in _error_line(capsys, [f"run={broken}"])
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint at all")
    assert "truncated" in _error_line(capsys, [f"run={garbage}"])


def test_not_an_ssgen_model(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    """A checkpoint naming a class outside ssgen.models is refused by the gate before anything is built
    (earlier versions built torch.nn.Linear here, and would have built anything else it named)."""
    layer = torch.nn.Linear(3, 2)
    path = tmp_path / "linear.ckpt"
    torch.save({"state_dict": layer.state_dict(), "hyper_parameters": {"in_features": 3, "out_features": 2},
                "ssgen_module": "torch.nn.Linear"}, path)
    assert "names the model 'torch.nn.Linear', which is not one of ssgen's" in _error_line(capsys, [f"run={path}"])
    bare = tmp_path / "bare.ckpt"
    torch.save({"state_dict": layer.state_dict()}, bare)
    assert "names no model class" in _error_line(capsys, [f"run={bare}"])


def test_bad_arguments(capsys: pytest.CaptureFixture) -> None:
    assert "is required" in _error_line(capsys, ["n_samples=10"])
    assert "not an integer" in _error_line(capsys, ["run=x", "n_samples=ten"])
    assert "is not one of" in _error_line(capsys, ["run=x", "samples=5"])
    main(["--help"])
    assert "ssgen-evaluate run=" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------ Inception FID
@pytest.fixture
def random_inception(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """torch-fidelity's Inception-v3 with random weights, saved as a weights file (no download), and the
    metric's resize target shrunk from 299 to 75 (Inception-v3's smallest input) so a CPU runs it in seconds:
    the code path is under test, not the number."""
    feature_extractor = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")
    from torchmetrics.image.fid import NoTrainInceptionV3

    with monkeypatch.context() as patch:  # build it without the download torch-fidelity does when given no file
        patch.setattr(feature_extractor, "load_state_dict_from_url", lambda *args, **kwargs: {})
        patch.setattr(feature_extractor.FeatureExtractorInceptionV3, "load_state_dict", lambda self, *a, **k: None)
        network = feature_extractor.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    path = tmp_path / "random_inception.pth"
    torch.save(torch.nn.Module.state_dict(network), path)
    monkeypatch.setattr(NoTrainInceptionV3, "INPUT_IMAGE_SIZE", 75)
    return path


@pytest.mark.slow
def test_inception_fid_code_path(gan_run: Path, random_inception: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture) -> None:
    from ssgen.data import DATA_ENV, write_idx
    from ssgen.evaluation.inception import INCEPTION_FID_LABEL

    root = tmp_path / "fashion"  # a few real-shaped images: the reference is the whole test split
    root.mkdir()
    generator = np.random.default_rng(0)
    for split, n in (("train", 60), ("t10k", 30)):
        write_idx(root / f"{split}-images-idx3-ubyte", generator.integers(0, 256, size=(n, 28, 28), dtype=np.uint8))
        write_idx(root / f"{split}-labels-idx1-ubyte", np.arange(n) % 10)
    monkeypatch.setenv(DATA_ENV, str(root))
    monkeypatch.setenv("SSGEN_CACHE", str(tmp_path / "empty-cache"))
    out = tmp_path / "inception.json"
    main([f"run={gan_run}", "n_samples=20", f"out={out}", "fid_network=inception", f"inception_weights={random_inception}"])
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["fid_network"] == "inception" and report["fid_label"] == INCEPTION_FID_LABEL
    assert "not comparable with ssgen's domain FID" in INCEPTION_FID_LABEL and INCEPTION_FID_LABEL in printed
    assert math.isfinite(report["fid_inception"]) and math.isfinite(report["fid_inception_floor"])
    assert (report["n"], report["n_reference"], report["reference"]) == (20, 30, "test")
    assert report["inception_weights"] == str(random_inception)
    assert "fid" not in report and "class_consistency" not in report  # the domain metrics are another command
    assert not (tmp_path / "empty-cache").exists()  # the domain evaluator was neither loaded nor trained


def test_inception_fid_errors(gan_run: Path, capsys: pytest.CaptureFixture, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert "fid_network=fancy is unknown; use evaluator or inception" in _error_line(
        capsys, [f"run={gan_run}", "fid_network=fancy"])
    assert "inception_weights= is used only with fid_network=inception" in _error_line(
        capsys, [f"run={gan_run}", "inception_weights=/x.pth"])
    assert "inception_weights=/no/such.pth: no such file" in _error_line(
        capsys, [f"run={gan_run}", "fid_network=inception", "inception_weights=/no/such.pth"])
    pickled = tmp_path / "pickled.pth"
    torch.save({"model": torch.nn.Linear(2, 2)}, pickled)  # a pickled module, not a plain state dict
    if importlib.util.find_spec("torch_fidelity"):
        assert "is not a plain PyTorch state dict" in _error_line(
            capsys, [f"run={gan_run}", "fid_network=inception", f"inception_weights={pickled}"])
    monkeypatch.setitem(sys.modules, "torch_fidelity", None)  # as on a machine without the extra
    assert "needs torch-fidelity, which is not installed; pip install 'ssgen[inception]'" in _error_line(
        capsys, [f"run={gan_run}", "fid_network=inception"])
