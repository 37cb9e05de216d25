"""The quality report: how good the models are on full MNIST, measured the way the literature measures.

    python benchmarks/quality_report.py                     # both parts: about 15 + 60 minutes on 2 CPU cores
    python benchmarks/quality_report.py --part a            # only the default model

(a) The default 2-D model, `vae-train --epochs 30`: the test negative ELBO on grayscale digits (and the k=100
    importance-weighted bound, which on grayscale digits is no log-likelihood).
(b) The literature protocol: dynamically binarized MNIST, the MLP architecture with a 50-D latent, trained for at
    most an hour on this machine, then the importance-weighted test NLL with k=1000 on all 10,000 test digits.

Each part trains into --work-dir/<part> unless a finished run is already there (then it is reused, with the wall
time its history recorded), evaluates it with `vae-eval`, and the script prints a table and writes it as JSON.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import click
from common import data_dir_option, run_command

PARTS = {
    "a": {
        "name": "default 2-D model, grayscale (test negative ELBO)",
        "train": ["--epochs", "30"],
        # The conv decoder costs ~30x the MLP's per sample; k=100 keeps this under a few minutes on a CPU.
        "k": 100,
    },
    "b": {
        "name": "literature protocol: binarized, MLP, 50-D latent",
        "train": [
            "--binarize",
            "--arch",
            "mlp",
            "--latent-dim",
            "50",
            "--epochs",
            "500",
            "--batch-size",
            "128",
            "--learning-rate",
            "1e-3",
        ],
        "k": 1000,
    },
}


@click.command()
@click.option("--part", type=click.Choice(["a", "b", "both"]), default="both", show_default=True)
@data_dir_option
@click.option(
    "--work-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("quality-runs"), show_default=True
)
@click.option(
    "--output", type=click.Path(path_type=Path), default=Path(__file__).parent / "quality.json", show_default=True
)
def main(part: str, data_dir: Path, work_dir: Path, output: Path) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    results = json.loads(output.read_text()) if output.is_file() else {}
    for name in ("a", "b") if part == "both" else (part,):
        spec = PARTS[name]
        run_dir = work_dir / name
        common = ["--run-dir", str(run_dir), "--data-dir", str(data_dir)]
        if not (run_dir / "config.json").is_file():
            run_command(["vae-train", *spec["train"], *common, "--verbose", "2"], show=True)
        history = json.loads((run_dir / "history.json").read_text())
        evaluation_seconds = run_command(["vae-eval", "--k", spec["k"], *common], show=True).seconds
        evaluation = json.loads((run_dir / "eval.json").read_text())
        results[name] = {
            "name": spec["name"],
            "command": "vae-train " + " ".join(spec["train"]),
            "epochs": len(history["loss"]),
            "training_wall_seconds": history["wall_seconds"][-1],
            "evaluation_wall_seconds": round(evaluation_seconds, 1),
            "test_negative_elbo_during_training": history["test_loss"][-1],
            "eval": evaluation,
            "date": date.today().isoformat(),
        }
    from vae.files import write_json

    write_json(output, results)
    for name, result in sorted(results.items()):
        metrics = result["eval"]["metrics"]
        click.echo(
            f"({name}) {result['name']}: {result['epochs']} epochs in {result['training_wall_seconds'] / 60:.1f} min; "
            + ", ".join(f"{key} {value:.2f}" for key, value in metrics.items())
            + f" (k={result['eval']['k']}, {result['eval']['digits']} digits)"
        )
    click.echo(f"wrote {output}")


if __name__ == "__main__":
    main()
