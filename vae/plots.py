"""Pictures of what a trained VAE learned: reconstructions, the latent grid, clusters, samples, interpolations and
training curves. Rendering uses matplotlib's Agg backend, so no display is needed; every PNG is written atomically.

The decoding and encoding helpers return arrays, so benchmarks and tests can check them without pictures.
"""

from __future__ import annotations

import math
from pathlib import Path
from statistics import NormalDist

import numpy as np

from vae.storage import atomic_path

ENCODE_BATCH_SIZE = 1000
DIGIT_STYLE = {"cmap": "gray", "interpolation": "nearest", "vmin": 0.0, "vmax": 1.0}
VIEWS = ("reconstruction", "latent-grid", "clusters", "samples", "interpolate", "history")


def pyplot():
    """matplotlib.pyplot on the Agg backend, imported only when a picture is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=100)
    pyplot().close(figure)
    return path


def encode_means(model, images: np.ndarray) -> np.ndarray:
    """The latent means of `images` (float32, N x 28 x 28 x 1), encoded in batches."""
    means = [np.asarray(model.encode(images[start : start + ENCODE_BATCH_SIZE])[0]) for start in range(0, len(images), ENCODE_BATCH_SIZE)]
    return np.concatenate(means)


def decode(model, z: np.ndarray) -> np.ndarray:
    """Decoder mean images (N x 28 x 28) for latent vectors z (N x latent_dim), in one batched call."""
    return np.asarray(model.decode(np.asarray(z, dtype="float32")))[..., 0]


def check_dims(dims: tuple[int, int], latent_dim: int) -> tuple[int, int]:
    if len(dims) != 2 or dims[0] == dims[1] or not all(0 <= d < latent_dim for d in dims):
        raise ValueError(f"dims must be two different latent axes in 0..{latent_dim - 1}, got {','.join(map(str, dims))}")
    return dims


def default_span(model, images: np.ndarray, dims: tuple[int, int] = (0, 1)) -> float:
    """Half-width of a grid that covers where the test digits' latent means lie: their 99th percentile of |z| on
    the two axes, rounded up to 0.5."""
    means = encode_means(model, images)[:, list(dims)]
    return max(0.5, math.ceil(float(np.percentile(np.abs(means), 99)) * 2) / 2)


def grid_axis(n: int, span: float | None, quantiles: bool) -> np.ndarray:
    """The n values along one grid axis: evenly spaced in [-span, span], or the N(0, 1) quantiles 0.05..0.95."""
    if quantiles:
        return np.array([NormalDist().inv_cdf(p) for p in np.linspace(0.05, 0.95, n)], dtype="float32")
    if span is None or not span > 0:
        raise ValueError(f"span must be a positive number, got {span}")
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
    return decode(model, z).reshape(n, n, 28, 28), axis


def tile(images: np.ndarray, padding: int = 1) -> np.ndarray:
    """Lay an (rows, columns, 28, 28) array of digits out as one image, with thin gaps between cells."""
    rows, columns = images.shape[:2]
    size = 28 + padding
    canvas = np.ones((rows * size - padding, columns * size - padding), dtype="float32") * 0.25
    for row in range(rows):
        for column in range(columns):
            canvas[row * size : row * size + 28, column * size : column * size + 28] = images[row, column]
    return canvas


def plot_reconstructions(model, images: np.ndarray, labels: np.ndarray, indices, path, columns: int = 10) -> Path:
    """Originals on top, their reconstructions (the decoder's mean image from the latent mean) below, wrapped
    into row pairs of at most `columns` digits."""
    plt = pyplot()
    originals = images[indices]
    reconstructions = np.asarray(model(originals))[..., 0]
    count = len(indices)
    columns = min(columns, count)
    pairs = math.ceil(count / columns)
    figure, axes = plt.subplots(2 * pairs, columns, figsize=(1.1 * columns, 2.4 * pairs + 0.6), squeeze=False)
    for position in range(pairs * columns):
        pair, column = divmod(position, columns)
        top, bottom = axes[2 * pair, column], axes[2 * pair + 1, column]
        for axis in (top, bottom):
            axis.set_axis_off()
        if position >= count:
            continue
        top.imshow(originals[position, ..., 0], **DIGIT_STYLE)
        top.set_title(f"#{indices[position]}: {labels[indices[position]]}", fontsize=8)
        bottom.imshow(reconstructions[position], **DIGIT_STYLE)
    figure.suptitle("Test digits (upper rows) and their reconstructions (lower rows)")
    figure.tight_layout()
    return save_figure(figure, path)


def plot_latent_grid(model, path, n: int, span: float, quantiles: bool, dims=(0, 1)) -> Path:
    plt = pyplot()
    images, axis = decode_latent_grid(model, n, span=span, quantiles=quantiles, dims=dims)
    figure, ax = plt.subplots(figsize=(9, 9))
    ax.imshow(tile(images, padding=0), **DIGIT_STYLE)
    ticks = np.linspace(0, n - 1, min(n, 7)).round().astype(int)
    ax.set_xticks(ticks * 28 + 14, [f"{axis[i]:.2f}" for i in ticks])
    ax.set_yticks(ticks * 28 + 14, [f"{axis[::-1][i]:.2f}" for i in ticks])
    ax.set_xlabel(f"z[{dims[0]}]")
    ax.set_ylabel(f"z[{dims[1]}]")
    spread = "Gaussian quantiles 0.05-0.95" if quantiles else f"z in [-{span:g}, {span:g}]"
    others = "" if model.vae_config.latent_dim == 2 else ", other axes at 0"
    ax.set_title(f"Decoded latent grid, {n}x{n}, {spread}{others}")
    figure.tight_layout()
    return save_figure(figure, path)


def project_two_dimensions(means: np.ndarray) -> tuple[np.ndarray, bool]:
    """The points themselves for a 2-D latent; otherwise their first two principal components (PCA by SVD)."""
    if means.shape[1] == 2:
        return means, False
    centred = means - means.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    return centred @ components[:2].T, True


def plot_clusters(model, images: np.ndarray, labels: np.ndarray, path) -> Path:
    plt = pyplot()
    points, projected = project_two_dimensions(encode_means(model, images))
    figure, ax = plt.subplots(figsize=(9, 8))
    colours = plt.get_cmap("tab10")
    for digit in range(10):
        chosen = labels == digit
        ax.scatter(points[chosen, 0], points[chosen, 1], s=2, alpha=0.6, color=colours(digit), label=str(digit))
    ax.legend(title="label", markerscale=6, loc="upper right")
    if projected:
        ax.set_xlabel("principal component 1")
        ax.set_ylabel("principal component 2")
        ax.set_title(f"Latent means of {len(images)} test digits (PCA of {model.vae_config.latent_dim}-D z)")
    else:
        ax.set_xlabel("z[0]")
        ax.set_ylabel("z[1]")
        ax.set_title(f"Latent means of {len(images)} test digits")
    figure.tight_layout()
    return save_figure(figure, path)


def plot_samples(model, path, n: int, seed: int) -> Path:
    """New digits decoded from z ~ N(0, I), seeded."""
    plt = pyplot()
    z = np.random.default_rng(seed).standard_normal((n, model.vae_config.latent_dim)).astype("float32")
    images = decode(model, z)
    columns = math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    cells = np.zeros((rows * columns, 28, 28), dtype="float32")
    cells[:n] = images
    figure, ax = plt.subplots(figsize=(0.8 * columns + 1, 0.8 * rows + 1))
    ax.imshow(tile(cells.reshape(rows, columns, 28, 28)), **DIGIT_STYLE)
    ax.set_axis_off()
    ax.set_title(f"{n} digits decoded from z ~ N(0, I), seed {seed}")
    figure.tight_layout()
    return save_figure(figure, path)


def plot_interpolation(model, images: np.ndarray, labels: np.ndarray, start: int, end: int, steps: int, path) -> Path:
    """Decode the straight line between the latent means of test digits `start` and `end`, endpoints included."""
    plt = pyplot()
    means = encode_means(model, images[[start, end]])
    weights = np.linspace(0.0, 1.0, steps, dtype="float32")[:, None]
    decoded = decode(model, (1 - weights) * means[0] + weights * means[1])
    figure, axes = plt.subplots(1, steps, figsize=(1.1 * steps, 1.9), squeeze=False)
    for index, ax in enumerate(axes[0]):
        ax.imshow(decoded[index], **DIGIT_STYLE)
        ax.set_axis_off()
    axes[0, 0].set_title(f"#{start}: {labels[start]}", fontsize=9)
    axes[0, -1].set_title(f"#{end}: {labels[end]}", fontsize=9)
    figure.suptitle(f"Interpolating the latent means of test digits {start} and {end} in {steps} steps")
    figure.tight_layout()
    return save_figure(figure, path)


def plot_history(history: dict, binarize: bool, path) -> Path:
    """Train and test curves per epoch for the total loss and its two parts."""
    plt = pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(14, 4))
    panels = [("loss", "negative ELBO"), ("reconstruction_loss", "reconstruction"), ("kl_loss", "KL divergence")]
    unit = "nats per image" if binarize else "nats per image (grayscale BCE)"
    for ax, (key, title) in zip(axes, panels):
        later = []
        for prefix, name in (("", "train"), ("test_", "test")):
            values = history.get(prefix + key, [])
            ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=name)
            later += values[1:]
        if key != "kl_loss" and len(later) > 4:
            # The first epoch's loss is far above the rest; cut it off so the later progress stays visible.
            low, high = min(later), max(later)
            ax.set_ylim(low - 0.05 * (high - low), high + 0.05 * (high - low))
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(unit)
        ax.grid(alpha=0.3)
        ax.legend()
    figure.suptitle("Training history")
    figure.tight_layout()
    return save_figure(figure, path)


def test_digits(config, data_dir=None) -> tuple[np.ndarray, np.ndarray]:
    """The run's test digits as the model saw them (binarized once under --binarize) and their labels."""
    from vae.data import load_dataset, test_inputs

    dataset = load_dataset(config.dataset, data_dir)
    return test_inputs(dataset, config.binarize), dataset.test_labels


def check_indices(indices, count: int) -> list[int]:
    bad = [index for index in indices if not 0 <= index < count]
    if bad:
        raise ValueError(f"test digit index {bad[0]} is out of range: the test set has {count} digits (0..{count - 1})")
    return list(indices)
