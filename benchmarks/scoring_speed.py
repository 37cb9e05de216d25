"""How fast `vae-encode` scores a folder of images, with and without anomaly maps.

    python benchmarks/scoring_speed.py --run RUN --data-dir ../shared/datasets/mnist

The first --images test images of the data set are written as a folder of PNGs, and `vae-encode FOLDER --run-dir RUN
--output CSV` scores them, with `--maps DIR` and without, taking turns --repeats times in one run (timings here are
noisy; the medians are reported). Each command is timed whole, as a user meets it: the interpreter and TensorFlow
starting, the files read and prepared, the scores (the negative ELBO, the importance-weighted bound from --k samples,
and on a run with an exact likelihood the complexity-corrected score) and the CSV written. A command scoring one image
is timed beside them, so that the start-up can be told apart from the scoring itself. The load average before the
first command is recorded: the figures hold for a machine with nothing else running. Writes
benchmarks/scoring_speed.json.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import click
from common import data_dir_option, run_command
from one_class import write_pngs

ROOT = Path(__file__).resolve().parent
# The commands that score the whole folder; the third, of one image, times the start-up.
SCORING = ("scores", "scores and maps")


def cpu_model() -> str:
    """The CPU's model name as /proc/cpuinfo gives it, and whether it has AVX-512 (rounding differs between them)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "")
    return f"{model or 'unknown CPU'}, {'with' if 'avx512f' in info else 'no'} AVX-512"


@click.command()
@click.option("--run", "run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True)
@data_dir_option
@click.option("--images", type=click.IntRange(1, 10_000), default=10_000, show_default=True)
@click.option("--k", type=click.IntRange(1), default=100, show_default=True, help="vae-encode --k.")
@click.option("--repeats", type=click.IntRange(1), default=3, show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=ROOT / "scoring_speed.json")
def main(run_dir: Path, data_dir: Path, images: int, k: int, repeats: int, output: Path) -> None:
    from vae.data.datasets import load_dataset

    data = load_dataset("mnist", data_dir)
    work = Path(tempfile.mkdtemp(prefix="vae-scoring-speed-"))
    try:
        folder = work / "images"
        write_pngs(data.test_images[:images], folder)
        write_pngs(data.test_images[:1], work / "one")
        load = os.getloadavg()[0]
        base = ["vae-encode", "--run-dir", run_dir, "--k", str(k), "--output", work / "scores.csv"]
        modes = {
            "start-up: one image": [*base, work / "one"],
            "scores": [*base, folder],
            "scores and maps": [*base, folder, "--maps", work / "maps"],
        }
        seconds: dict[str, list[float]] = {mode: [] for mode in modes}
        for repeat in range(repeats):
            for mode, command in modes.items():
                shutil.rmtree(work / "maps", ignore_errors=True)
                finished = run_command(command)
                seconds[mode].append(round(finished.seconds, 2))
                click.echo(f"{repeat + 1}/{repeats} {mode}: {finished.seconds:.1f} s", err=True)
        rows = len((work / "scores.csv").read_text().splitlines()) - 1
        if rows != 1 and rows != images:
            raise click.ClickException(f"the last CSV has {rows} rows, expected {images}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    config = json.loads((run_dir / "config.json").read_text())
    start_up = statistics.median(seconds["start-up: one image"])
    record = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} CPU cores",
        "cpu": cpu_model(),
        "load_average_before": round(load, 2),
        "command": f"python benchmarks/scoring_speed.py --run RUN --images {images} --k {k} --repeats {repeats}",
        "run": {key: config.get(key) for key in ("dataset", "architecture", "latent_dim", "likelihood", "epochs")},
        "images": images,
        "k": k,
        "seconds": seconds,
        "median_seconds": {mode: round(statistics.median(values), 2) for mode, values in seconds.items()},
        "images_per_second": {mode: round(images / statistics.median(seconds[mode]), 1) for mode in SCORING},
        "images_per_second_after_start_up": {
            mode: round(images / (statistics.median(seconds[mode]) - start_up), 1) for mode in SCORING
        },
    }
    output.write_text(json.dumps(record, indent=2) + "\n")
    click.echo(json.dumps({key: record[key] for key in ("median_seconds", "images_per_second")}, indent=2))


if __name__ == "__main__":
    main()
