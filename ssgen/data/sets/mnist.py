"""MNIST (LeCun et al. 1998): 70k 28x28 greyscale handwritten digits, the data set of Kingma et al. 2014.

    ssgen-train data=mnist data.root=<dir with the four IDX files>     # or online: torchvision downloads them

Unverified: ssgen knows no digests of MNIST's decoded files, so it records the digests of what it read
(results.json ``data``) and never calls them MNIST's own; torchvision checks the .gz files it downloads.
"""

from __future__ import annotations

from ssgen.data.sets import DatasetInfo

INFO = DatasetInfo(
    name="mnist",
    title="MNIST",
    class_names=("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"),
    aliases={"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
             "nine": 9},
    torchvision_class="MNIST",
    raw_dir="MNIST",
    pixel_mean=0.1307, pixel_std=0.3081,  # the training-set statistics of PyTorch's own MNIST example
)
