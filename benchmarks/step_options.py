"""What makes the default training step faster on this CPU? Candidate settings, in alternating windows in one process.

    python benchmarks/step_options.py                 # about 7 minutes on 2 CPU cores
    python benchmarks/step_options.py --windows 9

Each variant trains its own copy of the default model (`vae-train` with its defaults, the keras.io architecture) on
the same digits, one window of `--images` digits at a time, the variants taking turns so that a slow spell of the
machine hits them all; the table gives each variant's median images per second, its ratio to the default, and the
share of the measured matmul peak it sustains (`run.py`'s FLOPs per image and peak). Throughput only: a variant that
changes the numbers (bfloat16, a larger batch, XLA's fused kernels) must also keep the quality, which only a full
run shows.

Writes the results as JSON (--output) and prints a Markdown table.
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import date
from pathlib import Path

import click
from common import data_dir_option

ROOT = Path(__file__).resolve().parent

# name: (dtype policy, batch size, with the per-step divergence check, compiled by XLA). Keras compiles with XLA
# on accelerators only ("auto" leaves it off on a CPU-only machine).
VARIANTS = {
    "default (float32, batch 128)": ("float32", 128, True, False),
    "without the divergence check": ("float32", 128, False, False),
    "mixed_bfloat16": ("mixed_bfloat16", 128, True, False),
    "batch 256": ("float32", 256, True, False),
    "batch 512": ("float32", 512, True, False),
    "XLA (jit_compile=True)": ("float32", 128, True, True),
}


def step_results(rates: dict[str, list[float]], peak: float, flops: float, images: int, samples: str) -> dict:
    """A step benchmark's results: the day, the machine, the peak and the FLOPs per image, and each variant's median
    images per second over its `samples` (the measurements, kept under that name), its ratio to the first variant's,
    and its share of the matmul peak."""
    from run import machine

    default = statistics.median(next(iter(rates.values())))
    return {
        "date": date.today().isoformat(),
        "machine": machine(),
        "matmul_peak_gflops": peak,
        "training_flops_per_image": flops,
        "images_per_window": images,
        "variants": {
            name: {
                "images_per_second": statistics.median(values),
                samples: values,
                "ratio_to_default": statistics.median(values) / default,
                "peak_fraction": statistics.median(values) * flops / (peak * 1e9),
            }
            for name, values in rates.items()
        },
    }


@click.command()
@data_dir_option
@click.option("--windows", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--images", type=click.IntRange(min=512), default=6144, show_default=True, help="Digits per window.")
@click.option("--output", type=click.Path(path_type=Path), default=ROOT / "step_options.json", show_default=True)
def main(data_dir: Path, windows: int, images: int, output: Path) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from run import matmul_peak_gflops, training_flops_per_image

    from vae import files
    from vae.config import VAEConfig
    from vae.data.datasets import load_dataset
    from vae.data.pipeline import steps_per_epoch, training_dataset
    from vae.training.callbacks import DivergenceGuard
    from vae.training.setup import build_model

    dataset = load_dataset("mnist", data_dir)
    digits = dataset.train_images[:images]
    peak, flops = matmul_peak_gflops(), training_flops_per_image()
    runs = {}
    for name, (policy, batch_size, guard, xla) in VARIANTS.items():
        config = VAEConfig(batch_size=batch_size)
        steps = steps_per_epoch(len(digits), batch_size)
        model = build_model(config, steps, dtype_policy=policy)
        model.jit_compile = xla
        data = training_dataset(digits, batch_size, config.seed, 0, windows + 1)
        callbacks = [DivergenceGuard()] if guard else []
        runs[name] = (model, data, steps, callbacks)

    def window(name):
        model, data, steps, callbacks = runs[name]
        started = time.perf_counter()
        model.fit(data, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0, callbacks=callbacks)
        return len(digits) / (time.perf_counter() - started)

    for name in VARIANTS:  # a warm-up window each: tracing and the first allocations
        window(name)
    rates = {name: [] for name in VARIANTS}
    for index in range(windows):
        for name in VARIANTS:
            rates[name].append(window(name))
        click.echo(f"window {index + 1}/{windows}: " + ", ".join(f"{rates[n][-1]:.0f}" for n in VARIANTS), err=True)

    results = step_results(rates, peak, flops, len(digits), samples="windows")
    files.write_json(output, results)
    click.echo(
        f"{results['date']}, {results['machine']}; matmul peak {peak:.0f} GFLOP/s, {flops / 1e6:.1f} MFLOP per "
        f"training image; medians of {windows} alternating windows of {len(digits)} digits"
    )
    click.echo("| variant | images/s | ratio | share of the peak |")
    click.echo("|---|---|---|---|")
    for name, result in results["variants"].items():
        click.echo(
            f"| {name} | {result['images_per_second']:.0f} | {result['ratio_to_default']:.2f}x | "
            f"{result['peak_fraction']:.0%} |"
        )
    click.echo(f"wrote {output}")


if __name__ == "__main__":
    main()
