"""The input-complexity correction across likelihoods and compressors: where S(x) = -log2 p(x) - L(x) works.

    python benchmarks/complexity_check.py --run pretrained:mnist --run pretrained:fashion-mnist \
        --run MNIST_DETECTOR_RUN --run FASHION_DETECTOR_RUN --limit 2000

Each run scores the first --limit test images of its own data set and of the other one (MNIST against
Fashion-MNIST) with its negative ELBO (one sample, which is quick), and the AUROC of "the other data set scores
higher" is computed for the raw score, for the complexity L(x) alone (low complexity as the outlier's mark), and for S
with L from zlib at level 9 (`vae.evaluation.complexity`, what the package computes) and from PNG (Pillow,
`optimize=True`, as Serrà et al. 2020 used). It shows two things: S needs a likelihood that is a code length of the
data (a run with the Bernoulli cross-entropy of gray levels gets S the wrong way round), and the two compressors
give the same ranking. Writes benchmarks/complexity_check.json.
"""

from __future__ import annotations

import io
import json
import math
import os
import time
from pathlib import Path

import click
import numpy as np
from common import data_folder_option, fashion_dir_option

OTHER = {"mnist": "fashion-mnist", "fashion-mnist": "mnist"}


def png_bits(images: np.ndarray) -> np.ndarray:
    from PIL import Image

    from vae.evaluation.complexity import eight_bit

    bits = []
    for image in eight_bit(images):
        buffer = io.BytesIO()
        Image.fromarray(image.squeeze(-1)).save(buffer, format="PNG", optimize=True)
        bits.append(8.0 * len(buffer.getvalue()))
    return np.array(bits)


@click.command()
@click.option("--run", "runs", multiple=True, required=True, help="A run trained on MNIST or Fashion-MNIST.")
@data_folder_option("--mnist-dir", help="MNIST's IDX files (env VAE_DATA_DIR).", required=False)
@fashion_dir_option
@click.option("--limit", type=click.IntRange(min=1), default=2000, show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path(__file__).with_name("complexity_check.json"), show_default=True)  # fmt: skip
def main(runs, mnist_dir, fashion_dir, limit, output):
    from vae.data.datasets import load_dataset, to_float
    from vae.evaluation.complexity import complexity_bits
    from vae.evaluation.outliers import auroc
    from vae.evaluation.scores import score_images
    from vae.run.directory import RunDir
    from vae.run.loading import load_run

    folders = {"mnist": mnist_dir, "fashion-mnist": fashion_dir}
    images = {
        name: to_float(load_dataset(name, folder, test_only=True).test_images)[:limit]
        for name, folder in folders.items()
    }
    bits = {name: {"zlib": complexity_bits(x), "png": png_bits(x)} for name, x in images.items()}
    rows = []
    for run in runs:
        model, config, _ = load_run(RunDir(run))
        inside, outside = config.dataset, OTHER[config.dataset]
        nll = {name: score_images(model, images[name], 1)["negative_elbo"] / math.log(2) for name in (inside, outside)}
        row = {
            "run": run if run.startswith("pretrained:") else Path(run).name,
            "likelihood": config.likelihood,
            "exact likelihood": config.exact_likelihood,
            "trained on": inside,
            "outliers": outside,
            "raw -ELBO": auroc(nll[inside], nll[outside]),
            "complexity alone (zlib)": auroc(-bits[inside]["zlib"], -bits[outside]["zlib"]),
        }
        for compressor in ("zlib", "png"):
            row[f"S, {compressor}"] = auroc(
                nll[inside] - bits[inside][compressor], nll[outside] - bits[outside][compressor]
            )
        rows.append({key: round(value, 4) if isinstance(value, float) else value for key, value in row.items()})
        click.echo(json.dumps(rows[-1]))
    record = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} CPU cores",
        "images each": limit,
        "mean bits": {name: {key: float(np.mean(value)) for key, value in by.items()} for name, by in bits.items()},
        "rows": rows,
    }
    output.write_text(json.dumps(record, indent=2) + "\n")
    click.echo(f"wrote {output}", err=True)


if __name__ == "__main__":
    main()
