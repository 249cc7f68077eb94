"""The data sets ssgen knows: ``DatasetInfo`` (classes, image shape, names, where the files come from),
``dataset_info(name)`` that finds one by name, and one module per data set, each defining ``INFO = DatasetInfo(...)``
(``data.dataset=<module name>``):

    fashion_mnist.py  Fashion-MNIST (Xiao et al. 2017): the default, identified by its files' digests
    mnist.py          MNIST (LeCun et al. 1998): Kingma et al. 2014's data set
    kmnist.py         Kuzushiji-MNIST (Clanuwat et al. 2018)

    from ssgen.data import dataset_info
    info = dataset_info("mnist")           # ssgen/data/sets/mnist.py's INFO
    info.n_classes, info.image_shape       # 10, (1, 28, 28)

Networks, losses, metrics, the evaluator and the image reader take their class count, image shape and class names
from a ``DatasetInfo`` instead of module constants. A data set is one module ``ssgen/data/sets/<name>.py`` that
defines ``INFO = DatasetInfo(name="<name>", ...)`` and one YAML ``conf/data/<name>.yaml`` that sets
``dataset: <name>`` (docs/extending.md, "Adding a data set"); its files are IDX files under the usual four names.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path

from ssgen.errors import ConfigError

SETS_PACKAGE = "ssgen.data.sets"
SETS_DIR = Path(__file__).resolve().parent


@dataclass(eq=False)
class DatasetInfo:
    """A data set of ``n_classes`` classes of greyscale images stored as the four IDX files of MNIST's format.

    Fields:
        name: the key everywhere (``data.dataset``, ``conf/data/<name>.yaml``, ``ssgen/data/sets/<name>.py``, the
            evaluator's cache name).
        title: how messages spell it (``Fashion-MNIST``).
        class_names: ssgen's name of each class, index order: file names, results.json keys, ``label=`` values.
        image_shape: ``(C, H, W)`` of one image as the networks see it (the IDX files hold ``(N, H, W)`` uint8).
        n_train, n_test: images in the full training and test files (``data.n_labels=all`` is ``n_train``).
        display_names: the data set's own spelling of each class (figure titles; also accepted by ``label=``);
            None = ``class_names``.
        torchvision_class: the ``torchvision.datasets`` class that downloads it into ``<root>/<raw_dir>/raw``;
            None = no download.
        system_dir: where a system package installs the four files (searched after ``data.root``); None = none.
        system_package: the (Debian) package that puts them there.
        md5: md5 of each *decoded* file of the real set (keys ``train_images`` ...): what lets ``identify`` call
            files the real set's. None = ssgen knows no digests for it: its files are recorded, never verified.
        pixel_mean, pixel_std: training-set pixel statistics in [0, 1] the evaluator standardises with;
            None = (0, 1) (its first convolution is followed by batch norm, which absorbs the shift).
        aliases: further names ``label=`` accepts (``{"tshirt": 0}``).
    """

    name: str
    title: str
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int] = (1, 28, 28)
    n_train: int = 60_000
    n_test: int = 10_000
    display_names: tuple[str, ...] | None = None
    torchvision_class: str | None = None
    raw_dir: str | None = None
    system_dir: Path | None = None
    system_package: str | None = None
    md5: dict[str, str] | None = None
    pixel_mean: float | None = None
    pixel_std: float | None = None
    aliases: dict[str, int] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def n_pixels(self) -> int:
        """Values per image: C * H * W (784 for a 28x28 greyscale set)."""
        return math.prod(self.image_shape)

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)``: the shape of one image in the IDX files."""
        return self.image_shape[1], self.image_shape[2]

    def names(self) -> tuple[str, ...]:
        """The data set's own spelling of each class (``display_names``, else ``class_names``)."""
        return self.display_names or self.class_names

    def fix_hint(self) -> str:
        """How to get the four files: what a not-found or corrupt-file message ends with."""
        fixes = ["set data.root=<dir with the four IDX files>"]
        if self.system_package:
            fixes.append(f"`apt-get update && apt-get install -y {self.system_package}` (files in {self.system_dir})")
        if self.torchvision_class:
            fixes.append("go online so torchvision can download them")
        return "fix one of: " + "; or ".join(fixes)


def dataset_names() -> list[str]:
    """The data sets this install has: one per module of ``ssgen/data/sets``."""
    return sorted(m.name for m in pkgutil.iter_modules([str(SETS_DIR)]) if not m.name.startswith("_"))


def dataset_info(name: str | DatasetInfo) -> DatasetInfo:
    """The ``DatasetInfo`` of ``name`` (``INFO`` of ``ssgen/data/sets/<name>.py``); an info is returned as it is.

    Raises ConfigError (one line, naming the data sets there are) for a name no module defines.
    """
    if isinstance(name, DatasetInfo):
        return name
    key = str(name).strip().lower()
    if not key.isidentifier() or key not in dataset_names():
        raise ConfigError(f"data.dataset={name!r} is unknown; use one of {', '.join(dataset_names())} "
                          f"(a new one is a module in {SETS_DIR} and a YAML in conf/data: docs/extending.md)")
    info = getattr(importlib.import_module(f"{SETS_PACKAGE}.{key}"), "INFO", None)
    if not isinstance(info, DatasetInfo) or info.name != key:
        raise ConfigError(f"{SETS_DIR / (key + '.py')} must define INFO = DatasetInfo(name={key!r}, ...)")
    return info
