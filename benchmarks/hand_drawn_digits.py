"""Draw the digits 0-9 "by hand" with Pillow, as a user's own images would come: dark ink on light paper, of
different sizes, off-centre, some slanted, some as JPEG photos with a gray, uneven ground.

They are what `vae-encode` and `vae-reconstruct --images` are shown in the README and in the tests:

    python benchmarks/hand_drawn_digits.py tests/data/hand-drawn

Each digit is a few strokes (lines and elliptic arcs) in a unit square, drawn at a random size, position, slant and
stroke width from one seed, so the files are the same on every run.
"""

from __future__ import annotations

import math
from pathlib import Path

import click
import numpy as np

# Strokes in a unit box (x right, y down): ("line", x0, y0, x1, y1) or ("arc", cx, cy, rx, ry, start, end) with
# angles in degrees, clockwise from 3 o'clock, as Pillow draws them.
STROKES = {
    0: [("arc", 0.5, 0.5, 0.32, 0.45, 0, 360)],
    1: [("line", 0.35, 0.2, 0.55, 0.05), ("line", 0.55, 0.05, 0.55, 0.95)],
    2: [("arc", 0.5, 0.3, 0.3, 0.25, 180, 380), ("line", 0.77, 0.4, 0.2, 0.95), ("line", 0.2, 0.95, 0.85, 0.95)],
    3: [("arc", 0.5, 0.28, 0.28, 0.23, 190, 450), ("arc", 0.5, 0.72, 0.32, 0.24, 270, 530)],
    4: [("line", 0.65, 0.05, 0.15, 0.65), ("line", 0.15, 0.65, 0.9, 0.65), ("line", 0.65, 0.05, 0.65, 0.95)],
    5: [
        ("line", 0.8, 0.05, 0.3, 0.05),
        ("line", 0.3, 0.05, 0.25, 0.45),
        ("arc", 0.5, 0.67, 0.32, 0.28, 220, 520),
    ],
    6: [("arc", 0.5, 0.7, 0.3, 0.25, 0, 360), ("arc", 0.75, 0.7, 0.55, 0.65, 180, 265)],
    7: [("line", 0.15, 0.05, 0.85, 0.05), ("line", 0.85, 0.05, 0.4, 0.95)],
    8: [("arc", 0.5, 0.27, 0.24, 0.22, 0, 360), ("arc", 0.5, 0.72, 0.3, 0.24, 0, 360)],
    9: [("arc", 0.5, 0.3, 0.28, 0.25, 0, 360), ("line", 0.78, 0.3, 0.7, 0.95)],
}


def draw_digit(digit: int, rng: np.random.Generator, photo: bool):
    """One digit as a Pillow image: a random canvas, box, slant and stroke width; as a photo, a gray uneven ground."""
    from PIL import Image, ImageDraw, ImageFilter

    width, height = int(rng.integers(120, 420)), int(rng.integers(120, 420))
    side = int(min(width, height) * rng.uniform(0.45, 0.8))
    box_width = side * rng.uniform(0.55, 0.8)
    left = rng.uniform(0.05 * width, width - box_width - 0.05 * width)
    top = rng.uniform(0.05 * height, height - side - 0.05 * height)
    slant = rng.uniform(-0.25, 0.25)
    stroke = max(2, round(side * rng.uniform(0.06, 0.12)))
    scale = 4  # drawn 4 times larger, then shrunk: smooth, anti-aliased strokes
    image = Image.new("L", (width * scale, height * scale), 255)
    pen = ImageDraw.Draw(image)

    def point(x, y):
        return ((left + (x + slant * (0.5 - y)) * box_width) * scale, (top + y * side) * scale)

    for kind, *values in STROKES[digit]:
        if kind == "line":
            x0, y0, x1, y1 = values
            pen.line([point(x0, y0), point(x1, y1)], fill=0, width=stroke * scale, joint="curve")
        else:
            cx, cy, rx, ry, start, end = values
            angles = np.radians(np.linspace(start, end, 64))
            pen.line(
                [point(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles],
                fill=0,
                width=stroke * scale,
                joint="curve",
            )
    image = image.resize((width, height), Image.Resampling.LANCZOS)
    if photo:
        # Paper photographed under a lamp: a gray ground brighter on one side, soft focus and sensor noise.
        ground = np.linspace(150, 215, width)[None, :] + rng.normal(0, 6, (height, width))
        ink = np.asarray(image, dtype=np.float32) / 255
        pixels = ground * ink + 40 * (1 - ink)
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.2))
    return image


@click.command()
@click.argument("output", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", type=int, default=7, show_default=True)
def main(output: Path, seed: int) -> None:
    """Write digit-0.png ... digit-9.png, the even ones as PNG drawings and the odd ones as JPEG photos."""
    rng = np.random.default_rng(seed)
    output.mkdir(parents=True, exist_ok=True)
    for digit in range(10):
        photo = digit % 2 == 1
        path = output / f"digit-{digit}.{'jpg' if photo else 'png'}"
        image = draw_digit(digit, rng, photo)
        image.save(path, quality=85) if photo else image.save(path)
        click.echo(f"{path}: {image.size[0]}x{image.size[1]}")


if __name__ == "__main__":
    main()
