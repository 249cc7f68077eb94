"""ssgen.data.images: image files, folders and globs made Fashion-MNIST-like, array checks, one-line refusals.

    python -m pytest tests/unit/data/test_images.py -q -p no:cacheprovider

No model here: every case is the reading and preprocessing itself, on real test images where it matters.
"""

from __future__ import annotations

import gzip
import warnings

import numpy as np
import pytest
from PIL import Image

from ssgen.data import load_fashion_mnist
from ssgen.data.images import check_pixels, read_images, save_pngs
from ssgen.errors import ConfigError, DataError, InputWarning


@pytest.fixture(scope="module")
def test_images() -> np.ndarray:
    return load_fashion_mnist()["test_images"][:40].numpy()


def dark_on_light(image: np.ndarray, width: int, height: int, offset: tuple[int, int] = (5, 3)) -> Image.Image:
    """A data set image negated, upscaled to the shorter side of (width, height) and pasted on a white canvas."""
    side = min(width, height) - max(offset)
    canvas = Image.new("L", (width, height), 255)
    canvas.paste(Image.fromarray(255 - image).resize((side, side), Image.Resampling.BILINEAR), offset)
    return canvas


def test_a_28x28_png_round_trips_exactly_and_a_large_dark_on_light_one_closely(tmp_path, test_images):
    for index, image in enumerate(test_images):
        Image.fromarray(image).save(tmp_path / f"a{index:02d}.png")
        dark_on_light(image, 64 + index, 80).save(tmp_path / f"b{index:02d}.PNG")  # suffix case does not matter
    batch = read_images(tmp_path)
    assert batch.pixels.shape == (80, 28, 28) and batch.pixels.dtype == np.uint8
    assert [f.path.rsplit("/", 1)[1][0] for f in batch.files] == ["a"] * 40 + ["b"] * 40  # sorted by name
    assert np.array_equal(batch.pixels[:40], test_images)  # a 28x28 light-on-dark file is taken as it is
    assert [f.inverted for f in batch.files] == [False] * 40 + [True] * 40
    assert batch.files[0].inversion == "kept (dark border 0)" and batch.files[40].inversion == "inverted (light border 255)"
    assert batch.files[40].size == (64, 80)
    # cropped, resized back to 28 and re-centred: closer to the original than the original shifted by one pixel
    error = np.abs(batch.pixels[40:].astype(int) - test_images).mean(axis=(1, 2))
    shifted = np.abs(np.roll(test_images.astype(int), 1, axis=1) - test_images).mean(axis=(1, 2))
    assert np.median(error) < 0.9 * np.median(shifted), (error, shifted)
    assert batch.warnings == []


def test_the_object_is_fitted_keeping_its_aspect_ratio_and_stretched_to_0_255(tmp_path):
    image = np.full((60, 200), 250, dtype=np.uint8)  # a mid-grey 100x50 bar on a light background
    image[5:55, 30:130] = 100
    Image.fromarray(image).save(tmp_path / "bar.bmp")
    pixels = read_images(tmp_path / "bar.bmp").pixels[0]
    rows, cols = np.nonzero(pixels > 127)
    assert (cols.min(), cols.max()) == (0, 27)  # the long edge fills the width
    assert rows.max() - rows.min() + 1 == 14 and rows.min() == 7  # half as high, centred
    assert pixels.max() == 255 and pixels[0, 0] == 0  # light object at full range on a black background


@pytest.mark.parametrize("invert, expected", [("auto", [False, True]), ("true", [True, True]), ("false", [False, False])])
def test_invert_is_decided_from_the_border_or_forced(tmp_path, test_images, invert, expected):
    Image.fromarray(test_images[0]).save(tmp_path / "1_light_on_dark.png")
    Image.fromarray(255 - test_images[1]).resize((56, 56)).save(tmp_path / "2_dark_on_light.jpg")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        batch = read_images(tmp_path, invert)
    assert [f.inverted for f in batch.files] == expected
    assert all(f.invert == invert for f in batch.files)
    wrong = expected != [False, True]
    assert any("dark on a light background" in str(w.message) for w in caught) == wrong  # forced the wrong way: said


def test_colour_transparent_and_16_bit_files(tmp_path, test_images):
    rgb = np.stack([test_images[2]] * 3, axis=-1)
    Image.fromarray(rgb).save(tmp_path / "colour.tiff")
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)  # a black cross on a transparent background
    rgba[18:22, 10:30] = rgba[10:30, 18:22] = (0, 0, 0, 255)
    Image.fromarray(rgba).save(tmp_path / "cutout.png")
    Image.fromarray(test_images[3].astype(np.uint16) * 257).save(tmp_path / "deep.png")
    batch = read_images([tmp_path / "colour.tiff", tmp_path / "cutout.png", tmp_path / "deep.png"])
    assert np.array_equal(batch.pixels[0], test_images[2]) and np.array_equal(batch.pixels[2], test_images[3])
    assert batch.files[1].inverted and batch.pixels[1].max() == 255  # on white, then light-on-dark
    assert batch.pixels[1][0, 0] == 0 and batch.pixels[1][14, 0] > 200 and batch.warnings == []  # the cross fills the frame


def test_globs_folders_and_what_they_skip(tmp_path, test_images):
    (tmp_path / "sub").mkdir()
    for index in range(3):
        Image.fromarray(test_images[index]).save(tmp_path / f"img{index}.png")
    Image.fromarray(test_images[3]).save(tmp_path / "sub" / "deep.jpeg")
    (tmp_path / "README.txt").write_text("not an image")
    assert len(read_images(tmp_path)) == 3  # the README and the subfolder are left out
    assert len(read_images(str(tmp_path / "*.png"))) == 3
    assert len(read_images(str(tmp_path / "**" / "*.*"))) == 4
    with pytest.raises(DataError, match=r"matches no files; check the pattern"):
        read_images(str(tmp_path / "*.gif"))
    with pytest.raises(DataError, match=r"matches 1 files, none an image"):
        read_images(str(tmp_path / "*.txt"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"folder .*empty holds no image files"):
        read_images(tmp_path / "empty")
    with pytest.raises(DataError, match=r"missing.png does not exist"):
        read_images(tmp_path / "missing.png")


def test_unreadable_and_non_image_files_name_the_file(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"truncated")
    with pytest.raises(DataError, match=r"broken.png is not a readable image \(.*\); give PNG, JPEG, BMP or TIFF"):
        read_images(tmp_path / "broken.png")
    (tmp_path / "notes.txt").write_text("hello, these are not pixels")
    with pytest.raises(DataError, match=r"notes.txt is not an image \(PNG, JPEG, BMP, TIFF\), .npz or IDX file") as info:
        read_images(tmp_path / "notes.txt")
    assert "delete it" not in str(info.value) and "\n" not in str(info.value)
    truncated = tmp_path / "t10k-images-idx3-ubyte.GZ"  # the user's own IDX file: not to be deleted, and .GZ is gzip
    with gzip.open(truncated, "wb") as handle:
        handle.write((2051).to_bytes(4, "big") + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + b"x" * 50)
    with pytest.raises(DataError, match=r"header promises 7856: truncated or corrupt; give PNG/JPEG/BMP/TIFF") as info:
        read_images(truncated)
    assert "delete it" not in str(info.value)


def test_npz_suffix_in_any_case_and_content_sniffing(tmp_path, test_images):
    with open(tmp_path / "images.NPZ", "wb") as handle:  # a handle: np.savez would append .npz to the name
        np.savez(handle, images=test_images)
    assert np.array_equal(read_images(tmp_path / "images.NPZ").pixels, test_images)
    Image.fromarray(test_images[0]).save(tmp_path / "scan.dat", format="PNG")  # an image under another suffix
    assert np.array_equal(read_images(tmp_path / "scan.dat").pixels[0], test_images[0])
    with pytest.raises(DataError, match="mixes array files"):
        read_images([tmp_path / "images.NPZ", tmp_path / "scan.dat"])


def test_arrays_floats_and_tensors(test_images):
    import torch

    unit = test_images.astype(np.float32) / 255.0
    assert np.array_equal(read_images(unit).pixels, test_images)  # floats in [0, 1] as to_pixels makes them
    assert np.array_equal(read_images(torch.from_numpy(test_images[:, None])).pixels, test_images)  # (N, 1, 28, 28)
    assert read_images(test_images[0]).pixels.shape == (1, 28, 28)  # one image
    with pytest.raises(DataError, match=r"float32 pixels span \[-1, 1\]; give floats in \[0, 1\]"):
        read_images(unit * 2 - 1)
    with pytest.raises(DataError, match=r"shape \(3, 32, 32\) is not \(N, 28, 28\)"):
        read_images(np.zeros((3, 32, 32), np.uint8))
    with pytest.raises(ConfigError, match="invert='maybe' is unknown"):
        read_images(test_images, invert="maybe")


def test_impossible_pixel_ranges_are_refused_and_suspicious_ones_warned(test_images):
    with pytest.raises(DataError, match=r"brightest pixel of every image is 1: .*scaled to \[0, 1\] before the cast"):
        read_images((test_images > 127).astype(np.uint8))  # 0/1 pixels: what the issue saw as 1000 'sandal'
    with pytest.raises(DataError, match="every image is a single grey level"):
        read_images(np.full((4, 28, 28), 7, np.uint8))
    mixed = test_images.copy()
    mixed[3] = 0
    mixed[5] = mixed[5] // 8  # brightest pixel 31
    mixed[7] = 255 - mixed[7]
    with pytest.warns(InputWarning) as caught:
        batch = read_images(mixed, source="mixed.npz")
    messages = [str(w.message) for w in caught]
    assert messages == batch.warnings and len(messages) == 3
    assert messages[0].startswith("mixed.npz: 1 of 40 images are a single grey level (index 3)")
    assert "1 of 40 images are dim" in messages[1] and "(index 5)" in messages[1]
    assert "1 of 40 images are dark on a light background (index 7)" in messages[2]
    assert check_pixels(test_images) == []  # the real data set raises nothing


def test_save_pngs_names_files_by_class_and_index(tmp_path, test_images):
    labels = np.array([3, 3, 8, 3] + [0] * 8, dtype=np.int64)
    written = save_pngs(tmp_path / "out", test_images[:12], labels)
    assert [p.name for p in written[:4]] == ["dress_0.png", "dress_1.png", "bag_0.png", "dress_2.png"]
    assert written[-1].name == "t_shirt_7.png"
    assert np.array_equal(np.asarray(Image.open(written[2])), test_images[2])


def test_invert_true_negates_arrays_and_array_files(tmp_path, test_images):
    """invert=true is not ignored for arrays: dark-on-light arrays come back light-on-dark, with no warning."""
    originals = test_images[:20]
    dark_on_light = 255 - originals
    np.savez(tmp_path / "bow.npz", images=dark_on_light)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the dark-on-light warning must not fire
        for given in (dark_on_light, tmp_path / "bow.npz"):
            assert np.array_equal(read_images(given, invert="true").pixels, originals)
    assert np.array_equal(read_images(originals, invert="false").pixels, originals)
