"""Fashion-MNIST (Xiao et al. 2017): 70k 28x28 greyscale images of 10 clothing classes; ssgen's default data set.

    ssgen-train data=fashion_mnist      # the default
"""

from __future__ import annotations

from pathlib import Path

from ssgen.data.sets import DatasetInfo

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")  # the Debian package dataset-fashion-mnist

INFO = DatasetInfo(
    name="fashion_mnist",
    title="Fashion-MNIST",
    class_names=("t_shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot"),
    # as torchvision.datasets.FashionMNIST.classes spells them (and the data set's README)
    display_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"),
    aliases={"tshirt": 0, "top": 0},
    torchvision_class="FashionMNIST",
    raw_dir="FashionMNIST",
    system_dir=DEBIAN_DIR,
    system_package="dataset-fashion-mnist",
    # md5 of each *decompressed* file of the real set: what identifies it whatever the compression (the Debian
    # package's .gz files were recompressed, so torchvision's digests of the .gz files do not match them)
    md5={
        "train_images": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train_labels": "9018921c3c673c538a1fc5bad174d6f9",
        "test_images": "8181f5470baa50b63fa0f6fddb340f0a",
        "test_labels": "15d484375f8d13e6eb1aabb0c3f46965",
    },
    pixel_mean=0.2860, pixel_std=0.3530,  # training-set statistics in [0, 1]
)
