"""The data: a data set of MNIST's format (Fashion-MNIST by default) read once into memory, served as batches
indexed out of one tensor.

    from ssgen.data import FashionMNISTDataModule, dataset_info
    dm = FashionMNISTDataModule(n_labels=100, seed=0); dm.setup()
    images, labels = next(iter(dm.labelled_dataloader()))   # (100, 1, 28, 28) float, (100,) int64
    dataset_info("mnist").class_names                       # ('0', '1', ..., '9')

One concern a module:
    sets/       DatasetInfo (classes, image shape, names, where the files come from), dataset_info(name), and one
                module per data set: fashion_mnist.py, mnist.py, kmnist.py (each defines INFO)
    files.py    finding a set's four IDX files (data.root, $SSGEN_DATA, a system package, a torchvision download),
                identifying them (results.json ``data``), reading, writing and digesting IDX files
    labels.py   class names, data.n_labels, the class-balanced label draw and the holdouts
    module.py   FashionMNISTDataModule, the LightningDataModule (``dataset`` picks the set); the batches cut out of
                in-memory tensors (TensorBatches, to_pixels) and where they live (data.device_resident)
    images.py   image files, folders and globs made Fashion-MNIST-like (imported on its own: ssgen.data.images)

``SSGEN_DATA`` is the default data dir of every command (ssgen-evaluate, figures, evaluator training);
``ssgen-train`` sets it from ``data.root``, so loads that never see the config find the same files.
The names below are what ``ssgen.data`` exported as one module; the Fashion-MNIST constants (``CLASS_NAMES``,
``N_CLASSES``, ...) stay for callers outside the package, which itself takes them from a ``DatasetInfo``.
"""

from __future__ import annotations

from ssgen.data.files import (
    ALLOW_UNKNOWN_HINT,
    DATA_ENV,
    IDX_FILES,
    data_record,
    decoded_md5,
    find_files,
    identify,
    load_dataset,
    load_fashion_mnist,
    load_files,
    locate_files,
    read_idx,
    write_idx,
)
from ssgen.data.labels import (
    class_index,
    holdout_split,
    parse_labels,
    parse_n_labels,
    sample_label_subset,
    split_labelled,
    stratified_holdout,
)
from ssgen.data.module import (
    DEVICE_RESIDENT_CHOICES,
    FashionMNISTDataModule,
    TensorBatches,
    parse_device_resident,
    resident_device,
    to_pixels,
)
from ssgen.data.sets import DatasetInfo, dataset_info, dataset_names
from ssgen.data.sets.fashion_mnist import DEBIAN_DIR
from ssgen.data.sets.fashion_mnist import INFO as FASHION_MNIST

CLASS_NAMES = FASHION_MNIST.class_names
TORCHVISION_CLASS_NAMES = FASHION_MNIST.names()
N_CLASSES = FASHION_MNIST.n_classes
N_TRAIN, N_TEST = FASHION_MNIST.n_train, FASHION_MNIST.n_test
TRAIN_PER_CLASS = 6_000  # Fashion-MNIST's training set is exactly balanced
IMAGE_SHAPE = FASHION_MNIST.size  # (28, 28): one image as the IDX files hold it
FASHION_MNIST_MD5 = FASHION_MNIST.md5
FIX_HINT = FASHION_MNIST.fix_hint()

__all__ = [
    "ALLOW_UNKNOWN_HINT", "CLASS_NAMES", "DATA_ENV", "DEBIAN_DIR", "DEVICE_RESIDENT_CHOICES", "FASHION_MNIST",
    "FASHION_MNIST_MD5", "FIX_HINT", "IDX_FILES", "IMAGE_SHAPE", "N_CLASSES", "N_TEST", "N_TRAIN", "TORCHVISION_CLASS_NAMES",
    "TRAIN_PER_CLASS", "DatasetInfo", "FashionMNISTDataModule", "TensorBatches", "class_index", "data_record",
    "dataset_info", "dataset_names", "decoded_md5", "find_files", "holdout_split", "identify", "load_dataset",
    "load_fashion_mnist", "load_files", "locate_files", "parse_device_resident", "parse_labels", "parse_n_labels",
    "read_idx", "resident_device", "sample_label_subset", "split_labelled", "stratified_holdout", "to_pixels",
    "write_idx",
]
