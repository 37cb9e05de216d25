"""Write Fashion-MNIST out as a folder of PNG images, train/<class>/ and test/<class>/, for the folder benchmarks.

    python benchmarks/fashion_mnist_tree.py /tmp/fashion-tree          # from Debian's dataset-fashion-mnist
    python benchmarks/fashion_mnist_tree.py /tmp/fashion-tree --data-dir DIR

Each image is the IDX file's 28x28 gray levels, pixel for pixel, as `NNNNN.png` (its index in its split); the class
folders are Zalando's class names made safe for a file name (`t-shirt-top`, ..., `ankle-boot`). A run trained on the
tree sees the same pixels as one trained on the IDX files, in another order.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
from common import data_folder_option
from PIL import Image

from vae.config import DATASET_CLASSES
from vae.data.datasets import load_dataset


def folder_name(class_name: str) -> str:
    """'T-shirt/top' as 't-shirt-top', 'Ankle boot' as 'ankle-boot'."""
    return re.sub(r"[^a-z0-9]+", "-", class_name.lower()).strip("-")


@click.command()
@click.argument("output", type=click.Path(file_okay=False, path_type=Path))
@data_folder_option("--data-dir", help="Fashion-MNIST's IDX files.", envvar=None, required=False)
@click.option("--limit", type=click.IntRange(min=1), help="Write the first N images of each split only.")
def main(output: Path, data_dir: Path | None, limit: int | None) -> None:
    dataset = load_dataset("fashion-mnist", data_dir)
    names = [folder_name(name) for name in DATASET_CLASSES["fashion-mnist"]]
    for split, images, labels in (
        ("train", dataset.train_images, dataset.train_labels),
        ("test", dataset.test_images, dataset.test_labels),
    ):
        for name in names:
            (output / split / name).mkdir(parents=True, exist_ok=True)
        for index, (image, label) in enumerate(zip(images[:limit], labels[:limit], strict=True)):
            Image.fromarray(image, mode="L").save(output / split / names[label] / f"{index:05d}.png")
        click.echo(f"wrote {min(len(images), limit or len(images)):,} {split} images to {output / split}")


if __name__ == "__main__":
    main()
