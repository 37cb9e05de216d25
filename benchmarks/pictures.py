"""The pictures of the README and the documentation, drawn from the pretrained runs by the commands a user runs.

    python benchmarks/pictures.py --mnist-dir ../shared/datasets/mnist

Writes docs/images/: from `pretrained:mnist` the reconstructions, the latent grid, the clusters, samples and the
training curves, and its reconstructions of the hand-drawn digits in tests/data/hand-drawn/; from
`pretrained:mnist-conditional` one row of samples per digit, the analogies, its clusters and its reconstructions
of the hand-drawn digits. (The report's explorer and the training GIF come from their own runs; see
docs/pictures.md.)
"""

from __future__ import annotations

from pathlib import Path

import click
from common import data_folder_option, run_command

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
HAND_DRAWN = ROOT / "tests" / "data" / "hand-drawn"

PICTURES = {
    "reconstruction.png": ("mnist", ["vae-reconstruct", "--n", "10"]),
    "latent-grid.png": ("mnist", ["vae-plot", "latent-grid"]),
    "clusters.png": ("mnist", ["vae-plot", "clusters"]),
    "samples.png": ("mnist", ["vae-plot", "samples", "--n", "64"]),
    "history.png": ("mnist", ["vae-plot", "history"]),
    "hand-drawn.png": ("mnist", ["vae-reconstruct", "--images", str(HAND_DRAWN)]),
    "conditional-samples.png": ("mnist-conditional", ["vae-plot", "samples"]),
    "analogies.png": ("mnist-conditional", ["vae-plot", "analogies", "--n", "8"]),
    "conditional-clusters.png": ("mnist-conditional", ["vae-plot", "clusters"]),
    "hand-drawn-conditional.png": ("mnist-conditional", ["vae-reconstruct", "--images", str(HAND_DRAWN)]),
}

# The views that read no test digits, and take no --data-dir.
DRAWN_WITHOUT_DATA = {"samples", "history"}


@click.command()
@data_folder_option("--mnist-dir", help="The full MNIST IDX files (env VAE_DATA_DIR).")
def main(mnist_dir: Path) -> None:
    for name, (run, command) in PICTURES.items():
        arguments = [*command, "--run-dir", f"pretrained:{run}", "--output", str(IMAGES / name)]
        if not set(command) & DRAWN_WITHOUT_DATA:
            arguments += ["--data-dir", mnist_dir]
        run_command(arguments)
        click.echo(f"wrote docs/images/{name}")


if __name__ == "__main__":
    main()
