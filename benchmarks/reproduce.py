"""The reproducibility table: our variants under the literature's protocol, beside the closest published numbers.

    python benchmarks/reproduce.py                        # every row: about 2 hours on 2 CPU cores
    python benchmarks/reproduce.py --row vae --row iwae-5 # some rows

Every row trains on dynamically binarized MNIST (`--binarize`) and is scored by `vae-eval --k 1000` on all 10,000
test digits, binarized once with a fixed seed: the test NLL, -log p(x), estimated with 1,000 importance samples
(Burda et al. 2015), and the single-sample test negative ELBO. Our runs are far shorter than the papers' (which
train for thousands of epochs), so every row carries its epochs and its training wall time: compare rows at their
budgets, not at the papers'.

A row trains into --work-dir/<row> unless a finished run is already there (then it is reused, with the wall time its
history recorded). The script writes the results as JSON and prints the table as Markdown, for the README.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import click
from common import data_dir_option, run_command

# The literature protocol shared by every row: binarized digits, the MLP encoder and decoder, a 50-D (top) latent.
PROTOCOL = ["--binarize", "--latent-dim", "50", "--batch-size", "128", "--learning-rate", "1e-3"]
EVALUATION_SAMPLES = 1000

# One row per variant. Epochs are set so that each of the first four rows trains for roughly ten minutes on the
# 2-core development machine; the last, our best combination, gets longer. "published" is the closest model in the
# literature, with the paper and table it comes from. The IWAE paper's numbers (Table 1: dynamically binarized
# MNIST, NLL from k=5000) agree in two independent reproductions' READMEs (nbip/IWAE, and notes on the IAF paper's
# Table 1); the paper's own PDF was not reachable from here. The VampPrior's 85.57 is as pythae's reproducibility
# README quotes it, for statically binarized MNIST, which it loads: close to, but not the same protocol as ours.
ROWS = {
    "vae": {
        "variant": "VAE",
        "train": ["--arch", "mlp", "--epochs", "45"],
        "published": (86.76, "VAE, 1 stochastic layer, k=1 (Burda et al. 2015, Table 1)"),
    },
    "iwae-5": {
        "variant": "IWAE, k=5",
        "train": ["--arch", "mlp", "--objective", "iwae", "--samples", "5", "--epochs", "22"],
        "published": (85.54, "IWAE, 1 stochastic layer, k=5 (Burda et al. 2015, Table 1)"),
    },
    "vamp": {
        "variant": "VAE with VampPrior, 500 pseudo-inputs",
        "train": ["--arch", "mlp", "--prior", "vamp", "--pseudo-inputs", "500", "--epochs", "14"],
        "published": (85.57, "VAE (L=1) + VampPrior, static MNIST (Tomczak & Welling 2018, via pythae)"),
    },
    "hierarchical": {
        "variant": "two stochastic layers",
        "train": ["--arch", "hierarchical", "--epochs", "40"],
        "published": (85.33, "VAE, 2 stochastic layers, k=1 (Burda et al. 2015, Table 1)"),
    },
    # The best combination at the first four rows' budget, given an hour of training: two stochastic
    # layers beat the VAE by 2.4 nats in ten minutes, the VampPrior matched in 14 epochs what the VAE reached in 45,
    # and the IWAE objective's five decoder passes per digit cost more epochs than its tighter bound gained back.
    # 120 epochs of it take about 52 minutes on the development machine. Tomczak & Welling (2018) report 83.19 for
    # their two-layer VAE with the VampPrior, but on statically binarized MNIST, as quoted second-hand; the closest
    # number on our protocol is the IWAE paper's two-layer VAE.
    "best": {
        "variant": "two stochastic layers with the VampPrior (our best combination)",
        "train": ["--arch", "hierarchical", "--prior", "vamp", "--pseudo-inputs", "500", "--epochs", "120"],
        "published": (85.33, "VAE, 2 stochastic layers, k=1 (Burda et al. 2015, Table 1)"),
    },
}


def markdown(results: dict) -> str:
    lines = [
        "| variant | command | epochs | training wall time | test NLL (k=1000) | test negative ELBO "
        "| published, closest model |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ROWS:
        if name not in results:
            continue
        result = results[name]
        metrics = result["eval"]["metrics"]
        published, source = result["published"]
        lines.append(
            f"| {result['variant']} | `{result['command']}` | {result['epochs']} | "
            f"{result['training_wall_seconds'] / 60:.1f} min | **{metrics['importance_weighted_nll']:.2f}** | "
            f"{metrics['negative_elbo']:.2f} | {published:.2f}: {source} |"
        )
    return "\n".join(lines)


@click.command()
@click.option("--row", "rows", type=click.Choice(list(ROWS)), multiple=True, help="Rows to run (default: all).")
@data_dir_option
@click.option(
    "--work-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("reproduce-runs"), show_default=True
)
@click.option(
    "--output", type=click.Path(path_type=Path), default=Path(__file__).parent / "reproduce.json", show_default=True
)
def main(rows: tuple[str, ...], data_dir: Path, work_dir: Path, output: Path) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from vae.files import write_json

    results = json.loads(output.read_text()) if output.is_file() else {}
    for name in rows or ROWS:
        spec = ROWS[name]
        run_dir = work_dir / name
        common = ["--run-dir", str(run_dir), "--data-dir", str(data_dir)]
        train = [*PROTOCOL, *spec["train"]]
        if not (run_dir / "config.json").is_file():
            run_command(["vae-train", *train, *common, "--verbose", "2"], show=True)
        history = json.loads((run_dir / "history.json").read_text())
        evaluation_seconds = run_command(["vae-eval", "--k", EVALUATION_SAMPLES, *common], show=True).seconds
        results[name] = {
            "variant": spec["variant"],
            "command": "vae-train " + " ".join(train),
            "epochs": len(history["loss"]),
            "training_wall_seconds": history["wall_seconds"][-1],
            "evaluation_wall_seconds": round(evaluation_seconds, 1),
            "eval": json.loads((run_dir / "eval.json").read_text()),
            "published": spec["published"],
            "date": date.today().isoformat(),
        }
        # Written after every row, so that a long run that is stopped keeps the rows it finished.
        write_json(output, results)
    click.echo(markdown(results))
    click.echo(f"wrote {output}")


if __name__ == "__main__":
    main()
