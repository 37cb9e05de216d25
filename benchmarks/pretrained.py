"""Train the pretrained runs that the package ships (`vae/pretrained/`), from scratch, and write them there.

    python benchmarks/pretrained.py --mnist-dir ../shared/datasets/mnist             # all three, about 25 minutes
    python benchmarks/pretrained.py --mnist-dir ../shared/datasets/mnist --check     # train again and compare

Each is `vae-train` at the defaults (`PRETRAINED` says its epochs and options: the README's 30 epochs for MNIST, 10
for the conditional and Fashion-MNIST runs, which keeps the package's training under half an hour on 2 cores), then
`vae-eval` of its whole test split with k = 100, which is the run's eval.json. What ships of a run is its
config.json, history.json, eval.json, and vae.weights.h5 with the model's weights alone (the optimizer's state is
for resuming, which a pretrained run does not do), about 0.6 MB. `MANIFEST.json` records, for each run, the
command that made it, the SHA-256 of each file it ships, and `vae-eval` on the committed test subset, which a test
repeats.

On the same kind of CPU a second training gives the shipped weights bit for bit: `--check` trains again and
compares them, array by array, and writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import click
import numpy as np
from common import data_folder_option, fashion_dir_option, run_command

ROOT = Path(__file__).resolve().parent.parent
PRETRAINED_DIR = ROOT / "vae" / "pretrained"
SUBSETS = {
    "mnist": ROOT / "tests" / "data" / "mnist-subset",
    "fashion-mnist": ROOT / "tests" / "data" / "fashion-mnist-subset",
}
# Each run: its epochs, the options of vae-train beyond the defaults, and its data set.
PRETRAINED = {
    "mnist": (30, [], "mnist"),
    "mnist-conditional": (10, ["--conditional"], "mnist"),
    "fashion-mnist": (10, ["--dataset", "fashion-mnist"], "fashion-mnist"),
}
SHIPPED = ("config.json", "history.json", "eval.json", "vae.weights.h5")
SUBSET_EVALUATION = {"k": 5, "limit": 100, "seed": 0}


def train(name: str, data_dir: Path, work: Path, epochs: int) -> Path:
    _, options, _ = PRETRAINED[name]
    run_dir = work / name
    run_command(
        ["vae-train", "--epochs", epochs, *options, "--data-dir", data_dir, "--run-dir", run_dir, "--verbose", 0]
    )
    return run_dir


def weights_only(run_dir: Path, path: Path) -> None:
    """The run's model weights without the optimizer's state, as an HDF5 weights file."""
    from vae.run.directory import RunDir
    from vae.run.loading import load_run

    model, _, _ = load_run(RunDir(run_dir))
    model.save_weights(path)


def manifest_entry(name: str, target: Path, dataset: str, epochs: int) -> dict:
    """What MANIFEST.json records of a shipped run: its command, its files' SHA-256, and vae-eval on the committed
    test subset (written to a copy, so that the run's own eval.json stays the whole test split's)."""
    from vae.evaluation.workflow import evaluate_run
    from vae.run.directory import RunDir

    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / name
        shutil.copytree(target, copy)
        subset = evaluate_run(RunDir(copy), SUBSETS[dataset], **SUBSET_EVALUATION)
    return {
        "command": command_of(name, epochs),
        "files": {file: sha256(target / file) for file in SHIPPED},
        "subset_evaluation": {
            "data": str(SUBSETS[dataset].relative_to(ROOT)),
            **SUBSET_EVALUATION,
            "metrics": subset["metrics"],
        },
    }


def adopted(run_dir: Path, name: str, epochs: int) -> Path:
    """`run_dir`, a finished run whose config is the one that `name`'s command makes at `epochs`, or a refusal."""
    from vae.config import VAEConfig

    _, options, dataset = PRETRAINED[name]
    expected = VAEConfig(epochs=epochs, dataset=dataset, conditional="--conditional" in options)
    config = VAEConfig.from_json((run_dir / "config.json").read_text())
    history = json.loads((run_dir / "history.json").read_text())
    if config != expected or len(history["loss"]) != epochs:
        raise click.ClickException(f"{run_dir} is not a finished run of `{command_of(name, epochs)}`")
    return run_dir


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def command_of(name: str, epochs: int) -> str:
    _, options, _ = PRETRAINED[name]
    return " ".join([f"vae-train --epochs {epochs}", *options])


@click.command()
@data_folder_option("--mnist-dir", help="The full MNIST IDX files (env VAE_DATA_DIR).")
@fashion_dir_option
@click.option("--only", multiple=True, type=click.Choice(sorted(PRETRAINED)), help="Train these runs only.")
@click.option("--check", is_flag=True, help="Train again and compare with the shipped weights; write nothing.")
@click.option("--epochs", type=click.IntRange(min=1), help="Train every run this many epochs instead of its own.")
@click.option(
    "--from-run",
    "from_runs",
    multiple=True,
    metavar="NAME=RUN_DIR",
    help="Ship this finished run as NAME instead of training it, when its config is the one NAME's command makes "
    "(e.g. the seed-0 run of benchmarks/default_seeds.py as mnist).",
)
def main(mnist_dir: Path, fashion_dir: Path, only, check: bool, epochs: int | None, from_runs) -> None:
    from vae import files
    from vae.evaluation.workflow import evaluate_run
    from vae.run.directory import RunDir
    from vae.run.loading import load_run
    from vae.run.pretrained import PRETRAINED_MANIFEST, PRETRAINED_PREFIX

    directories = {"mnist": mnist_dir, "fashion-mnist": fashion_dir}
    manifest_path = PRETRAINED_DIR / PRETRAINED_MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    given = dict(item.split("=", 1) for item in from_runs)
    work = Path(tempfile.mkdtemp(prefix="vae-pretrained-"))
    try:
        for name in only or PRETRAINED:
            run_epochs, _, dataset = PRETRAINED[name]
            run_epochs = epochs or run_epochs
            if name in given:
                run_dir = adopted(Path(given[name]), name, run_epochs)
                click.echo(f"{name}: taken from {run_dir} ({command_of(name, run_epochs)})")
            else:
                run_dir = train(name, directories[dataset], work, run_epochs)
                click.echo(f"{name}: trained ({command_of(name, run_epochs)})")
            if check:
                shipped, _, _ = load_run(RunDir(f"{PRETRAINED_PREFIX}{name}"))
                trained, _, _ = load_run(RunDir(run_dir))
                same = all(
                    np.array_equal(np.asarray(a), np.asarray(b))
                    for a, b in zip(shipped.weights, trained.weights, strict=True)
                )
                click.echo(f"{name}: {'the same weights, bit for bit' if same else 'OTHER WEIGHTS'}")
                continue
            # Made whole beside its place, then renamed into it: a failure leaves the shipped run as it was.
            made = work / f"{name}-shipped"
            made.mkdir()
            for file in ("config.json", "history.json"):
                shutil.copyfile(run_dir / file, made / file)
            weights_only(run_dir, made / "vae.weights.h5")
            evaluate_run(RunDir(made), directories[dataset], k=100)  # the whole test split: the eval.json that ships
            manifest[name] = manifest_entry(name, made, dataset, run_epochs)
            target = PRETRAINED_DIR / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.move(made, target)
            files.write_json(manifest_path, manifest)
            click.echo(f"{name}: wrote {target}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
