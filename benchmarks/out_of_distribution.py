"""Telling MNIST from what is not MNIST with `vae-encode`'s per-image scores, in both directions.

    python benchmarks/out_of_distribution.py --mnist-run RUN_A --fashion-run RUN_B --k 100

RUN_A was trained on MNIST, RUN_B on Fashion-MNIST. Each run scores its own test split (in distribution) and the other
data set's (out of distribution), 10,000 images each, with the scores `vae-encode` writes: the negative ELBO and the
importance-weighted -log p(x) from k samples, and for detector runs (`vae-train --detector`) the score corrected for
each image's complexity (`vae.evaluation.complexity`, in bits).

    python benchmarks/out_of_distribution.py --mnist-run RUN_A --fashion-run RUN_B \
        --output benchmarks/out_of_distribution_detector.json

A higher score should mean "less like my training data"; the AUROC is the probability that a random
out-of-distribution image scores higher than a random in-distribution one (1 is perfect separation, 0.5 chance,
below 0.5 the score ranks the wrong way round), `vae.evaluation.outliers.auroc`, the rank statistic (Mann-Whitney
U, ties given their average rank) that `vae-eval --outliers` reports.

Nalisnick et al. (2019, "Do Deep Generative Models Know What They Don't Know?") found that likelihood models trained
on Fashion-MNIST give MNIST *higher* likelihood than their own test images: an AUROC far below 0.5 in that direction.
The results go to benchmarks/out_of_distribution.json, with the `vae-train` command that makes each run (never the
folder it was in, which means nothing on another machine).
"""

from __future__ import annotations

import json
import os
import platform
import time
from datetime import date
from pathlib import Path

import click
import numpy as np
from common import data_folder_option, fashion_dir_option

from vae.evaluation.complexity import COMPLEXITY
from vae.evaluation.outliers import auroc

TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}


def score_test_split(model, dataset_name: str, data_dir, k: int, limit: int | None) -> dict[str, np.ndarray]:
    from vae.data.datasets import load_dataset, to_float
    from vae.evaluation.scores import score_images

    images = to_float(load_dataset(dataset_name, data_dir, test_only=True).test_images)[:limit]
    return score_images(model, images, k)


def training_command(config) -> str:
    """The `vae-train` command that trains a run of `config`: its epochs, then every field that differs from the
    defaults of its architecture, a switch as its flag alone. The data folder is left out: it is the machine's."""
    from vae.config import VAEConfig, command_options

    defaults = VAEConfig(architecture=config.architecture).to_dict()
    changed = {name: value for name, value in config.to_dict().items() if name != "epochs" and value != defaults[name]}
    flags = [f"--{name.replace('_', '-')}" for name, value in changed.items() if value is True]
    values = command_options({name: value for name, value in changed.items() if not isinstance(value, bool)})
    return " ".join(["vae-train", "--epochs", str(config.epochs), *flags, *values])


@click.command()
@click.option("--mnist-run", type=click.Path(file_okay=False, exists=True), required=True)
@click.option("--fashion-run", type=click.Path(file_okay=False, exists=True), required=True)
@data_folder_option("--mnist-dir", help="MNIST's IDX files (env VAE_DATA_DIR).", required=False)
@fashion_dir_option
@click.option("--k", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Score only the first N test images.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path(__file__).with_name("out_of_distribution.json"), show_default=True)  # fmt: skip
def main(mnist_run, fashion_run, mnist_dir, fashion_dir, k, limit, output):
    from vae.run.directory import RunDir
    from vae.run.loading import load_run

    directories = {"mnist": mnist_dir, "fashion-mnist": fashion_dir}
    rows = []
    commands = {}
    for given, run_dir in (("mnist", mnist_run), ("fashion-mnist", fashion_run)):
        model, config, history = load_run(RunDir(run_dir))
        commands[given] = training_command(config)
        trained_on = config.dataset
        other = next(name for name in TITLES if name != trained_on)
        started = time.perf_counter()
        inside = score_test_split(model, trained_on, directories[trained_on], k, limit)
        outside = score_test_split(model, other, directories[other], k, limit)
        seconds = time.perf_counter() - started
        for score in (key for key in inside if not key.startswith("z_") and key != COMPLEXITY):
            rows.append(
                {
                    "trained on": TITLES[trained_on],
                    "epochs": len(history["loss"]),
                    "outliers": TITLES[other],
                    "score": f"{score} (k={k})" if score.startswith("importance_weighted") else score,
                    "mean score, own test split": round(float(np.mean(inside[score])), 2),
                    "mean score, outliers": round(float(np.mean(outside[score])), 2),
                    "AUROC": round(auroc(inside[score], outside[score]), 4),
                    "images each": len(inside[score]),
                    "seconds": round(seconds, 1),
                }
            )
        click.echo(f"{run_dir}: scored {len(inside['negative_elbo'])} + {len(outside['negative_elbo'])} images "
                   f"in {seconds:.0f} s", err=True)  # fmt: skip
    header = list(rows[0])
    widths = [max(len(name), *(len(str(row[name])) for row in rows)) for name in header]
    click.echo(" | ".join(name.ljust(width) for name, width in zip(header, widths, strict=True)))
    for row in rows:
        click.echo(" | ".join(str(row[name]).ljust(width) for name, width in zip(header, widths, strict=True)))
    record = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "k": k,
        "runs": commands,
        "rows": rows,
    }
    output.write_text(json.dumps(record, indent=2) + "\n")
    click.echo(f"wrote {output}", err=True)


if __name__ == "__main__":
    main()
