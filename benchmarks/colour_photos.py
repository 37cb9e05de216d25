"""Colour photographs as a folder of images: random square crops of the photographs scikit-image ships.

    pip install scikit-image        # only for its sample photographs, which this reads as files
    python benchmarks/colour_photos.py /tmp/photos
    python benchmarks/folder_quality.py --name photos-32 --data-dir /tmp/photos --runs /tmp/runs -- --image-size 32

The photographs are the colour ones that scikit-image ships in `skimage/data/`: astronaut.png (Eileen Collins),
chelsea.png (a cat), coffee.png, motorcycle_left.png and motorcycle_right.png, rocket.jpg, hubble_deep_field.jpg,
ihc.png (immunohistochemistry) and retina.jpg. From each, `--crops` squares of a random side between a quarter and
a half of its shorter side, at random places (seeded), are written as PNGs into FOLDER with a subfolder per
photograph: nine classes, which `vae-train` fits to its `--image-size`. Crops of one photograph overlap, so held-out
test crops are near copies of training ones: this shows colour at work, not generalisation.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click
import numpy as np

PHOTOGRAPHS = (
    "astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "motorcycle_right.png", "rocket.jpg",
    "hubble_deep_field.jpg", "ihc.png", "retina.jpg",
)  # fmt: skip


def write_crops(folder: Path, crops: int, seed: int) -> dict[str, list[int]]:
    """`crops` random square crops of each photograph into `folder/<photograph>/`; each photograph's size."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    sizes = {}
    data = resources.files("skimage").joinpath("data")
    for name in PHOTOGRAPHS:
        with Image.open(data.joinpath(name)) as opened:
            photo = opened.convert("RGB")
        sizes[name] = list(photo.size)
        width, height = photo.size
        target = folder / Path(name).stem
        target.mkdir(parents=True)
        for index in range(crops):
            side = int(rng.integers(min(width, height) // 4, min(width, height) // 2 + 1))
            left, top = int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))
            photo.crop((left, top, left + side, top + side)).save(target / f"crop-{index:04d}.png")
    return sizes


@click.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--crops", type=click.IntRange(min=10), default=400, show_default=True, help="Per photograph.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
def main(folder: Path, crops: int, seed: int) -> None:
    if folder.exists() and any(folder.iterdir()):
        raise click.ClickException(f"{folder} is not empty")
    sizes = write_crops(folder, crops, seed)
    click.echo(f"wrote {crops} crops of each of {len(sizes)} photographs to {folder}")


if __name__ == "__main__":
    main()
