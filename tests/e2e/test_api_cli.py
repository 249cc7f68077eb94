"""ssgen-predict on a folder of image files as a user runs it, and ``import ssgen`` in a fresh interpreter: the
end-to-end half of tests/unit/test_api.py.

    python -m pytest tests/e2e/test_api_cli.py -q -p no:cacheprovider -m 'slow or not slow'

Uses the session's tiny real M1 run (conftest: ``m1_run``, with its SVM heads) and ``test_set``.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import run_script
from PIL import Image


def test_import_ssgen_stays_cheap():
    code = "import sys, ssgen; print(sorted(m for m in ('torch', 'lightning', 'ssgen.api') if m in sys.modules))"
    result = run_script(sys.executable, "-c", code, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr


# ------------------------------------------------------------------------------------------------ ssgen-predict
@pytest.mark.slow
def test_a_folder_of_pngs_scores_as_the_same_images_in_an_npz(m1_run, tmp_path, test_set):
    """The issue's acceptance test: white-on-black 28x28 PNGs and black-on-white ones of other sizes, through
    ssgen-predict, within one point of accuracy of the same test images given as .npz."""
    images, labels = test_set[0][:600], test_set[1][:600]
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index, image in enumerate(images):
        if index % 2 == 0:
            Image.fromarray(image).save(folder / f"{index:03d}.png")
            continue
        width, height = int(rng.integers(40, 120)), int(rng.integers(40, 120))
        side = min(width, height) - 8
        canvas = Image.new("L", (width, height), 255)
        canvas.paste(Image.fromarray(255 - image).resize((side, side), Image.Resampling.BILINEAR),
                     (int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))))
        canvas.save(folder / f"{index:03d}.PNG")
    np.savez(tmp_path / "images.npz", images=images)
    from_npz = run_script("ssgen-predict", f"run={m1_run}", f"images={tmp_path / 'images.npz'}",
                          f"out={tmp_path / 'npz_labels.npz'}")
    from_files = run_script("ssgen-predict", f"run={m1_run}", f"images={folder}",
                            f"out={tmp_path / 'png_labels.npz'}")
    assert from_npz.returncode == 0 and from_files.returncode == 0, from_npz.stderr + from_files.stderr
    assert from_files.stderr == ""  # no warnings: every file came out Fashion-MNIST-like
    npz_accuracy = (np.load(tmp_path / "npz_labels.npz")["labels"] == labels).mean()
    written = np.load(tmp_path / "png_labels.npz")
    png_accuracy = (written["labels"] == labels).mean()
    print(f"accuracy: npz {npz_accuracy:.4f}, PNG folder {png_accuracy:.4f}")  # shown with -s
    assert npz_accuracy > 0.4 and abs(png_accuracy - npz_accuracy) <= 0.01, (npz_accuracy, png_accuracy)
    rows = list(csv.DictReader((tmp_path / "png_labels.csv").open()))
    assert list(rows[0]) == ["index", "file", "label", "class_name", "inverted"] and len(rows) == 600
    assert [Path(row["file"]).name for row in rows[:2]] == ["000.png", "001.PNG"]
    assert [row["inverted"] for row in rows[:4]] == ["false", "true", "false", "true"]
    assert written["inverted"].tolist() == [index % 2 == 1 for index in range(600)]
    assert "invert=auto: 300 of 600 files inverted to light-on-dark; every file is in" in from_files.stdout
