"""The same data, two ways, and two networks: Fashion-MNIST from its IDX files and from a folder of its images.

    python benchmarks/folder_vs_idx.py --tree /tmp/fashion-tree          # writes the tree first if it is missing

Trains `vae-train --epochs 5 --seed 0` three times:
- with `--dataset fashion-mnist --latent-dim 16` on the IDX files, the model a folder of 28x28 gray images gets;
- with `--data-dir TREE` on the PNG tree of `benchmarks/fashion_mnist_tree.py`, at the defaults (the conv network and
  the folder rule's 16-D latent): the same pixels and model, in other files and another order (the tree's classes
  are sorted by name, its images by file), so the two test negative ELBOs differ as two seeds do;
- with --resnet, also `--data-dir TREE --arch resnet`: the residual network, which folders of larger or colour
  images get, against the conv network at equal epochs on the same folder. At the residual network's training speed
  on 28x28 images on 2 CPU cores (`benchmarks/network_sizes.json`), that run takes hours.
Writes --output (benchmarks/folder_vs_idx.json).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import click
from common import fashion_dir_option, run_command

ROOT = Path(__file__).resolve().parent


def train(arguments: list[str], run_dir: Path) -> dict:
    command = ["vae-train", "--epochs", "5", "--seed", "0", "--run-dir", run_dir, "--verbose", "0"]
    finished = run_command([*command, *arguments])
    history = json.loads((run_dir / "history.json").read_text())
    return {
        "command": " ".join(["vae-train --epochs 5 --seed 0", *map(str, arguments)]),
        "test_negative_elbo": history["test_loss"][-1],
        "seconds": round(finished.seconds, 1),
    }


@click.command()
@click.option("--tree", type=click.Path(file_okay=False, path_type=Path), required=True, help="The PNG tree.")
@fashion_dir_option
@click.option("--resnet", is_flag=True, help="Also train the tree with --arch resnet.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=ROOT / "folder_vs_idx.json")
def main(tree: Path, fashion_dir: Path, resnet: bool, output: Path) -> None:
    if not tree.is_dir():
        script = ROOT / "fashion_mnist_tree.py"
        run_command([script, tree, "--data-dir", fashion_dir], show=True)
    with tempfile.TemporaryDirectory() as work:
        idx = train(["--dataset", "fashion-mnist", "--data-dir", fashion_dir, "--latent-dim", "16"], Path(work) / "idx")
        folder = train(["--data-dir", tree], Path(work) / "folder")
        residual = train(["--data-dir", tree, "--arch", "resnet"], Path(work) / "resnet") if resnet else None
    record = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} CPU cores",
        "command": "python benchmarks/folder_vs_idx.py --tree TREE",
        "idx": idx,
        "folder": folder,
        "difference": round(folder["test_negative_elbo"] - idx["test_negative_elbo"], 3),
    }
    if residual:
        record["resnet"] = residual
        record["resnet_difference"] = round(residual["test_negative_elbo"] - folder["test_negative_elbo"], 3)
    output.write_text(json.dumps(record, indent=2) + "\n")
    click.echo(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
