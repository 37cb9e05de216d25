"""MNIST-style data: reading and validating IDX and npz files, and the tf.data input pipeline.

Sources, in order: a local `data_dir` (the argument or `VAE_DATA_DIR`), Debian's Fashion-MNIST package, and the
`keras.datasets` download. Every problem with a file is a `ValueError` that names the file.
"""

from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
NPZ_FILES = {"mnist": "mnist.npz", "fashion-mnist": "fashion-mnist.npz"}
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
# The seed of the one binarization of the test set, fixed so that every run is scored on the same digits.
TEST_BINARIZATION_SEED = 1234


@dataclass(frozen=True)
class Dataset:
    """Train and test digits as uint8 arrays of shape (N, 28, 28), with their labels (uint8, 0-9)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str

    def limited(self, limit: int | None) -> Dataset:
        """The first `limit` training digits; the test split stays whole."""
        if limit is None:
            return self
        return Dataset(
            self.train_images[:limit], self.train_labels[:limit], self.test_images, self.test_labels, self.source
        )


def load_dataset(name: str = "mnist", data_dir: str | os.PathLike | None = None) -> Dataset:
    """Load `mnist` or `fashion-mnist` from `data_dir`, `VAE_DATA_DIR`, Debian's package, or the Keras download."""
    if name not in NPZ_FILES:
        raise ValueError(f"unknown dataset {name!r}: choose mnist or fashion-mnist")
    if data_dir is None and os.environ.get("VAE_DATA_DIR"):
        data_dir = os.environ["VAE_DATA_DIR"]
    if data_dir is not None:
        return read_data_dir(Path(data_dir), name)
    if name == "fashion-mnist" and DEBIAN_FASHION_MNIST_DIR.is_dir():
        return read_data_dir(DEBIAN_FASHION_MNIST_DIR, name)
    return download(name)


def read_data_dir(directory: Path, name: str = "mnist") -> Dataset:
    """Read the four IDX files (gzipped or plain) or a keras-layout npz from `directory`."""
    if not directory.is_dir():
        raise ValueError(f"data directory {directory} does not exist or is not a directory")
    idx_paths = {key: _find_idx(directory, stem) for key, stem in IDX_FILES.items()}
    if all(idx_paths.values()):
        return read_idx_files(idx_paths)
    npz_path = directory / NPZ_FILES[name]
    if npz_path.is_file():
        return read_npz(npz_path)
    present = [key for key, path in idx_paths.items() if path]
    if present:
        missing = [IDX_FILES[key] + "[.gz]" for key, path in idx_paths.items() if not path]
        raise ValueError(f"data directory {directory} lacks {', '.join(missing)}")
    raise ValueError(
        f"data directory {directory} holds no {name} data: expected the four IDX files "
        f"({', '.join(stem + '[.gz]' for stem in IDX_FILES.values())}) or {NPZ_FILES[name]}"
    )


def _find_idx(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / (stem + ".gz"), directory / stem):
        if candidate.is_file():
            return candidate
    return None


def read_idx_files(paths: dict[str, Path]) -> Dataset:
    train_images = read_idx(paths["train_images"], IDX_IMAGES_MAGIC)
    train_labels = read_idx(paths["train_labels"], IDX_LABELS_MAGIC)
    test_images = read_idx(paths["test_images"], IDX_IMAGES_MAGIC)
    test_labels = read_idx(paths["test_labels"], IDX_LABELS_MAGIC)
    _check_split(train_images, train_labels, paths["train_images"], paths["train_labels"])
    _check_split(test_images, test_labels, paths["test_images"], paths["test_labels"])
    return Dataset(train_images, train_labels, test_images, test_labels, source=str(paths["train_images"].parent))


def read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """Parse one IDX file of unsigned bytes: a big-endian magic number, one uint32 per dimension, then the data."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as stream:
                raw = stream.read()
        else:
            raw = path.read_bytes()
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise ValueError(f"{path}: truncated or corrupted gzip file ({error})") from None
    except OSError as error:
        raise ValueError(f"{path}: cannot be read ({error.strerror or error})") from None
    if len(raw) < 4:
        raise ValueError(f"{path}: too short to be an IDX file ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected_magic:
        kind = "images" if expected_magic == IDX_IMAGES_MAGIC else "labels"
        raise ValueError(f"{path}: bad IDX magic number {magic}, expected {expected_magic} for {kind}")
    dimensions = raw[3]
    header_size = 4 + 4 * dimensions
    if len(raw) < header_size:
        raise ValueError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dimensions))
    expected_size = header_size + int(np.prod(shape))
    if len(raw) != expected_size:
        problem = "truncated" if len(raw) < expected_size else "has trailing bytes"
        raise ValueError(f"{path}: {problem}: header promises {shape} but the file holds {len(raw)} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def read_npz(path: Path) -> Dataset:
    """Read a keras-layout npz (x_train, y_train, x_test, y_test), refusing pickled objects."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in NPZ_KEYS if key not in archive.files]
            if missing:
                raise ValueError(f"{path}: missing key(s) {', '.join(missing)}; expected {', '.join(NPZ_KEYS)}")
            arrays = {key: archive[key] for key in NPZ_KEYS}
    except ValueError as error:
        if "pickle" in str(error).lower():
            raise ValueError(f"{path}: holds pickled objects, which are refused for safety") from None
        if str(error).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not a valid npz archive ({error})") from None
    except (OSError, EOFError) as error:
        raise ValueError(f"{path}: not a valid npz archive ({error})") from None
    for key, array in arrays.items():
        if array.dtype != np.uint8:
            raise ValueError(f"{path}: {key} has dtype {array.dtype}, expected uint8")
    _check_split(arrays["x_train"], arrays["y_train"], path, path)
    _check_split(arrays["x_test"], arrays["y_test"], path, path)
    return Dataset(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], source=str(path))


def _check_split(images: np.ndarray, labels: np.ndarray, images_path: Path, labels_path: Path) -> None:
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{images_path}: images have shape {images.shape}, expected (N, 28, 28)")
    if labels.ndim != 1:
        raise ValueError(f"{labels_path}: labels have shape {labels.shape}, expected (N,)")
    if len(labels) != len(images):
        raise ValueError(f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path}")
    if len(labels) and labels.max() > 9:
        raise ValueError(f"{labels_path}: label {int(labels.max())} is outside 0-9")


def download(name: str) -> Dataset:
    """The `keras.datasets` download, cached under ~/.keras/datasets."""
    import keras

    module = keras.datasets.mnist if name == "mnist" else keras.datasets.fashion_mnist
    try:
        (train_images, train_labels), (test_images, test_labels) = module.load_data()
    except Exception as error:  # Keras raises a bare Exception for network failures.
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(
            f"could not download {name} ({reason}); without a network, point --data-dir (or VAE_DATA_DIR) "
            f"at a folder holding the four IDX files (train-images-idx3-ubyte.gz, ...) or {NPZ_FILES[name]}"
        ) from None
    dataset = Dataset(train_images, train_labels, test_images, test_labels, source=f"keras.datasets.{name}")
    _check_split(train_images, train_labels, Path(dataset.source), Path(dataset.source))
    _check_split(test_images, test_labels, Path(dataset.source), Path(dataset.source))
    return dataset


def binarize_test_images(images: np.ndarray) -> np.ndarray:
    """One fixed Bernoulli sample of each grayscale test digit, as float32 0/1 (the binarized-MNIST protocol)."""
    generator = np.random.default_rng(TEST_BINARIZATION_SEED)
    return (generator.random(images.shape, dtype=np.float32) < images.astype(np.float32) / 255.0).astype(np.float32)


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) to float32 (N, 28, 28, 1) in [0, 1]."""
    return (images.astype(np.float32) / 255.0)[..., None]


def training_dataset(images: np.ndarray, batch_size: int, seed: int, initial_epoch: int, epochs: int):
    """Batches of float32 digits for epochs `initial_epoch` .. `epochs - 1`, each epoch in its own seeded order.

    The order of epoch e is a stateless shuffle seeded by (seed, e), so a run resumed at epoch e sees exactly the
    batches an uninterrupted run would have seen. The digits live in memory as one uint8 tensor; each step gathers
    a batch and converts it in the graph, with no per-step Python work. The last batch of an epoch may be smaller.
    """
    import tensorflow as tf

    count = len(images)
    all_images = tf.constant(images)

    def epoch_batches(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(count), seed=tf.stack([tf.constant(seed, tf.int64), epoch])
        )
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    def gather(indices):
        return tf.cast(tf.gather(all_images, indices), tf.float32)[..., None] / 255.0

    return (
        tf.data.Dataset.range(initial_epoch, epochs)
        .flat_map(epoch_batches)
        .map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
    )


def steps_per_epoch(count: int, batch_size: int) -> int:
    return -(-count // batch_size)


def evaluation_dataset(images: np.ndarray, batch_size: int):
    """The test digits (already float32, N x 28 x 28 x 1) in order, batched."""
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(images).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def test_inputs(dataset: Dataset, binarize: bool) -> np.ndarray:
    """The held-out digits as the model sees them: grayscale in [0, 1], or binarized once with a fixed seed."""
    if binarize:
        return binarize_test_images(dataset.test_images)[..., None]
    return to_float(dataset.test_images)
