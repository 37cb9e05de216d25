"""A run's data as one record, the `Dataset`, and the IDX data sets MNIST and Fashion-MNIST.

Sources of an IDX data set, in order: a local `data_dir` (the argument or `VAE_DATA_DIR`), Debian's Fashion-MNIST
package, and the `keras.datasets` download. Its files are read and identified by `vae.data.idx`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vae.config import IDX_DATASETS, IMAGE_SIDE
from vae.data.idx import NPZ_FILES, check_split, read_idx_folder
from vae.errors import DataError, UsageError

DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
# The seed of the one binarization of the test set, fixed so that every run is scored on the same digits.
TEST_BINARIZATION_SEED = 1234


@dataclass(frozen=True)
class Dataset:
    """Train and test images as uint8 arrays, (N, 28, 28) from IDX files or (N, side, side, channels) from a folder,
    with their labels (0-9, or a folder's class indices; -1 for a folder without classes). A dataset read for its
    test split alone has empty training arrays. `manifest` is what a run records of a folder (`vae.data.manifests`)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str
    manifest: dict | None = None

    def limited(self, limit: int | None) -> Dataset:
        """The first `limit` training images; the test split stays whole."""
        if limit is None:
            return self
        return dataclasses.replace(self, train_images=self.train_images[:limit], train_labels=self.train_labels[:limit])


def load_dataset(name: str = "mnist", data_dir: str | os.PathLike | None = None, *, test_only: bool = False) -> Dataset:
    """Load `mnist` or `fashion-mnist` from `data_dir`, `VAE_DATA_DIR`, Debian's package, or the Keras download.

    Args:
        name: the data set, one of `vae.config.IDX_DATASETS`.
        data_dir: a folder with the four IDX files (gzipped or not) or the Keras npz; None: `VAE_DATA_DIR`, then
            Debian's Fashion-MNIST package, then `keras.datasets`' download.
        test_only: read the test split alone; a local folder's training files are then not read at all (the
            download always has both).

    Returns:
        The `Dataset`: uint8 images (N, 28, 28) and labels of both splits, checked to be `name`'s.

    Raises:
        DataError: a file is missing, damaged, of another data set, or cannot be downloaded; the message names it.
    """
    if name not in IDX_DATASETS:
        raise UsageError(f"unknown dataset {name!r}: choose {' or '.join(IDX_DATASETS)}")
    if data_dir is None and os.environ.get("VAE_DATA_DIR"):
        data_dir = os.environ["VAE_DATA_DIR"]
    if data_dir is not None:
        return read_data_dir(Path(data_dir), name, test_only=test_only)
    if name == "fashion-mnist" and DEBIAN_FASHION_MNIST_DIR.is_dir():
        return read_data_dir(DEBIAN_FASHION_MNIST_DIR, name, test_only=test_only)
    return download(name)


def read_data_dir(directory: Path, name: str = "mnist", *, test_only: bool = False) -> Dataset:
    """The `Dataset` of the four IDX files (gzipped or plain) or the keras-layout npz in `directory`, checked to be
    `name`'s (`vae.data.idx`)."""
    arrays, source = read_idx_folder(directory, name, test_only=test_only)
    empty = np.zeros((0, IMAGE_SIDE, IMAGE_SIDE), np.uint8), np.zeros((0,), np.uint8)
    train = (arrays["train_images"], arrays["train_labels"]) if not test_only else empty
    return Dataset(*train, arrays["test_images"], arrays["test_labels"], source=str(source))


def download(name: str) -> Dataset:
    """The `keras.datasets` download, cached under ~/.keras/datasets."""
    import keras

    module = keras.datasets.mnist if name == "mnist" else keras.datasets.fashion_mnist
    try:
        (train_images, train_labels), (test_images, test_labels) = module.load_data()
    except Exception as error:  # Keras raises a bare Exception for network failures.
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(
            f"could not download {name} ({reason}); without a network, point --data-dir (or VAE_DATA_DIR) "
            f"at a folder holding the four IDX files (train-images-idx3-ubyte.gz, ...) or {NPZ_FILES[name]}"
        ) from None
    dataset = Dataset(train_images, train_labels, test_images, test_labels, source=f"keras.datasets.{name}")
    source = Path(dataset.source)
    check_split(train_images, train_labels, source, source, "train")
    check_split(test_images, test_labels, source, source, "test")
    return dataset


def binarize_test_images(images: np.ndarray) -> np.ndarray:
    """One fixed Bernoulli sample of each grayscale test digit (uint8), as float32 0/1 (the binarized-MNIST
    protocol), from the fixed seed `TEST_BINARIZATION_SEED`, so that every run is scored on the same digits."""
    generator = np.random.default_rng(TEST_BINARIZATION_SEED)
    gray = images.astype(np.float32) / 255.0
    return (generator.random(gray.shape, dtype=np.float32) < gray).astype(np.float32)


def with_channels(images: np.ndarray) -> np.ndarray:
    """Images with a channel axis: the IDX files' (N, 28, 28) as (N, 28, 28, 1); (N, side, side, channels) as is."""
    return images[..., None] if images.ndim == 3 else images


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 images, (N, 28, 28) or (N, side, side, channels), to float32 (N, side, side, channels) in [0, 1]."""
    return with_channels(images.astype(np.float32) / 255.0)


def test_inputs(dataset: Dataset, binarize: bool) -> np.ndarray:
    """The held-out digits as the model sees them: grayscale in [0, 1], or binarized once with a fixed seed."""
    if binarize:
        return with_channels(binarize_test_images(dataset.test_images))
    return to_float(dataset.test_images)


def shuffled_splits(pixels: np.ndarray, splits: np.ndarray, labels: np.ndarray, source: str, manifest) -> Dataset:
    """A folder's images as a `Dataset`, each split in a fixed shuffled order. A folder is listed class by class, so
    the first N images of a split, which `--limit` and a limited evaluation take, would be the first class alone; the
    shuffle, the same at every read of the folder, makes them a sample of every class."""
    parts = []
    for split in ("train", "test"):
        index = np.flatnonzero(splits == split)
        index = index[np.random.default_rng(0).permutation(len(index))]
        parts += [pixels[index], labels[index]]
    return Dataset(*parts, source, manifest)
