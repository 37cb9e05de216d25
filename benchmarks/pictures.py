"""The pictures of the README and the documentation, drawn from the pretrained runs by the commands a user runs.

    python benchmarks/pictures.py --mnist-dir ../shared/datasets/mnist

Writes docs/images/: from `pretrained:mnist` the reconstructions, the latent grid, the clusters, samples and the
training curves, and its reconstructions of the hand-drawn digits in tests/data/hand-drawn/; from
`pretrained:mnist-conditional` one row of samples per digit, the analogies, its clusters and its reconstructions
of the hand-drawn digits. (The report's explorer and the training GIF come from their own runs; see
docs/pictures.md.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
HAND_DRAWN = ROOT / "tests" / "data" / "hand-drawn"

PICTURES = {
    "reconstruction.png": ("mnist", ["vae_scripts.reconstruct", "--n", "10"]),
    "latent-grid.png": ("mnist", ["vae_scripts.plot", "latent-grid"]),
    "clusters.png": ("mnist", ["vae_scripts.plot", "clusters"]),
    "samples.png": ("mnist", ["vae_scripts.plot", "samples", "--n", "64"]),
    "history.png": ("mnist", ["vae_scripts.plot", "history"]),
    "hand-drawn.png": ("mnist", ["vae_scripts.reconstruct", "--images", str(HAND_DRAWN)]),
    "conditional-samples.png": ("mnist-conditional", ["vae_scripts.plot", "samples"]),
    "analogies.png": ("mnist-conditional", ["vae_scripts.plot", "analogies", "--n", "8"]),
    "conditional-clusters.png": ("mnist-conditional", ["vae_scripts.plot", "clusters"]),
    "hand-drawn-conditional.png": ("mnist-conditional", ["vae_scripts.reconstruct", "--images", str(HAND_DRAWN)]),
}

# The views that read no test digits, and take no --data-dir.
DRAWN_WITHOUT_DATA = {"samples", "history"}


@click.command()
@click.option("--mnist-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True)
def main(mnist_dir: Path) -> None:
    for name, (run, command) in PICTURES.items():
        arguments = [*command, "--run-dir", f"pretrained:{run}", "--output", str(IMAGES / name)]
        if not set(command) & DRAWN_WITHOUT_DATA:
            arguments += ["--data-dir", str(mnist_dir)]
        completed = subprocess.run([sys.executable, "-m", *arguments], capture_output=True, text=True)
        if completed.returncode != 0:
            raise click.ClickException(f"{name}: {completed.stderr.strip().splitlines()[-1]}")
        click.echo(f"wrote docs/images/{name}")


if __name__ == "__main__":
    main()
