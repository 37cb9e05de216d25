"""Process-wide settings for the default training step: thread pools and oneDNN, read once, when TensorFlow starts.

    python benchmarks/step_settings.py                # about 14 minutes on 2 CPU cores
    python benchmarks/step_settings.py --rounds 7

`step_options.py` compares settings that can change inside one process; these cannot, so each variant runs in its
own child process with its environment set. The children take turns, one per variant per round, so a slow spell of
the machine hits them all. Each child builds the default model (`vae-train` with its defaults), trains a warm-up
window and then `--windows` windows of `--images` digits, and reports its median images per second; the table gives
each variant's median over the rounds, its ratio to TensorFlow's own choice, and the share of the matmul peak it
sustains (`run.py`'s FLOPs per image and peak, measured in the parent).

Writes the results as JSON (--output) and prints a Markdown table.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import click
from common import data_dir_option, run_command

ROOT = Path(__file__).resolve().parent

# name: the environment a child starts with. Without one, TensorFlow sizes both thread pools itself and uses oneDNN's
# kernels (its default on x86 Linux).
VARIANTS = {
    "TensorFlow's defaults": {},
    "1 inter-op thread": {"TF_NUM_INTEROP_THREADS": "1"},
    "1 intra-op thread": {"TF_NUM_INTRAOP_THREADS": "1"},
    "oneDNN off (Eigen kernels)": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    "oneDNN off, 1 inter-op thread": {"TF_ENABLE_ONEDNN_OPTS": "0", "TF_NUM_INTEROP_THREADS": "1"},
}


def child(data_dir: Path, windows: int, images: int) -> None:
    """Train the default step in this process's settings; print {"rate": median images per second} as JSON."""
    from vae.config import VAEConfig
    from vae.data.datasets import load_dataset
    from vae.data.pipeline import steps_per_epoch, training_dataset
    from vae.training.callbacks import DivergenceGuard
    from vae.training.setup import build_model

    digits = load_dataset("mnist", data_dir).train_images[:images]
    config = VAEConfig()
    steps = steps_per_epoch(len(digits), config.batch_size)
    model = build_model(config, steps)
    data = training_dataset(digits, config.batch_size, config.seed, 0, windows + 1)
    rates = []
    for index in range(windows + 1):
        started = time.perf_counter()
        model.fit(data, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0, callbacks=[DivergenceGuard()])
        if index:  # the first window is the warm-up: tracing and the first allocations
            rates.append(len(digits) / (time.perf_counter() - started))
    print(json.dumps({"rate": statistics.median(rates), "windows": rates}))


@click.command()
@data_dir_option
@click.option("--rounds", type=click.IntRange(min=1), default=5, show_default=True, help="Children per variant.")
@click.option("--windows", type=click.IntRange(min=1), default=2, show_default=True, help="Windows per child.")
@click.option("--images", type=click.IntRange(min=512), default=6144, show_default=True, help="Digits per window.")
@click.option("--output", type=click.Path(path_type=Path), default=ROOT / "step_settings.json", show_default=True)
@click.option("--child", "as_child", is_flag=True, hidden=True)
def main(data_dir: Path, rounds: int, windows: int, images: int, output: Path, as_child: bool) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if as_child:
        child(data_dir, windows, images)
        return
    from run import matmul_peak_gflops, training_flops_per_image
    from step_options import step_results

    from vae import files

    peak, flops = matmul_peak_gflops(), training_flops_per_image()
    command = [__file__, "--child", "--data-dir", data_dir, "--windows", windows, "--images", images]
    rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for index in range(rounds):
        for name, environment in VARIANTS.items():
            finished = run_command(command, environment=environment)
            rates[name].append(json.loads(finished.stdout.strip().splitlines()[-1])["rate"])
        click.echo(f"round {index + 1}/{rounds}: " + ", ".join(f"{rates[n][-1]:.0f}" for n in VARIANTS), err=True)

    results = step_results(rates, peak, flops, images, samples="children")
    results["windows_per_child"] = windows
    for name, summary in results["variants"].items():
        summary["environment"] = VARIANTS[name]
    files.write_json(output, results)
    click.echo(
        f"{results['date']}, {results['machine']}; matmul peak {peak:.0f} GFLOP/s, {flops / 1e6:.1f} MFLOP per "
        f"training image; medians of {rounds} children per variant, each the median of {windows} windows of "
        f"{images} digits"
    )
    click.echo("| variant | environment | images/s | ratio | share of the peak |")
    click.echo("|---|---|---|---|---|")
    for name, result in results["variants"].items():
        environment = " ".join(f"`{key}={value}`" for key, value in result["environment"].items()) or "none"
        click.echo(
            f"| {name} | {environment} | {result['images_per_second']:.0f} | {result['ratio_to_default']:.2f}x | "
            f"{result['peak_fraction']:.0%} |"
        )
    click.echo(f"wrote {output}")


if __name__ == "__main__":
    main()
