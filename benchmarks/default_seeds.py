"""The default run over several seeds: does `vae-train --epochs 30` hold on every seed of this machine?

    python benchmarks/default_seeds.py --data-dir ../shared/datasets/mnist --runs /tmp/seeds --seeds 0 1 2

Each seed trains `vae-train --epochs 30 --seed N` on full MNIST into RUNS/seed-N with every other option at its
default, unless RUNS/seed-N already holds that finished run (its config is the default one for that seed), which is
then read instead of trained again: a stopped benchmark goes on where it stopped, and the seeds may be trained side
by side, each by its own command. The test negative ELBO after every epoch of each seed, the median and the range of
the last, and the CPU (its model, and whether it has AVX-512: rounding, and so the result of a seed, differs between
CPU kinds) go to --output, benchmarks/default_seeds.json.
"""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
from datetime import date
from pathlib import Path

import click
from common import data_dir_option, run_command

from vae.config import VAEConfig

ROOT = Path(__file__).resolve().parent
# The goal of the default run: every seed at or under this test negative ELBO, and the seeds this close together.
GOAL_NATS = 149.5
GOAL_SPREAD = 1.5


def cpu() -> dict:
    """The CPU's model name and whether it has AVX-512 instructions, from lscpu."""
    text = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    flags = fields.get("Flags", "").split()
    return {
        "model": fields.get("Model name", platform.processor()).strip(),
        "cores": int(fields.get("CPU(s)", "0").strip() or 0),
        "avx512": any(flag.startswith("avx512") for flag in flags),
    }


def finished_run(run_dir: Path, seed: int) -> dict | None:
    """The history of the default run of `seed` in `run_dir`, or None where there is none, finished."""
    try:
        config = VAEConfig.from_json((run_dir / "config.json").read_text())
        history = json.loads((run_dir / "history.json").read_text())
    except (OSError, ValueError):
        return None
    if config != VAEConfig(seed=seed) or len(history.get("test_loss", [])) != config.epochs:
        return None
    return history


@click.command()
@data_dir_option
@click.option("--runs", type=click.Path(file_okay=False, path_type=Path), required=True, help="Where the runs go.")
@click.option("--seeds", type=int, multiple=True, default=(0, 1, 2), show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=ROOT / "default_seeds.json")
def main(data_dir, runs, seeds, output):
    results = {}
    for seed in seeds:
        run_dir = runs / f"seed-{seed}"
        history = finished_run(run_dir, seed)
        if history is None:
            command = ["vae-train", "--data-dir", data_dir, "--run-dir", run_dir, "--seed", seed, "--verbose", "0"]
            run_command([*command, "--overwrite"] if run_dir.exists() else command, show=True)
            history = finished_run(run_dir, seed)
        results[str(seed)] = {
            "test_negative_elbo": history["test_loss"],
            "test_kl": history["test_kl_loss"],
            "wall_seconds": history["wall_seconds"][-1],
        }
    finals = [run["test_negative_elbo"][-1] for run in results.values()]
    record = {
        "date": date.today().isoformat(),
        "machine": cpu(),
        "command": "vae-train --epochs 30 --seed N",
        "config": VAEConfig().to_dict(),
        "seeds": results,
        "median": statistics.median(finals),
        "worst": max(finals),
        "spread": max(finals) - min(finals),
        "goal": {"every_seed_at_most": GOAL_NATS, "spread_under": GOAL_SPREAD},
        "met": max(finals) <= GOAL_NATS and max(finals) - min(finals) < GOAL_SPREAD,
    }
    output.write_text(json.dumps(record, indent=2) + "\n")
    click.echo(
        f"test −ELBO by seed: {' / '.join(f'{value:.2f}' for value in finals)}; median {record['median']:.2f}, "
        f"spread {record['spread']:.2f}; goal {'met' if record['met'] else 'missed'}"
    )


if __name__ == "__main__":
    main()
