"""The networks' sizes and training speed per image size: parameters, activation memory and images per second.

    python benchmarks/network_sizes.py                 # every row, on this machine
    python benchmarks/network_sizes.py --steps 3       # fewer timed steps per row

Each row builds the model a run of that shape gets by default (its latent size and likelihood chosen from the
images, as `vae-train` chooses them; the network named by the row), counts its parameters, states the activation
memory per image that `vae-train` checks before it allocates anything (`vae.config.resnet_activation_bytes`, for the
residual network), and times training steps of the default batch on random images: after two steps that build and
compile, the median of --steps timed ones, as training images per second. Results go to
benchmarks/network_sizes.json, with the CPU, or the GPU where TensorFlow sees one.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from datetime import date
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent
# (network, side, channels): the IDX shape for every network, then the residual network over its range.
ROWS = [
    ("conv", 28, 1),
    ("mlp", 28, 1),
    ("conv", 64, 3),
    ("resnet", 16, 1),
    ("resnet", 28, 1),
    ("resnet", 32, 3),
    ("resnet", 64, 3),
    ("resnet", 128, 3),
    ("resnet", 256, 3),
]


def device() -> str:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    return f"{platform.processor() or platform.machine()} CPU"


def measure(network: str, side: int, channels: int, steps: int) -> dict:
    import numpy as np
    import tensorflow as tf

    from vae.config import VAEConfig, resnet_activation_bytes
    from vae.training.setup import build_model

    config = VAEConfig(
        dataset="folder", class_names=(), image_size=side, channels=channels, architecture=network, epochs=1
    )
    model = build_model(config, steps_per_epoch=steps + 2)
    rng = np.random.default_rng(0)
    images = (rng.integers(0, 256, (config.batch_size, side, side, channels)) / 255).astype("float32")
    # The step `fit` runs, fed as `fit` feeds it: batches of images alone.
    model.make_train_function()
    step_function = model.train_function
    batches = iter(tf.data.Dataset.from_tensors(images).repeat())
    seconds = []
    for step in range(steps + 2):
        started = time.perf_counter()
        step_function(batches)
        if step >= 2:
            seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    activations = resnet_activation_bytes(side, channels) if network == "resnet" else None
    return {
        "network": network,
        "side": side,
        "channels": channels,
        "latent_dim": config.latent_dim,
        "likelihood": config.likelihood,
        "batch_size": config.batch_size,
        "parameters": int(model.count_params()),
        "activation_bytes_per_image": activations,
        "step_seconds": seconds,
        "images_per_second": config.batch_size / median,
    }


@click.command()
@click.option("--steps", type=click.IntRange(1, 100), default=5, show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=ROOT / "network_sizes.json")
def main(steps, output):
    import keras

    rows = []
    for network, side, channels in ROWS:
        keras.utils.clear_session()
        row = measure(network, side, channels, steps)
        rows.append(row)
        click.echo(
            f"{network} {side}x{side}x{channels}: {row['parameters']:,} parameters, "
            f"{row['images_per_second']:.0f} images/s"
        )
    record = {"date": date.today().isoformat(), "device": device(), "steps": steps, "rows": rows}
    output.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
