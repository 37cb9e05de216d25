"""MNIST-style data: reading and validating IDX and npz files, and the tf.data input pipeline.

Sources, in order: a local `data_dir` (the argument or `VAE_DATA_DIR`), Debian's Fashion-MNIST package, and the
`keras.datasets` download. Every problem with a file is a `DataError` that names the file.

MNIST and Fashion-MNIST use the same file names, so a folder's files are identified before they are used: the
canonical files by their known MD5 (of the uncompressed IDX bytes; an npz's arrays are hashed as the same bytes),
any other files by a one-line `DATASET` file in the folder that names their data set. Files of one data set are
never used under the other's name, and files that cannot be told apart are refused.

Sizes are checked before memory is spent on them: an IDX header's promise against the file's size (compressed,
at most `MAX_COMPRESSION_RATIO` times), and an npz member's header against its compressed size.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import math
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vae.config import IDX_DATASETS, IMAGE_SIDE, VAEConfig
from vae.data import folders
from vae.errors import DataError, UsageError
from vae.run import storage

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
NPZ_KEYS = {"train_images": "x_train", "train_labels": "y_train", "test_images": "x_test", "test_labels": "y_test"}
TEST_KEYS = ("test_images", "test_labels")
DATASET_MARKER = "DATASET"
# MD5 of each canonical file, uncompressed: MNIST as LeCun distributes it, Fashion-MNIST as Zalando does (and
# Debian's dataset-fashion-mnist package ships).
CANONICAL_DIGESTS = {
    "6bbc9ace898e44ae57da46a324031adb": ("mnist", "train_images"),
    "a25bea736e30d166cdddb491f175f624": ("mnist", "train_labels"),
    "2646ac647ad5339dbf082846283269ea": ("mnist", "test_images"),
    "27ae3e4e09519cfbb04c329615203637": ("mnist", "test_labels"),
    "f4a8712d7a061bf5bd6d2ca38dc4d50a": ("fashion-mnist", "train_images"),
    "9018921c3c673c538a1fc5bad174d6f9": ("fashion-mnist", "train_labels"),
    "8181f5470baa50b63fa0f6fddb340f0a": ("fashion-mnist", "test_images"),
    "15d484375f8d13e6eb1aabb0c3f46965": ("fashion-mnist", "test_labels"),
}
# No file may hold more than this (about 1.3 million digits), and a compressed one may not expand more than this
# many times: the MNIST files expand about 5 times, a "gzip bomb" about 1,000 times.
MAX_FILE_BYTES = 2**30
MAX_COMPRESSION_RATIO = 100
# The input pipelines' fixed settings (see `fixed_pipeline_options`): batches prepared in parallel, and ready ahead.
PIPELINE_PARALLELISM = 2
PREFETCH_BATCHES = 2
# The seed of the one binarization of the test set, fixed so that every run is scored on the same digits.
TEST_BINARIZATION_SEED = 1234


@dataclass(frozen=True)
class Dataset:
    """Train and test images as uint8 arrays, (N, 28, 28) from IDX files or (N, side, side, channels) from a folder,
    with their labels (0-9, or a folder's class indices; -1 for a folder without classes). A dataset read for its
    test split alone has empty training arrays. `manifest` is what a run records of a folder (`vae.data.folders`)."""

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
    """Read the four IDX files (gzipped or plain) or a keras-layout npz from `directory`, and check that they are
    `name`'s (see the module's docstring)."""
    if not directory.is_dir():
        raise DataError(f"data directory {directory} does not exist or is not a directory")
    keys = TEST_KEYS if test_only else tuple(IDX_FILES)
    idx_paths = {key: _find_idx(directory, IDX_FILES[key]) for key in IDX_FILES}
    npz_path = directory / NPZ_FILES[name]
    source = directory
    if all(idx_paths[key] for key in keys):
        arrays, digests = read_idx_files({key: idx_paths[key] for key in keys})
    elif npz_path.is_file():
        arrays, digests = read_npz(npz_path, keys)
        source = npz_path
    else:
        present = [key for key, path in idx_paths.items() if path]
        if present:
            missing = [IDX_FILES[key] + "[.gz]" for key in keys if not idx_paths[key]]
            raise DataError(f"data directory {directory} lacks {', '.join(missing)}")
        raise DataError(
            f"data directory {directory} holds no {name} data: expected the four IDX files "
            f"({', '.join(stem + '[.gz]' for stem in IDX_FILES.values())}) or {NPZ_FILES[name]}, or a folder of images"
        )
    check_identity(directory, name, digests)
    empty = np.zeros((0, IMAGE_SIDE, IMAGE_SIDE), np.uint8), np.zeros((0,), np.uint8)
    train = (arrays["train_images"], arrays["train_labels"]) if not test_only else empty
    return Dataset(*train, arrays["test_images"], arrays["test_labels"], source=str(source))


def check_identity(directory: Path, name: str, digests: dict[str, str]) -> None:
    """Refuse files that are not `name`'s: canonical files of another data set, or files of unknown origin whose
    folder does not name their data set in a DATASET file."""
    known = {CANONICAL_DIGESTS[digest][0] for digest in digests.values() if digest in CANONICAL_DIGESTS}
    declared = read_marker(directory)
    if len(known) > 1:
        raise DataError(f"data directory {directory} mixes the canonical files of {' and '.join(sorted(known))}")
    if known and known != {name}:
        (other,) = known
        raise DataError(
            f"data directory {directory} holds {other}, not {name}: its files are the canonical {other} files; "
            f"point --data-dir at a folder of {name}, or train with --dataset {other}"
        )
    if declared is not None and declared != name:
        raise DataError(f"data directory {directory} holds {declared} (its {DATASET_MARKER} file says so), not {name}")
    unknown = [key for key, digest in digests.items() if digest not in CANONICAL_DIGESTS]
    if unknown and declared is None:
        raise DataError(
            f"data directory {directory} holds files that are not the canonical {name} files, so their data set "
            f"cannot be told: if they are {name}, say so in a one-line file {directory / DATASET_MARKER} "
            f"holding {name}"
        )


def read_marker(directory: Path) -> str | None:
    path = directory / DATASET_MARKER
    if not path.is_file():
        return None
    declared = path.read_text(errors="replace").strip()
    if declared not in IDX_DATASETS:
        raise DataError(f"{path} must hold one data set name ({' or '.join(IDX_DATASETS)}), got {declared[:40]!r}")
    return declared


def _find_idx(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / (stem + ".gz"), directory / stem):
        if candidate.is_file():
            return candidate
    return None


def read_idx_files(paths: dict[str, Path]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The arrays of the IDX files `paths` (keyed as IDX_FILES), checked, and the MD5 of each file's IDX bytes."""
    arrays, digests = {}, {}
    for key, path in paths.items():
        raw = read_idx_bytes(path, IDX_LABELS_MAGIC if key.endswith("labels") else IDX_IMAGES_MAGIC)
        arrays[key] = parse_idx(raw, path)
        digests[key] = hashlib.md5(raw).hexdigest()
    _check_splits(arrays, paths)
    return arrays, digests


def read_idx_bytes(path: Path, expected_magic: int) -> bytes:
    """The whole IDX content of `path` (gzipped or plain), read only after its header's promise has been checked
    against the file's size: a header that claims more than the file could hold is refused before decompressing."""
    compressed = path.suffix == ".gz"
    try:
        file_size = path.stat().st_size
        with gzip.open(path, "rb") if compressed else open(path, "rb") as stream:
            magic = stream.read(4)
            if len(magic) < 4:
                raise DataError(f"{path}: too short to be an IDX file ({len(magic)} bytes)")
            if int.from_bytes(magic, "big") != expected_magic:
                kind = "images" if expected_magic == IDX_IMAGES_MAGIC else "labels"
                raise DataError(
                    f"{path}: bad IDX magic number {int.from_bytes(magic, 'big')}, expected {expected_magic} for {kind}"
                )
            dimensions = stream.read(4 * magic[3])
            if len(dimensions) < 4 * magic[3]:
                raise DataError(f"{path}: truncated IDX header")
            shape = [int.from_bytes(dimensions[4 * i : 4 * i + 4], "big") for i in range(magic[3])]
            if expected_magic == IDX_IMAGES_MAGIC and shape[1:] != [IMAGE_SIDE, IMAGE_SIDE]:
                raise DataError(
                    f"{path}: images are {'x'.join(map(str, shape[1:]))} pixels, expected {IMAGE_SIDE}x{IMAGE_SIDE}"
                )
            size = math.prod(shape)
            header = magic + dimensions
            if size > MAX_FILE_BYTES:
                raise DataError(
                    f"{path}: its header claims {size:,} bytes of data, more than the {MAX_FILE_BYTES:,} allowed"
                )
            # A compressed file is decompressed no further than MAX_COMPRESSION_RATIO times its size: a truncated
            # file runs out before that, a bomb does not.
            allowed = min(size, MAX_COMPRESSION_RATIO * file_size) if compressed else size
            data = stream.read(allowed + 1)
            if len(data) > allowed and allowed < size:
                raise DataError(
                    f"{path}: refusing to decompress: its header claims {size:,} bytes from a {file_size:,}-byte "
                    f"file, more than {MAX_COMPRESSION_RATIO} times its size (a gzip bomb?)"
                )
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise DataError(f"{path}: truncated or corrupted gzip file ({error})") from None
    except OSError as error:
        raise DataError(f"{path}: cannot be read ({error.strerror or error})") from None
    if len(data) < size:
        raise DataError(f"{path}: truncated: its header promises {size:,} bytes of data, the file holds {len(data):,}")
    if len(data) > size:
        raise DataError(f"{path}: has trailing bytes after the {size:,} bytes of data its header promises")
    return header + data


def parse_idx(raw: bytes, path: Path) -> np.ndarray:
    """The array of IDX bytes already checked by `read_idx_bytes`."""
    dimensions = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dimensions))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dimensions).reshape(shape)


def read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """Parse one IDX file of unsigned bytes: a big-endian magic number, one uint32 per dimension, then the data."""
    return parse_idx(read_idx_bytes(path, expected_magic), path)


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """`array` as the bytes of an IDX file (the inverse of `parse_idx`)."""
    header = magic.to_bytes(4, "big") + b"".join(size.to_bytes(4, "big") for size in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def read_npz(path: Path, keys=tuple(NPZ_KEYS)) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The arrays `keys` of a keras-layout npz (x_train, y_train, x_test, y_test) and the MD5 of each as IDX bytes.

    Each member's header is read first: pickled objects, other dtypes and sizes beyond the limits are refused
    before any data is decompressed.
    """
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a valid npz archive (not a zip file)")
    arrays, digests = {}, {}
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            missing = [NPZ_KEYS[key] for key in keys if f"{NPZ_KEYS[key]}.npy" not in names]
            if missing:
                expected = ", ".join(NPZ_KEYS[key] for key in keys)
                raise DataError(f"{path}: missing key(s) {', '.join(missing)}; expected {expected}")
            for key in keys:
                arrays[key] = _read_npz_member(archive, NPZ_KEYS[key], path)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path}: not a valid npz archive ({error})") from None
    _check_splits(arrays, {key: path for key in keys})
    for key, array in arrays.items():
        magic = IDX_LABELS_MAGIC if key.endswith("labels") else IDX_IMAGES_MAGIC
        digests[key] = hashlib.md5(idx_bytes(array, magic)).hexdigest()
    return arrays, digests


def _read_npz_member(archive: zipfile.ZipFile, key: str, path: Path) -> np.ndarray:
    info = archive.getinfo(f"{key}.npy")
    with archive.open(info) as stream:
        try:
            version = np.lib.format.read_magic(stream)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
            if version not in read_header:
                raise ValueError(f"unsupported .npy format version {version}")
            shape, fortran_order, dtype = read_header[version](stream)
        except ValueError as error:
            raise DataError(f"{path}: {key} is not a valid .npy array ({error})") from None
        if dtype.hasobject:
            raise DataError(f"{path}: {key} holds pickled objects, which are refused for safety")
        if dtype != np.uint8:
            raise DataError(f"{path}: {key} has dtype {dtype}, expected uint8")
        size = math.prod(shape)
        if size > MAX_FILE_BYTES or size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1) + 1024:
            raise DataError(
                f"{path}: refusing to decompress {key}: its header claims {size:,} bytes from {info.compress_size:,} "
                "compressed bytes"
            )
        data = stream.read(size + 1)
    if len(data) != size:
        raise DataError(f"{path}: {key} is truncated or has trailing bytes")
    array = np.frombuffer(data, dtype=np.uint8).reshape(shape, order="F" if fortran_order else "C")
    return np.ascontiguousarray(array)


def _check_splits(arrays: dict[str, np.ndarray], paths: dict[str, Path]) -> None:
    for split in ("train", "test"):
        if f"{split}_images" in arrays:
            _check_split(
                arrays[f"{split}_images"],
                arrays[f"{split}_labels"],
                paths[f"{split}_images"],
                paths[f"{split}_labels"],
                split,
            )


def _check_split(images: np.ndarray, labels: np.ndarray, images_path: Path, labels_path: Path, split: str) -> None:
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise DataError(f"{images_path}: images have shape {images.shape}, expected (N, {IMAGE_SIDE}, {IMAGE_SIDE})")
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: labels have shape {labels.shape}, expected (N,)")
    if len(labels) != len(images):
        raise DataError(f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path}")
    if len(images) == 0:
        raise DataError(f"{images_path}: holds no {split} digits")
    if labels.max() > 9:
        raise DataError(f"{labels_path}: label {int(labels.max())} is outside 0-9")


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
    _check_split(train_images, train_labels, source, source, "train")
    _check_split(test_images, test_labels, source, source, "test")
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


def training_dataset(
    images: np.ndarray, batch_size: int, seed: int, initial_epoch: int, epochs: int, labels: np.ndarray | None = None
):
    """Batches of float32 digits for epochs `initial_epoch` .. `epochs - 1`, each epoch in its own seeded order;
    with `labels` (a conditional model's), batches of {"images": digits, "labels": int32 labels}.

    The order of epoch e is a stateless shuffle seeded by (seed, e), so a run resumed at epoch e sees exactly the
    batches an uninterrupted run would have seen. The digits live in memory as one uint8 tensor; each step gathers
    a batch and converts it in the graph, with no per-step Python work. The last batch of an epoch may be smaller.
    """
    import tensorflow as tf

    count = len(images)
    all_images = tf.constant(with_channels(images))
    all_labels = None if labels is None else tf.constant(labels.astype(np.int32))

    def epoch_batches(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(count), seed=tf.stack([tf.constant(seed, tf.int64), epoch])
        )
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    def gather(indices):
        batch = tf.cast(tf.gather(all_images, indices), tf.float32) / 255.0
        return batch if all_labels is None else {"images": batch, "labels": tf.gather(all_labels, indices)}

    return (
        tf.data.Dataset.range(initial_epoch, epochs)
        .flat_map(epoch_batches)
        .map(gather, num_parallel_calls=PIPELINE_PARALLELISM, deterministic=True)
        .prefetch(PREFETCH_BATCHES)
        .with_options(fixed_pipeline_options())
    )


def steps_per_epoch(count: int, batch_size: int) -> int:
    return -(-count // batch_size)


def evaluation_dataset(images: np.ndarray, batch_size: int, labels: np.ndarray | None = None):
    """The test digits (already float32, N x 28 x 28 x 1) in order, batched; with `labels`, as {"images", "labels"}."""
    import tensorflow as tf

    elements = images if labels is None else {"images": images, "labels": labels.astype(np.int32)}
    return (
        tf.data.Dataset.from_tensor_slices(elements)
        .batch(batch_size)
        .prefetch(PREFETCH_BATCHES)
        .with_options(fixed_pipeline_options())
    )


def fixed_pipeline_options():
    """tf.data options with autotuning off.

    Autotuning runs an optimization thread per iterator that sleeps in periods doubling up to a minute, and an
    iterator's destructor waits for that thread to wake up: `vae-train` sat 30-39 s between its last epoch and its
    final save in 4 of 10 profiled runs, in `RootDataset::Iterator::~Iterator`, when Keras dropped the training
    iterator at the end of fit. These pipelines are a gather and a cast; fixed settings serve them as well.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def test_inputs(dataset: Dataset, binarize: bool) -> np.ndarray:
    """The held-out digits as the model sees them: grayscale in [0, 1], or binarized once with a fixed seed."""
    if binarize:
        return with_channels(binarize_test_images(dataset.test_images))
    return to_float(dataset.test_images)


def folder_dataset(folder) -> Dataset:
    """The `Dataset` of a folder read for training (`vae.data.folders.read_folder`), with its manifest."""
    splits = np.array([file.split for file in folder.read.files])
    labels = np.array([file.label for file in folder.read.files], np.int32)
    return shuffled_splits(folder.read.pixels, splits, labels, str(folder.scan.root), folder.manifest)


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


def run_dataset(
    run_dir, config, data_dir=None, *, test_only: bool = False, manifest: dict | None = None, progress=None
) -> Dataset:
    """The data the run in `run_dir` was trained on: its IDX data set (`load_dataset`), or the images of its folder
    that its manifest (`manifest`, else the run's data.json) lists, read from `data_dir` or else from where the run
    found them (never from `VAE_DATA_DIR`, which names IDX data), and checked against it: a file added, removed or
    changed since is refused, naming it. With `test_only`, the test split alone."""
    if config.dataset != "folder":
        return load_dataset(config.dataset, data_dir, test_only=test_only)
    record = manifest if manifest is not None else storage.read_manifest(run_dir)
    root = Path(data_dir).resolve() if data_dir else Path(record["root"])
    if not root.is_dir():
        raise DataError(
            f"{root} does not exist or is not a folder: the run was trained on {record['root']}; point --data-dir at "
            "the folder"
        )
    # The message names the folder compared, and whether it is the run's own or the one --data-dir gave.
    if root == Path(record["root"]):
        differs = f"{root} has changed since the run was trained on it"
    else:
        differs = f"--data-dir {root} differs from the folder the run was trained on, {record['root']}"
    listed = folders.manifest_files(record, "test" if test_only else None)
    # Training goes on only on the very same files; the test split alone needs only its own files unchanged.
    differences = folders.changes(record, folders.scan_folder(root)) if not test_only else folders.missing(root, listed)
    if differences:
        raise DataError(f"{differs}: {'; '.join(differences)}")
    side, _, channels = record["image_shape"]
    read = folders.read_images(root, [file for file, _ in listed], side, channels, progress=progress)
    changed = folders.changed_contents(listed, read.digests)
    if changed:
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        raise DataError(
            f"{differs}: {len(changed)} file{'s' * (len(changed) != 1)} changed ({', '.join(changed[:3])}{more})"
        )
    splits = np.array([file.split for file, _ in listed])
    labels = np.array([file.label for file, _ in listed], np.int32)
    return shuffled_splits(read.pixels, splits, labels, str(root), record)


@dataclass(frozen=True)
class TrainingData:
    """A new run's config and data, and a line that says what a folder of images became ("" for an IDX data set)."""

    config: object
    dataset: Dataset
    description: str


def new_run_data(
    options: dict,
    data_dir,
    *,
    dataset_given: bool = False,
    image_size: int | None = None,
    channels: int | None = None,
    skip_damaged: bool = False,
    progress=None,
) -> TrainingData:
    """The config and data of a new run from the options of `vae-train` (`VAEConfig` fields).

    A `data_dir` that holds images (and no IDX files) is a folder of your own images (`vae.data.folders`): its layout,
    classes and test split make the run's, and its images are read at `image_size` and `channels`, by default the
    images' own. Otherwise `options["dataset"]` is read as an IDX data set (`load_dataset`). `dataset_given` says
    that the user chose the data set, which a folder of images then contradicts.
    """
    folder = data_dir is not None and folders.is_image_folder(Path(data_dir)) and not _holds_idx(Path(data_dir))
    if not folder:
        if options.get("dataset") == "folder":
            raise UsageError("--dataset folder needs --data-dir pointing at a folder of images")
        if image_size is not None or channels is not None:
            raise UsageError(
                f"{options['dataset']} is 28x28 gray: --image-size and --channels are for a folder of images"
            )
        config = VAEConfig(**options)
        return TrainingData(config, load_dataset(config.dataset, data_dir), "")
    if dataset_given and options.get("dataset") in IDX_DATASETS:
        raise UsageError(
            f"--dataset {options['dataset']} contradicts --data-dir {data_dir}, which holds a folder of images: "
            "drop --dataset"
        )
    scan = folders.hold_out_test(folders.scan_folder(data_dir), options["test_fraction"], options["seed"])
    side, depth, _ = folders.shape_for(scan, image_size, channels, skip_damaged)  # the options checked before reading
    config = VAEConfig(
        **{**options, "dataset": "folder", "image_size": side, "channels": depth, "class_names": scan.class_names}
    )
    read = folders.read_folder(scan, image_size, channels, skip_damaged=skip_damaged, progress=progress)
    dataset = folder_dataset(read)
    return TrainingData(config, dataset, describe_folder(read, image_size, channels))


def describe_folder(folder, image_size, channels) -> str:
    """One line on the folder a run trains on: its shape (and whether it is the images' own), classes and splits;
    after a line on how the folder was read, where its layout could be taken for another (`Scan.note`)."""
    colour = "gray" if folder.channels == 1 else "RGB"
    own = "the images' own" if image_size is None and channels is None else "fitted by cropping"
    classes = len(folder.scan.class_names)
    counted = f"{classes} classes" if classes else "no classes"
    train = sum(file.split == "train" for file in folder.read.files)
    test = len(folder.read.files) - train
    split = "its train/ and test/" if folder.scan.layout == "split" else f"a held-out test split of {test:,}"
    damaged = len(folder.read.damaged)
    skipped = f"; {damaged} damaged image{'s' * (damaged != 1)} skipped" if damaged else ""
    return (
        (f"{folder.scan.note}\n" if folder.scan.note else "")
        + f"images of {folder.side}x{folder.side} {colour} ({own}), {counted}, {train:,} training and {test:,} test "
        f"images ({split}) from {folder.scan.root}{skipped}"
    )


def _holds_idx(directory: Path) -> bool:
    return any(_find_idx(directory, stem) for stem in IDX_FILES.values()) or any(
        (directory / name).is_file() for name in NPZ_FILES.values()
    )
