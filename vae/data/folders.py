"""Reading a folder of your own images at a run's shape: the shape, the decoders, the cache, the damaged files.

Every image becomes the run's shape, side x side x channels (`vae.data.decode.fit_image`): a JPEG's EXIF
orientation applied, transparency (an alpha channel or a tRNS colour key) composited onto white, a 16-bit image
scaled by its range, gray or RGB as the run asks (RGB to gray by ITU-R 601-2 luma), and, when its size differs,
scaled so that its shorter side is the run's side, keeping its aspect ratio, and cut to the middle square ("crop").
An image already of the run's size and mode is taken pixel for pixel.

Everything is read once into memory as uint8 and fed to training by the same pipeline as MNIST: from the decode
cache (`vae.data.cache`) when it holds the same files at the same shape, else decoded, the plain PNGs
(`vae.data.decode.plain_png`) by TensorFlow where it is loaded, in threads, every other file by Pillow in a pool of
processes. Before any pixel is decoded, each header is read: an image of more than `MAX_IMAGE_PIXELS` or with a side
under `MIN_IMAGE_SIDE` is refused, and so is a folder whose images would take more than `MAX_DATA_BYTES` in memory
(count x side^2 x channels bytes). The folder's layout and classes are `vae.data.layouts`'; what a run records of it,
its manifest, is `vae.data.manifests`'.
"""

from __future__ import annotations

import hashlib
import os
import sys
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from vae.config import MAX_IMAGE_SIZE, MIN_IMAGE_SIZE
from vae.data import cache
from vae.data.decode import PNG_SIGNATURE, Header, decode, plain_png, read_header
from vae.data.layouts import NAMED, SPLIT_FOLDERS, ImageFile, Scan, classes_named
from vae.data.manifests import manifest
from vae.data.pipeline import fixed_pipeline_options
from vae.errors import DataError, ImageWarning, UsageError

# At most this many bytes of uint8 pixels in memory: 8 GiB, a third of this machine's memory.
MAX_DATA_BYTES = 8 * 2**30
# Files per task of the reading pool: enough to make the pool's overhead small.
CHUNK_FILES = 500
# Files per batch of TensorFlow's decoding, and per progress report of a pass that reads and hashes every file.
TENSORFLOW_BATCH = 1024
SURVEY_FILES = 4096
# The fitting rule of an image of another size (the only one): scaled and cut to the middle square.
FIT = "crop"


def check_memory(count: int, side: int, channels: int) -> None:
    """Refuse a data set that would take more than `MAX_DATA_BYTES` of memory as uint8."""
    size = count * side * side * channels
    if size > MAX_DATA_BYTES:
        raise DataError(
            f"{count:,} images of {side}x{side}x{channels} take {size / 2**30:.1f} GiB, more than the "
            f"{MAX_DATA_BYTES / 2**30:.0f} GiB held in memory at most: use a smaller --image-size or fewer images"
        )


def _read_chunk(task) -> tuple:
    """Read and fit the files of one task: their pixels, headers and digests, the damaged ones (index, reason), and
    the warnings Pillow gave. Runs in a process of the pool."""
    root, paths, side, channels = task
    pixels = np.zeros((len(paths), side, side, channels), np.uint8)
    headers, digests, damaged, warned = [], [], [], []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for index, path in enumerate(paths):
            digest, header, full = "", None, os.path.join(root, path)
            seen = len(caught)
            try:
                content = read_bytes(full)
                digest = hashlib.sha256(content).hexdigest()[:16]
                header, pixels[index] = decode(content, full, side, channels)
            except DataError as error:
                damaged.append((index, str(error)))
            except OSError as error:
                damaged.append((index, f"{full} cannot be read ({error.strerror or error})"))
            warned += [f"{full}: {str(warning.message).strip().splitlines()[0]}" for warning in caught[seen:]]
            digests.append(digest)
            headers.append(header)
    return pixels, headers, digests, damaged, warned


@dataclass(frozen=True)
class ReadImages:
    """The pixels of the files read, in their order, with each file's digest; the damaged files left out. `from_cache`
    says that the pixels came from the decode cache (`vae.data.cache`) rather than from decoding."""

    pixels: np.ndarray
    files: tuple[ImageFile, ...]
    headers: tuple[Header, ...]
    digests: tuple[str, ...]
    damaged: tuple[tuple[str, str], ...]  # (path, reason) of each file left out
    warnings: tuple[str, ...]
    from_cache: bool = False


def tensorflow_decodes() -> bool:
    """Whether plain PNGs are read and decoded by TensorFlow (`read_file`, `decode_png`) in a `tf.data` pipeline, on
    every core in threads of this process: when TensorFlow is loaded already (`vae-train` and `vae.train` load it
    before they read), and no multi-worker cluster is described (TF_CONFIG), whose strategy must be made before
    TensorFlow runs any operation. The pixels are the same either way (`vae.data.decode.plain_png`)."""
    return "tensorflow" in sys.modules and not os.environ.get("TF_CONFIG")


def read_bytes(path: str, largest: int | None = None) -> bytes | None:
    """A file's bytes, with as few system calls and as little Python as a file allows (`open().read()` costs half as
    much again on a small file); None, unread, for a file of more than `largest` bytes."""
    descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(descriptor).st_size
        if largest is not None and size > largest:
            return None
        parts = [os.read(descriptor, size + 1)]
        while parts[-1]:  # until the end of the file, which a file growing meanwhile moves
            parts.append(os.read(descriptor, 2**20))
    finally:
        os.close(descriptor)
    return b"".join(parts)


def _largest_plain(side: int, channels: int) -> int:
    """The most bytes a plain PNG of the run's shape takes: its rows (a filter byte each), deflated at worst a little
    larger, and its few chunks (an ICC profile among them)."""
    return 2 * side * (side * channels + 1) + 16384


def _survey(root: Path, paths: list[str], side: int, channels: int) -> tuple[list[str], dict[int, bytes]]:
    """Every file's content digest ("" where it cannot be read), and the bytes of each file small enough to be a
    plain PNG of the run's shape (`vae.data.decode.plain_png`), by index."""
    digests, small, root = [], {}, str(root)
    largest = _largest_plain(side, channels)
    for index, path in enumerate(paths):
        try:
            content = read_bytes(os.path.join(root, path))
        except OSError:
            digests.append("")
            continue
        digests.append(hashlib.sha256(content).hexdigest()[:16])
        if len(content) <= largest:
            small[index] = content
    return digests, small


def _decode_plain(plain: dict[int, bytes], side: int, channels: int):
    """Decode plain PNGs, given as bytes, with `tf.io.decode_png` in a parallel `tf.data` pipeline: batches of
    (indices, pixels) of those decoded. A file TensorFlow cannot decode is left out, for Pillow to read or to name as
    damaged."""
    import tensorflow as tf

    indices = np.array(list(plain), np.int64)
    shape = (side, side, channels)

    def decoded(index, content):
        return index, tf.ensure_shape(tf.io.decode_png(content, channels=channels), shape)

    contents = np.array(list(plain.values()), dtype=object)  # a list of bytes is converted one by one, slowly
    dataset = tf.data.Dataset.from_tensor_slices((indices, contents)).map(decoded, num_parallel_calls=_threads())
    dataset = dataset.ignore_errors().batch(TENSORFLOW_BATCH).with_options(fixed_pipeline_options())
    for index_batch, pixel_batch in dataset:
        yield index_batch.numpy(), pixel_batch.numpy()


def _read_and_decode(root: Path, paths: list[str], side: int, channels: int, digests: list[str]):
    """Read every file and decode it as a PNG of the run's shape in a parallel `tf.data` pipeline, on every core, and
    keep the plain PNGs among them (`vae.data.decode.plain_png`, checked here on the bytes TensorFlow read and
    decoded): batches of (indices, pixels) of those kept, whose digests are written into `digests`. A file that is
    larger than a plain PNG can be, is no PNG or not of the run's size is left out, for Pillow; so is one that
    decoded but is not plain, whose pixels Pillow might make otherwise, and one that cannot be read or decoded."""
    import tensorflow as tf

    largest = _largest_plain(side, channels)
    shape = (side, side, channels)

    def decoded(path):
        content = tf.io.read_file(path)
        candidate = (tf.strings.length(content) <= largest) & (tf.strings.substr(content, 0, 8) == PNG_SIGNATURE)

        def decode():
            pixels = tf.io.decode_png(content, channels=channels)
            fits = tf.reduce_all(tf.equal(tf.shape(pixels), shape))
            return tf.cond(fits, lambda: tf.ensure_shape(pixels, shape), lambda: tf.zeros(shape, tf.uint8))

        pixels = tf.cond(candidate, decode, lambda: tf.zeros(shape, tf.uint8))
        return tf.cond(candidate, lambda: content, lambda: tf.constant(b"")), pixels  # a large file's left out

    def indexed(index, path):
        return index, *decoded(path)

    folder = os.fsencode(os.path.join(root, ""))
    files = np.array([folder + os.fsencode(path) for path in paths], dtype=object)  # bytes: any name the system takes
    # One stage, and no `ignore_errors` while no file fails: each costs the pipeline a fifth more CPU time on small
    # files. A file that cannot be read or decoded stops it; the rest then go through again with such files left out.
    done = 0
    try:
        dataset = tf.data.Dataset.from_tensor_slices(files).map(decoded, num_parallel_calls=_threads())
        for content_batch, pixel_batch in dataset.batch(TENSORFLOW_BATCH).with_options(fixed_pipeline_options()):
            indices = np.arange(done, done + len(pixel_batch))
            done += len(pixel_batch)
            yield _plain_ones(indices, content_batch.numpy(), pixel_batch.numpy(), side, channels, digests)
    except tf.errors.OpError:
        rest = tf.data.Dataset.from_tensor_slices((np.arange(done, len(paths), dtype=np.int64), files[done:]))
        rest = rest.map(indexed, num_parallel_calls=_threads()).ignore_errors().batch(TENSORFLOW_BATCH)
        for index_batch, content_batch, pixel_batch in rest.with_options(fixed_pipeline_options()):
            yield _plain_ones(index_batch.numpy(), content_batch.numpy(), pixel_batch.numpy(), side, channels, digests)


def _plain_ones(indices, contents, pixels, side: int, channels: int, digests: list[str]):
    """(indices, pixels) of the plain PNGs among files read and decoded, their digests written into `digests`."""
    kept = []
    for position, (index, content) in enumerate(zip(indices.tolist(), contents, strict=True)):
        if content and plain_png(content, side, channels):
            digests[index] = hashlib.sha256(content).hexdigest()[:16]
            kept.append(position)
    return indices[kept], pixels[kept]


def _threads() -> int:
    """The files TensorFlow reads and decodes at once: one per core. Fixed, with tf.data's autotuning off
    (`vae.data.pipeline.fixed_pipeline_options`), whose thread made a read wait seconds for it at its end."""
    return os.cpu_count() or 1


def _first_is_plain(root: Path, paths: list[str], side: int, channels: int) -> bool:
    """Whether the folder's first file is a plain PNG, which makes the others likely to be."""
    try:
        content = read_bytes(os.path.join(str(root), paths[0]), _largest_plain(side, channels))
    except (OSError, IndexError):
        return False
    return content is not None and plain_png(content, side, channels)


def _chunk_results(tasks: list[tuple], processes: int | None):
    """`_read_chunk` of every task, in order, in a pool of processes (one per core) or, for one task or one process,
    in this one."""
    processes = processes or min(os.cpu_count() or 1, max(1, len(tasks)))
    if processes == 1 or len(tasks) <= 1:
        yield from map(_read_chunk, tasks)
        return
    # Fresh processes, not forks of this one: this one may hold TensorFlow's threads.
    with ProcessPoolExecutor(processes, mp_context=get_context("forkserver")) as pool:
        yield from pool.map(_read_chunk, tasks)


def _decode(root, paths, side, channels, surveyed, progress, processes) -> cache.Decoded:
    """Decode every file: plain PNGs by TensorFlow where it decodes (`tensorflow_decodes`); the others, and any
    TensorFlow could not decode, by Pillow (`vae.data.decode.decode`) in a pool of processes.

    `surveyed` is a survey made already (`_survey`: every digest, and the small files' bytes), whose plain PNGs
    TensorFlow decodes from those bytes; without one, where the first file is a plain PNG, TensorFlow reads and
    decodes every file small enough to be one, and those found plain are kept (`_read_and_decode`)."""
    count = len(paths)
    pixels = np.zeros((count, side, side, channels), np.uint8)
    headers: list[Header | None] = [None] * count
    digests = list(surveyed[0]) if surveyed is not None else [""] * count
    damaged, warned, done = [], [], 0
    batches = ()
    if tensorflow_decodes():
        if surveyed is not None:
            plain = {index: content for index, content in surveyed[1].items() if plain_png(content, side, channels)}
            batches = _decode_plain(plain, side, channels) if plain else ()
        elif _first_is_plain(root, paths, side, channels):
            batches = _read_and_decode(root, paths, side, channels, digests)
    for index_batch, pixel_batch in batches:
        pixels[index_batch] = pixel_batch
        for index in index_batch.tolist():
            headers[index] = Header(side, side, channels == 1)
        done += len(index_batch)
        progress(done, count, "decoding")
    rest = [index for index in range(count) if headers[index] is None]
    parts = [rest[start : start + CHUNK_FILES] for start in range(0, len(rest), CHUNK_FILES)]
    tasks = [(str(root), [paths[index] for index in part], side, channels) for part in parts]
    for part, (chunk_pixels, chunk_headers, chunk_digests, chunk_damaged, chunk_warned) in zip(
        parts, _chunk_results(tasks, processes), strict=True
    ):
        reasons = dict(chunk_damaged)
        for position, index in enumerate(part):
            digests[index] = chunk_digests[position]
            if position in reasons:
                damaged.append((index, reasons[position]))
            else:
                pixels[index], headers[index] = chunk_pixels[position], chunk_headers[position]
        warned += chunk_warned
        done += len(part)
        progress(done, count, "decoding")
    damaged.sort()
    left_out = {index for index, _ in damaged}
    if left_out:
        pixels = pixels[[index for index in range(count) if index not in left_out]]
    return cache.Decoded(
        pixels,
        tuple(header for header in headers if header is not None),
        tuple(digests),
        tuple(damaged),
        tuple(dict.fromkeys(warned)),
    )


def _ignore_progress(done: int, total: int, stage: str) -> None:
    pass


def read_images(
    root: Path,
    files,
    side: int,
    channels: int,
    *,
    skip_damaged: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
    processes: int | None = None,
) -> ReadImages:
    """Read and fit `files` of the folder `root`, from the decode cache (`vae.data.cache`) when it holds them
    unchanged, else decoding them: plain PNGs by TensorFlow where it is loaded (`tensorflow_decodes`), everything
    else by Pillow in a pool of processes (one per core); the pixels are the same either way.

    A damaged file (not an image, truncated, too large or too small) is refused, naming the first few, unless
    `skip_damaged`, which leaves them out and lists them. `progress(done, total, stage)` is called as the files are
    read ("reading": their bytes read, hashed and checked) and decoded ("decoding").
    """
    files = tuple(files)
    check_memory(len(files), side, channels)
    progress = progress or _ignore_progress
    paths = [file.path for file in files]
    slot = cache.slot_path(Path(root), paths, side, channels, FIT)
    decoded = surveyed = None
    if slot is not None and slot.is_file():
        # An entry for these files: every file's bytes are read and hashed to know whether it still holds.
        surveyed = [], {}
        for start in range(0, len(paths), SURVEY_FILES):
            digests, small = _survey(Path(root), paths[start : start + SURVEY_FILES], side, channels)
            surveyed[0].extend(digests)
            surveyed[1].update((start + index, content) for index, content in small.items())
            progress(len(surveyed[0]), len(paths), "reading")
        if all(surveyed[0]):
            decoded = cache.load(slot, cache.content_key(paths, surveyed[0]), side, channels, FIT, len(paths))
    if decoded is None:
        decoded = _decode(root, paths, side, channels, surveyed, progress, processes)
        # Cached only when every file was read, and read alike by both passes (no file changed in between).
        unchanged = surveyed is None or tuple(surveyed[0]) == decoded.digests
        if slot is not None and all(decoded.digests) and unchanged:
            cache.store(slot, cache.content_key(paths, decoded.digests), side, channels, FIT, decoded)
    damaged = [(paths[index], reason) for index, reason in decoded.damaged]
    if damaged and not skip_damaged:
        raise DataError(damaged_line([reason for _, reason in damaged], hint=len(files) > 1))
    warned = list(decoded.warnings)
    for message in warned[:NAMED]:
        warnings.warn(message, ImageWarning, stacklevel=2)
    if len(warned) > NAMED:
        warnings.warn(f"and {len(warned) - NAMED} more warnings of {root}", ImageWarning, stacklevel=2)
    left_out = {index for index, _ in decoded.damaged}
    kept = [index for index in range(len(files)) if index not in left_out]
    return ReadImages(
        decoded.pixels,
        tuple(files[index] for index in kept),
        decoded.headers,
        tuple(decoded.digests[index] for index in kept),
        tuple(damaged),
        tuple(warned),
        decoded.from_cache,
    )


def damaged_line(reasons: list[str], hint: bool = True) -> str:
    """ "N damaged images: <the first few reasons>, and K more (--skip-damaged leaves them out)"."""
    left_out = " (--skip-damaged leaves them out)" if hint else ""
    return f"{len(reasons)} damaged image{'s' * (len(reasons) != 1)}: {_first_reasons(reasons)}{left_out}"


def _first_reasons(reasons: list[str]) -> str:
    more = f", and {len(reasons) - NAMED} more" if len(reasons) > NAMED else ""
    return "; ".join(reasons[:NAMED]) + more


@dataclass(frozen=True)
class Folder:
    """A folder read for training: its scan with the test split, what was read, and the shape it was read at."""

    scan: Scan
    read: ReadImages
    side: int
    channels: int

    @property
    def manifest(self) -> dict:
        return manifest(self.scan, self.read, self.side, self.channels, FIT)


def first_readable(scan: Scan, skip_damaged: bool) -> tuple[Path, Header]:
    """The first image of `scan` whose header reads, with its path. Damaged ones before it are passed over here:
    `read_images` then names every damaged file of the folder in one line, or with `skip_damaged` lists them."""
    damaged = []
    for file in scan.files:
        path = scan.root / file.path
        try:
            return path, read_header(path)
        except DataError as error:
            damaged.append(str(error))
    if skip_damaged:
        raise DataError(f"{scan.root}: every image is damaged")
    raise DataError(f"{scan.root}: all {len(damaged)} images are damaged: {_first_reasons(damaged)}")


def shape_for(
    scan: Scan, image_size: int | None, channels: int | None, skip_damaged: bool = False
) -> tuple[int, int, Path | None]:
    """The run's (side, channels) and the image they come from: the options given, or else the first image's own,
    which every image must then share (`read_folder` checks). An image that is not a square within the limits asks
    for --image-size."""
    if image_size is not None and channels is not None:
        return image_size, channels, None
    path, first = first_readable(scan, skip_damaged)
    if image_size is None:
        if first.width != first.height or not MIN_IMAGE_SIZE <= first.width <= MAX_IMAGE_SIZE:
            raise UsageError(
                f"{path} is {first.width}x{first.height}: give --image-size, a side from {MIN_IMAGE_SIZE} to "
                f"{MAX_IMAGE_SIZE} that every image is fitted to"
            )
        image_size = first.width
    return image_size, channels if channels is not None else (1 if first.gray else 3), path


def _check_kept(scan: Scan, read: ReadImages) -> None:
    """Refuse what the damaged files skipped leave behind without images: a split, and in train/ and test/ a class
    of either, as an empty one would be refused before reading. A split the scan never had (read before
    `hold_out_test`) is not for this to refuse."""
    for split in SPLIT_FOLDERS:
        listed = sum(file.split == split for file in scan.files)
        if listed and not any(file.split == split for file in read.files):
            if scan.layout == "split":
                where = f"{scan.root / split}: every image"
            else:
                where = f"{scan.root}: every image of the {'held-out ' * (split == 'test')}{split} split"
            raise DataError(f"{where} is damaged ({listed} skipped): a run needs images to train on and to test on")
        if scan.layout == "split":
            kept = {file.label for file in read.files if file.split == split}
            lost = [name for label, name in enumerate(scan.class_names) if label not in kept]
            if lost:
                raise DataError(
                    f"{scan.root / split}: every image of {classes_named(lost)} is damaged: both splits must hold "
                    "images of every class"
                )


def read_folder(
    scan: Scan,
    image_size: int | None,
    channels: int | None,
    *,
    skip_damaged: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> Folder:
    """Read every image of `scan` at the run's shape (`shape_for`). Where the shape is the images' own, every image
    must have it: one of another size or mode asks for the option, naming it."""
    side, channels_read, reference = shape_for(scan, image_size, channels, skip_damaged)
    read = read_images(scan.root, scan.files, side, channels_read, skip_damaged=skip_damaged, progress=progress)
    if not read.files:
        raise DataError(f"{scan.root}: every image is damaged")
    _check_kept(scan, read)
    for header, file in zip(read.headers, read.files, strict=True):
        if image_size is None and (header.width, header.height) != (side, side):
            raise UsageError(
                f"the images differ in size: {reference} is {side}x{side}, "
                f"{scan.root / file.path} is {header.width}x{header.height}; give --image-size"
            )
        if channels is None and header.gray != (channels_read == 1):
            raise UsageError(
                f"the images are gray and colour ({scan.root / file.path} is {'gray' if header.gray else 'colour'}): "
                "give --channels 1 or 3"
            )
    return Folder(scan, read, side, channels_read)
