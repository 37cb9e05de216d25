"""`vae-encode --maps`: each image's anomaly map drawn over it, one PNG per image, on one colour scale per call.

The map (`vae.evaluation.anomaly_maps`, nats per pixel) is drawn in matplotlib's "inferno" colours over the image in
gray, beside a colour bar. Every picture of one call shares the scale, from 0 to the 99.9th percentile of all the
maps' pixels (a few extreme pixels would otherwise darken every picture), so that the same colour means the same
nats in every file of a folder; that scale is returned, to be printed.

A folder may hold thousands of images, so a picture is composed in numpy and written by Pillow: matplotlib draws the
shared colour bar once per call, not a figure per image, which took over ten times as long.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from vae.views.figures import DPI, pyplot

# The top of the shared colour scale: this percentile of every pixel of every map of the call.
SCALE_PERCENTILE = 99.9
OVERLAY_ALPHA = 0.6
COLOUR_MAP = "inferno"
# Each image pixel becomes a square of screen pixels, so that the picture is at least this many pixels on a side.
PICTURE_SIDE = 224
TITLE_HEIGHT = 18
BAR_WIDTH = 90


def map_scale(maps: np.ndarray) -> float:
    """The top of the colour scale shared by `maps`: their 99.9th percentile, and above 0."""
    return max(float(np.percentile(maps, SCALE_PERCENTILE)), 1e-6) if maps.size else 1.0


def colour_bar(top: float, height: int) -> np.ndarray:
    """The colour bar from 0 to `top` nats per pixel, labelled, as an RGBA array `height` pixels high."""
    import matplotlib

    plt = pyplot()
    figure = plt.figure(figsize=(BAR_WIDTH / DPI, height / DPI), dpi=DPI)
    try:
        axis = figure.add_axes((0.08, 0.04, 0.14, 0.92))
        mappable = matplotlib.cm.ScalarMappable(matplotlib.colors.Normalize(0.0, top), COLOUR_MAP)
        bar = figure.colorbar(mappable, cax=axis)
        bar.ax.tick_params(labelsize=7)
        bar.set_label("nats per pixel", fontsize=7)
        figure.canvas.draw()
        return np.asarray(figure.canvas.buffer_rgba()).copy()
    finally:
        plt.close(figure)


def magnification(side: int) -> int:
    """How many screen pixels a side of an image pixel takes: enough for `PICTURE_SIDE` pixels in all."""
    return -(-PICTURE_SIDE // side)


def overlay(image: np.ndarray, anomaly_map: np.ndarray, top: float) -> np.ndarray:
    """The image in gray with its map over it in the colour map's colours from 0 to `top`, at `OVERLAY_ALPHA`, as
    RGB values in [0, 1], each image pixel a square of screen pixels."""
    import matplotlib

    gray = image.mean(axis=-1) if image.ndim == 3 else image
    colours = matplotlib.colormaps[COLOUR_MAP](np.clip(anomaly_map / top, 0.0, 1.0))[..., :3]
    blended = (1 - OVERLAY_ALPHA) * np.clip(gray, 0.0, 1.0)[..., None] + OVERLAY_ALPHA * colours
    repeat = magnification(gray.shape[0])
    return blended.repeat(repeat, axis=0).repeat(repeat, axis=1)


def anomaly_map_png(image: np.ndarray, anomaly_map: np.ndarray, title: str, top: float, bar: np.ndarray) -> bytes:
    """One PNG: `title` above the image in gray with its map over it, and `bar` (`colour_bar`) beside them."""
    from PIL import Image, ImageDraw

    picture = np.round(overlay(image, anomaly_map, top) * 255).astype(np.uint8)
    height, width = picture.shape[:2]
    canvas = np.full((TITLE_HEIGHT + max(height, bar.shape[0]), width + bar.shape[1], 4), 255, np.uint8)
    canvas[TITLE_HEIGHT : TITLE_HEIGHT + height, :width, :3] = picture
    canvas[TITLE_HEIGHT : TITLE_HEIGHT + bar.shape[0], width:] = bar
    drawn = Image.fromarray(canvas, mode="RGBA")
    ImageDraw.Draw(drawn).text((4, 3), title, fill=(0, 0, 0, 255))
    buffer = io.BytesIO()
    drawn.save(buffer, format="PNG")
    return buffer.getvalue()


def anomaly_map_pngs(images: np.ndarray, maps: np.ndarray, files: list[Path], directory) -> tuple[dict, float]:
    """The PNG of every image's map, keyed by its path in `directory` (`<index>-<file stem>.png`, numbered as
    `--save-preprocessed` numbers its files), and the shared scale's top. Nothing is written here."""
    top = map_scale(maps)
    side = images.shape[1]
    bar = colour_bar(top, magnification(side) * side) if len(images) else None
    pngs = {}
    for index, (image, anomaly_map, file) in enumerate(zip(images, maps, files, strict=True)):
        title = f"{Path(file).name}: {anomaly_map.sum():,.0f} nats"
        pngs[Path(directory) / f"{index:04d}-{Path(file).stem}.png"] = anomaly_map_png(
            image, anomaly_map, title, top, bar
        )
    return pngs, top
