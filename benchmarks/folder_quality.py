"""A folder of images trained at the defaults, measured and drawn: what a user gets from their own images.

    python benchmarks/folder_quality.py --name emoji --data-dir /tmp/emoji --runs /tmp/runs
    python benchmarks/folder_quality.py --name photos-64 --data-dir /tmp/photos --runs /tmp/runs -- --image-size 64

`vae-train --data-dir FOLDER` with every option at its default (or the `vae-train` options after `--`), into
RUNS/NAME, unless that run is there, finished, already; then `vae-eval --k 100` on its test split, and its
reconstructions and 64 samples drawn into docs/images/NAME-reconstruction.png and NAME-samples.png. The test negative
ELBO and importance-weighted NLL (nats and bits per dimension), the active latent units, the reconstruction PSNR
beside PCA's at the same latent size, and the training's wall time go to benchmarks/folder_quality.json under NAME.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import click
from common import run_command

ROOT = Path(__file__).resolve().parent
IMAGES = ROOT.parent / "docs" / "images"


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--name", required=True, help="The row's name, and the pictures'.")
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True)
@click.option("--runs", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--k", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=ROOT / "folder_quality.json")
@click.argument("options", nargs=-1, type=click.UNPROCESSED)
def main(name, data_dir, runs, k, output, options):
    run_dir = runs / name
    command = ["vae-train", "--data-dir", data_dir, "--run-dir", run_dir, "--verbose", "0", *options]
    printed = ""
    if not (run_dir / "history.json").is_file():
        printed = run_command([*command, "--resume"] if (run_dir / "checkpoint").is_dir() else command, show=True)
        printed = printed.stdout
    history = json.loads((run_dir / "history.json").read_text())
    config = json.loads((run_dir / "config.json").read_text())
    run_command(["vae-eval", "--run-dir", run_dir, "--k", k], show=True)
    evaluation = json.loads((run_dir / "eval.json").read_text())
    IMAGES.mkdir(parents=True, exist_ok=True)
    run_command(
        ["vae-reconstruct", "--n", "10", "--run-dir", run_dir, "--output", IMAGES / f"{name}-reconstruction.png"]
    )
    run_command(["vae-plot", "samples", "--n", "64", "--run-dir", run_dir, "--output", IMAGES / f"{name}-samples.png"])
    record = json.loads(output.read_text()) if output.exists() else {}
    record[name] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} CPU cores",
        "command": " ".join(["vae-train", "--data-dir", data_dir.name, *options]),
        "config": {key: config[key] for key in ("architecture", "latent_dim", "likelihood", "image_size", "channels")},
        "epochs": len(history["test_loss"]),
        "training_seconds": history["wall_seconds"][-1],
        "test_kl": history["test_kl_loss"][-1],
        "eval": evaluation,
        "printed": printed.strip().splitlines()[-3:] if printed else [],
    }
    output.write_text(json.dumps(record, indent=2) + "\n")
    click.echo(json.dumps(record[name]["eval"].get("metrics", {}), indent=2))


if __name__ == "__main__":
    main()
