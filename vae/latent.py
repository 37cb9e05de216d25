"""The latent space as arrays: the test digits a run is shown, their latent means, decoded latent points and grids.

No pictures here: `vae.plots`, `vae.report` and `vae.snapshots` draw or store what these functions return, and
tests and benchmarks check the arrays directly. Every call that runs the model does so in batches of
`INFERENCE_BATCH_SIZE` or in one batched call.
"""

from __future__ import annotations

import math
import re
from statistics import NormalDist

import numpy as np

from vae.config import CLASSES, GAUSSIAN_QUANTILES, IMAGE_SIDE, INFERENCE_BATCH_SIZE, MAX_GRID_SPAN
from vae.errors import UsageError


def load_test_digits(config, data_dir=None) -> tuple[np.ndarray, np.ndarray]:
    """The run's test digits as the model saw them (binarized once under --binarize) and their labels. Only the test
    files are read."""
    from vae.data import load_dataset, test_inputs

    dataset = load_dataset(config.dataset, data_dir, test_only=True)
    return test_inputs(dataset, config.binarize), dataset.test_labels


def choose_test_digits(count: int, n: int, seed: int) -> list[int]:
    """n distinct test digit indices out of `count` (all of them if fewer), chosen by `seed`, in ascending order."""
    return sorted(np.random.default_rng(seed).choice(count, size=min(n, count), replace=False).tolist())


def check_indices(indices, count: int) -> list[int]:
    """The indices as a list, or a UsageError naming the first one outside the test set."""
    outside = [index for index in indices if not 0 <= index < count]
    if outside:
        raise UsageError(
            f"test digit index {outside[0]} is out of range: the test set has {count} digits (0..{count - 1})"
        )
    return list(indices)


def model_labels(model, labels) -> np.ndarray | None:
    """The labels a call of `model` takes: `labels` as int32 for a conditional model, None for another."""
    return np.asarray(labels, dtype="int32") if model.vae_config.conditional else None


def encode_means(model, images: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """The latent means of `images` (float32, N x 28 x 28 x 1), given their `labels` on a conditional model, encoded
    in batches to bound the memory used."""
    batches = range(0, len(images), INFERENCE_BATCH_SIZE)
    return np.concatenate(
        [
            np.asarray(model.encode(*_rows((images, labels), start, start + INFERENCE_BATCH_SIZE))[0])
            for start in batches
        ]
    )


def reconstruct(model, images: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """Reconstructions (N x 28 x 28) of `images` from their latent means, given their `labels` on a conditional
    model."""
    means = encode_means(model, images, labels)
    return decode(model, means, labels)


def decode(model, z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """Decoder mean images (N x 28 x 28) for latent vectors z (N x latent_dim), with a label for each on a
    conditional model, in one batched call."""
    return np.asarray(model.decode(np.asarray(z, dtype="float32"), labels))[..., 0]


def analogies(model, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N, 10, 28, 28): each image's latent mean, encoded with its label by a conditional model, decoded as every
    digit 0-9 in one batched call."""
    check_conditional(model, "analogies")
    means = encode_means(model, images, labels)
    every = np.tile(np.arange(CLASSES, dtype="int32"), len(images))
    return decode(model, np.repeat(means, CLASSES, axis=0), every).reshape(len(images), CLASSES, IMAGE_SIDE, IMAGE_SIDE)


def check_conditional(model, what: str) -> None:
    if not model.vae_config.conditional:
        raise UsageError(f"{what} need a conditional run: train one with vae-train --conditional")


def check_digit(config, digit: int | None) -> None:
    """Refuse a digit for an unconditional run, whose decoder takes no label, and one outside 0-9."""
    if digit is None:
        return
    if not config.conditional:
        raise UsageError(f"--digit {digit} needs a conditional run: train one with vae-train --conditional")
    if not 0 <= digit < CLASSES:
        raise UsageError(f"--digit must be one of 0-{CLASSES - 1}, got {digit}")


PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
NON_FINITE_WORDS = ("nan", "inf", "infinity")


def parse_latent_vectors(vectors, latent_dim: int) -> np.ndarray:
    """Comma-separated latent vectors ("0.5,-1.2") as a float32 (N, latent_dim) array; a UsageError names the first
    one with the wrong number of values or a value that is not a finite number."""
    rows = []
    for text in vectors:
        parts = [part.strip() for part in text.split(",")]
        # Python's float() also takes "1_0", "١" and "infinity"; a latent value is written in plain decimal or
        # exponent notation only, and "nan" or "inf" is refused below as not finite.
        if not all(PLAIN_NUMBER.fullmatch(part) or part.lower().lstrip("+-") in NON_FINITE_WORDS for part in parts):
            raise UsageError(f"--z {text!r} is not a comma-separated list of numbers")
        values = [float(part) for part in parts]
        if len(values) != latent_dim:
            raise UsageError(
                f"--z {text!r} has {len(values)} value{'s' * (len(values) != 1)}: this run's latent size is "
                f"{latent_dim}"
            )
        if not all(math.isfinite(value) and abs(value) <= MAX_GRID_SPAN for value in values):
            raise UsageError(
                f"--z {text!r}: every value must be a finite number in [-{MAX_GRID_SPAN:g}, {MAX_GRID_SPAN:g}]"
            )
        rows.append(values)
    return np.asarray(rows, dtype="float32")


def digit_labels(digit: int | None, count: int) -> np.ndarray | None:
    """`count` copies of `digit` as labels, or None for no digit."""
    return None if digit is None else np.full(count, digit, dtype="int32")


def _rows(arrays, start: int, end: int):
    return tuple(None if array is None else array[start:end] for array in arrays)


def check_dims(dims: tuple[int, int], latent_dim: int) -> tuple[int, int]:
    """The two latent axes a grid varies, or a ValueError saying which axes this run has."""
    if latent_dim < 2:
        raise UsageError(f"the latent grid needs a latent size of at least 2; this run's is {latent_dim}")
    if len(dims) != 2 or dims[0] == dims[1] or not all(0 <= dim < latent_dim for dim in dims):
        given = ",".join(map(str, dims))
        raise UsageError(f"dims must be two different latent axes in 0..{latent_dim - 1}, got {given}")
    return dims


def default_span(model, images: np.ndarray, labels: np.ndarray | None, dims: tuple[int, int] = (0, 1)) -> float:
    """Half-width of a grid that covers where the test digits' latent means lie: their 99th percentile of |z| on
    the two axes, rounded up to 0.5. A fixed span would show mostly empty prior for a weakly trained model and cut
    off digits for a model whose codes spread wider than N(0, I)."""
    return span_covering(encode_means(model, images, model_labels(model, labels))[:, list(dims)])


def span_covering(points: np.ndarray) -> float:
    """The 99th percentile of |z| over `points`, rounded up to 0.5 (see `default_span`)."""
    return max(0.5, math.ceil(float(np.percentile(np.abs(points), 99)) * 2) / 2)


def grid_axis(n: int, span: float | None, quantiles: bool) -> np.ndarray:
    """The n values along one grid axis: evenly spaced in [-span, span], or evenly spaced `GAUSSIAN_QUANTILES` of
    N(0, 1) (0.05 to 0.95)."""
    if quantiles:
        return np.array([NormalDist().inv_cdf(p) for p in np.linspace(*GAUSSIAN_QUANTILES, n)], dtype="float32")
    if span is None or not 0 < span <= MAX_GRID_SPAN:
        raise UsageError(f"span must be a number in (0, {MAX_GRID_SPAN:g}], got {span}")
    return np.linspace(-span, span, n, dtype="float32")


def decode_latent_grid(
    model, n: int, span: float | None = None, quantiles: bool = False, dims=(0, 1), digit: int | None = None
):
    """Decode an n x n grid of latent points in one batched call, as `digit` on a conditional model.

    The two axes `dims` vary (x along columns, y up the rows) and every other latent coordinate stays at 0, the
    prior's mean. Returns the images (n, n, 28, 28), row 0 at the top (largest y), and the axis values.
    """
    latent_dim = model.vae_config.latent_dim
    dims = check_dims(tuple(dims), latent_dim)
    axis = grid_axis(n, span, quantiles)
    x, y = np.meshgrid(axis, axis[::-1])
    z = np.zeros((n * n, latent_dim), dtype="float32")
    z[:, dims[0]] = x.ravel()
    z[:, dims[1]] = y.ravel()
    return decode(model, z, digit_labels(digit, n * n)).reshape(n, n, IMAGE_SIDE, IMAGE_SIDE), axis
