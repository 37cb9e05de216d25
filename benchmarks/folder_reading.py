"""How fast a folder of images is read into memory: the package's reader, first and second read, against the other
readers on this machine.

    python benchmarks/folder_reading.py crops /tmp/colour-crops --photos DIR   # writes the colour folder (below)
    python benchmarks/folder_reading.py read /tmp/fashion-tree /tmp/colour-crops --rounds 5

`read` times, side by side in one run, each reader reading every image of each folder into uint8 arrays at the
images' own shape, `--rounds` times, the readers taking turns in a rotating order, and reports the median:

- `vae.data.folders`, first read: the scan and the reader that `vae-train --data-dir FOLDER` uses, with TensorFlow
  loaded as in `vae-train` and an empty decode cache (`VAE_CACHE_DIR` set to a fresh folder), which it then fills;
- `vae.data.folders`, second read: the same again, from the decode cache it filled;
- `vae.data.folders`, the cache's key alone: every file's bytes read and hashed, which the second read needs before
  it may load the cache;
- `vae.data.folders`, Pillow in processes: the reader where TensorFlow is not loaded, without a cache;
- Pillow in a pool of processes, one per core (the bare loop: open, convert, array);
- Pillow in one process;
- `tf.io.decode_png` in a `tf.data` pipeline with parallel calls, autotuned (`tf.data.AUTOTUNE`), and with a call
  per core and autotuning off, which the package's pipelines use;
- `keras.utils.image_dataset_from_directory`, iterated to the end.

Each reading's wall time and CPU time are recorded: the CPU time of this process's threads and of the pools'
processes (their forkserver's children), which depends less on what else the machine runs.

Every reader's pixels are compared with the package's first read, image by image (by path), and the JSON says
whether they are the same. Timings on a shared machine are noisy: compare the ratios of one run, and read the load
average the JSON records.

`crops` writes the colour folder: from each colour photograph that scikit-image ships (astronaut, chelsea, coffee,
the two motorcycles, rocket, the Hubble deep field, ihc, retina; `--photos` is scikit-image's `data` folder, e.g.
`.../site-packages/skimage/data`), `--crops` 64x64 squares at random places (seeded), as RGB PNGs, a subfolder per
photograph.

Writes `benchmarks/folder_reading.json`.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import click
import numpy as np

ROOT = Path(__file__).resolve().parent
PHOTOGRAPHS = (
    "astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "motorcycle_right.png", "rocket.jpg",
    "hubble_deep_field.jpg", "ihc.png", "retina.jpg",
)  # fmt: skip
CROP_SIDE = 64
# Files per task of the bare Pillow pool, as the package's (`vae.data.folders.CHUNK_FILES`).
CHUNK_FILES = 500


def image_paths(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*.png"))


def package_reader(folder: Path, channels: int) -> tuple[list[Path], np.ndarray]:
    from vae.data import folders, layouts

    read = folders.read_folder(layouts.scan_folder(folder), None, None)
    return [read.scan.root / file.path for file in read.read.files], read.read.pixels


def package_key(folder: Path, channels: int) -> tuple[list[Path], None]:
    from vae.data import cache, folders, layouts

    scan = layouts.scan_folder(folder)
    paths = [file.path for file in scan.files]
    side, _, _ = folders.shape_for(scan, None, None)
    digests, _ = folders._survey(scan.root, paths, side, channels)
    cache.content_key(paths, digests)
    return [scan.root / path for path in paths], None


def package_pillow(folder: Path, channels: int) -> tuple[list[Path], np.ndarray]:
    from vae.data import folders

    decodes, cache_dir = folders.tensorflow_decodes, os.environ.get("VAE_CACHE_DIR")
    folders.tensorflow_decodes, os.environ["VAE_CACHE_DIR"] = (lambda: False), "off"
    try:
        return package_reader(folder, channels)
    finally:
        folders.tensorflow_decodes = decodes
        os.environ["VAE_CACHE_DIR"] = cache_dir


def _pillow_chunk(task: tuple[list[Path], str]) -> np.ndarray:
    from PIL import Image

    paths, mode = task
    return np.stack([np.asarray(Image.open(path).convert(mode)) for path in paths])


def pillow_pool(folder: Path, channels: int) -> tuple[list[Path], np.ndarray]:
    paths, mode = image_paths(folder), "L" if channels == 1 else "RGB"
    tasks = [(paths[start : start + CHUNK_FILES], mode) for start in range(0, len(paths), CHUNK_FILES)]
    with ProcessPoolExecutor(os.cpu_count(), mp_context=get_context("forkserver")) as pool:
        return paths, np.concatenate(list(pool.map(_pillow_chunk, tasks)))


def pillow_serial(folder: Path, channels: int) -> tuple[list[Path], np.ndarray]:
    paths = image_paths(folder)
    return paths, _pillow_chunk((paths, "L" if channels == 1 else "RGB"))


def tf_data(folder: Path, channels: int) -> tuple[list[Path], np.ndarray]:
    import tensorflow as tf

    paths = image_paths(folder)

    def load(path):
        return tf.io.decode_png(tf.io.read_file(path), channels=channels)

    dataset = tf.data.Dataset.from_tensor_slices([str(path) for path in paths])
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE).batch(1000)
    return paths, np.concatenate([batch.numpy() for batch in dataset])


def tf_data_fixed(folder: Path, channels: int) -> tuple[list[Path], np.ndarray]:
    import tensorflow as tf

    paths = image_paths(folder)
    options = tf.data.Options()
    options.autotune.enabled = False

    def load(path):
        return tf.io.decode_png(tf.io.read_file(path), channels=channels)

    dataset = tf.data.Dataset.from_tensor_slices([str(path) for path in paths])
    dataset = dataset.map(load, num_parallel_calls=os.cpu_count()).batch(1000).with_options(options)
    return paths, np.concatenate([batch.numpy() for batch in dataset])


def keras_directory(folder: Path, channels: int) -> tuple[list[Path], np.ndarray]:
    import keras

    directories = [folder / "train", folder / "test"] if (folder / "train").is_dir() else [folder]
    paths, batches = [], []
    for directory in directories:
        dataset = keras.utils.image_dataset_from_directory(
            directory,
            color_mode="grayscale" if channels == 1 else "rgb",
            image_size=side_of(folder),
            batch_size=1000,
            shuffle=False,
            verbose=False,
        )
        paths += [Path(path) for path in dataset.file_paths]
        batches += [images.numpy() for images, _ in dataset]
    return paths, np.concatenate(batches)


def side_of(folder: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(image_paths(folder)[0]) as image:
        return image.size[1], image.size[0]


READERS = {
    "vae.data.folders, first read (TensorFlow loaded, empty cache)": package_reader,
    "vae.data.folders, second read (from the decode cache)": package_reader,
    "vae.data.folders, the cache's key alone (read and hash every file)": package_key,
    "vae.data.folders, Pillow in processes (TensorFlow not loaded, no cache)": package_pillow,
    "Pillow, a pool of processes (one per core)": pillow_pool,
    "Pillow, one process": pillow_serial,
    "tf.io.decode_png in tf.data (parallel calls)": tf_data,
    "tf.io.decode_png in tf.data (a call per core, autotuning off)": tf_data_fixed,
    "keras.utils.image_dataset_from_directory": keras_directory,
}
FIRST, SECOND = list(READERS)[:2]


def same_pixels(reference: tuple[list[Path], np.ndarray], read: tuple[list[Path], np.ndarray]) -> bool | None:
    """Whether `read` holds the reference's pixels for every image, matched by path; None for a reader of no
    pixels."""
    paths, pixels = read
    if pixels is None:
        return None
    if pixels.dtype != np.uint8:  # Keras' floats: the same only where they are whole numbers
        if not np.array_equal(pixels, np.round(pixels)):
            return False
        pixels = pixels.astype(np.uint8)
    by_path = dict(zip(map(str, paths), pixels, strict=True))
    reference_paths, reference_pixels = reference
    if set(by_path) != set(map(str, reference_paths)):
        return False
    return all(
        np.array_equal(by_path[str(path)].reshape(image.shape), image)
        for path, image in zip(reference_paths, reference_pixels, strict=True)
    )


def cpu_seconds() -> float:
    """The CPU time of this process (all its threads) and of the forkserver's processes (the pools') so far."""
    from multiprocessing import forkserver

    total = time.process_time()
    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    if pid:
        try:
            with open(f"/proc/{pid}/stat") as stream:
                fields = stream.read().rsplit(")", 1)[1].split()
            # utime, stime, cutime, cstime: fields 14 to 17, the 12th to 15th after the name.
            total += sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            pass
    return total


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def cpu_model() -> str:
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown CPU"


def time_folder(folder: Path, rounds: int) -> dict:
    from PIL import Image

    with Image.open(image_paths(folder)[0]) as image:
        channels = 1 if image.mode == "L" else 3
    seconds = {name: [] for name in READERS}
    cpu = {name: [] for name in READERS}
    same, counts, names = {}, {}, list(READERS)
    for round_index in range(rounds):
        cache_dir = Path(tempfile.mkdtemp(prefix="vae-cache-"))
        os.environ["VAE_CACHE_DIR"] = str(cache_dir)
        reads = {}
        try:
            # The readers take turns in a rotating order; the second read always follows the first.
            order = names[round_index % len(names) :] + names[: round_index % len(names)]
            order.remove(SECOND)
            order.insert(order.index(FIRST) + 1, SECOND)
            for name in order:
                cpu_before, started = cpu_seconds(), time.perf_counter()
                read = READERS[name](folder, channels)
                seconds[name].append(time.perf_counter() - started)
                time.sleep(0.5)  # for the forkserver to reap the pool's processes, whose time it then holds
                cpu[name].append(cpu_seconds() - cpu_before)
                counts[name] = len(read[0])
                click.echo(f"  {name}: {seconds[name][-1]:.2f} s, {cpu[name][-1]:.2f} s of CPU", err=True)
                if round_index == 0:  # the pixels are compared once
                    reads[name] = read
            same.update({name: same_pixels(reads[FIRST], read) for name, read in reads.items()})
        finally:
            shutil.rmtree(cache_dir, ignore_errors=True)
        click.echo(f"{folder}: round {round_index + 1}/{rounds} done, load average {load_average()}", err=True)
    first = statistics.median(seconds[FIRST])
    fastest = min(
        statistics.median(times) for name, times in seconds.items() if name.startswith(("Pillow", "tf.", "keras"))
    )
    return {
        "folder": str(folder),
        "images": counts[FIRST],
        "image_shape": list(reference_shape(folder, channels)),
        "readers": {
            name: {
                "images": counts[name],
                "median_seconds": round(statistics.median(times), 3),
                "seconds": [round(value, 3) for value in times],
                "images_per_second": round(counts[name] / statistics.median(times)),
                "median_cpu_seconds": round(statistics.median(cpu[name]), 3),
                "cpu_seconds": [round(value, 3) for value in cpu[name]],
                "ratio_to_fastest_other": round(statistics.median(times) / fastest, 2),
                "ratio_to_first_read": round(statistics.median(times) / first, 3),
                "same_pixels": same.get(name),
            }
            for name, times in seconds.items()
        },
    }


def reference_shape(folder: Path, channels: int) -> tuple[int, int, int]:
    height, width = side_of(folder)
    return height, width, channels


@click.group()
def main() -> None:
    """Time reading folders of images (`read`); write the colour folder (`crops`)."""


@main.command()
@click.argument("folders", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--rounds", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=ROOT / "folder_reading.json")
def read(folders: tuple[Path, ...], rounds: int, output: Path) -> None:
    """Time every reader on each of FOLDERS."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    # TensorFlow imported and its runtime started before the clocks start, so that no reader pays for its start
    # (vae-train imports it before it reads; the start of its runtime, a second or so, falls to its reading).
    list(tf.data.Dataset.from_tensor_slices([tf.io.encode_png(tf.zeros((8, 8, 1), tf.uint8))]).map(tf.io.decode_png))

    started = load_average()
    results = {
        "date": time.strftime("%Y-%m-%d"),
        "command": "python benchmarks/folder_reading.py read "
        + " ".join(str(folder) for folder in folders)
        + f" --rounds {rounds}",
        "machine": f"{cpu_model()}, {os.cpu_count()} CPU cores",
        "python": sys.version.split()[0],
        "rounds": rounds,
        "folders": [time_folder(folder, rounds) for folder in folders],
    }
    results["load_average"] = {"start": started, "end": load_average()}
    output.write_text(json.dumps(results, indent=1) + "\n")
    for folder in results["folders"]:
        click.echo(f"{folder['folder']}: {folder['images']:,} images of {'x'.join(map(str, folder['image_shape']))}")
        for name, result in folder["readers"].items():
            click.echo(
                f"  {name}: {result['median_seconds']:.2f} s median ({result['median_cpu_seconds']:.2f} s of CPU), "
                f"{result['images_per_second']:,} images/s, "
                f"{result['ratio_to_fastest_other']:.2f}x the fastest other reader, same pixels: "
                f"{result['same_pixels']}"
            )


@main.command()
@click.argument("output", type=click.Path(file_okay=False, path_type=Path))
@click.option("--photos", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--crops", type=click.IntRange(min=1), default=1000, show_default=True, help="Per photograph.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
def crops(output: Path, photos: Path, crops: int, seed: int) -> None:
    """Write CROPS 64x64 RGB crops of each colour photograph of scikit-image into OUTPUT/<photograph>/."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name in PHOTOGRAPHS:
        with Image.open(photos / name) as opened:
            photo = opened.convert("RGB")
        width, height = photo.size
        target = output / Path(name).stem
        target.mkdir(parents=True, exist_ok=True)
        for index in range(crops):
            left = int(rng.integers(0, width - CROP_SIDE + 1))
            top = int(rng.integers(0, height - CROP_SIDE + 1))
            photo.crop((left, top, left + CROP_SIDE, top + CROP_SIDE)).save(target / f"crop-{index:04d}.png")
    click.echo(f"wrote {crops * len(PHOTOGRAPHS):,} crops of {CROP_SIDE}x{CROP_SIDE} to {output}")


if __name__ == "__main__":
    main()
