"""Side-by-side benchmark: the keras.io VAE loop against `vae-train` with its defaults and with the fast recipe
(`vae.config.FAST_RECIPE`), on full MNIST, one after another in one run.

    python benchmarks/run.py                 # about 45 minutes on 2 CPU cores
    python benchmarks/run.py --quick         # about 3 minutes, for regression checks

Reports, as ratios inside one run (timings on a shared machine are noisy; compare ratios, not seconds):
- training throughput, images per second, median of alternating windows of both loops, and what share of the
  machine's measured peak (a 2048x2048 float32 matmul) that is, from the model's FLOPs per training image;
- time to quality: wall seconds until the test negative ELBO first reaches the reference's final value, for the
  default 30-epoch run and for the fast recipe;
- latent-grid rendering: one batched decode of the 30x30 grid against 900 single `predict` calls;
- `vae-train --help` and `vae-plot latent-grid` wall times (medians of whole commands);
- peak resident memory of the `vae-train` process.

Prints a table and writes it as JSON (--output).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import click
import numpy as np
from common import data_folder_option, run_command

from vae.config import FAST_RECIPE, command_options

ROOT = Path(__file__).resolve().parent
# A fixed quality threshold in nats, beside the reference's own final value, so that runs on machines whose
# reference ends elsewhere still compare on one number.
FIXED_TARGET = 152.5


def command_seconds(command: list[str], repeats: int) -> float:
    """Median wall time of a whole command, start-up included."""
    return statistics.median(run_command(command).seconds for _ in range(repeats))


def run_project(run_dir: Path, data_dir: Path, options: dict) -> dict:
    """`vae-train --profile` with `options` (config fields) and the defaults for the rest, in a child process; its
    command, history, peak RSS in MB, and phase profile with the seconds from the end of its last epoch to its exit,
    as seen from outside the process."""
    arguments = command_options(options)
    finished = run_command(
        ["vae-train", *arguments, "--run-dir", run_dir, "--data-dir", data_dir, "--verbose", "0", "--profile"]
    )
    wall = finished.seconds
    history = json.loads((run_dir / "history.json").read_text())
    phases = json.loads((run_dir / "profile.json").read_text())
    last_epoch_end = max(p["start"] + p["seconds"] for p in phases if p["phase"].startswith("epoch "))
    profile = {"phases": phases, "process_wall_seconds": wall, "last_epoch_to_exit_seconds": wall - last_epoch_end}
    return {
        "command": " ".join(["vae-train", *arguments]),
        "history": history,
        "peak_rss_mb": finished.peak_rss_mb,
        "profile": profile,
    }


def project_record(run: dict, target: float, reference_seconds: float | None) -> dict:
    """What results.json keeps of one `run_project` run, measured against the reference's time to `target`."""
    losses, wall = run["history"]["test_loss"], run["history"]["wall_seconds"]
    reached = seconds_to_reach(losses, wall, target)
    return {
        "command": run["command"],
        "final_test_negative_elbo": losses[-1],
        "seconds_to_target": reached,
        "epoch_reaching_target": next((i + 1 for i, v in enumerate(losses) if v is not None and v <= target), None),
        "time_to_quality_ratio": reached / reference_seconds if reached and reference_seconds else None,
        "peak_rss_mb": run["peak_rss_mb"],
        "profile": run["profile"],
        "per_epoch_test_loss": losses,
        "per_epoch_wall_seconds": wall,
    }


def seconds_to_reach(losses: list[float], seconds: list[float], target: float) -> float | None:
    for loss, elapsed in zip(losses, seconds, strict=True):
        if loss is not None and loss <= target:  # None: an epoch whose test split was not scored
            return elapsed
    return None


def throughput_windows(dataset, windows: int, images_per_window: int) -> tuple[list[float], list[float]]:
    """Images per second of both training loops, measured in alternating windows after a warm-up of each."""
    import keras
    from keras_io_reference import ReferenceVAE, build

    from vae.config import VAEConfig
    from vae.data.pipeline import steps_per_epoch, training_dataset
    from vae.training.setup import build_model

    config = VAEConfig()
    images = dataset.train_images[:images_per_window]
    reference = ReferenceVAE(*build())
    reference.compile(optimizer=keras.optimizers.Adam())
    reference_inputs = images[..., None].astype("float32") / 255
    steps = steps_per_epoch(len(images), config.batch_size)
    project = build_model(config, steps)
    project_data = training_dataset(images, config.batch_size, config.seed, 0, windows + 1)

    def reference_window():
        reference.fit(reference_inputs, batch_size=128, epochs=1, verbose=0)

    def project_window():
        project.fit(project_data, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)

    reference_window()
    project_window()
    reference_rates, project_rates = [], []
    for _ in range(windows):
        for window, rates in ((reference_window, reference_rates), (project_window, project_rates)):
            started = time.perf_counter()
            window()
            rates.append(len(images) / (time.perf_counter() - started))
    return reference_rates, project_rates


def forward_multiply_adds(model) -> int:
    """Multiply-adds of one image's forward pass through the Dense and convolution layers of `model`'s encoder and
    decoder, counted from the layers' shapes (a formula, not a profiler): a Dense layer in x out; a convolution
    out_h x out_w x k_h x k_w x in_c x out_c; a transposed convolution in_h x in_w x k_h x k_w x in_c x out_c (each
    input pixel scatters one kernel). Biases, activations and the loss are left out: they are a few percent."""
    import keras

    total = 0
    for part in (model.encoder, model.decoder):
        for layer in part.layers:
            if isinstance(layer, keras.layers.Dense):
                total += layer.kernel.shape[0] * layer.kernel.shape[1]
            elif isinstance(layer, keras.layers.Conv2DTranspose):
                _, height, width, _ = layer.input.shape
                total += height * width * int(np.prod(layer.kernel.shape))
            elif isinstance(layer, keras.layers.Conv2D):
                _, height, width, _ = layer.output.shape
                total += height * width * int(np.prod(layer.kernel.shape))
    return total


def training_flops_per_image() -> float:
    """FLOPs of one training image of the default model: 2 per multiply-add, times 3 for the forward pass and the
    backward pass's two products (the gradients of the inputs and of the weights), the usual estimate."""
    from vae.config import VAEConfig
    from vae.model.autoencoder import VAE

    model = VAE(VAEConfig())
    model.build()
    return 3 * 2 * forward_multiply_adds(model)


def matmul_peak_gflops(size: int = 2048, repeats: int = 7) -> float:
    """The measured peak: GFLOP/s of a size x size float32 matmul in TensorFlow on this machine (2 n^3 FLOPs), the
    median of `repeats` after a warm-up."""
    import tensorflow as tf

    a = tf.random.stateless_normal((size, size), seed=(1, 2))
    b = tf.random.stateless_normal((size, size), seed=(3, 4))
    tf.linalg.matmul(a, b).numpy()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        tf.linalg.matmul(a, b).numpy()
        times.append(time.perf_counter() - started)
    return 2 * size**3 / statistics.median(times) / 1e9


def latent_grid_seconds(run_dir: Path, single_calls: int) -> tuple[float, float]:
    """One batched decode of the 30x30 grid, and 900 single `predict` calls (extrapolated from `single_calls`)."""
    import vae
    from vae.model.latent import decode_latent_grid

    model = vae.open_run(run_dir).model
    decode_latent_grid(model, 30, span=3.0)  # warm-up: trace once, as a command does
    started = time.perf_counter()
    decode_latent_grid(model, 30, span=3.0)
    batched = time.perf_counter() - started
    grid = np.linspace(-3, 3, 30, dtype="float32")
    cells = [np.array([[x, y]], dtype="float32") for y in grid for x in grid][:single_calls]
    model.decoder.predict(cells[0], verbose=0)
    started = time.perf_counter()
    for cell in cells:
        model.decoder.predict(cell, verbose=0)
    single = (time.perf_counter() - started) * 900 / len(cells)
    return batched, single


@click.command()
@click.option("--quick", is_flag=True, help="2 epochs each and fewer windows: under 3 minutes.")
@data_folder_option("--data-dir", help="The full MNIST IDX files (env VAE_DATA_DIR).", required=False)
@click.option("--output", type=click.Path(path_type=Path), default=ROOT / "results.json", show_default=True)
@click.option(
    "--show",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Print the table of an earlier results file and exit.",
)
def main(quick: bool, data_dir: Path, output: Path, show: Path | None) -> None:
    if show:
        results = json.loads(show.read_text())
        click.echo(f"{results['date']}, {results['machine']}")
        click.echo(table(results))
        return
    if data_dir is None:
        raise click.UsageError("--data-dir (or VAE_DATA_DIR) must name the full MNIST IDX files")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from keras_io_reference import train_reference

    from vae import files
    from vae.data.datasets import load_dataset

    epochs = 2 if quick else 30
    dataset = load_dataset("mnist", data_dir)
    work = Path(tempfile.mkdtemp(prefix="vae-benchmark-"))
    results: dict = {"date": date.today().isoformat(), "machine": machine(), "quick": quick, "epochs": epochs}

    help_seconds = command_seconds(["vae-train", "--help"], repeats=5)
    click.echo(f"vae-train --help: {help_seconds:.2f} s", err=True)

    peak = matmul_peak_gflops()
    flops_per_image = training_flops_per_image()
    click.echo(f"matmul peak {peak:.1f} GFLOP/s; {flops_per_image / 1e6:.1f} MFLOP per training image", err=True)
    reference_rates, project_rates = throughput_windows(
        dataset, windows=3 if quick else 7, images_per_window=3200 if quick else 6400
    )
    click.echo(f"throughput: reference {reference_rates}, project {project_rates}", err=True)

    click.echo(f"training the reference for {epochs} epochs...", err=True)
    reference_records = train_reference(dataset.train_images, dataset.test_images, epochs=epochs)
    target = reference_records[-1]["total_loss"]
    reference_time = seconds_to_reach(
        [r["total_loss"] for r in reference_records], [r["wall_seconds"] for r in reference_records], target
    )
    click.echo(f"training the project for {epochs} epochs...", err=True)
    run_dir = work / "project"
    project = project_record(run_project(run_dir, data_dir, {"epochs": epochs}), target, reference_time)
    recipe = {**FAST_RECIPE, "epochs": 1} if quick else FAST_RECIPE
    click.echo(f"training the fast recipe, {recipe}...", err=True)
    fast_recipe = project_record(run_project(work / "fast-recipe", data_dir, recipe), target, reference_time)
    batched, single = latent_grid_seconds(run_dir, single_calls=100 if quick else 900)
    plot_seconds = command_seconds(["vae-plot", "latent-grid", "--run-dir", run_dir, "--data-dir", data_dir], repeats=3)

    reference_rate, project_rate = statistics.median(reference_rates), statistics.median(project_rates)
    results.update(
        {
            "quality_target": target,
            "reference": {
                "images_per_second": reference_rate,
                "final_test_negative_elbo": target,
                "seconds_to_target": reference_time,
                "per_epoch": reference_records,
            },
            "project": {"images_per_second": project_rate, **project},
            "fast_recipe": fast_recipe,
            "throughput_ratio": project_rate / reference_rate,
            "matmul_peak_gflops": peak,
            "training_flops_per_image": flops_per_image,
            # The share of the measured peak that each loop's training step sustains, in alternating windows.
            "reference_peak_fraction": reference_rate * flops_per_image / (peak * 1e9),
            "project_peak_fraction": project_rate * flops_per_image / (peak * 1e9),
            "time_to_quality_ratio": project["time_to_quality_ratio"],
            "latent_grid": {"batched_seconds": batched, "single_predict_seconds": single, "speedup": single / batched},
            "vae_train_help_seconds": help_seconds,
            "vae_plot_latent_grid_seconds": plot_seconds,
        }
    )
    add_derived(results, len(dataset.train_images))
    files.write_json(output, results)
    click.echo(table(results))
    click.echo(f"wrote {output}")


def add_derived(results: dict, training_digits: int) -> None:
    """Figures read off the two full runs: the median epoch's images per second (each epoch of each run a window,
    test scoring included) and the time to the fixed threshold of 152.5 nats."""
    reference, project = results["reference"], results["project"]
    reference_seconds = [record["wall_seconds"] for record in reference["per_epoch"]]
    reference_losses = [record["total_loss"] for record in reference["per_epoch"]]
    for run, seconds in ((reference, reference_seconds), (project, project["per_epoch_wall_seconds"])):
        epochs = np.diff([0.0, *seconds])
        run["epoch_images_per_second"] = statistics.median(training_digits / epochs)
    results["epoch_throughput_ratio"] = project["epoch_images_per_second"] / reference["epoch_images_per_second"]
    reference_time = seconds_to_reach(reference_losses, reference_seconds, FIXED_TARGET)
    project_time = seconds_to_reach(project["per_epoch_test_loss"], project["per_epoch_wall_seconds"], FIXED_TARGET)
    reference["seconds_to_fixed_target"], project["seconds_to_fixed_target"] = reference_time, project_time
    results["fixed_target_ratio"] = project_time / reference_time if project_time and reference_time else None


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"


def table(results: dict) -> str:
    reference, project, grid = results["reference"], results["project"], results["latent_grid"]

    def ratio(value):
        return f"{value:.2f}x" if value is not None else "n/a"

    def seconds(value):
        return f"{value:.0f} s" if value is not None else "not reached"

    rows = [
        ("measure", "keras.io loop", "vae-train", "ratio"),
        (
            "throughput, alternating windows in one process (img/s)",
            f"{reference['images_per_second']:.0f}",
            f"{project['images_per_second']:.0f}",
            ratio(results["throughput_ratio"]),
        ),
        (
            "throughput, median epoch of the full runs (img/s)",
            f"{reference['epoch_images_per_second']:.0f}",
            f"{project['epoch_images_per_second']:.0f}",
            ratio(results["epoch_throughput_ratio"]),
        ),
        (
            f"time to test -ELBO <= {results['quality_target']:.2f} (reference's final)",
            seconds(reference["seconds_to_target"]),
            seconds(project["seconds_to_target"]),
            ratio(results["time_to_quality_ratio"]),
        ),
        *(
            [
                (
                    f"time to test -ELBO <= {results['quality_target']:.2f}, the fast recipe "
                    f"(`{results['fast_recipe']['command']}`)",
                    seconds(reference["seconds_to_target"]),
                    seconds(results["fast_recipe"]["seconds_to_target"]),
                    ratio(results["fast_recipe"]["time_to_quality_ratio"]),
                )
            ]
            if "fast_recipe" in results
            else []
        ),
        (
            f"time to test -ELBO <= {FIXED_TARGET}",
            seconds(reference["seconds_to_fixed_target"]),
            seconds(project["seconds_to_fixed_target"]),
            ratio(results["fixed_target_ratio"]),
        ),
        (
            f"test -ELBO after {results['epochs']} epochs",
            f"{reference['final_test_negative_elbo']:.2f}",
            f"{project['final_test_negative_elbo']:.2f}",
            "",
        ),
        (
            "latent grid, 900 cells",
            f"{grid['single_predict_seconds']:.2f} s (900 predicts)",
            f"{grid['batched_seconds'] * 1000:.1f} ms (one batch)",
            f"{grid['speedup']:.0f}x faster",
        ),
        ("vae-train --help", "", f"{results['vae_train_help_seconds']:.2f} s", ""),
        ("vae-plot latent-grid (whole command)", "", f"{results['vae_plot_latent_grid_seconds']:.2f} s", ""),
        ("peak RSS while training", "", f"{project['peak_rss_mb']:.0f} MB", ""),
    ]
    if "profile" in project:  # results files from before --profile was run lack the row
        rows.append(
            (
                "last epoch's end to the process's exit",
                "",
                f"{project['profile']['last_epoch_to_exit_seconds']:.2f} s",
                "",
            )
        )
    if "matmul_peak_gflops" in results:  # results files from before it was measured lack the row
        rows.insert(
            2,
            (
                f"training step, share of the {results['matmul_peak_gflops']:.0f} GFLOP/s matmul peak "
                f"({results['training_flops_per_image'] / 1e6:.1f} MFLOP/image)",
                f"{results['reference_peak_fraction']:.0%}",
                f"{results['project_peak_fraction']:.0%}",
                "",
            ),
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
