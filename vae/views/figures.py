"""Pictures of what a trained VAE learned: reconstructions, the latent grid, clusters, samples, analogies and
interpolations (how it learned: `vae.views.learning`). Rendering uses matplotlib's Agg backend, so no display is
needed; every PNG is written atomically.

The arrays drawn come from `vae.model.latent`, so benchmarks and tests can check them without pictures. Gray runs
are drawn in gray, RGB runs in colour; captions and legends use the run's class names.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator
from PIL import Image

from vae.errors import UsageError
from vae.files import atomic_path
from vae.model import GAUSSIAN_QUANTILES
from vae.model.latent import (
    analogies,
    class_name,
    decode,
    decode_latent_grid,
    encode_means,
    model_labels,
    pictures,
    prior_samples,
    reconstruct,
)

DPI = 100
DIGIT_STYLE = {"cmap": "gray", "interpolation": "nearest", "vmin": 0.0, "vmax": 1.0}
# The latent grid is drawn at a whole number of screen pixels per digit pixel, at least this many on a side; at
# any other ratio, nearest-neighbour drawing drops or doubles rows of pixels unevenly and thin strokes break up.
GRID_MINIMUM_SIDE = 560
# Room around the latent grid, in screen pixels, for the tick labels, the axis labels and the title.
GRID_MARGINS = {"left": 70, "right": 25, "bottom": 55, "top": 40}
# A legend names each class up to this many; more are told apart by colour alone.
MAX_LEGEND_CLASSES = 20


def pyplot():
    """matplotlib.pyplot on the Agg backend, chosen when the first picture is drawn: choosing a backend at import
    time would change matplotlib for the whole process of whoever imports this module."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: str | Path) -> Path:
    """Write `figure` as a PNG under a temporary name and rename it over `path`, so a failure leaves no half file."""
    path = Path(path)
    try:
        with atomic_path(path) as temporary:
            figure.savefig(temporary, format="png", dpi=DPI)
    finally:
        pyplot().close(figure)
    return path


def quantile_range() -> str:
    return "-".join(f"{quantile:g}" for quantile in GAUSSIAN_QUANTILES)


def tile(images: np.ndarray, padding: int = 1) -> np.ndarray:
    """Lay an (rows, columns, side, side[, 3]) array of pictures out as one, with thin dark gray gaps between
    cells."""
    rows, columns, side = images.shape[:3]
    size = side + padding
    canvas = np.full((rows * size - padding, columns * size - padding, *images.shape[4:]), 0.25, dtype="float32")
    for row in range(rows):
        for column in range(columns):
            top, left = row * size, column * size
            canvas[top : top + side, left : left + side] = images[row, column]
    return canvas


def image_bytes(picture: np.ndarray) -> np.ndarray:
    """A picture in [0, 1] as the uint8 pixels of an image file."""
    return np.round(np.clip(picture, 0, 1) * 255).astype("uint8")


def save_digit_row(images: np.ndarray, path) -> Path:
    """Pictures (N x side x side[, 3], in [0, 1]) side by side in one PNG, pixel for pixel, one black column between
    neighbours: a single one is exactly an image of the run's shape, gray or RGB."""
    padding = ((0, 0), (0, 1)) + ((0, 0),) * (images.ndim - 3)
    canvas = np.concatenate([np.pad(image, padding) for image in images], axis=1)[:, :-1]
    path = Path(path)
    with atomic_path(path) as temporary:
        Image.fromarray(image_bytes(canvas)).save(temporary, format="PNG")
    return path


def caption(config, index: int, label) -> str:
    """ "#index: class name" of a test image, or "#index" for a run without classes."""
    return f"#{index}" if label is None or int(label) < 0 else f"#{index}: {class_name(config, int(label))}"


def reconstruction_layout(count: int, columns: int = 10) -> tuple[int, int]:
    """(row pairs, columns) for `count` digits: one row pair per `columns` digits, each an original above its
    reconstruction, so a long selection wraps instead of making one unreadably wide strip."""
    columns = min(columns, count)
    return math.ceil(count / columns), columns


def plot_reconstructions(model, images: np.ndarray, labels: np.ndarray, indices, path) -> Path:
    """Originals on top, their reconstructions (the decoder's mean image from the latent mean) below, labelled
    with the test index and the class. A conditional model is given the true labels."""
    originals = images[indices]
    reconstructions = reconstruct(model, originals, model_labels(model, labels[indices]))
    titles = [caption(model.vae_config, index, labels[index]) for index in indices]
    return plot_pairs(pictures(originals), reconstructions, titles, "Test images above their reconstructions", path)


def plot_image_reconstructions(model, images: np.ndarray, names: list[str], labels, path) -> Path:
    """Your own images as the model saw them (upper rows), titled with their file names (and the class a conditional
    model was given), above their reconstructions."""
    reconstructions = reconstruct(model, images, labels)
    titles = [shorten(name) + model.latent.labels.caption(labels, index) for index, name in enumerate(names)]
    return plot_pairs(
        pictures(images), reconstructions, titles, "Your images, prepared, above their reconstructions", path
    )


def shorten(name: str, length: int = 12) -> str:
    return name if len(name) <= length else name[: length - 1] + "…"


def plot_pairs(originals: np.ndarray, reconstructions: np.ndarray, titles: list[str], heading: str, path) -> Path:
    """Pictures in the upper row of each pair, titled, with their reconstructions below."""
    plt = pyplot()
    count = len(originals)
    pairs, columns = reconstruction_layout(count)
    # At least 4 inches wide, so that the title fits above a few digits.
    width = max(1.1 * columns, 4.0)
    figure, axes = plt.subplots(2 * pairs, columns, figsize=(width, 2.4 * pairs + 0.6), squeeze=False)
    for position in range(pairs * columns):
        pair, column = divmod(position, columns)
        top, bottom = axes[2 * pair, column], axes[2 * pair + 1, column]
        top.set_axis_off()
        bottom.set_axis_off()
        if position >= count:
            continue
        top.imshow(originals[position], **DIGIT_STYLE)
        top.set_title(titles[position], fontsize=8)
        bottom.imshow(reconstructions[position], **DIGIT_STYLE)
    figure.suptitle(heading)
    figure.tight_layout()
    return save_figure(figure, path)


def grid_ticks(axis: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Tick positions and labels at round z values (-2, -1, 0, ...) instead of at cells, whose values are rarely
    round (an even n has no cell at 0). Positions are interpolated between the cell centres, so the uneven spacing
    of a quantile axis shows in the ticks."""
    values = MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(float(axis[0]), float(axis[-1]))
    tolerance = 1e-6 * float(axis[-1] - axis[0])
    values = values[(values >= axis[0] - tolerance) & (values <= axis[-1] + tolerance)]
    return np.interp(values, axis, centres), [f"{value + 0.0:g}" for value in values]


def plot_latent_grid(
    model, path, n: int, span: float | None, quantiles: bool, dims=(0, 1), label: int | None = None
) -> Path:
    """The decoded n x n grid, drawn pixel for pixel (see GRID_MINIMUM_SIDE), with z values on both axes; on a
    conditional model, the style manifold of the class `label`."""
    plt = pyplot()
    images, axis = decode_latent_grid(model, n, span=span, quantiles=quantiles, dims=dims, label=label)
    canvas = tile(images, padding=0)
    scale = max(1, math.ceil(GRID_MINIMUM_SIDE / canvas.shape[0]))
    side = canvas.shape[0] * scale
    width = side + GRID_MARGINS["left"] + GRID_MARGINS["right"]
    height = side + GRID_MARGINS["bottom"] + GRID_MARGINS["top"]
    figure = plt.figure(figsize=(width / DPI, height / DPI))
    # Placed by hand, not by tight_layout, so that the image gets exactly `side` screen pixels.
    ax = figure.add_axes((GRID_MARGINS["left"] / width, GRID_MARGINS["bottom"] / height, side / width, side / height))
    ax.imshow(canvas, **DIGIT_STYLE)
    centres = (np.arange(n) + 0.5) * images.shape[2] - 0.5  # pixel coordinates of the cell centres
    ax.set_xticks(*grid_ticks(axis, centres))
    ax.set_yticks(*grid_ticks(axis, centres[::-1]))
    ax.set_xlabel(f"z[{dims[0]}]")
    ax.set_ylabel(f"z[{dims[1]}]")
    spread = f"Gaussian quantiles {quantile_range()}" if quantiles else f"z in [-{span:g}, {span:g}]"
    others = "" if model.vae_config.latent_dim == 2 else ", other axes at 0"
    of_class = "" if label is None else f" of {class_name(model.vae_config, label)}"
    ax.set_title(f"Decoded latent grid{of_class}, {n}x{n}, {spread}{others}")
    return save_figure(figure, path)


def project_two_dimensions(means: np.ndarray) -> tuple[np.ndarray, bool]:
    """The points themselves for a 2-D latent; otherwise their first two principal components (PCA by SVD)."""
    if means.shape[1] < 2:
        raise UsageError(f"the cluster plot needs a latent size of at least 2; this run's is {means.shape[1]}")
    if means.shape[1] == 2:
        return means, False
    centred = means - means.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    return centred @ components[:2].T, True


def class_colours(count: int) -> list:
    """A colour per class: matplotlib's tab10 or tab20 where they suffice, else evenly spaced hues."""
    plt = pyplot()
    if count <= 20:
        palette = plt.get_cmap("tab10" if count <= 10 else "tab20")
        return [palette(index) for index in range(count)]
    palette = plt.get_cmap("hsv")
    return [palette(index / count) for index in range(count)]


def plot_clusters(model, images: np.ndarray, labels: np.ndarray, path) -> Path:
    """The test images' latent means coloured by class, on equal axes so distances in the picture are distances in
    z (or in the PCA plane). A run without classes has nothing to colour them by and is refused."""
    config = model.vae_config
    if not config.classes:
        raise UsageError("clusters colour the test images by class, and this run's images have no classes")
    plt = pyplot()
    points, projected = project_two_dimensions(encode_means(model, images, model_labels(model, labels)))
    figure, ax = plt.subplots(figsize=(9, 8))
    for label, colour in enumerate(class_colours(len(config.classes))):
        chosen = labels == label
        name = class_name(config, label)
        ax.scatter(points[chosen, 0], points[chosen, 1], s=2, alpha=0.6, color=colour, label=name)
    ax.set_aspect("equal", adjustable="datalim")
    if len(config.classes) <= MAX_LEGEND_CLASSES:
        ax.legend(title="class", markerscale=6, loc="upper right")
    if projected:
        ax.set_xlabel("principal component 1")
        ax.set_ylabel("principal component 2")
        ax.set_title(f"Latent means of {len(images)} test images (PCA of {model.vae_config.latent_dim}-D z)")
    else:
        ax.set_xlabel("z[0]")
        ax.set_ylabel("z[1]")
        ax.set_title(f"Latent means of {len(images)} test images")
    figure.tight_layout()
    return save_figure(figure, path)


def plot_samples(model, path, n: int, seed: int, label: int | None = None) -> Path:
    """New images decoded from z ~ p(z), seeded, in a square-ish grid; on a conditional model, n of the class
    `label`, or one row per class with the same latent vectors down each column."""
    plt = pyplot()
    config = model.vae_config
    images, _ = prior_samples(model, n, seed, label)
    if model.latent.labels.every_class(label):
        rows, columns = images.shape[:2]
        cells = images
        title = f"Every class (rows) from the same z ~ N(0, I) down each column, seed {seed}"
    else:
        columns = math.ceil(math.sqrt(n))
        rows = math.ceil(n / columns)
        cells = np.zeros((rows * columns, *images.shape[1:]), dtype="float32")
        cells[:n] = images
        cells = cells.reshape(rows, columns, *images.shape[1:])
        asked = "" if label is None else f" as {class_name(config, label)}"
        prior = model.latent.prior.title
        title = f"{n} images decoded from z ~ {prior}{asked}, seed {seed}"
    figure, ax = plt.subplots(figsize=(max(0.8 * columns + 1, 6.0), 0.8 * rows + 1))
    ax.imshow(tile(cells), **DIGIT_STYLE)
    ax.set_axis_off()
    ax.set_title(title, fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path)


def plot_analogies(model, images: np.ndarray, labels: np.ndarray, indices, path) -> Path:
    """The conditional VAE's classic figure: each chosen test image (left column), then its latent mean, encoded with
    its true label, decoded as every class: the same style written as each class."""
    plt = pyplot()
    classes = model.vae_config.classes
    cells = analogies(model, images[indices], labels[indices])
    originals = pictures(images[indices])[:, None]
    gap = np.zeros_like(originals)
    canvas = tile(np.concatenate([originals, gap, cells], axis=1))
    figure, ax = plt.subplots(figsize=(0.8 * (len(classes) + 2) + 1, 0.8 * len(indices) + 1))
    ax.imshow(canvas, **DIGIT_STYLE)
    size = images.shape[1] + 1
    ticks = [(column + 0.5) * size for column in range(2, len(classes) + 2)]
    ax.set_xticks(ticks, list(classes), rotation=90 if max(map(len, classes)) > 2 else 0)
    ax.set_yticks([(row + 0.5) * size for row in range(len(indices))], [f"#{index}" for index in indices])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title("Test images (left), their style written as every class", fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path)


def plot_interpolation(model, images: np.ndarray, labels: np.ndarray, start: int, end: int, steps: int, path) -> Path:
    """Decode the straight line between the latent means of test digits `start` and `end`, endpoints included. A
    conditional model encodes each with its own label and draws the whole line as the first one's digit."""
    plt = pyplot()
    means = encode_means(model, images[[start, end]], model_labels(model, labels[[start, end]]))
    weights = np.linspace(0.0, 1.0, steps, dtype="float32")[:, None]
    line_labels = model_labels(model, np.full(steps, labels[start]))
    decoded = decode(model, (1 - weights) * means[0] + weights * means[1], line_labels)
    # At least 5 inches wide, so that the title fits above a few steps.
    figure, axes = plt.subplots(1, steps, figsize=(max(1.1 * steps, 5.0), 1.9), squeeze=False)
    for index, ax in enumerate(axes[0]):
        ax.imshow(decoded[index], **DIGIT_STYLE)
        ax.set_axis_off()
    axes[0, 0].set_title(caption(model.vae_config, start, labels[start]), fontsize=9)
    axes[0, -1].set_title(caption(model.vae_config, end, labels[end]), fontsize=9)
    figure.suptitle(f"Test image #{start} to #{end} along a straight line in z, {steps} steps")
    figure.tight_layout()
    return save_figure(figure, path)
