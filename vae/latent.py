"""The latent space as arrays: the test digits a run is shown, their latent means, decoded latent points and grids.

No pictures here: `vae.plots`, `vae.report` and `vae.snapshots` draw or store what these functions return, and
tests and benchmarks check the arrays directly. Every call that runs the model does so in batches of
`INFERENCE_BATCH_SIZE` or in one batched call.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from vae.config import GAUSSIAN_QUANTILES, IMAGE_SIDE, INFERENCE_BATCH_SIZE, MAX_GRID_SPAN
from vae.errors import UsageError


def load_test_digits(config, data_dir=None) -> tuple[np.ndarray, np.ndarray]:
    """The run's test digits as the model saw them (binarized once under --binarize) and their labels. Only the test
    files are read."""
    from vae.data import load_dataset, test_inputs

    dataset = load_dataset(config.dataset, data_dir, test_only=True)
    return test_inputs(dataset, config.binarize), dataset.test_labels


def check_indices(indices, count: int) -> list[int]:
    """The indices as a list, or a UsageError naming the first one outside the test set."""
    outside = [index for index in indices if not 0 <= index < count]
    if outside:
        raise UsageError(
            f"test digit index {outside[0]} is out of range: the test set has {count} digits (0..{count - 1})"
        )
    return list(indices)


def encode_means(model, images: np.ndarray) -> np.ndarray:
    """The latent means of `images` (float32, N x 28 x 28 x 1), encoded in batches to bound the memory used."""
    batches = range(0, len(images), INFERENCE_BATCH_SIZE)
    return np.concatenate(
        [np.asarray(model.encode(images[start : start + INFERENCE_BATCH_SIZE])[0]) for start in batches]
    )


def decode(model, z: np.ndarray) -> np.ndarray:
    """Decoder mean images (N x 28 x 28) for latent vectors z (N x latent_dim), in one batched call."""
    return np.asarray(model.decode(np.asarray(z, dtype="float32")))[..., 0]


def check_dims(dims: tuple[int, int], latent_dim: int) -> tuple[int, int]:
    """The two latent axes a grid varies, or a ValueError saying which axes this run has."""
    if latent_dim < 2:
        raise UsageError(f"the latent grid needs a latent size of at least 2; this run's is {latent_dim}")
    if len(dims) != 2 or dims[0] == dims[1] or not all(0 <= dim < latent_dim for dim in dims):
        given = ",".join(map(str, dims))
        raise UsageError(f"dims must be two different latent axes in 0..{latent_dim - 1}, got {given}")
    return dims


def default_span(model, images: np.ndarray, dims: tuple[int, int] = (0, 1)) -> float:
    """Half-width of a grid that covers where the test digits' latent means lie: their 99th percentile of |z| on
    the two axes, rounded up to 0.5. A fixed span would show mostly empty prior for a weakly trained model and cut
    off digits for a model whose codes spread wider than N(0, I)."""
    return span_covering(encode_means(model, images)[:, list(dims)])


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


def decode_latent_grid(model, n: int, span: float | None = None, quantiles: bool = False, dims=(0, 1)):
    """Decode an n x n grid of latent points in one batched call.

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
    return decode(model, z).reshape(n, n, IMAGE_SIDE, IMAGE_SIDE), axis
