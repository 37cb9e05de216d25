"""Colour: train on crops of real photographs, RGB at 32x32, and draw what the run learned.

    pip install scikit-image        # only for its sample photographs, which this reads as files
    python benchmarks/colour_photos.py --output-dir docs/images

The photographs are the colour ones that scikit-image ships in `skimage/data/`: astronaut.png (Eileen Collins),
chelsea.png (a cat), coffee.png, motorcycle_left.png and motorcycle_right.png, rocket.jpg, hubble_deep_field.jpg,
ihc.png (immunohistochemistry) and retina.jpg. From each, `--crops` squares of a random side between a quarter and
a half of its shorter side, at random places (seeded), are written as PNGs into a folder with a subfolder per
photograph: nine classes. Then `vae-train --data-dir FOLDER --image-size 32 --channels 3` with the defaults, and
`vae-reconstruct` and `vae-plot samples` draw into --output-dir. Crops of one photograph overlap, so the held-out test
crops are near copies of training ones: this shows colour at work, not generalisation. Writes
benchmarks/colour_photos.json.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from importlib import resources
from pathlib import Path

import click
import numpy as np
from common import run_command

from vae.config import command_options

ROOT = Path(__file__).resolve().parent
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
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=ROOT.parent / "docs" / "images")
@click.option("--crops", type=click.IntRange(min=10), default=400, show_default=True, help="Per photograph.")
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--learning-rate", type=float, help="vae-train's --learning-rate; default: vae-train's own.")
def main(output_dir: Path, crops: int, epochs: int, seed: int, learning_rate: float | None) -> None:
    work = Path(tempfile.mkdtemp(prefix="vae-colour-"))
    try:
        folder, run_dir = work / "photos", work / "run"
        sizes = write_crops(folder, crops, seed)
        started = time.perf_counter()
        training = ["--image-size", "32", "--channels", "3", "--epochs", str(epochs), "--seed", str(seed)]
        training += command_options({"learning_rate": learning_rate}) if learning_rate else []
        printed = run_command(
            ["vae-train", "--data-dir", folder, *training, "--run-dir", run_dir, "--verbose", "0"]
        ).stdout
        seconds = time.perf_counter() - started
        output_dir.mkdir(parents=True, exist_ok=True)
        run_command(["vae-reconstruct", "--n", "10", "--run-dir", run_dir, "--output",
                     output_dir / "colour-reconstruction.png"])  # fmt: skip
        run_command(["vae-plot", "samples", "--n", "64", "--run-dir", run_dir, "--output",
                     output_dir / "colour-samples.png"])  # fmt: skip
        history = json.loads((run_dir / "history.json").read_text())
        record = {
            "date": time.strftime("%Y-%m-%d"),
            "machine": f"{os.cpu_count()} CPU cores",
            "command": f"python benchmarks/colour_photos.py --crops {crops} --epochs {epochs} --seed {seed}"
            + "".join(f" {part}" for part in command_options({"learning_rate": learning_rate}) if learning_rate),
            "photographs": {name: {"size": size} for name, size in sizes.items()},
            "crops_per_photograph": crops,
            "training": printed.strip().splitlines()[0],
            "test_negative_elbo": history["test_loss"][-1],
            "seconds": round(seconds, 1),
        }
        (ROOT / "colour_photos.json").write_text(json.dumps(record, indent=2) + "\n")
        click.echo(json.dumps(record, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
