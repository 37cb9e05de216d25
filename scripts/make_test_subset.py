"""Make the small real MNIST subset the tests use, from the canonical IDX files.

    python scripts/make_test_subset.py ../shared/datasets/mnist tests/data/mnist-subset

Takes the first --train training digits and the first --test test digits, and writes them as gzipped IDX files
with the canonical names, byte-for-byte reproducible (gzip mtime 0), and a DATASET file that names the data set:
a subset is not the canonical files, so only that file tells what it holds.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import click

from vae.config import DATASETS
from vae.data.datasets import read_data_dir
from vae.data.idx import DATASET_MARKER, IDX_FILES, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, idx_bytes


@click.command()
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("destination", type=click.Path(file_okay=False, path_type=Path))
@click.option("--train", "train_count", default=2000, show_default=True, help="Training digits to keep.")
@click.option("--test", "test_count", default=500, show_default=True, help="Test digits to keep.")
@click.option("--dataset", "name", type=click.Choice(DATASETS), default=DATASETS[0], show_default=True)
def main(source: Path, destination: Path, train_count: int, test_count: int, name: str) -> None:
    dataset = read_data_dir(source, name)
    arrays = {
        "train_images": (dataset.train_images[:train_count], IDX_IMAGES_MAGIC),
        "train_labels": (dataset.train_labels[:train_count], IDX_LABELS_MAGIC),
        "test_images": (dataset.test_images[:test_count], IDX_IMAGES_MAGIC),
        "test_labels": (dataset.test_labels[:test_count], IDX_LABELS_MAGIC),
    }
    destination.mkdir(parents=True, exist_ok=True)
    for key, (array, magic) in arrays.items():
        path = destination / (IDX_FILES[key] + ".gz")
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as stream:
            stream.write(idx_bytes(array, magic))
        click.echo(f"wrote {path} {array.shape}")
    (destination / DATASET_MARKER).write_text(name + "\n")


if __name__ == "__main__":
    main()
