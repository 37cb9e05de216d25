"""The same data, two ways: Fashion-MNIST from its IDX files and from a folder of its images, trained alike.

    python benchmarks/folder_vs_idx.py --tree /tmp/fashion-tree          # writes the tree first if it is missing

Trains `vae-train --epochs 5 --seed 0` twice, once with `--dataset fashion-mnist` on the IDX files and once with
`--data-dir TREE` on the PNG tree of `benchmarks/fashion_mnist_tree.py`: the same pixels, in other files and another
order (the tree's classes are sorted by name, its images by file). The two test negative ELBOs should agree within a
nat. Writes --output (benchmarks/folder_vs_idx.json).
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
        "command": " ".join(["vae-train --epochs 5 --seed 0", *arguments]),
        "test_negative_elbo": history["test_loss"][-1],
        "seconds": round(finished.seconds, 1),
    }


@click.command()
@click.option("--tree", type=click.Path(file_okay=False, path_type=Path), required=True, help="The PNG tree.")
@fashion_dir_option
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=ROOT / "folder_vs_idx.json")
def main(tree: Path, fashion_dir: Path, output: Path) -> None:
    if not tree.is_dir():
        script = ROOT / "fashion_mnist_tree.py"
        run_command([script, tree, "--data-dir", fashion_dir], show=True)
    with tempfile.TemporaryDirectory() as work:
        idx = train(["--dataset", "fashion-mnist", "--data-dir", fashion_dir], Path(work) / "idx")
        folder = train(["--data-dir", tree], Path(work) / "folder")
    record = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} CPU cores",
        "command": "python benchmarks/folder_vs_idx.py --tree TREE",
        "idx": idx,
        "folder": folder,
        "difference": round(folder["test_negative_elbo"] - idx["test_negative_elbo"], 3),
    }
    output.write_text(json.dumps(record, indent=2) + "\n")
    click.echo(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
