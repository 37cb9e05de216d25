"""A folder of your own images: its layout, its classes and its image files, before any image is read.

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
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vae.config import MAX_CLASSES
from vae.data.decode import IMAGE_SUFFIXES
from vae.errors import DataError, UsageError

SPLIT_FOLDERS = ("train", "test")
# Names (of classes, files, damaged files) given in one error line before "and N more".
NAMED = 3


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
                f"{root / 'test'} lacks {classes_named(untested)} of {root / 'train'}: both splits must name the "
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


def named(names: list[str]) -> str:
    """The first few of `names`, "a, b, c and 2 more"."""
    more = len(names) - NAMED
    return ", ".join(names[:NAMED]) + (f" and {more} more" if more > 0 else "")


def classes_named(names: list[str]) -> str:
    """ "class a" or "classes a, b, c and 2 more", naming the first few."""
    return f"class{'es' * (len(names) > 1)} {named(names)}"


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
