"""The Python API: one object for a trained run, from a path or a pretrained name, that fits in a notebook cell.

    run = vae.open_run("pretrained:mnist")
    z = run.encode("my-digit.png")            # latent means, (N, latent_dim)
    scores = run.score(images)                # per-image outlier scores, in nats
    maps = run.anomaly_map(images)            # where each image is unlike the training data, nats per pixel
    quality = run.sample_quality()            # samples judged beside real images: Fréchet distance, ...

Images are numpy arrays, (N, side, side[, channels]) as the run's, or image paths (files or folders), which are
prepared as `vae-encode` prepares them. Floating-point pixels lie in [0, 1], dark to light, give or take 1e-6 of
rounding; integer ones (uint8, or any integer type) are read on uint8's scale, 0 to 255. Pixels on another scale
(floats up to 255, as `np.asarray(image).astype(float)` gives them from a Pillow image), NaN or infinite ones, and
an array of another shape are refused with a `vae.UsageError` (a `ValueError`) that names the likely cause, as are
a label, count or seed the run cannot take. What comes back is numpy: latent vectors, and pictures, (N, side, side)
for a gray run or (N, side, side, 3) for an RGB one; an empty batch gives empty arrays of those shapes.
`sample` and `decode` run the decoder in batches and return at most 1 GiB of pictures from one call (342,392
digits of 28x28).
Every method calls the functions the commands call, so a notebook and the command line give the same numbers.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vae.config import VAEConfig
from vae.data.sources import load_images
from vae.errors import UsageError, first_line
from vae.evaluation import IMPORTANCE_SAMPLES, SAMPLE_QUALITY_SAMPLES, complexity, generation
from vae.evaluation.thresholds import load_threshold, with_threshold
from vae.model import INFERENCE_BATCH_SIZE, MAX_GRID_SPAN
from vae.model.latent import (
    LabelRequest,
    decode,
    encode_means,
    label_index,
    pictures,
    prior_samples,
    reconstruct,
    repeated_label,
)
from vae.run.directory import DEFAULT_RUN_DIR, RunDir
from vae.run.loading import load_run

if TYPE_CHECKING:  # for the annotations alone: importing the model would bring in Keras
    from vae.model.autoencoder import VAE

# Pixel values a little outside [0, 1] by float rounding (1.0000001 from arithmetic in float32) are taken as they
# are; anything further out is on another scale, which the model would score as absurdly unlikely.
IMAGE_RANGE_TOLERANCE = 1e-6
# The most numbers `sample` or `decode` returns as pictures from one call, 1 GiB of float32 (342,392 digits of
# 28x28): the decoder runs in batches, so the pictures themselves are what bounds their memory, and a few numbers in
# could otherwise ask for terabytes out.
MAX_PICTURE_VALUES = 2**28


@dataclass(frozen=True)
class Run:
    """A trained run: its model, config and history. Open one with `open_run`, or train one with `vae.train`.

    Every method checks its arguments before it runs the model and raises `vae.UsageError` (a `ValueError`) for one
    it cannot take: an array of the wrong shape, pixels outside [0, 1] or not finite numbers, a label the run does
    not have, a count or seed that is not a whole number. An empty batch gives empty results of the usual shapes.
    """

    model: VAE
    config: VAEConfig
    history: dict[str, list[float]]
    run_dir: RunDir

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names, in label order (none for a folder of images without classes)."""
        return self.config.classes

    def images(self, images) -> np.ndarray:
        """`images` as the model takes them, float32 (N, side, side, channels): paths prepared as `vae-encode`
        prepares them; arrays as they are, a channel axis added to gray ones. Floating-point pixels must lie in
        [0, 1] (give or take 1e-6 of rounding) and be finite; integer ones (uint8, or any integer type) are read on
        uint8's scale, 0 to 255, and divided by 255; booleans are 0 or 1."""
        paths = _paths(images)
        if paths is not None:
            return load_images(paths, self.config)[1]
        array = number_array(images, "images")
        expected = self.config.image_shape
        if array.ndim == 1 and array.size == 0:  # an empty list: a batch of no images
            array = array.reshape(0, *expected)
        if array.ndim == len(expected) and self.config.channels == 1 and array.shape[1:] == expected[:2]:
            array = array[..., None]
        if array.shape[1:] != expected:
            raise UsageError(_shape_problem(np.shape(images), expected))
        return unit_pixels(array)

    def label(self, label) -> int | None:
        """A label given by a class's name or index, checked against the run (None for none)."""
        return label_index(self.config, None if label is None else LabelRequest(str(label), "label"))

    def _inputs(self, images, label, k: int = IMPORTANCE_SAMPLES, seed: int = 0):
        """The one path every method that takes images goes through: the images as the model takes them and the
        labels it is given for them (None on an unconditional run), every argument checked first."""
        from vae.evaluation.scores import image_labels

        label = self.label(label)
        _whole_number("k", k, 1)
        _whole_number("seed", seed, 0)
        images = self.images(images)
        if not len(images):  # the model cannot run on no rows: the methods answer an empty batch themselves
            return images, None
        return images, image_labels(self.model, images, label, k, seed=seed)

    def _check_picture_count(self, count: int, what: str, advice: str) -> None:
        """Refuse a call that would return more than `MAX_PICTURE_VALUES` numbers of pictures."""
        per_picture = math.prod(self.config.image_shape)
        if count * per_picture > MAX_PICTURE_VALUES:
            raise UsageError(
                f"{what} would make {count:,} pictures, {count * per_picture * 4 / 2**30:.1f} GiB: one call returns "
                f"at most {MAX_PICTURE_VALUES // per_picture:,} of this run's, 1 GiB; {advice}"
            )

    def encode(self, images, label=None) -> np.ndarray:
        """The latent means of the images, (N, latent_dim); a conditional run takes `label` for all of them, or
        finds each one's most likely label."""
        images, labels = self._inputs(images, label)
        if not len(images):
            return np.zeros((0, self.config.latent_dim), np.float32)
        return encode_means(self.model, images, labels)

    def decode(self, z, label=None) -> np.ndarray:
        """The decoder's mean images at the latent vectors z, (N, latent_dim): pictures."""
        z = number_array(z, "z").astype(np.float32)
        if z.ndim != 2 or z.shape[1] != self.config.latent_dim:
            raise UsageError(f"z must be (N, {self.config.latent_dim}), this run's latent size; got {z.shape}")
        if not np.all(np.isfinite(z)) or np.abs(z).max(initial=0) > MAX_GRID_SPAN:
            raise UsageError(f"z must be finite numbers in [-{MAX_GRID_SPAN:g}, {MAX_GRID_SPAN:g}]")
        label = self.label(label)
        self.model.latent.labels.require_label(
            label, "decode needs label=, a class's name or index, on a conditional run"
        )
        self._check_picture_count(len(z), f"{len(z):,} latent vectors", "decode them in several calls")
        return decode(self.model, z, repeated_label(label, len(z)), INFERENCE_BATCH_SIZE)

    def reconstruct(self, images, label=None) -> np.ndarray:
        """The images' reconstructions from their latent means: pictures."""
        images, labels = self._inputs(images, label)
        if not len(images):
            return pictures(images)
        return reconstruct(self.model, images, labels, INFERENCE_BATCH_SIZE)

    def score(self, images, k: int = IMPORTANCE_SAMPLES, label=None, seed: int = 0) -> dict[str, np.ndarray]:
        """Per-image outlier scores, in nats (higher: less like the training data), as `vae-encode` writes them:
        `negative_elbo` and the importance-weighted bound from k samples, with `z_mean` and `z_log_var`; on a run
        with an exact likelihood also `complexity_bits` and `complexity_corrected_score`, in bits
        (`vae.evaluation.complexity`); where a threshold is saved in the run (`vae-eval --set-threshold`), also
        `outlier` (0 or 1) and `normalised_score` (in [0, 1], 0.5 at the threshold) (`vae.evaluation.thresholds`)."""
        from vae.evaluation.estimators import importance_weighted_metric_name
        from vae.evaluation.scores import score_images

        images, labels = self._inputs(images, label, k, seed)
        if not len(images):
            latent_dim = self.config.latent_dim
            empty = np.zeros(0, np.float32)
            scores = {
                "z_mean": np.zeros((0, latent_dim), np.float32),
                "z_log_var": np.zeros((0, latent_dim), np.float32),
                "negative_elbo": empty,
                importance_weighted_metric_name(self.config): empty,
            }
            if complexity.corrects(self.config):
                scores = complexity.corrected_columns(scores, images, empty)
        else:
            scores = score_images(self.model, images, k, labels=labels, seed=seed)
        return with_threshold(scores, load_threshold(self.run_dir, self.config), k)

    def anomaly_map(self, images, label=None) -> np.ndarray:
        """Where each image is unlike the training data: -log p(x_ij|z) at every pixel, summed over the channels, in
        nats, at the mean of q(z|x), float32 (N, side, side) (`vae.evaluation.anomaly_maps`)."""
        from vae.evaluation.anomaly_maps import anomaly_maps

        images, labels = self._inputs(images, label)
        if not len(images):
            side = self.config.image_size
            return np.zeros((0, side, side), np.float32)
        return anomaly_maps(self.model, images, labels)

    def sample(self, n: int = 16, label=None, seed: int = 0) -> np.ndarray:
        """n new images decoded from z ~ p(z), as the class `label` on a conditional run (one row per class without
        it): pictures.

        The decoder runs in batches, so n is bounded by the pictures alone: one call returns at most 1 GiB of them
        (342,392 digits of 28x28); more is a `UsageError`, and calls with other seeds draw more."""
        _whole_number("n", n, 0)
        _whole_number("seed", seed, 0)
        label = self.label(label)
        conditioning = self.model.latent.labels
        classes = conditioning.classes if conditioning.every_class(label) else 1
        self._check_picture_count(
            classes * math.ceil(n / classes), f"n={n:,}", "draw more in several calls with other seeds"
        )
        return prior_samples(self.model, int(n), int(seed), label, INFERENCE_BATCH_SIZE)[0]

    def sample_quality(
        self, samples: int = SAMPLE_QUALITY_SAMPLES, temperature: float = 1.0, seed: int = 0, data_dir=None
    ) -> dict:
        """How good the run's samples are in the eyes of the classifier shipped for its data set, as `vae-eval
        --sample-quality` measures them (`vae.evaluation.generation`), without writing eval.json: `samples` images
        from the prior at `temperature` (z ~ N(0, temperature^2 I)) against the test split, read from `data_dir`
        (default: `VAE_DATA_DIR` or the download), and the same numbers of real training images, the floor.

        Returns:
            {"metrics": {"frechet_distance", "classifier_score", "precision", "recall", and on a conditional run
            "class_accuracy" and "per_class_accuracy" by class name}, "floor": {"images", "metrics"}, and what was
            measured: the judge, samples, temperature, seed, prior, test images and weights}.

        Raises:
            UsageError: samples outside 4-50,000, a temperature outside (0, 4], a negative seed, or a run of data
                no judge knows (a folder of images).
        """
        return generation.sample_quality(
            self.run_dir,
            data_dir,
            samples=samples,
            temperature=temperature,
            seed=seed,
            loaded=(self.model, self.config, self.history),
        )


def _paths(images) -> list | None:
    """`images` as a list of image paths, or None where they are not paths."""
    if isinstance(images, (str, os.PathLike)):
        return [images]
    if isinstance(images, (list, tuple)) and images:
        are_paths = [isinstance(item, (str, os.PathLike)) for item in images]
        if all(are_paths):
            return list(images)
        if any(are_paths):
            raise UsageError("images must be image paths or an array of pixels, not a mix of both")
    return None


# What an array holds that is not numbers, by numpy's dtype kind, for messages.
NOT_NUMBERS = {"U": "text", "S": "bytes", "O": "Python objects", "c": "complex numbers", "M": "dates", "m": "durations"}


def number_array(values, name: str) -> np.ndarray:
    """`values` as an array of real numbers (booleans, integers or floats), or a UsageError naming `name`."""
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as error:  # ragged nested lists
        raise UsageError(f"{name} must be an array of numbers: {first_line(error)}") from None
    if array.dtype.kind not in "biuf":
        held = repr(values) if array.ndim == 0 else NOT_NUMBERS.get(array.dtype.kind, f"{array.dtype} values")
        raise UsageError(f"{name} must be an array of numbers, got {held}")
    return array


def unit_pixels(array: np.ndarray) -> np.ndarray:
    """An array of real numbers as float32 pixels in [0, 1]: integers read on uint8's scale and divided by 255,
    booleans as 0 or 1, floats checked to be finite and in [0, 1] (give or take 1e-6 of rounding)."""
    if array.dtype.kind in "iu":
        low, high = _extremes(array)
        if low < 0 or high > 255:
            raise UsageError(
                f"integer images are read on uint8's scale, 0 to 255, but these hold values from {low} to "
                f"{high}: scale them to 0-255, or pass floats in [0, 1]"
            )
        return array.astype(np.float32) / 255.0
    if array.dtype.kind == "f":
        _check_finite(array, "images")
        low, high = _extremes(array)
        if low < -IMAGE_RANGE_TOLERANCE or high > 1 + IMAGE_RANGE_TOLERANCE:
            raise UsageError(_scale_problem(low, high))
    return array.astype(np.float32)


def _extremes(array: np.ndarray) -> tuple:
    """The smallest and largest values of an array as Python numbers (0 and 0 for an empty one)."""
    return (array.min().item(), array.max().item()) if array.size else (0, 0)


def _check_finite(array: np.ndarray, name: str) -> None:
    finite = np.isfinite(array)
    if not finite.all():
        bad = np.flatnonzero(~finite.reshape(len(array), -1).all(axis=1))
        raise UsageError(
            f"{name} hold NaN or infinite values, in {len(bad):,} of {len(array):,} (the first is {name}[{bad[0]}]): "
            "pass finite pixel values in [0, 1]"
        )


def _shape_problem(shape: tuple, expected: tuple) -> str:
    """What is wrong with an array of `shape` where (N, *expected) belongs, saying the shape as it was given."""
    accepted = f"(N, {', '.join(map(str, expected))})"
    single = shape == expected or (expected[-1] == 1 and shape == expected[:-1])
    if expected[-1] == 1:
        accepted += f" or (N, {', '.join(map(str, expected[:-1]))})"
    hint = ": one image? pass a batch of one, images[None]" if single else ""
    return f"images must be {accepted}, got {shape}{hint}"


def _scale_problem(low: float, high: float) -> str:
    """The message for floating-point pixels outside [0, 1], with the likely cause."""
    below, above = low < -IMAGE_RANGE_TOLERANCE, high > 1 + IMAGE_RANGE_TOLERANCE
    if below and above:
        seen, cause = f"values from {low:g} to {high:g}", "normalised images? pass the pixels, 0 (dark) to 1 (light)"
    elif above:
        seen = f"values up to {high:g}"
        if high < 2:
            cause = "clip them to [0, 1]"
        elif high <= 255:
            cause = "images on the 0-255 scale? divide them by 255, or pass uint8"
        elif high <= 65535:
            cause = "16-bit images, 0-65535? divide them by 65535"
        else:
            cause = "pass the pixels, 0 (dark) to 1 (light)"
    else:
        seen = f"values down to {low:g}"
        if low >= -1 - IMAGE_RANGE_TOLERANCE:
            cause = "images on the [-1, 1] scale? map them with (images + 1) / 2"
        else:
            cause = "normalised images? pass the pixels, 0 (dark) to 1 (light)"
    return f"images must be in [0, 1] (or uint8), but hold {seen}: {cause}"


def _whole_number(name: str, value, minimum: int) -> None:
    # bool is an int to Python, but a flag where a count belongs is a mistake; 2.0 is refused with 2.5, as range() does.
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not minimum <= value < 2**63:
        raise UsageError(f"{name} must be an integer >= {minimum}, got {value!r}")


def open_run(run_dir: str | os.PathLike = DEFAULT_RUN_DIR) -> Run:
    """Open a finished run, from its folder or by a pretrained name (`pretrained:mnist`, `pretrained:mnist-conditional`,
    `pretrained:fashion-mnist`).

    Args:
        run_dir: the run's folder, or a pretrained run's name.

    Returns:
        The `Run`, whose methods encode, decode, score, sample and reconstruct.
    """
    run_dir = RunDir(run_dir)
    model, config, history = load_run(run_dir)
    return Run(model, config, history, run_dir)
