"""Search the training schedule: peak learning rate, warm-up, batch size and epochs, by real trainings on full MNIST.

    python benchmarks/schedule_search.py --phase learning-rate          # 5 runs of 12 epochs, seed 0
    python benchmarks/schedule_search.py --run lr=6e-3,epochs=30,seed=1 # any run, by its settings
    python benchmarks/schedule_search.py --reference                    # the keras.io loop, 30 epochs, seed 0
    python benchmarks/schedule_search.py --table                        # the table of every run so far

Every run is `vae-train` with the settings given and the rest at their defaults, scoring the test split after every
epoch. Its test negative ELBO after each epoch, the training's wall seconds after each epoch, and whether it
diverged are appended to `--output` (benchmarks/schedule_search.json) as soon as it ends, so a search that is
stopped keeps what it measured and goes on where it stopped: a run already in the file is not trained again.

The quality target is the keras.io loop's 30-epoch test negative ELBO: that of its run in this file (`--reference`,
on the same machine as the search), else the one `benchmarks/run.py` last wrote to `benchmarks/results.json`. A
run's "time to target" is its first epoch at or below it. Wall seconds are those of
this machine, shared or not as the row says: compare epochs across rows, and seconds only between runs that were
alone on the machine (`benchmarks/run.py` times the chosen schedules side by side).
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import click
from common import data_dir_option, run_command

ROOT = Path(__file__).resolve().parent
DEFAULT_OUTPUT = ROOT / "schedule_search.json"
RESULTS = ROOT / "results.json"
# A run's settings, as they are spelled in --run, and the vae-train option of each.
OPTIONS = {
    "lr": "--learning-rate",
    "warmup": "--warmup-epochs",
    "batch": "--batch-size",
    "epochs": "--epochs",
    "seed": "--seed",
    "arch": "--arch",
    "dataset": "--dataset",
    "conditional": "--conditional",
}
DEFAULTS = {"lr": "3e-3", "warmup": "1", "batch": "128", "epochs": "30", "seed": "0"}
# The grids the search started from; the refinements are given with --run.
PHASES = {
    "learning-rate": [f"lr={lr},epochs=12" for lr in ("3e-3", "6e-3", "1e-2", "1.5e-2", "2e-2")],
    "warmup": [f"lr=1e-2,epochs=12,warmup={warmup}" for warmup in ("0", "0.25", "3")],
    "batch-size": [f"lr=1e-2,epochs=12,batch={batch}" for batch in ("64", "256")],
}


def parse_run(spec: str) -> dict[str, str]:
    """`lr=6e-3,epochs=12` as its settings, the defaults filled in."""
    settings = dict(DEFAULTS)
    for part in filter(None, spec.split(",")):
        key, _, value = part.partition("=")
        if key not in OPTIONS or not value:
            raise click.BadParameter(f"{part!r}: expected one of {', '.join(OPTIONS)} as name=value")
        settings[key] = value
    return settings


def run_name(settings: dict[str, str]) -> str:
    return ",".join(f"{key}={settings[key]}" for key in sorted(settings))


def train(settings: dict[str, str], data_dir: Path, work: Path) -> dict:
    """One `vae-train` run with `settings`; its per-epoch test losses and wall seconds."""
    run_dir = work / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    command = ["vae-train", "--data-dir", str(data_dir), "--run-dir", str(run_dir), "--verbose", "0"]
    for key, value in settings.items():
        if key == "conditional":
            command += ["--conditional"] if value == "yes" else []
        else:
            command += [OPTIONS[key], value]
    started = time.time()
    completed = run_command(command, check=False)
    record = {
        "settings": settings,
        "command": " ".join(command),
        "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(started)),
        "exit_code": completed.returncode,
        "diverged": "diverged" in completed.stderr,
        "load_average_at_start": round(os.getloadavg()[0], 2),
    }
    history_path = run_dir / "history.json"
    if completed.returncode == 0 and history_path.is_file():
        history = json.loads(history_path.read_text())
        record["test_negative_elbo"] = history["test_loss"]
        record["wall_seconds"] = history["wall_seconds"]
    else:
        record["stderr"] = completed.stderr.strip().splitlines()[-1:] if completed.stderr.strip() else []
    shutil.rmtree(run_dir, ignore_errors=True)
    return record


def read_runs(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {"machine": machine(), "runs": {}}


def write_runs(path: Path, document: dict) -> None:
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(descriptor, "w") as stream:
        stream.write(json.dumps(document, indent=1) + "\n")
    os.replace(temporary, path)


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"


REFERENCE = "reference"


def quality_target(document: dict) -> float:
    """The keras.io loop's 30-epoch test negative ELBO: its run in `document`, else `benchmarks/run.py`'s."""
    if REFERENCE in document["runs"]:
        return document["runs"][REFERENCE]["test_negative_elbo"][-1]
    return json.loads(RESULTS.read_text())["quality_target"]


def train_reference(data_dir: Path) -> dict:
    """The keras.io loop (`keras_io_reference.py`), 30 epochs with its constant Adam 1e-3, seed 0."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from keras_io_reference import train_reference as train_loop

    from vae.data.datasets import load_dataset

    dataset = load_dataset("mnist", data_dir)
    started = time.time()
    records = train_loop(dataset.train_images, dataset.test_images, epochs=30)
    return {
        "settings": {"lr": "1e-3", "schedule": "constant", "warmup": "0", "batch": "128", "epochs": "30", "seed": "0"},
        "command": "keras.io loop (benchmarks/keras_io_reference.py), 30 epochs",
        "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(started)),
        "exit_code": 0,
        "diverged": False,
        "load_average_at_start": None,
        "test_negative_elbo": [record["total_loss"] for record in records],
        "wall_seconds": [round(record["wall_seconds"], 3) for record in records],
    }


def first_epoch_at(losses: list[float | None], target: float) -> int | None:
    return next((epoch for epoch, loss in enumerate(losses, 1) if loss is not None and loss <= target), None)


def table(document: dict, target: float) -> str:
    header = (
        "| lr | warm-up | batch | epochs | seed | test −ELBO after the last epoch | best | first epoch ≤ target "
        "| its wall s |"
    )
    lines = [header, "|" + "---|" * 9]
    rows = sorted(document["runs"].values(), key=lambda run: tuple(run["settings"].get(key, "") for key in OPTIONS))
    for run in rows:
        settings = run["settings"]
        losses = run.get("test_negative_elbo")
        if not losses:
            outcome = "diverged" if run["diverged"] else f"failed ({run['exit_code']})"
            final = best = reached = seconds = outcome
        else:
            final, best = f"{losses[-1]:.2f}", f"{min(losses):.2f}"
            epoch = first_epoch_at(losses, target)
            reached = "-" if epoch is None else str(epoch)
            seconds = "-" if epoch is None else f"{run['wall_seconds'][epoch - 1]:.0f}"
        extra = "".join(f" {key}={settings[key]}" for key in ("arch", "dataset", "conditional") if key in settings)
        extra += " (keras.io loop, constant)" if settings.get("schedule") == "constant" else ""
        lines.append(
            f"| {settings['lr']}{extra} | {settings['warmup']} | {settings['batch']} | {settings['epochs']} | "
            f"{settings['seed']} | {final} | {best} | {reached} | {seconds} |"
        )
    return "\n".join(lines)


@click.command()
@data_dir_option
@click.option("--phase", "phases", multiple=True, type=click.Choice(sorted(PHASES)), help="A predefined grid.")
@click.option("--run", "runs", multiple=True, help="One run's settings, e.g. lr=6e-3,epochs=12,seed=1.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_OUTPUT, show_default=True)
@click.option("--reference", is_flag=True, help="Also train the keras.io loop, whose final sets the target.")
@click.option("--table", "table_only", is_flag=True, help="Print the table of the runs in --output and stop.")
def main(data_dir, phases, runs, output, reference, table_only):
    document = read_runs(output)
    if reference and REFERENCE not in document["runs"]:
        click.echo("the keras.io loop: training ...")
        document["runs"][REFERENCE] = train_reference(data_dir)
        write_runs(output, document)
    target = quality_target(document)
    if table_only:
        click.echo(f"target: the keras.io loop's 30-epoch test −ELBO, {target:.2f}")
        click.echo(table(document, target))
        return
    specs = [spec for phase in phases for spec in PHASES[phase]] + list(runs)
    if not specs and not reference:
        raise click.UsageError("give --phase, --run, --reference or --table")
    work = Path(tempfile.mkdtemp(prefix="vae-schedule-"))
    try:
        for spec in specs:
            settings = parse_run(spec)
            name = run_name(settings)
            if name in document["runs"]:
                click.echo(f"{name}: already measured")
                continue
            click.echo(f"{name}: training ...")
            record = train(settings, data_dir, work)
            document["runs"][name] = record
            write_runs(output, document)
            losses = record.get("test_negative_elbo") or [math.nan]
            click.echo(f"{name}: test −ELBO {losses[-1]:.2f} (best {min(losses):.2f}), exit {record['exit_code']}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    click.echo(table(document, target))


if __name__ == "__main__":
    main()
