"""Data sources: where a run's images come from, chosen from its config as its latent structure is.

Each source is one class behind one interface that training, evaluation, `vae-encode` and export use:

    image_shape               (side, side, channels) of the run's images
    classes                   the class names, in label order (none for a folder without classes)
    read(data_dir, ...)       the run's splits, a `Dataset`, checked against the manifest its runs record, if any
    prepare(files, ...)       new image files (`vae-encode`'s input) as the model takes them
    shape_preparation()       how `prepare` shapes an image, in words (an export's contract)

and a class method `new_run` that makes a new run's config and data from `vae-train`'s options. `source_of(config)`
picks a run's source; `new_run_data` picks a new run's from what its --data-dir holds.

A new source is one new class and its names in `SOURCES`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vae.config import IDX_DATASETS, VAEConfig
from vae.data import decode, folders, layouts, manifests
from vae.data.datasets import Dataset, load_dataset, shuffled_splits
from vae.data.idx import holds_idx
from vae.data.images import digits_of, find_images
from vae.errors import DataError, ImageWarning, UsageError


@dataclass(frozen=True)
class TrainingData:
    """A new run's config and data, and a line that says what a folder of images became ("" for an IDX data set)."""

    config: object
    dataset: Dataset
    description: str


class DataSource:
    """The source of a run's images (see the module's docstring)."""

    # The words between the shape step and the division by 255 in the sentence of an export's preparation.
    PREPARATION_SEPARATOR = "; "

    def __init__(self, config):
        self.config = config

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.config.image_shape

    @property
    def classes(self) -> tuple[str, ...]:
        return self.config.classes

    def read(
        self,
        data_dir=None,
        *,
        test_only: bool = False,
        manifest: Callable[[], dict] | None = None,
        progress: Callable[[int, int, str], None] | None = None,
    ) -> Dataset:
        """The run's data, read from `data_dir` (or the source's own place), the test split alone with `test_only`.
        `manifest` gives the manifest the run recorded, called only by a source whose runs record one."""
        raise NotImplementedError

    def prepare(self, files: list[Path], preprocessed: bool = True) -> np.ndarray:
        """The image files `files` as the model takes them, float32 (N, side, side, channels): prepared as the run's
        training images were, or without `preprocessed` taken as they are, which must then be in the run's form."""
        raise NotImplementedError

    def shape_preparation(self) -> str:
        """How `prepare` turns an image into the run's shape, in words."""
        raise NotImplementedError

    @classmethod
    def new_run(cls, options, data_dir, *, dataset_given, image_size, channels, skip_damaged, progress) -> TrainingData:
        """A new run's config and data from `vae-train`'s options (see `new_run_data`)."""
        raise NotImplementedError


class IDXSource(DataSource):
    """MNIST or Fashion-MNIST: 28x28 gray IDX files (`vae.data.datasets.load_dataset`)."""

    def read(self, data_dir=None, *, test_only=False, manifest=None, progress=None) -> Dataset:
        return load_dataset(self.config.dataset, data_dir, test_only=test_only)

    def prepare(self, files, preprocessed=True) -> np.ndarray:
        return digits_of(files, preprocessed)

    def shape_preparation(self) -> str:
        return (
            "MNIST's procedure: gray, light ink on a dark ground (a light ground is inverted), cropped to the ink, "
            "scaled into a 20x20 box keeping its aspect ratio, and placed in 28x28 with its centre of mass at the "
            "centre"
        )

    @classmethod
    def new_run(cls, options, data_dir, *, dataset_given, image_size, channels, skip_damaged, progress):
        if options.get("dataset") == "folder":
            raise UsageError("--dataset folder needs --data-dir pointing at a folder of images")
        if image_size is not None or channels is not None:
            raise UsageError(
                f"{options['dataset']} is 28x28 gray: --image-size and --channels are for a folder of images"
            )
        config = VAEConfig(**options)
        return TrainingData(config, load_dataset(config.dataset, data_dir), "")


class FolderSource(DataSource):
    """A folder of your own images (`vae.data.layouts`, `vae.data.folders`), checked against the manifest a run
    records of it (`vae.data.manifests`)."""

    PREPARATION_SEPARATOR = ", "

    def read(self, data_dir=None, *, test_only=False, manifest=None, progress=None) -> Dataset:
        """The images of the run's folder that its manifest lists, read from `data_dir` or else from where the run
        found them (never from `VAE_DATA_DIR`, which names IDX data), and checked against it: a file added, removed
        or changed since is refused, naming it."""
        record = manifest()
        root = Path(data_dir).resolve() if data_dir else Path(record["root"])
        if not root.is_dir():
            raise DataError(
                f"{root} does not exist or is not a folder: the run was trained on {record['root']}; point --data-dir "
                "at the folder"
            )
        # The message names the folder compared, and whether it is the run's own or the one --data-dir gave.
        if root == Path(record["root"]):
            differs = f"{root} has changed since the run was trained on it"
        else:
            differs = f"--data-dir {root} differs from the folder the run was trained on, {record['root']}"
        listed = manifests.manifest_files(record, "test" if test_only else None)
        # Training goes on only on the very same files; the test split alone needs only its own files unchanged.
        if test_only:
            differences = manifests.missing(root, listed)
        else:
            differences = manifests.changes(record, layouts.scan_folder(root))
        if differences:
            raise DataError(f"{differs}: {'; '.join(differences)}")
        side, _, channels = record["image_shape"]
        read = folders.read_images(root, [file for file, _ in listed], side, channels, progress=progress)
        changed = manifests.changed_contents(listed, read.digests)
        if changed:
            more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
            raise DataError(
                f"{differs}: {len(changed)} file{'s' * (len(changed) != 1)} changed ({', '.join(changed[:3])}{more})"
            )
        splits = np.array([file.split for file, _ in listed])
        labels = np.array([file.label for file, _ in listed], np.int32)
        return shuffled_splits(read.pixels, splits, labels, str(root), record)

    def prepare(self, files, preprocessed=True) -> np.ndarray:
        """The images fitted to the run's shape as its training images were (`vae.data.decode.fit_image`); without
        `preprocessed`, each must already have the run's size and its gray or colour."""
        side, channels = self.config.image_size, self.config.channels
        images = []
        for path in files:
            if not preprocessed:
                header = decode.read_header(path)
                if (header.width, header.height) != (side, side) or header.gray != (channels == 1):
                    colour = "gray" if channels == 1 else "colour"
                    raise UsageError(
                        f"{path} is {header.width}x{header.height} {'gray' if header.gray else 'colour'}: without "
                        f"preprocessing an image must be this run's shape, {side}x{side} {colour}"
                    )
            try:
                content = Path(path).read_bytes()
            except OSError as error:
                raise DataError(f"{path} cannot be read ({error.strerror or error})") from None
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                _, pixels = decode.decode(content, Path(path), side, channels)
            for message in dict.fromkeys(str(warning.message).strip().splitlines()[0] for warning in caught):
                warnings.warn(f"{path}: {message}", ImageWarning, stacklevel=2)
            images.append(pixels.astype(np.float32) / 255.0)
        return np.stack(images)

    def shape_preparation(self) -> str:
        config = self.config
        return (
            f"as the run's training images were: a JPEG's EXIF orientation applied, transparency composited onto "
            f"white, {'gray (ITU-R 601-2 luma)' if config.channels == 1 else 'RGB'}, scaled so that its shorter side "
            f"is {config.image_size} pixels and cut to the middle square"
        )

    @classmethod
    def new_run(cls, options, data_dir, *, dataset_given, image_size, channels, skip_damaged, progress):
        """A folder's layout, classes and test split make the run's, and its images are read at `image_size` and
        `channels`, by default the images' own; a data set the user chose (`dataset_given`) contradicts it."""
        if dataset_given and options.get("dataset") in IDX_DATASETS:
            raise UsageError(
                f"--dataset {options['dataset']} contradicts --data-dir {data_dir}, which holds a folder of images: "
                "drop --dataset"
            )
        scan = layouts.hold_out_test(layouts.scan_folder(data_dir), options["test_fraction"], options["seed"])
        side, depth, _ = folders.shape_for(scan, image_size, channels, skip_damaged)  # the options checked first
        config = VAEConfig(
            **{**options, "dataset": "folder", "image_size": side, "channels": depth, "class_names": scan.class_names}
        )
        read = folders.read_folder(scan, image_size, channels, skip_damaged=skip_damaged, progress=progress)
        return TrainingData(config, folder_dataset(read), describe_folder(read, image_size, channels))


# The source of each data set a config can name.
SOURCES = {**dict.fromkeys(IDX_DATASETS, IDXSource), "folder": FolderSource}


def check_python_data(dataset: str | None, data: str) -> None:
    """Refuse a data set that contradicts what `vae.train` was handed: `data` is "none", "folder" or "arrays".

    A folder run needs images to read, and arrays of images make a folder run, not one of the IDX data sets."""
    if data == "none" and SOURCES.get(dataset) is FolderSource:
        raise UsageError("dataset folder needs data=, a folder of images or arrays of them")
    if data == "arrays" and SOURCES.get(dataset) is IDXSource:
        raise UsageError(f"dataset {dataset} contradicts data=, arrays of images: drop dataset")


def source_of(config) -> DataSource:
    """The data source of a run's config."""
    return SOURCES[config.dataset](config)


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

    A `data_dir` that holds images (and no IDX files) is a folder of your own images (`FolderSource.new_run`).
    Otherwise `options["dataset"]` is read as an IDX data set (`load_dataset`). `dataset_given` says that the user
    chose the data set, which a folder of images then contradicts.
    """
    is_folder = data_dir is not None and layouts.is_image_folder(Path(data_dir)) and not holds_idx(Path(data_dir))
    source = FolderSource if is_folder else IDXSource
    return source.new_run(
        options,
        data_dir,
        dataset_given=dataset_given,
        image_size=image_size,
        channels=channels,
        skip_damaged=skip_damaged,
        progress=progress,
    )


def load_images(paths, config, preprocessed: bool = True) -> tuple[list[Path], np.ndarray]:
    """The image files among `paths` (`vae.data.images.find_images`) and the images as the run `config` takes
    them, float32 (N, side, side, channels) (`DataSource.prepare`)."""
    files = find_images(paths)
    return files, source_of(config).prepare(files, preprocessed)


def folder_dataset(folder: folders.Folder) -> Dataset:
    """The `Dataset` of a folder read for training (`vae.data.folders.read_folder`), with its manifest."""
    splits = np.array([file.split for file in folder.read.files])
    labels = np.array([file.label for file in folder.read.files], np.int32)
    return shuffled_splits(folder.read.pixels, splits, labels, str(folder.scan.root), folder.manifest)


def describe_folder(folder: folders.Folder, image_size, channels) -> str:
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
    skipped += "; decoded before, read from the decode cache" if folder.read.from_cache else ""
    return (
        (f"{folder.scan.note}\n" if folder.scan.note else "")
        + f"images of {folder.side}x{folder.side} {colour} ({own}), {counted}, {train:,} training and {test:,} test "
        f"images ({split}) from {folder.scan.root}{skipped}"
    )
