"""One-class outlier detection, as in Ruff et al. 2018 ("Deep One-Class Classification", ICML), Table 1.

    python benchmarks/one_class.py --data-dir ../shared/datasets/mnist --dataset mnist
    python benchmarks/one_class.py --dataset fashion-mnist                         # Debian's Fashion-MNIST

For each class c: the training images of c alone are written as a folder of PNGs, `train/<c>/` and `test/<c>/` with
the test images of c, and the other nine classes' test images as a folder of outliers; then the path a user takes:
`vae-train --data-dir FOLDER` with the defaults (and --epochs), and `vae-eval --outliers OUTLIERS`, which scores the
run's test split (the test images of c) as inliers and the rest as outliers, each as `vae-encode` scores it. The AUROC
of "c against the other nine" over all 10,000 test images is the one that protocol reports, for each score: the
negative ELBO, the importance-weighted bound from --k samples, and with --detector (`vae-train --detector`) the score
corrected for complexity. Beside them, two detectors that train nothing: the distance in raw pixels to the
5th-nearest training image of c, and the reconstruction error of PCA with 32 components fitted on c's training images.

Differences from the paper's protocol: no global contrast normalisation and no min-max scaling (the images are the
files' gray levels in [0, 1], as every run here reads them); a VAE's score rather than a distance in feature space;
one seed rather than ten. Writes --output (benchmarks/one_class.json).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import click
import numpy as np
from common import data_folder_option, run_command

ROOT = Path(__file__).resolve().parent


def write_pngs(images: np.ndarray, folder: Path) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(images):
        Image.fromarray(image, mode="L").save(folder / f"{index:05d}.png")


def baselines(data, normal: int) -> dict[str, float]:
    """The AUROC in percent of two detectors that train nothing, on the same protocol: the distance in raw pixels to
    the 5th-nearest training image of the normal class, and the reconstruction error of PCA with 32 components
    fitted on those training images."""
    from vae.evaluation.outliers import auroc

    train = data.train_images[data.train_labels == normal].reshape(-1, 784).astype(np.float64) / 255
    test = data.test_images.reshape(-1, 784).astype(np.float64) / 255
    is_outlier = data.test_labels != normal
    squared = (test**2).sum(1)[:, None] + (train**2).sum(1)[None, :] - 2 * test @ train.T
    nearest = np.sqrt(np.maximum(np.partition(squared, 4, axis=1)[:, 4], 0))
    mean = train.mean(0)
    _, _, components = np.linalg.svd(train - mean, full_matrices=False)
    projected = (test - mean) @ components[:32].T @ components[:32] + mean
    error = ((test - projected) ** 2).sum(1)
    return {
        name: round(100 * auroc(values[~is_outlier], values[is_outlier]), 2)
        for name, values in (("5th-nearest training image", nearest), ("PCA, 32 components", error))
    }


@click.command()
@click.option("--dataset", type=click.Choice(["mnist", "fashion-mnist"]), default="mnist", show_default=True)
@data_folder_option("--data-dir", help="The data set's IDX files (env VAE_DATA_DIR).", required=False)
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--k", type=click.IntRange(min=1), default=10, show_default=True, help="Importance samples per image.")
@click.option("--classes", multiple=True, type=click.IntRange(0, 9), help="Only these normal classes.")
@click.option("--detector", is_flag=True, help="Train detector runs (vae-train --detector): the corrected score too.")
@click.option("--seed", "seeds", multiple=True, type=click.IntRange(min=0), default=(0,), show_default=True,
              help="vae-train --seed; seeds other than 0 add their AUROCs to the classes' entries.")  # fmt: skip
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Default: one_class[_fashion][_detector].json")  # fmt: skip
def main(
    dataset: str, data_dir: Path | None, epochs: int, k: int, classes, detector: bool, seeds, output: Path | None
) -> None:
    from vae.config import DATASET_CLASSES
    from vae.data.datasets import load_dataset

    data = load_dataset(dataset, data_dir)
    names = DATASET_CLASSES[dataset]
    stem = "one_class" + ("" if dataset == "mnist" else "_fashion") + ("_detector" if detector else "")
    output = output or ROOT / f"{stem}.json"
    record = json.loads(output.read_text()) if output.is_file() else {}
    record.update(
        {
            "dataset": dataset,
            "date": time.strftime("%Y-%m-%d"),
            "machine": f"{os.cpu_count()} CPU cores",
            "command": f"python benchmarks/one_class.py --dataset {dataset} --epochs {epochs} --k {k}"
            + (" --detector" if detector else ""),
            "training": f"vae-train --data-dir FOLDER --epochs {epochs}" + (" --detector" if detector else ""),
            "epochs": epochs,
            "k": k,
        }
    )
    record.setdefault("classes", {})
    work = Path(tempfile.mkdtemp(prefix="vae-one-class-"))
    try:
        for normal in classes or range(10):
            started = time.perf_counter()
            folder, outliers, run_dir = work / f"class-{normal}", work / f"outliers-{normal}", work / f"run-{normal}"
            name = "class" if dataset == "mnist" else "".join(c if c.isalnum() else "-" for c in names[normal].lower())
            write_pngs(data.train_images[data.train_labels == normal], folder / "train" / name)
            write_pngs(data.test_images[data.test_labels == normal], folder / "test" / name)
            write_pngs(data.test_images[data.test_labels != normal], outliers)
            options = ["--detector"] if detector else []
            for seed in seeds:
                shutil.rmtree(run_dir, ignore_errors=True)
                run_command(["vae-train", "--data-dir", folder, "--run-dir", run_dir, "--epochs", epochs,
                             "--seed", seed, "--verbose", 0, *options])  # fmt: skip
                run_command(["vae-eval", "--run-dir", run_dir, "--k", k, "--outliers", outliers])
                found = json.loads((run_dir / "eval.json").read_text())["outliers"]
                auroc = {score: round(100 * result["auroc"], 2) for score, result in found["scores"].items()}
                entry = record["classes"].setdefault(str(normal), {})
                entry.setdefault("seeds", {})[str(seed)] = auroc
                if seed == 0:
                    entry.update(
                        {
                            "name": names[normal],
                            "training_images": int((data.train_labels == normal).sum()),
                            "inliers": found["inlier_images"],
                            "outliers": found["outlier_images"],
                            "auroc": auroc,
                            "baselines": baselines(data, normal),
                            "seconds": round(time.perf_counter() - started, 1),
                        }
                    )
                click.echo(f"{names[normal]}, seed {seed}: {auroc}")
                output.write_text(json.dumps(record, indent=2) + "\n")
            for path in (folder, outliers, run_dir):
                shutil.rmtree(path, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
