"""Reading a folder of your own images at a run's shape: the shape, a pool of processes, the damaged files.

Every image becomes the run's shape, side x side x channels (`vae.data.decode.fit_image`): a JPEG's EXIF
orientation applied, transparency (an alpha channel or a tRNS colour key) composited onto white, a 16-bit image
scaled by its range, gray or RGB as the run asks (RGB to gray by ITU-R 601-2 luma), and, when its size differs,
scaled so that its shorter side is the run's side, keeping its aspect ratio, and cut to the middle square ("crop").
An image already of the run's size and mode is taken pixel for pixel.

Everything is read once into memory as uint8, in a pool of processes, and fed to training by the same pipeline as
MNIST. Before any pixel is decoded, each header is read: an image of more than `MAX_IMAGE_PIXELS` or with a side
under `MIN_IMAGE_SIDE` is refused, and so is a folder whose images would take more than `MAX_DATA_BYTES` in memory
(count x side^2 x channels bytes). The folder's layout and classes are `vae.data.layouts`'; what a run records of it,
its manifest, is `vae.data.manifests`'.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from vae.config import MAX_IMAGE_SIZE, MIN_IMAGE_SIZE
from vae.data.decode import Header, decode, read_header
from vae.data.layouts import NAMED, SPLIT_FOLDERS, ImageFile, Scan, classes_named
from vae.data.manifests import manifest
from vae.errors import DataError, ImageWarning, UsageError

# At most this many bytes of uint8 pixels in memory: 8 GiB, a third of this machine's memory.
MAX_DATA_BYTES = 8 * 2**30
# Files per task of the reading pool: enough to make the pool's overhead small.
CHUNK_FILES = 500


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
                with open(full, "rb") as stream:
                    content = stream.read()
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
    """The pixels of the files read, in their order, with each file's digest; the damaged files left out."""

    pixels: np.ndarray
    files: tuple[ImageFile, ...]
    headers: tuple[Header, ...]
    digests: tuple[str, ...]
    damaged: tuple[tuple[str, str], ...]  # (path, reason) of each file left out
    warnings: tuple[str, ...]


def read_images(
    root: Path,
    files,
    side: int,
    channels: int,
    *,
    skip_damaged: bool = False,
    progress: Callable[[int, int], None] | None = None,
    processes: int | None = None,
) -> ReadImages:
    """Read and fit `files` of the folder `root` in a pool of processes (one per core).

    A damaged file (not an image, truncated, too large or too small) is refused, naming the first few, unless
    `skip_damaged`, which leaves them out and lists them. `progress(done, total)` is called as the chunks finish.
    """
    files = tuple(files)
    check_memory(len(files), side, channels)
    paths = [file.path for file in files]
    tasks = [
        (str(root), paths[start : start + CHUNK_FILES], side, channels) for start in range(0, len(paths), CHUNK_FILES)
    ]
    processes = processes or min(os.cpu_count() or 1, max(1, len(tasks)))
    results = []
    if processes == 1 or len(tasks) == 1:
        for task in tasks:
            results.append(_read_chunk(task))
            if progress:
                progress(sum(len(result[2]) for result in results), len(files))
    else:
        # Fresh processes, not forks of this one: this one may hold TensorFlow's threads.
        with ProcessPoolExecutor(processes, mp_context=get_context("forkserver")) as pool:
            for result in pool.map(_read_chunk, tasks):
                results.append(result)
                if progress:
                    progress(sum(len(part[2]) for part in results), len(files))
    pixels, headers, digests, damaged, warned = [], [], [], [], []
    for (chunk_pixels, chunk_headers, chunk_digests, chunk_damaged, chunk_warned), task in zip(
        results, tasks, strict=True
    ):
        bad = {index for index, _ in chunk_damaged}
        keep = [index for index in range(len(task[1])) if index not in bad]
        pixels.append(chunk_pixels[keep])
        headers += [chunk_headers[index] for index in keep]
        digests += [chunk_digests[index] for index in keep]
        damaged += [(task[1][index], reason) for index, reason in chunk_damaged]
        warned += chunk_warned
    if damaged and not skip_damaged:
        raise DataError(damaged_line([reason for _, reason in damaged], hint=len(files) > 1))
    warned = list(dict.fromkeys(warned))
    for message in warned[:NAMED]:
        warnings.warn(message, ImageWarning, stacklevel=2)
    if len(warned) > NAMED:
        warnings.warn(f"and {len(warned) - NAMED} more warnings of {root}", ImageWarning, stacklevel=2)
    left_out = {path for path, _ in damaged}
    kept = tuple(file for file in files if file.path not in left_out)
    return ReadImages(
        np.concatenate(pixels) if pixels else np.zeros((0, side, side, channels), np.uint8),
        kept,
        tuple(headers),
        tuple(digests),
        tuple(damaged),
        tuple(warned),
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
        return manifest(self.scan, self.read, self.side, self.channels, "crop")


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
    progress: Callable[[int, int], None] | None = None,
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
