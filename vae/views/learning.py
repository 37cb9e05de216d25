"""How a run learned: its training curves, and the animation of its epochs from the snapshots of a `--snapshots`
run (`vae.run.snapshots`). Drawn as `vae.views.figures` draws, on matplotlib's Agg backend, written atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator
from PIL import Image

from vae.errors import UsageError
from vae.files import atomic_path
from vae.views import MAX_FPS, MIN_FPS
from vae.views.figures import DIGIT_STYLE, DPI, pyplot, quantile_range, save_figure, tile

GIF_GRAY_LEVELS = 32


def history_panels(config) -> list[tuple[str, str, str]]:
    """(history key, title, y label) for the three panels. Under grayscale targets the Bernoulli cross-entropy is
    a surrogate, not a log-likelihood, and with beta != 1 the total is no ELBO: the labels say so."""
    nats = "nats per image"
    total = "negative ELBO" if config.beta == 1 else f"loss: reconstruction + {config.beta:g} x KL"
    kl = ("kl_loss", "KL(q(z|x) || p(z))", nats)
    if config.exact_likelihood:
        return [("loss", total, nats), ("reconstruction_loss", "reconstruction: -log p(x|z)", nats), kl]
    bce = f"grayscale BCE ({nats})"
    return [
        ("loss", f"{total} (grayscale BCE)", bce),
        ("reconstruction_loss", "reconstruction: grayscale BCE", bce),
        kl,
    ]


def plot_history(history: dict, config, path) -> Path:
    """Train and test curves per epoch for the total loss and its two parts."""
    plt = pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(14, 4))
    epochs = max([len(values) for values in history.values()] + [1])
    for ax, (key, title, unit) in zip(axes, history_panels(config), strict=True):
        later = []
        for prefix, name in (("", "train"), ("test_", "test")):
            # Epochs whose test split was not scored (--eval-every) hold None and are left out.
            points = [
                (epoch, value)
                for epoch, value in enumerate(history.get(prefix + key, []), start=1)
                if value is not None
            ]
            ax.plot(
                [epoch for epoch, _ in points], [value for _, value in points], marker="o", markersize=3, label=name
            )
            later += [value for epoch, value in points if epoch > 1]
        if key != "kl_loss" and len(later) > 4:
            # The first epoch's loss is far above the rest; cut it off so the later progress stays visible.
            low, high = min(later), max(later)
            ax.set_ylim(low - 0.05 * (high - low), high + 0.05 * (high - low))
        # Whole epochs only, also for a run of one or two epochs, where matplotlib would tick at 0.95, 1.00, ...
        ax.set_xlim(0.5, epochs + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(unit)
        ax.grid(alpha=0.3)
        ax.legend()
    targets = "binarized" if config.binarize else f"{config.likelihood} likelihood"
    figure.suptitle(f"Training history: {config.dataset}, {targets}, latent size {config.latent_dim}")
    figure.tight_layout()
    return save_figure(figure, path)


def progress_frame(snapshot, total_epochs: int, loss_name: str) -> np.ndarray:
    """One frame of the training animation, gray for a gray run: the snapshot's latent grid beside its test images
    and their reconstructions, titled with the epoch and the test loss."""
    plt = pyplot()
    width, height = 840, 440
    figure = plt.figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    # The grid gets exactly one screen pixel per digit pixel, so no rows are dropped or doubled.
    side = snapshot.latent_grid.shape[2] * len(snapshot.grid_axis)
    grid_ax = figure.add_axes((20 / width, 20 / height, side / width, side / height))
    grid_ax.imshow(tile(snapshot.latent_grid, padding=0), **DIGIT_STYLE)
    grid_ax.set_axis_off()
    grid_ax.set_title(f"latent grid, Gaussian quantiles {quantile_range()}", fontsize=9)
    pairs_ax = figure.add_axes(((side + 50) / width, 0.25, 1 - (side + 70) / width, 0.4))
    pairs_ax.imshow(tile(np.stack([snapshot.originals, snapshot.reconstructions])), **DIGIT_STYLE)
    pairs_ax.set_axis_off()
    pairs_ax.set_title("test images above their reconstructions", fontsize=9)
    figure.suptitle(f"Epoch {snapshot.epoch} of {total_epochs}: {loss_name} {snapshot.test_loss:.2f}")
    try:
        figure.canvas.draw()
        rgb = np.asarray(figure.canvas.buffer_rgba())[..., :3]
    finally:
        plt.close(figure)
    if snapshot.latent_grid.ndim == 5:  # RGB pictures: the frame stays in colour
        return rgb.copy()
    # Everything drawn is gray, so one channel loses nothing. 32 gray levels look the same as 256 on these digits
    # and compress about 3 times better (a 30-epoch GIF: 0.97 MB against 2.7 MB).
    levels = GIF_GRAY_LEVELS - 1
    return (np.round(rgb.mean(axis=2) / 255 * levels) * (255 / levels)).round().astype("uint8")


def render_progress(snapshots: list, config, path, fps: float = 4.0) -> Path:
    """An animated GIF with one frame per snapshot (per epoch of a `--snapshots` run), looping, the last frame held
    a little longer so the final state can be seen."""
    if not MIN_FPS <= fps <= MAX_FPS:
        raise UsageError(f"fps must be a number in [{MIN_FPS:g}, {MAX_FPS:g}], got {fps}")
    loss_name = "test " + history_panels(config)[0][1]
    total_epochs = max(config.epochs, snapshots[-1].epoch)
    frames = [Image.fromarray(progress_frame(snapshot, total_epochs, loss_name)) for snapshot in snapshots]
    duration = round(1000 / fps)
    path = Path(path)
    with atomic_path(path) as temporary:
        frames[0].save(
            temporary,
            format="GIF",
            save_all=True,
            append_images=frames[1:],
            duration=[duration] * (len(frames) - 1) + [4 * duration],
            loop=0,
        )
    return path
