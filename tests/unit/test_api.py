"""ssgen.load and ssgen-predict on image files: the README's "From Python" block, each family, and every bad input
the issue named (one line, nothing written). The accuracy parity of a folder of PNGs with the same images as .npz
(the console script) is in tests/e2e/test_api_cli.py.

    python -m pytest tests/unit/test_api.py -q -p no:cacheprovider

Uses the session's tiny real runs (conftest: ``m1_run``, an M1 run with its SVM heads; ``m2_run``).
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ssgen
from ssgen.api import GAN, M1, M2, Classifier, Sampler, load_classifier, load_sampler
from ssgen.data import CLASS_NAMES
from ssgen.errors import CheckpointError, ConfigError, SSGenError
from ssgen.predict import main as predict_main

REPO = Path(ssgen.__file__).resolve().parents[1]


def run_predict(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """ssgen-predict in-process: (exit status, stdout, stderr)."""
    try:
        predict_main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ------------------------------------------------------------------------------------------------ README
def readme_block() -> str:
    """The python block of README.md's "From Python" section, as written."""
    text = (REPO / "README.md").read_text()
    section = text.split("\n## From Python\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_from_python_block_runs_on_a_real_run(m2_run, tmp_path, monkeypatch, test_set):
    code = readme_block()
    placeholder = re.search(r'ssgen\.load\("([^"]+)"\)', code).group(1)
    (tmp_path / "photos").mkdir()
    images, _ = test_set
    Image.fromarray(images[0]).save(tmp_path / "photos" / "ankle_boot.png")
    Image.fromarray(255 - images[1]).resize((90, 90)).save(tmp_path / "photos" / "pullover.png")
    monkeypatch.chdir(tmp_path)
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        exec(compile(code.replace(placeholder, str(m2_run)), "README.md", "exec"), {})  # the same lines
    lines = stdout.getvalue().splitlines()
    assert lines[0].startswith("m2 0 0.")  # method, seed, test accuracy
    assert len(lines) == 3 and lines[1].startswith("['")
    assert "photos/ankle_boot.png" in lines[2] and "inverted (light border 255)" in lines[2]


# ------------------------------------------------------------------------------------------------ families
def test_m1_run_encodes_and_predicts_with_its_head(m1_run, test_set):
    from ssgen.predict import predict

    model = ssgen.load(m1_run)
    assert isinstance(model, M1) and isinstance(model, Classifier) and not isinstance(model, Sampler)
    info = model.info
    assert (info.method, info.arch, info.seed, info.n_labels, info.status) == ("m1", "vae_mlp", 0, 100, "ok")
    assert info.run_dir == m1_run and info.metrics["test_accuracy"] > 0.3 and model.heads == [100, 20]
    images, labels = test_set[0][:500], test_set[1][:500]
    codes = model.encode(images)
    assert codes.shape == (500, 50) and codes.dtype == np.float32
    predictions = model.predict(images)
    assert predictions.labels.dtype == np.int64 and (predictions.labels == labels).mean() > 0.3
    assert predictions.names[0] == CLASS_NAMES[predictions.labels[0]] and predictions.files is None
    assert np.array_equal(predictions.labels, predict(m1_run, images))  # the old function agrees
    assert np.array_equal(model.predict(images.astype(np.float32) / 255).labels, predictions.labels)
    with pytest.raises(SSGenError, match="has no head for n_labels=600; available: 100"):
        model.predict(images, n_labels=600)


def test_an_m1_checkpoint_outside_its_run_dir_encodes_but_cannot_predict(m1_run, tmp_path, test_set):
    copy = Path(shutil.copy(m1_run / "checkpoints" / "last.ckpt", tmp_path / "m1.ckpt"))
    model = ssgen.load(copy)
    assert model.info.run_dir is None and model.info.metrics == {} and model.info.method == "M1VAE"
    assert model.heads == [] and model.encode(test_set[0][:3]).shape == (3, 50)
    with pytest.raises(CheckpointError, match="outside a run dir, so it has no SVM head; load the run dir"):
        model.predict(test_set[0][:3])


def test_m2_samples_by_index_or_either_name_reproducibly(m2_run):
    model = ssgen.load(m2_run)
    assert isinstance(model, M2) and isinstance(model, Sampler) and isinstance(model, Classifier)
    by_name = model.sample("ankle_boot", n=4, seed=3)
    assert by_name.images.shape == (4, 28, 28) and by_name.images.dtype == np.uint8
    assert by_name.labels.tolist() == [9] * 4 and by_name.names == ["ankle_boot"] * 4
    assert np.array_equal(model.sample("Ankle boot", n=4, seed=3).images, by_name.images)
    assert np.array_equal(model.sample(9, n=4, seed=3).images, by_name.images)
    assert not np.array_equal(model.sample(9, n=4, seed=4).images, by_name.images)
    several = model.sample(["T-shirt/top", "bag"], n=2, seed=0)
    assert several.labels.tolist() == [0, 0, 8, 8] and len(model.sample(n=1)) == 10
    probabilities = model.probabilities(by_name.images)
    assert probabilities.shape == (4, 10) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert np.array_equal(probabilities.argmax(axis=1), model.predict(by_name.images).labels)
    with pytest.raises(ConfigError, match="label='sock' is unknown"):
        model.sample("sock")
    with pytest.raises(ConfigError, match="n=0 must be an integer >= 1"):
        model.sample("bag", n=0)
    with pytest.raises(SSGenError, match="drop n_labels="):
        model.predict(by_name.images, n_labels=100)


def test_generated_pngs_classify_exactly_as_the_npz(m2_run, tmp_path, capsys):
    """ssgen-generate out_dir= writes 28x28 PNGs that ssgen-predict reads back to the very same pixels."""
    from ssgen.generate import main as generate_main

    generate_main([f"run={m2_run}", "label=dress,sneaker", "n=12", "seed=5", f"npz={tmp_path / 's.npz'}",
                   f"out_dir={tmp_path / 'pngs'}"])
    assert "wrote 24 images to" in capsys.readouterr().out
    names = sorted(path.name for path in (tmp_path / "pngs").iterdir())
    assert names[:2] == ["dress_00.png", "dress_01.png"] and names[-1] == "sneaker_11.png" and len(names) == 24
    samples = np.load(tmp_path / "s.npz")
    model = ssgen.load(m2_run)
    assert np.array_equal(samples["images"], model.sample("dress,sneaker", n=12, seed=5).images)  # the API = the command
    from_files = model.predict(tmp_path / "pngs")
    order = [names.index(Path(record.path).name) for record in from_files.files]
    assert order == list(range(24)) and not any(record.inverted for record in from_files.files)
    assert np.array_equal(from_files.labels, model.predict(samples["images"]).labels)


def test_each_loader_refuses_the_other_family(m1_run, tmp_path):
    import torch
    from conftest import compose_config

    from ssgen.run.build import build_model

    gan = build_model(compose_config(["method=dcgan", "run_dir=/tmp/unused", "arch.networks.generator.width=8",
                                      "arch.networks.critic.width=8"]))
    path = tmp_path / "gan.ckpt"
    torch.save({"ssgen_module": "ssgen.models.gan.DCGAN", "hyper_parameters": dict(gan.hparams),
                "state_dict": gan.state_dict()}, path)
    model = ssgen.load(path)
    assert isinstance(model, GAN) and not isinstance(model, Classifier) and model.info.arch == "dcgan"
    assert model.sample("bag", n=2, seed=0).images.shape == (2, 28, 28)
    assert isinstance(load_sampler(path), GAN)
    with pytest.raises(CheckpointError, match="is a DCGAN checkpoint, not a classifier"):
        load_classifier(path)
    with pytest.raises(CheckpointError, match="is a M1VAE checkpoint, not a class-conditional generator"):
        load_sampler(m1_run)
    with pytest.raises(CheckpointError, match="does not exist; give a .ckpt file or a run dir"):
        ssgen.load(tmp_path / "nope")


# ------------------------------------------------------------------------------------------------ ssgen-predict
def test_one_png_names_its_file_and_inversion(m1_run, tmp_path, test_set, capsys):
    Image.fromarray(255 - test_set[0][0]).resize((70, 70)).save(tmp_path / "shoe.png")
    code, out, err = run_predict(capsys, f"run={m1_run}", f"images={tmp_path / 'shoe.png'}",
                                 f"out={tmp_path / 'labels.npz'}")
    assert code == 0 and err == ""
    assert re.search(r"shoe.png: [a-z_]+, inverted \(light border 255\)", out), out
    code, out, err = run_predict(capsys, f"run={m1_run}", f"images={tmp_path / 'shoe.png'}", "invert=false",
                                 f"out={tmp_path / 'labels.npz'}")
    assert code == 0 and "kept (invert=false)" in out
    assert "ssgen-predict: warning:" in err and "dark on a light background" in err  # forced the wrong way: said


def test_an_upper_case_npz_suffix_works(m1_run, tmp_path, test_set, capsys):
    with open(tmp_path / "images.NPZ", "wb") as handle:
        np.savez(handle, images=test_set[0][:20])
    code, out, err = run_predict(capsys, f"run={m1_run}", f"images={tmp_path / 'images.NPZ'}",
                                 f"out={tmp_path / 'labels.NPZ'}")
    assert code == 0 and "classified 20 images" in out, err
    assert (tmp_path / "labels.NPZ").is_file() and (tmp_path / "labels.csv").read_text().startswith("index,label,class_name")


def test_some_blank_images_are_classified_with_a_warning(m1_run, tmp_path, test_set, capsys):
    images = test_set[0][:10].copy()
    images[[2, 4]] = 0
    np.savez(tmp_path / "images.npz", images=images)
    code, out, err = run_predict(capsys, f"run={m1_run}", f"images={tmp_path / 'images.npz'}",
                                 f"out={tmp_path / 'labels.npz'}")
    assert code == 0 and "classified 10 images" in out
    assert err.strip() == (f"ssgen-predict: warning: {tmp_path / 'images.npz'}: 2 of 10 images are a single grey level "
                           "(index 2, 4): their labels mean nothing")


BAD_INPUTS = {
    "a PNG that is not an image": ("shoe.png", "shoe.png is not a readable image"),
    "a text file": ("notes.txt", "notes.txt is not an image (PNG, JPEG, BMP, TIFF), .npz or IDX file; give"),
    "uint8 pixels scaled to 0/1": ("scaled.npz", "the brightest pixel of every image is 1"),
    "blank images only": ("blank.npz", "every image is a single grey level"),
    "floats outside [0, 1]": ("signed.npz", "float32 pixels span [-1, 1]; give floats in [0, 1]"),
    "an empty folder": ("empty", "holds no image files"),
    "a glob matching nothing": ("*.gif", "matches no files; check the pattern"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_inputs_give_one_line_naming_them_and_write_nothing(m1_run, tmp_path, test_set, capsys, case):
    name, message = BAD_INPUTS[case]
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "shoe.png").write_text("I am not a PNG")
    (inputs / "notes.txt").write_text("nor am I an IDX file")
    np.savez(inputs / "scaled.npz", images=(test_set[0][:50] > 127).astype(np.uint8))  # the 1000 'sandal'
    np.savez(inputs / "blank.npz", images=np.zeros((5, 28, 28), np.uint8))
    np.savez(inputs / "signed.npz", images=test_set[0][:5].astype(np.float32) / 127.5 - 1)
    (inputs / "empty").mkdir()
    out = tmp_path / "out" / "labels.npz"
    code, stdout, err = run_predict(capsys, f"run={m1_run}", f"images={inputs / name}", f"out={out}")
    assert code == 2 and err.startswith("ssgen-predict: error: ") and err.count("\n") == 1, err
    assert message in err and "delete it" not in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_predict_refuses_a_run_that_is_no_classifier_and_a_bad_invert(m2_run, tmp_path, test_set, capsys):
    np.savez(tmp_path / "images.npz", images=test_set[0][:5])
    code, _, err = run_predict(capsys, f"run={tmp_path / 'nope'}", f"images={tmp_path / 'images.npz'}",
                               f"out={tmp_path / 'labels.npz'}")
    assert code == 2 and "nope does not exist; give a .ckpt file or a run dir" in err
    code, _, err = run_predict(capsys, f"run={m2_run}", f"images={tmp_path / 'images.npz'}", "invert=maybe",
                               f"out={tmp_path / 'labels.npz'}")
    assert code == 2 and "invert='maybe' is unknown; use auto" in err
    assert not (tmp_path / "labels.npz").exists()
