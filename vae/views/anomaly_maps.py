"""`vae-encode --maps`: each image's anomaly map drawn over it, one PNG per image, on one colour scale per call.

The map (`vae.evaluation.anomaly_maps`, nats per pixel) is drawn in matplotlib's "inferno" colours over the image in
gray, beside a colour bar. Every picture of one call shares the scale, from 0 to the 99.9th percentile of all the
maps' pixels (a few extreme pixels would otherwise darken every picture), so that the same colour means the same
nats in every file of a folder; that scale is returned, to be printed.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from vae.views.figures import DPI, pyplot

# The top of the shared colour scale: this percentile of every pixel of every map of the call.
SCALE_PERCENTILE = 99.9
OVERLAY_ALPHA = 0.6


def map_scale(maps: np.ndarray) -> float:
    """The top of the colour scale shared by `maps`: their 99.9th percentile, and above 0."""
    return max(float(np.percentile(maps, SCALE_PERCENTILE)), 1e-6) if maps.size else 1.0


def anomaly_map_png(image: np.ndarray, anomaly_map: np.ndarray, title: str, top: float) -> bytes:
    """One PNG: the image in gray with its map over it, in colours from 0 to `top` nats, and the colour bar."""
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(3.4, 2.8), dpi=DPI)
    try:
        gray = image.mean(axis=-1) if image.ndim == 3 else image
        axis.imshow(gray, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        shown = axis.imshow(
            anomaly_map, cmap="inferno", vmin=0.0, vmax=top, alpha=OVERLAY_ALPHA, interpolation="nearest"
        )
        axis.set_axis_off()
        axis.set_title(title, fontsize=8)
        figure.colorbar(shown, ax=axis, fraction=0.046, pad=0.04).set_label("nats per pixel", fontsize=7)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
        return buffer.getvalue()
    finally:
        plt.close(figure)


def anomaly_map_pngs(images: np.ndarray, maps: np.ndarray, files: list[Path], directory) -> tuple[dict, float]:
    """The PNG of every image's map, keyed by its path in `directory` (`<index>-<file stem>.png`, numbered as
    `--save-preprocessed` numbers its files), and the shared scale's top. Nothing is written here."""
    top = map_scale(maps)
    pngs = {}
    for index, (image, anomaly_map, file) in enumerate(zip(images, maps, files, strict=True)):
        title = f"{Path(file).name}: {anomaly_map.sum():,.0f} nats"
        pngs[Path(directory) / f"{index:04d}-{Path(file).stem}.png"] = anomaly_map_png(image, anomaly_map, title, top)
    return pngs, top
