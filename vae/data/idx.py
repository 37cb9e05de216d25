"""MNIST-style IDX files and Keras npz archives: reading, checking and writing them.

MNIST and Fashion-MNIST use the same file names, so a folder's files are identified before they are used: the
canonical files by their known MD5 (of the uncompressed IDX bytes; an npz's arrays are hashed as the same bytes),
any other files by a one-line `DATASET` file in the folder that names their data set. Files of one data set are
never used under the other's name, and files that cannot be told apart are refused.

Sizes are checked before memory is spent on them: an IDX header's promise against the file's size (compressed,
at most `MAX_COMPRESSION_RATIO` times), and an npz member's header against its compressed size. Every problem with a
file is a `DataError` that names the file.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import zipfile
import zlib
from pathlib import Path

import numpy as np

from vae.config import IDX_DATASETS, IMAGE_SIDE
from vae.errors import DataError

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


def read_idx_folder(directory: Path, name: str = "mnist", *, test_only: bool = False) -> tuple[dict, Path]:
    """The arrays (keyed as `IDX_FILES`) of the four IDX files (gzipped or plain) or the keras-layout npz in
    `directory`, checked to be `name`'s (see the module's docstring), and the path they were read from: the test
    split's alone with `test_only`."""
    if not directory.is_dir():
        raise DataError(f"data directory {directory} does not exist or is not a directory")
    keys = TEST_KEYS if test_only else tuple(IDX_FILES)
    idx_paths = {key: find_idx(directory, IDX_FILES[key]) for key in IDX_FILES}
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
    return arrays, source


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


def find_idx(directory: Path, stem: str) -> Path | None:
    """The IDX file `stem` in `directory`, gzipped or plain; None if there is neither."""
    for candidate in (directory / (stem + ".gz"), directory / stem):
        if candidate.is_file():
            return candidate
    return None


def holds_idx(directory: Path) -> bool:
    """Whether `directory` holds any IDX file or npz of a data set."""
    return any(find_idx(directory, stem) for stem in IDX_FILES.values()) or any(
        (directory / name).is_file() for name in NPZ_FILES.values()
    )


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
            check_split(
                arrays[f"{split}_images"],
                arrays[f"{split}_labels"],
                paths[f"{split}_images"],
                paths[f"{split}_labels"],
                split,
            )


def check_split(images: np.ndarray, labels: np.ndarray, images_path: Path, labels_path: Path, split: str) -> None:
    """Refuse a split whose images are not (N, 28, 28) or whose labels are not N digits 0-9."""
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
