"""Images in, images out: arrays, .npz / IDX files and image files (PNG, JPEG, BMP, TIFF), made Fashion-MNIST-like.

    from ssgen.data.images import read_images
    batch = read_images("photos/*.jpg")           # a file, a folder, a glob, a list of them, an .npz/IDX, an array
    batch.pixels                                  # uint8 (N, 28, 28), light object on a dark background
    [(f.path, f.inverted) for f in batch.files]   # which inversion each image file got

Image files go through the preprocessing Fashion-MNIST itself used (Xiao et al. 2017, the data set's README:
"trim the edges close to the colour of the corner pixels, resize the longest edge to 28, extend the shortest
edge to 28 and put the image at the centre, negate the intensities, convert to 8-bit greyscale"):

1. greyscale (ITU-R 601-2 luma, Pillow's ``L``); EXIF rotation applied; transparency composited on white, as
   the data set's product photos sit on white; the first frame of a multi-frame file;
2. light-on-dark like the data set: ``invert='auto'`` negates the image when the median grey level of its
   one-pixel border is above 127 (a light background), ``'true'`` / ``'false'`` force it;
3. crop to the object: the bounding box of the pixels brighter than the background (the border's median)
   by more than ``FOREGROUND_THRESHOLD`` of the image's range;
4. resize the longest edge to 28 keeping the aspect ratio (Lanczos), centre on a 28x28 background;
5. stretch the grey levels so the background is 0 and the brightest pixel 255: every Fashion-MNIST image spans
   0 to 254-255, and a file saved with 0/1 pixels becomes usable instead of reading as black.

A file that is already 28x28 is taken as the data set's format (an exported data set image, or what
``ssgen-generate out_dir=`` writes): steps 1 and 2 only, so it gives exactly the pixels of the same image in an
``.npz``.

Arrays (in memory, ``.npz`` with key ``images``, IDX) are taken as already in the data set's form: uint8
``(N, 28, 28)`` (or ``(N, 1, 28, 28)``, or one ``(28, 28)`` image), other integers within 0..255, or floats in
[0, 1] (as ``ssgen.data.to_pixels`` makes them), scaled by 255. Their pixel range is checked
(``check_pixels``): a uint8 array whose maximum is 1 (images scaled to [0, 1] before the cast) or one whose
every image is a single grey level is refused; a few constant, dim or dark-on-light images give a warning
(``InputWarning``): never a silent one-class answer. Suffixes are matched case-insensitively; a file with an
unknown suffix is read as an image if Pillow recognises its content, else as IDX.
"""

from __future__ import annotations

import glob
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ssgen.data import FASHION_MNIST, DatasetInfo, read_idx
from ssgen.errors import ConfigError, DataError, InputWarning
from ssgen.io import add_inputs, atomic_write, display_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
INVERT_CHOICES = ("auto", "true", "false")
LIGHT_BORDER = 127.5  # border median above this: a light background, negated under invert=auto
# of the (brightest - background) range: fainter pixels count as background when cropping. 0.1 keeps JPEG ringing
# around the object out of the box (at 0.05 a JPEG'd test set lost 9 points of accuracy, at 0.1 none)
FOREGROUND_THRESHOLD = 0.1
DIM_MAXIMUM = 64  # an image whose brightest pixel is below this is far from the data set (all reach 254-255)
MAX_LISTED = 5  # images named in one warning


@dataclass(frozen=True)
class ImageFile:
    """How one image file was read: its path, size as read (width, height), whether it was negated and why."""

    path: str
    size: tuple[int, int]
    inverted: bool
    border: float  # median grey level 0..255 of its one-pixel border before any inversion
    invert: str  # the invert= setting it was read with: auto, true or false

    @property
    def inversion(self) -> str:
        """One phrase for the output: 'inverted (light border 243)' or 'kept (dark border 0)', or 'invert=true'."""
        if self.invert != "auto":
            return f"{'inverted' if self.inverted else 'kept'} (invert={self.invert})"
        return f"{'inverted' if self.inverted else 'kept'} ({'light' if self.inverted else 'dark'} border {self.border:.0f})"


@dataclass
class Images:
    """uint8 ``pixels (N, 28, 28)`` ready for a model, where they came from and the warnings they raised.

    ``files`` holds one ``ImageFile`` per image when read from image files, None for arrays.
    """

    pixels: np.ndarray
    source: str
    files: list[ImageFile] | None = None
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.pixels)


# ------------------------------------------------------------------------------------------------ reading
def parse_invert(value: str | bool) -> str:
    """invert= as 'auto', 'true' or 'false' (a bool, or any case of those words); ConfigError otherwise."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).strip().lower()
    if text not in INVERT_CHOICES:
        raise ConfigError(f"invert={value!r} is unknown; use auto (decide from each image's border), true or false")
    return text


def _negated_if(pixels: np.ndarray, invert: str) -> np.ndarray:
    """uint8 ``(N, 28, 28)`` arrays under invert=true become 255 - x (dark-on-light arrays made light-on-dark)."""
    return (255 - pixels).astype(np.uint8) if invert == "true" else pixels


def read_images(images: Any, invert: str | bool = "auto", source: str | None = None,
                info: DatasetInfo = FASHION_MNIST) -> Images:
    """Anything ``predict`` takes -> ``Images`` with uint8 pixels ``(N, 28, 28)``, checked by ``check_pixels``.

    ``images``: an array or tensor (see ``as_uint8``); a path or a list of paths, each an image file, a folder
    (its image files, sorted by name, not recursive), a glob (``photos/*.jpg``, ``**`` recursive), an ``.npz``
    (key ``images``) or an IDX file. ``invert``: for image files, auto decides per file from its border; for
arrays and array files, ``true`` negates every image (255 - x) and ``auto`` / ``false`` take them as given.
    Raises DataError naming the file for anything unreadable; warnings are issued as ``InputWarning`` too.
    """
    if isinstance(images, Images):  # already read (ssgen-predict reads before loading the model)
        return images
    invert = parse_invert(invert)
    if isinstance(images, str | Path):
        items: list[Any] = [images]
    elif isinstance(images, list | tuple) and images and all(isinstance(item, str | Path) for item in images):
        items = list(images)
    else:
        return _checked(Images(_negated_if(as_uint8(images, source or "images", info), invert), source or "images"))
    arrays, files, records = [], [], []
    for item in items:
        found = expand_paths(item)
        add_inputs(found, f"images={display_path(item)}")  # a command's outputs may not replace what it reads
        for path in found:
            if is_image_file(path):
                files.append(path)
            else:
                arrays.append(path)
    if arrays and (files or len(arrays) > 1):
        raise DataError(f"images={_spec(items)} mixes array files ({arrays[0]}) with other inputs; give one .npz / IDX "
                        "file, or image files, folders and globs")
    if arrays:
        return _checked(Images(_negated_if(read_array_file(arrays[0], info), invert), str(arrays[0])))
    pixels = np.empty((len(files), *info.size), dtype=np.uint8)
    for index, path in enumerate(files):
        pixels[index], record = read_image_file(path, invert, info)
        records.append(record)
    return _checked(Images(pixels, source or _spec(items), records))


def _spec(items: list[Any]) -> str:
    return str(items[0]) + (f" (and {len(items) - 1} more)" if len(items) > 1 else "")


def _checked(batch: Images) -> Images:
    names = [record.path for record in batch.files] if batch.files else None
    batch.warnings = check_pixels(batch.pixels, batch.source, names)
    for message in batch.warnings:
        warnings.warn(message, InputWarning, stacklevel=3)
    return batch


def expand_paths(item: str | Path) -> list[Path]:
    """One images= entry -> the files it names: itself, a folder's image files (sorted), or a glob's matches.

    A folder or glob contributes only files with an image suffix (a folder may also hold a README or a CSV);
    one that yields none, or a path that does not exist, is a DataError saying what was looked for.
    """
    path = Path(item)
    if path.is_file():
        return [path]
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise DataError(f"folder {path} holds no image files ({', '.join(IMAGE_SUFFIXES)}, any case); "
                            "give a folder of images, a glob or a file")
        return found
    text = str(item)
    if any(char in text for char in "*?["):
        matches = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        found = [p for p in matches if p.suffix.lower() in IMAGE_SUFFIXES]
        if not found:
            what = f"{len(matches)} files, none an image ({', '.join(IMAGE_SUFFIXES)})" if matches else "no files"
            raise DataError(f"images={text} matches {what}; check the pattern (quote it so the shell leaves it alone)")
        return found
    raise DataError(f"images file {path} does not exist; give an image file, a folder, a glob, an .npz or an IDX file")


def is_image_file(path: Path) -> bool:
    """True for an image suffix (any case); for a file that is neither .npz nor a known image suffix, True when
    Pillow recognises its content (so 'scan.dat' holding a PNG is read as one) and it is not IDX / gzip."""
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return True
    if suffix in (".npz", ".gz") or _looks_like_idx(path):
        return False
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path):
            return True
    except (UnidentifiedImageError, OSError):
        return False


def _looks_like_idx(path: Path) -> bool:
    with open(path, "rb") as handle:
        magic = int.from_bytes(handle.read(4), "big")
    return magic in (2051, 2049)


def read_array_file(path: str | Path, info: DatasetInfo = FASHION_MNIST) -> np.ndarray:
    """uint8 ``(N, 28, 28)`` from an .npz (key ``images``; suffix in any case) or an IDX file (gzipped or not).

    DataError (one line, naming the file) for an unreadable file or a wrong shape, dtype or range.
    """
    path = Path(path)
    if path.suffix.lower() == ".npz":
        try:
            with np.load(path, allow_pickle=False) as archive:
                if "images" not in archive:
                    raise DataError(f"{path} has no 'images' array (keys: {', '.join(archive.files)}); save with "
                                    "np.savez(f, images=x)")
                images = archive["images"]
        except (ValueError, OSError) as exc:
            raise DataError(f"{path} is not a readable .npz file ({exc})") from exc
    else:
        fix = ("give PNG/JPEG/BMP/TIFF images, a folder or glob of them, an .npz with an 'images' array, or an IDX "
               "images file")
        try:
            images = read_idx(path, fix=fix, info=info)
        except DataError as exc:
            if "is not an IDX file" in str(exc):
                raise DataError(f"{path} is not an image (PNG, JPEG, BMP, TIFF), .npz or IDX file; {fix}") from None
            raise
        if images.ndim != 3:
            raise DataError(f"{path} is an IDX labels file, not images; {fix}")
    return as_uint8(images, str(path), info)


def read_image_file(path: str | Path, invert: str = "auto",
                    info: DatasetInfo = FASHION_MNIST) -> tuple[np.ndarray, ImageFile]:
    """One image file -> uint8 ``info.size`` (28x28) made like the data set's images (see the module docstring)
    and its record.

    Raises DataError naming the file when Pillow cannot read it (not an image, truncated, unsupported).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as image:
            image.seek(0)
            image = ImageOps.exif_transpose(image)
            size = image.size
            grey = np.asarray(_to_grey(image), dtype=np.uint8)
    except UnidentifiedImageError:
        raise DataError(f"{path} is not a readable image (Pillow cannot identify its format); give PNG, JPEG, BMP "
                        "or TIFF files") from None
    except Exception as exc:  # truncated or corrupt data in a known format, a decompression bomb, odd EXIF: Pillow
        # raises many types (OSError, ValueError, SyntaxError, struct.error, DecompressionBombError, ...)
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise DataError(f"{path} is not a readable image ({reason}); give PNG, JPEG, BMP or TIFF files") from None
    pixels, inverted, border = fashion_mnist_like(grey, parse_invert(invert), fit=grey.shape != info.size, size=info.size)
    return pixels, ImageFile(str(path), size, inverted, border, parse_invert(invert))


def _to_grey(image: Any) -> Any:
    """A Pillow image in mode 'L': transparency composited on white (the data set's photos sit on white)."""
    from PIL import Image

    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "RGBa"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        # 16-bit or float TIFF/PNG: scale its own range to 0..255 (the stretch below does the rest)
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        values = (values - low) / (high - low) * 255.0 if high > low else np.zeros_like(values)
        return Image.fromarray(values.round().astype(np.uint8))
    return image.convert("L")


def fashion_mnist_like(grey: np.ndarray, invert: str = "auto", fit: bool = True,
                       size: tuple[int, int] = FASHION_MNIST.size) -> tuple[np.ndarray, bool, float]:
    """Greyscale uint8 ``(H, W)`` -> (uint8 ``size`` (the data set's, 28x28) light-on-dark, whether it was negated,
    border median).

    Steps 2-5 of the module docstring; ``fit=False`` (a 28x28 file) stops after step 2. A constant image comes
    back all zeros (``check_pixels`` flags it).
    """
    from PIL import Image

    border_pixels = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    border = float(np.median(border_pixels))
    inverted = border > LIGHT_BORDER if invert == "auto" else invert == "true"
    if inverted:
        grey = 255 - grey
    if not fit:
        return np.ascontiguousarray(grey, dtype=np.uint8), inverted, border
    background = float(np.median(255 - border_pixels if inverted else border_pixels))
    # the object: pixels away from the background, brighter or darker (invert=false on a dark-on-light file
    # keeps it dark-on-light, as asked; check_pixels then warns about it)
    distance = np.abs(grey.astype(np.float64) - background)
    span = float(distance.max())
    if span == 0:
        return np.zeros(size, dtype=np.uint8), inverted, border
    rows, cols = np.nonzero(distance > FOREGROUND_THRESHOLD * span)
    crop = grey[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    height, width = crop.shape
    scale = min(size[0] / height, size[1] / width)  # the longest edge (of a square target) fills it
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # float (mode F) so nothing is rounded before the stretch; Lanczos as Pillow's best downsampling filter
    resized = np.asarray(Image.fromarray(crop.astype(np.float32)).resize(new_size, Image.Resampling.LANCZOS),
                         dtype=np.float64)
    canvas = np.full(size, background)
    # an odd margin puts the extra pixel above / to the left, as in the data set (its test images round-trip)
    top, left = (size[0] - new_size[1] + 1) // 2, (size[1] - new_size[0] + 1) // 2
    canvas[top : top + new_size[1], left : left + new_size[0]] = resized
    # background -> 0 and the brightest pixel -> 255 (for a dark object on a light background: darkest -> 0,
    # background -> 255); Lanczos over- and undershoots are clipped
    if crop.mean() >= background:
        low, high = background, float(canvas.max())
    else:
        low, high = float(canvas.min()), background
    stretched = (canvas - low) / max(high - low, 1e-9) * 255.0
    return np.clip(stretched, 0, 255).round().astype(np.uint8), inverted, border


# ------------------------------------------------------------------------------------------------ arrays
def as_uint8(images: Any, source: str = "images", info: DatasetInfo = FASHION_MNIST) -> np.ndarray:
    """uint8 ``(N, 28, 28)`` from an array or tensor: ``(N, 28, 28)``, ``(N, 1, 28, 28)`` or one ``(28, 28)``
    (28x28: ``info.size``, the data set's).

    uint8 as is; other integers within 0..255 cast; floats in [0, 1] scaled by 255 and rounded. DataError
    (one line, naming ``source``) for a wrong shape, an empty array, integers outside 0..255 or floats outside
    [0, 1] (e.g. [-1, 1] GAN output: map it with (x + 1) / 2 first).
    """
    if hasattr(images, "detach"):  # a torch tensor, without importing torch here
        images = images.detach().cpu().numpy()
    images = np.asarray(images)
    if images.ndim == 2:
        images = images[None]
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    height, width = info.size
    if images.ndim != 3 or images.shape[1:] != info.size:
        raise DataError(f"{source}: shape {images.shape} is not (N, {height}, {width}); give {height}x{width} greyscale "
                        f"images, or image files (any size) to be fitted into {height}x{width}")
    if len(images) == 0:
        raise DataError(f"{source}: holds no images")
    if images.dtype == np.uint8:
        return np.ascontiguousarray(images)
    if np.issubdtype(images.dtype, np.integer) or images.dtype == np.bool_:
        if images.min() < 0 or images.max() > 255:
            raise DataError(f"{source}: pixel values span [{images.min()}, {images.max()}], outside 0..255")
        return images.astype(np.uint8)
    if np.issubdtype(images.dtype, np.floating):
        low, high = float(np.nanmin(images)), float(np.nanmax(images))
        if np.isnan(images).any() or low < 0.0 or high > 1.0:
            raise DataError(f"{source}: {images.dtype} pixels span [{low:.3g}, {high:.3g}]; give floats in [0, 1] "
                            "or uint8 pixels 0..255, e.g. (x * 255).round().astype(np.uint8)")
        return (images * 255.0).round().astype(np.uint8)
    raise DataError(f"{source}: dtype {images.dtype}; give uint8 pixels 0..255 or floats in [0, 1]")


def check_pixels(pixels: np.ndarray, source: str = "images", names: Sequence[str] | None = None) -> list[str]:
    """Refuse what cannot be Fashion-MNIST-like; return warnings (one line each) for images that are suspicious.

    ``pixels``: uint8 ``(N, 28, 28)``; ``names``: one per image (file paths) for the messages, else indices.
    DataError when every image is one grey level, or when the largest pixel of a non-constant uint8 array is 1
    (images scaled to [0, 1] before the cast: every one would read as black). Warnings for some constant
    images, dim ones (brightest pixel below 64; Fashion-MNIST's all reach 254) and dark-on-light ones (border
    median above 127; the data set is light on dark).
    """
    flat = pixels.reshape(len(pixels), -1)
    highest, lowest = flat.max(axis=1), flat.min(axis=1)
    constant = highest == lowest
    if constant.all():
        raise DataError(f"{source}: every image is a single grey level ({_listed(np.flatnonzero(constant), names)}): "
                        "nothing to classify; give images of clothing")
    if int(highest.max()) <= 1:
        raise DataError(f"{source}: the brightest pixel of every image is 1: these look like images scaled to [0, 1] "
                        "before the cast to uint8; give 0..255 pixels ((x * 255).round().astype(np.uint8)) or the floats")
    messages = []
    if constant.any():
        messages.append(f"{source}: {int(constant.sum())} of {len(pixels)} images are a single grey level "
                        f"({_listed(np.flatnonzero(constant), names)}): their labels mean nothing")
    dim = ~constant & (highest < DIM_MAXIMUM)
    if dim.any():
        messages.append(f"{source}: {int(dim.sum())} of {len(pixels)} images are dim (brightest pixel below "
                        f"{DIM_MAXIMUM}; every Fashion-MNIST image reaches 254) ({_listed(np.flatnonzero(dim), names)}): "
                        "were they scaled down? Their labels are unreliable")
    borders = np.concatenate([pixels[:, 0], pixels[:, -1], pixels[:, :, 0], pixels[:, :, -1]], axis=1)
    light = ~constant & (np.median(borders, axis=1) > LIGHT_BORDER)
    if light.any():
        messages.append(f"{source}: {int(light.sum())} of {len(pixels)} images are dark on a light background "
                        f"({_listed(np.flatnonzero(light), names)}); Fashion-MNIST is light on dark: invert them "
                        "(255 - x, or invert=true), or give image files with invert=auto")
    return messages


def _listed(indices: np.ndarray, names: Sequence[str] | None) -> str:
    shown = [names[i] if names is not None else str(i) for i in indices[:MAX_LISTED]]
    more = f" and {len(indices) - MAX_LISTED} more" if len(indices) > MAX_LISTED else ""
    return ("" if names is not None else "index ") + ", ".join(shown) + more


# ------------------------------------------------------------------------------------------------ writing
def png_paths(out_dir: str | Path, labels: np.ndarray, info: DatasetInfo = FASHION_MNIST) -> list[Path]:
    """The files ``save_pngs`` writes for ``labels`` (int64 ``(N,)``), in order: ``<out_dir>/<class>_<index within its
    class>.png``, the index zero-padded to the widest of its class (so a command can check them before writing)."""
    out_dir = Path(out_dir)
    counts = np.bincount(labels, minlength=info.n_classes)
    width = len(str(max(int(counts.max()) - 1, 0))) if len(labels) else 1
    seen = np.zeros_like(counts)
    paths = []
    for label in labels:
        paths.append(out_dir / f"{info.class_names[label]}_{seen[label]:0{width}d}.png")
        seen[label] += 1
    return paths


def save_pngs(out_dir: str | Path, images: np.ndarray, labels: np.ndarray, info: DatasetInfo = FASHION_MNIST) -> list[Path]:
    """One 28x28 greyscale PNG per image, ``<out_dir>/<class>_<index within its class>.png`` (zero-padded:
    ``png_paths``).

    ``images``: uint8 ``(N, 28, 28)``; ``labels``: int64 ``(N,)``; ``<class>``: ``info.class_names``. Each file is
    written atomically.
    """
    from PIL import Image

    return [atomic_write(path, lambda tmp, image=image: Image.fromarray(image).save(tmp, format="PNG"))
            for image, path in zip(images, png_paths(out_dir, labels, info), strict=True)]
