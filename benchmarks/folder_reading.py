"""How fast a folder of images is read into memory: the package's reader against the other readers on this machine.

    python benchmarks/folder_reading.py /tmp/fashion-tree              # the tree of benchmarks/fashion_mnist_tree.py

Side by side in one run, each reading every image of the folder into uint8 arrays, `--rounds` times in turn, the
median reported:

- `vae.data.folders`: the scan and the pool of processes that `vae-train --data-dir FOLDER` uses, the shape the images'
  own;
- Pillow in one process, file after file;
- `tf.io.decode_image` in a `tf.data` pipeline with parallel calls;
- `keras.utils.image_dataset_from_directory`, iterated to the end.

Writes `benchmarks/folder_reading.json`.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import click
import numpy as np

ROOT = Path(__file__).resolve().parent


def package_reader(folder: Path) -> int:
    from vae.data import folders, layouts

    read = folders.read_folder(layouts.scan_folder(folder), None, None)
    return len(read.read.pixels)


def pillow_serial(folder: Path) -> int:
    from PIL import Image

    paths = sorted(folder.rglob("*.png"))
    pixels = np.stack([np.asarray(Image.open(path).convert("L")) for path in paths])
    return len(pixels)


def tf_data(folder: Path) -> int:
    import tensorflow as tf

    paths = sorted(str(path) for path in folder.rglob("*.png"))

    def load(path):
        return tf.io.decode_image(tf.io.read_file(path), channels=1, expand_animations=False)

    dataset = tf.data.Dataset.from_tensor_slices(paths).map(load, num_parallel_calls=tf.data.AUTOTUNE).batch(1000)
    return sum(int(batch.shape[0]) for batch in dataset)


def keras_directory(folder: Path) -> int:
    import keras

    count = 0
    for split in ("train", "test"):
        dataset = keras.utils.image_dataset_from_directory(
            folder / split, color_mode="grayscale", image_size=(28, 28), batch_size=1000, shuffle=False, verbose=False
        )
        count += sum(int(images.shape[0]) for images, _ in dataset)
    return count


READERS = {
    "vae.data.folders (scan, process pool)": package_reader,
    "Pillow, one process": pillow_serial,
    "tf.io.decode_image in tf.data": tf_data,
    "keras.utils.image_dataset_from_directory": keras_directory,
}


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--rounds", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=ROOT / "folder_reading.json")
def main(folder: Path, rounds: int, output: Path) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow  # noqa: F401  (imported before the clocks start, as in vae-train)

    seconds = {name: [] for name in READERS}
    counts = {}
    for _ in range(rounds):
        for name, reader in READERS.items():
            started = time.perf_counter()
            counts[name] = reader(folder)
            seconds[name].append(time.perf_counter() - started)
    fastest = min(statistics.median(times) for times in seconds.values())
    results = {
        "folder": str(folder),
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} CPU cores",
        "rounds": rounds,
        "readers": {
            name: {
                "images": counts[name],
                "median_seconds": statistics.median(times),
                "seconds": times,
                "images_per_second": counts[name] / statistics.median(times),
                "ratio_to_fastest": statistics.median(times) / fastest,
            }
            for name, times in seconds.items()
        },
    }
    output.write_text(json.dumps(results, indent=1) + "\n")
    for name, result in results["readers"].items():
        click.echo(
            f"{name}: {result['images']:,} images, {result['median_seconds']:.1f} s median, "
            f"{result['images_per_second']:,.0f} images/s, {result['ratio_to_fastest']:.2f}x the fastest"
        )


if __name__ == "__main__":
    main()
