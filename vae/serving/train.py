"""Training from Python: `vae.train` makes a run as `vae-train` makes it and returns it opened, as `open_run` would.

    run = vae.train({"epochs": 2, "batch_size": 32}, data=(images, labels), run_dir="digits")
    samples = run.sample(16, seed=0)

The data is the config's IDX data set (mnist or fashion-mnist, read as `vae-train` reads it), a folder of images (as
`vae-train --data-dir FOLDER` takes one), or numpy arrays. Arrays are written into the run as a folder of PNG images,
RUN/images/ (a subfolder per class when labels are given), and the run is trained on that folder, its test split
held out by the config's `test_fraction` and `seed`: an ordinary folder run, which every command reopens
(`vae-eval`, `vae-reconstruct`, `vae-train --resume`), and whose manifest, data.json, lists those images.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image

from vae.config import CHANNELS, DEFAULTS, MAX_IMAGE_SIZE, MIN_IMAGE_SIZE, VAEConfig
from vae.data.sources import check_python_data, new_run_data
from vae.errors import DataError, RunError, UsageError
from vae.run.checkpoints import read_checkpoint_safe
from vae.run.directory import DEFAULT_RUN_DIR, RunDir
from vae.serving.api import Run, number_array, open_run, unit_pixels

# The folder of a run trained on arrays that holds them as images.
IMAGES_DIR = "images"
# Every config field at its default, the learning rate unset (None: the architecture's own).
FIELD_DEFAULTS = {field.name: field.default for field in dataclasses.fields(VAEConfig)}
# The fields a folder's images are fitted to when the config chooses them; otherwise they are the images' own.
SHAPE_FIELDS = ("image_size", "channels")


@dataclasses.dataclass(frozen=True)
class Arrays:
    """Images as uint8 (N, side, side, channels) and their labels (None without), checked to make a folder run."""

    pixels: np.ndarray
    labels: np.ndarray | None

    @property
    def class_names(self) -> tuple[str, ...]:
        """The labels' folder names, zero-padded so that sorted as strings, as a folder's classes are, they keep
        the labels' order."""
        if self.labels is None:
            return ()
        width = len(str(self.labels.max()))
        return tuple(f"{label:0{width}d}" for label in np.unique(self.labels))


def train(
    config: VAEConfig | Mapping,
    data=None,
    run_dir: str | os.PathLike = DEFAULT_RUN_DIR,
    *,
    overwrite: bool = False,
    verbose: int | str = "auto",
    precision: str | None = None,
    snapshots: bool = False,
    skip_damaged: bool = False,
) -> Run:
    """Train a run as `vae-train` does, with the same training, and save it in `run_dir` as `vae-train` saves it.

    Args:
        config: a `VAEConfig`, or a dict of some of its fields (the others at their defaults, the learning rate the
            architecture's own). With a folder or arrays, the class names are the data's, and so are the image
            size and channels unless the config chooses others, to which the images are then fitted.
        data: None for the config's data set (mnist or fashion-mnist, from the Keras download or VAE_DATA_DIR);
            a folder, as `vae-train --data-dir` takes one (images in any of its layouts, or IDX files); or numpy
            arrays, `images` or a pair `(images, labels)`. Images are (N, side, side) or (N, side, side, channels)
            with 1 or 3 channels, uint8 (or any integer type, on uint8's scale) or floats in [0, 1]; they are
            written as 8-bit PNG images into RUN/images/, in a folder per label when labels are given: whole
            numbers >= 0, one per image.
        run_dir: the run's folder. One that holds a run is refused unless `overwrite`.
        overwrite: replace the run in `run_dir` (and the images of the one trained on arrays).
        verbose: Keras' progress display: 0 silent, 1 a progress bar, 2 a line per epoch, "auto".
        precision: mixed precision, as `vae-train --mixed-precision` takes it: "off", "auto", "float16",
            "bfloat16"; None for off.
        snapshots: save a small picture of the model after every epoch, as `vae-train --snapshots` does.
        skip_damaged: leave a folder's damaged images out, listing them in the run, instead of refusing the folder.

    Returns:
        The trained `Run`, as `open_run(run_dir)` opens it.

    Raises:
        UsageError: a config field, option or array the run cannot take, named; RunError: a run already in
            `run_dir`; DataError: data that cannot be read.
    """
    run_dir = RunDir(run_dir)
    run_dir.refuse_pretrained()
    chosen, shape, arrays = checked_arguments(config, data)
    # TensorFlow only once the arguments are checked: a refusal is instant.
    from vae.training.loop import check_run_dir, remove_if_empty
    from vae.training.loop import train as train_run

    check_run_dir(run_dir, overwrite=overwrite, resume=False)
    created = not run_dir.path.exists()
    folder = data
    if arrays is not None:
        folder = run_dir.path / IMAGES_DIR
        replace_images(folder, overwrite)
    try:
        if arrays is not None:
            write_images(arrays, folder)
        prepared = new_run_data(
            {**FIELD_DEFAULTS, **chosen}, folder, dataset_given="dataset" in chosen, skip_damaged=skip_damaged,
            image_size=shape.get("image_size"), channels=shape.get("channels"),
        )  # fmt: skip
        train_run(
            prepared.config, prepared.dataset, run_dir,
            overwrite=overwrite, verbose=verbose, precision=precision, snapshots=snapshots,
        )  # fmt: skip
    except BaseException:
        # The images of a run that never reached its first checkpoint go with it; a checkpoint's run resumes on them.
        if arrays is not None and read_checkpoint_safe(run_dir) is None:
            shutil.rmtree(folder, ignore_errors=True)
            if created and run_dir.path.is_dir():
                remove_if_empty(run_dir)
        raise
    return open_run(run_dir.path)


def checked_arguments(config: VAEConfig | Mapping, data) -> tuple[dict, dict, Arrays | None]:
    """The config fields chosen, the image shape chosen for a folder or arrays, and the arrays, checked before
    anything is read or written; a UsageError or DataError names what `train` cannot take."""
    chosen = chosen_fields(config)
    # The data set's own shape is checked by the config; a folder's images are fitted to a chosen one.
    shape = {} if data is None else {name: chosen.pop(name) for name in SHAPE_FIELDS if name in chosen}
    options = {**FIELD_DEFAULTS, **chosen}
    if data is None:
        check_python_data(options["dataset"], "none")
        return chosen, shape, None
    if isinstance(data, (str, os.PathLike)):
        if not Path(data).is_dir():
            raise DataError(f"{data} does not exist or is not a folder")
        return chosen, shape, None
    arrays = checked_arrays(data)
    check_python_data(chosen.get("dataset"), "arrays")
    side, channels = arrays.pixels.shape[2:]
    # The config the folder of these images will make, checked before anything is written.
    VAEConfig(**{
        **options, "dataset": "folder", "image_size": shape.get("image_size", side),
        "channels": shape.get("channels", channels), "class_names": arrays.class_names,
    })  # fmt: skip
    return chosen, shape, arrays


def chosen_fields(config: VAEConfig | Mapping) -> dict:
    """The config fields chosen: a dict's, checked to name fields; a `VAEConfig`'s that differ from the defaults, and
    its learning rate."""
    if isinstance(config, VAEConfig):
        return {
            name: value
            for name, value in dataclasses.asdict(config).items()
            if name == "learning_rate" or value != getattr(DEFAULTS, name)
        }
    if not isinstance(config, Mapping):
        raise UsageError(f"config must be a VAEConfig or a dict of its fields, got {type(config).__name__}")
    unknown = sorted(set(config) - set(FIELD_DEFAULTS))
    if unknown:
        raise UsageError(
            f"unknown config field{'s' * (len(unknown) > 1)} {', '.join(map(repr, unknown))}: the fields are "
            f"{', '.join(FIELD_DEFAULTS)}"
        )
    return dict(config)


def checked_arrays(data) -> Arrays:
    """`images` or `(images, labels)` as `Arrays`, or a UsageError that names what is wrong."""
    images, labels = data if isinstance(data, tuple) and len(data) == 2 else (data, None)
    array = number_array(images, "images")
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[1] != array.shape[2] or array.shape[3] not in CHANNELS:
        raise UsageError(
            f"images must be (N, side, side) or (N, side, side, channels) with 1 or 3 channels, got {np.shape(images)}"
        )
    side = array.shape[1]
    if not MIN_IMAGE_SIZE <= side <= MAX_IMAGE_SIZE:
        raise UsageError(f"images must have a side from {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE}, got {side}")
    if len(array) < 2:
        raise UsageError(f"images must be at least two, to train on and to test on; got {len(array)}")
    pixels = np.round(unit_pixels(array) * 255).astype(np.uint8)
    if labels is None:
        return Arrays(pixels, None)
    labels = number_array(labels, "labels")
    if labels.shape != (len(array),):
        raise UsageError(f"labels must be one per image, ({len(array)},), got {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise UsageError(f"labels must be whole numbers (class indices), got {labels.dtype}")
    if labels.min() < 0:
        raise UsageError(f"labels must be >= 0, got {labels.min()}")
    return Arrays(pixels, labels)


def replace_images(folder: Path, overwrite: bool) -> None:
    """Make way for the arrays' images at `folder`: what is there already is replaced only with `overwrite`."""
    if not (folder.exists() or folder.is_symlink()):
        return
    if not overwrite:
        raise RunError(f"{folder} exists: pass overwrite=True to replace it with these images, or another run_dir")
    if folder.is_dir() and not folder.is_symlink():
        shutil.rmtree(folder)
    else:
        folder.unlink()


def write_images(arrays: Arrays, folder: Path) -> None:
    """The arrays as PNG images in `folder`: in a subfolder per class with labels, all in `folder` without."""
    width = len(str(len(arrays.pixels) - 1))
    names = arrays.class_names
    classes = {label: names[index] for index, label in enumerate(np.unique(arrays.labels))} if names else {}
    for index, image in enumerate(arrays.pixels):
        where = folder if arrays.labels is None else folder / classes[arrays.labels[index]]
        where.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(where / f"{index:0{width}d}.png")
