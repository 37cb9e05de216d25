"""How well the anomaly maps find defects pasted into normal images: the pixel-level AUROC against the defect masks.

    python benchmarks/defects.py --run RUN --data-dir ../shared/datasets/mnist --digit 8

RUN is a run of the data set (a one-class run, trained on the images of --digit alone, or a run of all of them);
the first --limit test images of --digit get one synthetic defect each, drawn with a seed of its own:

- scratch: a straight line, one or two pixels wide, across the image at a random angle, at full brightness;
- blot: a filled disc of radius 2 to 4 pixels, at full brightness, where the image is dark;
- missing stroke: the ink under a disc of radius 3 to 5 centred on an inked pixel is erased (set to 0).

A defect's mask is the pixels it changed. The maps (`run.anomaly_map`, nats per pixel) of all defective images are
ranked against their masks: the pixel-level AUROC, per kind of defect and over all of them, as anomalib reports
pixel AUROC for its maps. For comparison, the same of the absolute difference between each image and its
reconstruction, the map of reconstruction-based detectors. Writes benchmarks/defects.json.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import click
import numpy as np
from common import data_folder_option

KINDS = ("scratch", "blot", "missing stroke")


def disc(side: int, row: float, column: float, radius: float) -> np.ndarray:
    rows, columns = np.mgrid[:side, :side]
    return (rows - row) ** 2 + (columns - column) ** 2 <= radius**2


def scratch(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    side = image.shape[0]
    angle = rng.uniform(0, np.pi)
    centre = rng.uniform(side * 0.3, side * 0.7, size=2)
    width = rng.integers(1, 3)
    rows, columns = np.mgrid[:side, :side]
    # Distance of every pixel from the line through the centre at the angle.
    distance = np.abs((rows - centre[0]) * np.cos(angle) - (columns - centre[1]) * np.sin(angle))
    return distance < width / 2 + 0.25


def blot(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    side = image.shape[0]
    dark = np.argwhere(image < 0.1)
    row, column = dark[rng.integers(len(dark))]
    return disc(side, row, column, rng.uniform(2, 4))


def missing_stroke(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    side = image.shape[0]
    inked = np.argwhere(image > 0.5)
    row, column = inked[rng.integers(len(inked))]
    return disc(side, row, column, rng.uniform(3, 5)) & (image > 0.0)


def with_defect(image: np.ndarray, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The image with one defect of `kind`, and the mask of the pixels it changed."""
    defective = image.copy()
    if kind == "missing stroke":
        region = missing_stroke(image, rng)
        defective[region] = 0.0
    else:
        region = (scratch if kind == "scratch" else blot)(image, rng)
        defective[region] = 1.0
    return defective, defective != image


@click.command()
@click.option("--run", "run_dir", required=True, help="The run whose maps are measured.")
@data_folder_option("--data-dir", help="The data set's IDX files (env VAE_DATA_DIR).", required=False)
@click.option("--dataset", type=click.Choice(["mnist", "fashion-mnist"]), default="mnist", show_default=True)
@click.option("--digit", type=click.IntRange(0, 9), required=True, help="The class whose test images get defects.")
@click.option("--limit", type=click.IntRange(min=1), default=300, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path(__file__).with_name("defects.json"), show_default=True)  # fmt: skip
def main(run_dir, data_dir, dataset, digit, limit, seed, output):
    import vae
    from vae.data.datasets import load_dataset
    from vae.evaluation.outliers import auroc

    data = load_dataset(dataset, data_dir, test_only=True)
    normal = data.test_images[data.test_labels == digit][:limit].astype(np.float32) / 255
    run = vae.open_run(run_dir)
    started = time.perf_counter()
    results = {}
    every_map, every_mask = [], []
    for number, kind in enumerate(KINDS):
        rng = np.random.default_rng([seed, number])
        defective, masks = zip(*(with_defect(image, kind, rng) for image in normal), strict=True)
        defective = np.stack(defective)
        maps = run.anomaly_map(defective)
        errors = np.abs(defective - run.reconstruct(defective).reshape(defective.shape))
        masks = np.stack(masks)
        results[kind] = {
            "pixel_auroc": round(auroc(maps[~masks], maps[masks]), 4),
            "reconstruction_error_pixel_auroc": round(auroc(errors[~masks], errors[masks]), 4),
            "defect_pixels_per_image": round(float(masks.sum(axis=(1, 2)).mean()), 1),
        }
        every_map.append(np.stack([maps, errors]))
        every_mask.append(masks)
        click.echo(f"{kind}: pixel AUROC {results[kind]['pixel_auroc']:.4f} (the map), "
                   f"{results[kind]['reconstruction_error_pixel_auroc']:.4f} (|x - reconstruction|)")  # fmt: skip
    maps, masks = np.concatenate(every_map, axis=1), np.concatenate(every_mask)
    overall, overall_error = (round(auroc(found[~masks], found[masks]), 4) for found in maps)
    click.echo(f"all: pixel AUROC {overall:.4f} (the map), {overall_error:.4f} (|x - reconstruction|)")
    record = json.loads(output.read_text()) if output.is_file() else {}
    record[f"{dataset} {digit}"] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} CPU cores",
        "run": run.config.to_dict(),
        "images": len(normal),
        "seed": seed,
        "kinds": results,
        "pixel_auroc": overall,
        "reconstruction_error_pixel_auroc": overall_error,
        "seconds": round(time.perf_counter() - started, 1),
    }
    output.write_text(json.dumps(record, indent=2) + "\n")
    click.echo(f"wrote {output}", err=True)


if __name__ == "__main__":
    main()
