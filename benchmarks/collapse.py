"""Posterior collapse on a small data set: what the warm-up floor and free bits do to 2,048 MNIST digits.

    python benchmarks/collapse.py --data-dir ../shared/datasets/mnist

Each setting trains `vae-train --epochs 10 --limit 2048` with the options it names (the rest at their defaults) and
records the test KL after every epoch and the test negative ELBO after the last. A run has collapsed when its
posterior carries almost no information about its image: a test KL near 0, and a negative ELBO near the mean image's
(about 208 nats). The goal of the defaults: a test KL above 2 nats. Results go to benchmarks/collapse.json as each run
ends; a setting already there is not trained again.
"""

from __future__ import annotations

import json
import tempfile
from datetime import date
from pathlib import Path

import click
from common import data_dir_option, run_command

ROOT = Path(__file__).resolve().parent
BASE = ["--epochs", "10", "--limit", "2048", "--verbose", "0"]
# Each setting: its name and the options that differ from the defaults.
SETTINGS = {
    "the previous defaults (batch 128, peak 1e-2, one epoch of warm-up, no free bits)": [
        "--batch-size", "128", "--learning-rate", "1e-2", "--min-warmup-steps", "0", "--free-nats", "0",
    ],
    "batch 64 at 6e-3, one epoch of warm-up, no free bits": ["--min-warmup-steps", "0", "--free-nats", "0"],
    "+ the warm-up floor of 500 steps": ["--free-nats", "0"],
    "+ free bits, no warm-up floor": ["--min-warmup-steps", "0"],
    "the defaults: the warm-up floor and free bits": [],
}  # fmt: skip


@click.command()
@data_dir_option
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=ROOT / "collapse.json")
def main(data_dir, output):
    record = json.loads(output.read_text()) if output.exists() else {"runs": {}}
    for name, options in SETTINGS.items():
        if name in record["runs"]:
            continue
        with tempfile.TemporaryDirectory(prefix="vae-collapse-") as work:
            run_dir = Path(work) / "run"
            command = ["vae-train", "--data-dir", data_dir, "--run-dir", run_dir, *BASE, *options]
            run_command(command, show=True)
            history = json.loads((run_dir / "history.json").read_text())
        record["runs"][name] = {
            "command": " ".join(["vae-train", *BASE, *options]),
            "test_kl": history["test_kl_loss"],
            "test_negative_elbo": history["test_loss"][-1],
        }
        record["date"] = date.today().isoformat()
        output.write_text(json.dumps(record, indent=2) + "\n")
        click.echo(f"{name}: test KL {history['test_kl_loss'][-1]:.2f}, test −ELBO {history['test_loss'][-1]:.2f}")


if __name__ == "__main__":
    main()
