"""A folder of your own images as a data set: its layout, its classes, the run's image shape, and reading it.

Three layouts, as people keep them (`keras.utils.image_dataset_from_directory`, torchvision's `ImageFolder`):

    DIR/train/<class>/... and DIR/test/<class>/...   two splits; a class is its subfolder's name
    DIR/<class>/...                                  one split; the test split is held out, stratified by class
    DIR/*.png                                        images without labels; the test split is held out at random

Both splits must name the same classes. DIR/train/ alone, with no test/, is read as the layout train/ holds, with a
test split held out of it (the scan's `note` says so), never as one class called "train".

Class names are sorted as strings, and label i is the i-th. Files are PNG, JPEG, BMP, GIF (the first frame) or
WebP; other files, and names that start with ".", are not images and are passed over. A class folder may hold
folders of its own. A symbolic link is followed while it stays inside DIR; one that leads out of it, or round in a
loop, is refused.

Every image becomes the run's shape, side x side x channels (`fit_image`): a JPEG's EXIF orientation applied,
transparency (an alpha channel or a tRNS colour key) composited onto white, a 16-bit image scaled by its range, gray
or RGB as the run asks (RGB to gray by ITU-R 601-2 luma), and, when its size differs, scaled so that its shorter side
is the run's side, keeping its aspect ratio, and cut to the middle square ("crop"). An image already of the run's
size and mode is taken pixel for pixel.

Everything is read once into memory as uint8, in a pool of processes, and fed to training by the same pipeline as
MNIST. Before any pixel is decoded, each header is read: an image of more than `MAX_IMAGE_PIXELS` or with a side
under `MIN_IMAGE_SIDE` is refused, and so is a folder whose images would take more than `MAX_DATA_BYTES` in memory
(count x side^2 x channels bytes).

What a run was trained on is its manifest, `data.json` in the run directory: the folder, its layout, the class
names, the shape, the fitting rule, and every file with its label, its split and a digest of its bytes. A resumed run
and every command that reads its test split check the folder against it, naming what changed; the damaged files it
skipped are no part of it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vae.config import MAX_CLASSES, MAX_IMAGE_PIXELS, MAX_IMAGE_SIZE, MIN_IMAGE_SIDE, MIN_IMAGE_SIZE
from vae.errors import DataError, ImageWarning, UsageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
PILLOW_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")
SPLIT_FOLDERS = ("train", "test")
# At most this many bytes of uint8 pixels in memory: 8 GiB, a third of this machine's memory.
MAX_DATA_BYTES = 8 * 2**30
# Pillow's modes of gray images; any other mode is a colour image.
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
WIDE_GRAY_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
# Damaged files named in one error line before "and N more".
NAMED_DAMAGED_FILES = 3
# Files per task of the reading pool: enough to make the pool's overhead small.
CHUNK_FILES = 500


@dataclass(frozen=True)
class ImageFile:
    """One image of the folder: its path relative to the folder (POSIX), its label (-1 without labels), its split."""

    path: str
    label: int
    split: str


@dataclass(frozen=True)
class Scan:
    """What a folder holds, before any image is read."""

    root: Path
    layout: str
    class_names: tuple[str, ...]
    files: tuple[ImageFile, ...]  # for "split", with their splits; otherwise all "train" until `hold_out_test`
    note: str = ""  # a line on how the folder was read, where its layout could be taken for another


@dataclass(frozen=True)
class Header:
    width: int
    height: int
    gray: bool


def is_image_folder(directory: Path) -> bool:
    """Whether `directory` holds images (in any layout) rather than IDX files or an npz: any image file in it or in
    its subfolders."""
    if not directory.is_dir():
        return False
    for _, _, names in os.walk(directory):
        if any(_is_image_name(name) for name in names):
            return True
    return False


def _is_image_name(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def scan_folder(root: str | os.PathLike) -> Scan:
    """The layout, classes and image files of the folder `root`; a DataError names what is wrong with it."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root} does not exist or is not a folder")
    root = root.resolve()
    folders, images = _entries(root, root)
    names = {Path(folder).name for folder in folders}
    if not images and names >= set(SPLIT_FOLDERS):
        others = sorted(names - set(SPLIT_FOLDERS))
        if others:
            raise DataError(f"{root} holds {others[0]}/ beside train/ and test/: keep each split's classes inside it")
        train_classes = _class_folders("train", root)
        test_classes = _class_folders("test", root)
        unknown = sorted(set(test_classes) - set(train_classes))
        if unknown:
            raise DataError(
                f"{root / 'test' / unknown[0]} names a class that {root / 'train'} lacks: both splits must name the "
                "same classes"
            )
        untested = sorted(set(train_classes) - set(test_classes))
        if untested:
            raise DataError(
                f"{root / 'test'} lacks {_classes_named(untested)} of {root / 'train'}: both splits must name the "
                "same classes"
            )
        class_names = tuple(sorted(train_classes))
        files = [
            ImageFile(path, class_names.index(name), split)
            for split, classes in (("train", train_classes), ("test", test_classes))
            for name in sorted(classes)
            for path in classes[name]
        ]
        return _checked(Scan(root, "split", class_names, tuple(files)))
    if not images and names == {"train"}:
        # train/ alone holds the images to learn from, not one class called "train": its own layout is read, and a
        # test split is held out from it as from any folder without test/.
        scan = _one_split(root, "train", *_entries(root / "train", root))
        read_as = "its subfolders are read as the classes" if scan.layout == "classed" else "read without classes"
        note = f"{root} holds train/ and no test/: {read_as}, and a test split is held out of its images"
        return dataclasses.replace(scan, note=note)
    return _one_split(root, "", folders, images)


def _one_split(root: Path, folder: str, folders: list[str], images: list[str]) -> Scan:
    """The classed or flat layout of `root / folder`, whose subfolders and images are `folders` and `images`
    (paths relative to `root`)."""
    where = root / folder
    if folders and images:
        raise DataError(
            f"{where} holds both images ({Path(images[0]).name}) and folders ({Path(folders[0]).name}): keep the "
            "images of each class in a folder of its own, or put them all in the folder itself"
        )
    if images:
        return _checked(Scan(root, "flat", (), tuple(ImageFile(path, -1, "train") for path in images)))
    if not folders:
        raise DataError(f"{where} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    classes = _class_folders(folder, root)
    class_names = tuple(sorted(classes))
    files = tuple(ImageFile(path, label, "train") for label, name in enumerate(class_names) for path in classes[name])
    return _checked(Scan(root, "classed", class_names, files))


def _classes_named(names: list[str]) -> str:
    """ "class a" or "classes a, b, c and 2 more", naming the first few."""
    more = len(names) - NAMED_DAMAGED_FILES
    shown = ", ".join(names[:NAMED_DAMAGED_FILES]) + (f" and {more} more" if more > 0 else "")
    return f"class{'es' * (len(names) > 1)} {shown}"


def _checked(scan: Scan) -> Scan:
    if len(scan.files) < 2:
        raise DataError(f"{scan.root} holds a single image: a run needs images to train on and to test on")
    if len(scan.class_names) > MAX_CLASSES:
        raise DataError(f"{scan.root} holds {len(scan.class_names):,} classes, more than the {MAX_CLASSES:,} allowed")
    return scan


def _entries(folder: Path, root: Path) -> tuple[list[str], list[str]]:
    """The subfolders and the image files of `folder` (paths relative to `root`, sorted), hidden ones left out; a
    symbolic link is checked not to lead out of `root` or round in a loop."""
    subfolders, images = [], []
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError as error:
        raise DataError(f"{folder} cannot be read ({error.strerror or error})") from None
    skip = len(str(root)) + 1  # the entries' paths start with the root's
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_symlink():
            try:
                target = Path(entry.path).resolve(strict=True)
            except (OSError, RuntimeError):
                raise DataError(f"{entry.path} is a symbolic link that leads nowhere or round in a loop") from None
            if not target.is_relative_to(root):
                raise DataError(f"{entry.path} is a symbolic link that leads out of {root}: copy the file in instead")
        relative = entry.path[skip:].replace(os.sep, "/")
        if entry.is_dir():
            subfolders.append(relative)
        elif entry.is_file() and _is_image_name(entry.name):
            images.append(relative)
    return subfolders, images


def _class_folders(folder: str, root: Path) -> dict[str, list[str]]:
    """{class name: its images} of the class subfolders of `root / folder`; a class folder without images is
    refused."""
    subfolders, _ = _entries(root / folder, root)
    classes = {}
    for subfolder in subfolders:
        images = _images_below(root / subfolder, root, set())
        if not images:
            raise DataError(f"{root / subfolder} holds no images ({', '.join(IMAGE_SUFFIXES)}): a class needs some")
        classes[Path(subfolder).name] = images
    if not classes:
        raise DataError(f"{root / folder} holds no class folders with images")
    return classes


def _images_below(folder: Path, root: Path, seen: set) -> list[str]:
    """The images in `folder` and its subfolders, each folder walked once even where links lead back into it."""
    real = folder.resolve()
    if real in seen:
        raise DataError(f"{folder} leads round in a loop of symbolic links")
    seen.add(real)
    subfolders, images = _entries(folder, root)
    for subfolder in subfolders:
        images += _images_below(root / subfolder, root, seen)
    return images


def hold_out_test(scan: Scan, fraction: float, seed: int) -> Scan:
    """`scan` with a test split: of each class, round(fraction x its images) drawn with `seed` (at least one of a
    class of two or more); of a folder without labels, that share of all. A split layout keeps its own."""
    if scan.layout == "split":
        return scan
    if not 0 < fraction < 1:
        raise UsageError(f"--test-fraction must be between 0 and 1, got {fraction}")
    rng = np.random.default_rng(seed)
    labels = np.array([file.label for file in scan.files])
    test = np.zeros(len(scan.files), bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = min(len(members) - 1, max(1, round(fraction * len(members)))) if len(members) > 1 else 0
        test[rng.permutation(members)[:count]] = True
    if not test.any():
        raise DataError(f"{scan.root}: too few images to hold out a test split; add images or give train/ and test/")
    files = tuple(
        ImageFile(file.path, file.label, "test" if held else "train")
        for file, held in zip(scan.files, test, strict=True)
    )
    return dataclasses.replace(scan, files=files)


def read_header(path: Path) -> Header:
    """An image file's size and whether it is gray, from its header alone; a file that is no image, or too large or
    too small, is a DataError naming it."""
    try:
        with _open_lazily(path) as image:
            width, height = image.size
            mode = image.mode
    except UnidentifiedImageError:
        raise DataError(f"{path} is not an image that can be read (PNG, JPEG, BMP, GIF or WebP)") from None
    except OSError as error:
        raise DataError(f"{path} could not be read as an image ({error.strerror or error})") from None
    except (ValueError, SyntaxError) as error:
        raise DataError(f"{path} could not be read as an image ({error})") from None
    _check_size(path, width, height)
    return Header(width, height, mode in GRAY_MODES)


def _check_size(path: Path, width: int, height: int) -> None:
    if width * height > MAX_IMAGE_PIXELS:
        raise DataError(
            f"{path} is {width}x{height} pixels, more than the {MAX_IMAGE_PIXELS:,} read at most: scale it down first"
        )
    if min(width, height) < MIN_IMAGE_SIDE:
        raise DataError(f"{path} is {width}x{height} pixels: give at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE}")


def _open_lazily(path: Path):
    """The image in `path` with its header read and no pixel decoded; Pillow's own guard against huge images is
    lifted for the header, so that every large image is refused alike, below its limit, by `_check_size`."""
    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        return Image.open(path, formats=PILLOW_FORMATS)
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def check_memory(count: int, side: int, channels: int) -> None:
    """Refuse a data set that would take more than `MAX_DATA_BYTES` of memory as uint8."""
    size = count * side * side * channels
    if size > MAX_DATA_BYTES:
        raise DataError(
            f"{count:,} images of {side}x{side}x{channels} take {size / 2**30:.1f} GiB, more than the "
            f"{MAX_DATA_BYTES / 2**30:.0f} GiB held in memory at most: use a smaller --image-size or fewer images"
        )


def fit_image(image, side: int, channels: int) -> np.ndarray:
    """A Pillow image as the run's uint8 (side, side, channels) array (see the module's docstring)."""
    if "exif" in image.info:  # only an EXIF block can hold an orientation
        image = ImageOps.exif_transpose(image)
    if image.mode in WIDE_GRAY_MODES:
        # Pillow's conversion of these to 8-bit clips every value above 255 instead of scaling it.
        values = np.asarray(image)
        levels = values.astype(np.float64) / 65535.0
        if isinstance(image.info.get("transparency"), int):  # a tRNS colour key: its pixels are transparent
            levels[values == image.info["transparency"]] = 1.0
        image = Image.fromarray(np.round(np.clip(levels, 0, 1) * 255).astype(np.uint8), mode="L")
    # Transparency is an alpha channel (RGBA, LA, PA) or a tRNS colour key (P, L, RGB), which convert("RGBA") turns
    # into alpha.
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        image = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", image.size, (255, 255, 255, 255)), image)
    mode = "L" if channels == 1 else "RGB"
    if image.mode != mode:
        image = image.convert(mode)
    if image.size != (side, side):
        image = ImageOps.fit(image, (side, side), method=Image.Resampling.LANCZOS)
    pixels = np.asarray(image, dtype=np.uint8)
    return pixels[..., None] if channels == 1 else pixels


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


def decode(content: bytes, path: Path, side: int, channels: int) -> tuple[Header, np.ndarray]:
    """The image file's header, and its bytes as the run's uint8 (side, side, channels); a DataError names what is
    wrong."""
    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        image = Image.open(io.BytesIO(content), formats=PILLOW_FORMATS)
    except UnidentifiedImageError:
        raise DataError(f"{path} is not an image that can be read (PNG, JPEG, BMP, GIF or WebP)") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise DataError(f"{path} could not be read as an image ({error})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    with image:
        _check_size(path, *image.size)
        header = Header(*image.size, image.mode in GRAY_MODES)
        try:
            return header, fit_image(image, side, channels)
        except (OSError, ValueError, SyntaxError) as error:  # truncated or corrupt data, found while decoding
            raise DataError(f"{path} could not be read as an image ({error})") from None


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
    for message in warned[:NAMED_DAMAGED_FILES]:
        warnings.warn(message, ImageWarning, stacklevel=2)
    if len(warned) > NAMED_DAMAGED_FILES:
        warnings.warn(f"and {len(warned) - NAMED_DAMAGED_FILES} more warnings of {root}", ImageWarning, stacklevel=2)
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
    more = f", and {len(reasons) - NAMED_DAMAGED_FILES} more" if len(reasons) > NAMED_DAMAGED_FILES else ""
    return "; ".join(reasons[:NAMED_DAMAGED_FILES]) + more


def files_digest(files, digests) -> str:
    """One digest of the file list: every file's path, label, split and content digest, in order."""
    whole = hashlib.sha256()
    for file, digest in zip(files, digests, strict=True):
        whole.update(f"{file.path}\0{file.label}\0{file.split}\0{digest}\n".encode())
    return whole.hexdigest()


def manifest(scan: Scan, read: ReadImages, side: int, channels: int, fit: str) -> dict:
    """What a run records of the folder it trained on (`data.json`)."""
    return {
        "root": str(scan.root),
        "layout": scan.layout,
        "class_names": list(scan.class_names),
        "image_shape": [side, side, channels],
        "fit": fit,
        "files": [
            [file.path, file.label, file.split, digest] for file, digest in zip(read.files, read.digests, strict=True)
        ],
        "skipped": [[path, reason] for path, reason in read.damaged],
        "digest": files_digest(read.files, read.digests),
    }


def manifest_files(record: dict, split: str | None = None) -> list[tuple[ImageFile, str]]:
    """The files a manifest lists, of `split` or all, with their digests."""
    return [
        (ImageFile(path, int(label), file_split), digest)
        for path, label, file_split, digest in record["files"]
        if split is None or file_split == split
    ]


def changes(record: dict, scan: Scan) -> list[str]:
    """What differs between the files a manifest lists and those a new scan of the folder finds, by name. The
    damaged files the run skipped are no part of its data: one removed, repaired or still there changes nothing."""
    recorded = {path for path, *_ in record["files"]}
    skipped = {path for path, _ in record.get("skipped", [])}
    found = {file.path for file in scan.files} - skipped
    added, removed = sorted(found - recorded), sorted(recorded - found)
    return [described(paths, what) for what, paths in (("added", added), ("removed", removed)) if paths]


def missing(root: Path, record_files: list[tuple[ImageFile, str]]) -> list[str]:
    """The files a manifest lists that are no longer in `root`, as `changes` describes them."""
    gone = [file.path for file, _ in record_files if not (root / file.path).is_file()]
    return [described(gone, "removed")] if gone else []


def described(paths: list[str], what: str) -> str:
    """ "2 files removed (a.png, b.png)", naming the first few."""
    more = len(paths) - NAMED_DAMAGED_FILES
    shown = ", ".join(paths[:NAMED_DAMAGED_FILES]) + (f" and {more} more" if more > 0 else "")
    return f"{len(paths)} file{'s' * (len(paths) != 1)} {what} ({shown})"


def changed_contents(record_files: list[tuple[ImageFile, str]], digests) -> list[str]:
    """The paths whose content digest differs from the one the manifest records."""
    return [file.path for (file, recorded), digest in zip(record_files, digests, strict=True) if recorded != digest]


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
                    f"{scan.root / split}: every image of {_classes_named(lost)} is damaged: both splits must hold "
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
