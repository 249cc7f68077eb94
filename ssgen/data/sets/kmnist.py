"""Kuzushiji-MNIST (Clanuwat et al. 2018): 70k 28x28 greyscale cursive hiragana, 10 classes, MNIST's format.

    ssgen-train data=kmnist data.root=<dir with the four IDX files>    # or online: torchvision downloads them

Unverified as MNIST is (ssgen/data/sets/mnist.py): digests recorded, not checked.
"""

from __future__ import annotations

from ssgen.data.sets import DatasetInfo

INFO = DatasetInfo(
    name="kmnist",
    title="Kuzushiji-MNIST",
    # romanised as torchvision.datasets.KMNIST.classes spells them
    class_names=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
    torchvision_class="KMNIST",
    raw_dir="KMNIST",
)
