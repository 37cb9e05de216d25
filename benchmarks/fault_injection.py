"""Kill `vae-train` with SIGKILL at random moments, resume it each time, and check that nothing was lost.

    python benchmarks/fault_injection.py --kills 20

1. Trains an uninterrupted reference run.
2. Starts the same run in another directory and kills it (-9) after a random delay, N times. After every kill the
   directory must be readable: the committed checkpoint loads, or no epoch had finished yet. Each restart uses
   `--resume` when a checkpoint exists.
3. Lets the last restart finish, then checks that the run loads with `vae.load_run` and that its weights equal the
   reference's bit for bit.

A kill "survives" when the directory was readable after it. The script prints `survived X/N` and exits non-zero
unless every kill survived and the final weights match.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SUBSET_DIR = ROOT / "tests" / "data" / "mnist-subset"


def train_command(run_dir: Path, data_dir: Path, epochs: int, limit: int, resume: bool) -> list[str]:
    command = [sys.executable, "-m", "vae_scripts.train", "--epochs", str(epochs), "--limit", str(limit)]
    command += ["--batch-size", "64", "--data-dir", str(data_dir), "--run-dir", str(run_dir), "--verbose", "0"]
    return command + (["--resume"] if resume else [])


def readable(run_dir: Path) -> tuple[bool, str]:
    """Whether the run directory is in a state a user can continue from, and what it holds."""
    import keras

    from vae import storage

    try:
        checkpoint = storage.read_checkpoint(run_dir)
        if checkpoint is None:
            return True, "no checkpoint yet"
        keras.saving.load_model(checkpoint.model_path, safe_mode=True)
        if storage.has_finished_run(run_dir):
            storage.load_run(run_dir)
            return True, f"finished run, checkpoint at epoch {checkpoint.epochs_done}"
        return True, f"checkpoint at epoch {checkpoint.epochs_done}"
    except Exception as error:  # any failure to read is what this script exists to find
        return False, f"{type(error).__name__}: {error}"


@click.command()
@click.option("--kills", default=20, show_default=True, help="How many times to SIGKILL the run.")
@click.option("--epochs", default=150, show_default=True, help="Long enough that every kill lands mid-run.")
@click.option("--limit", default=1024, show_default=True, help="Training digits.")
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=SUBSET_DIR)
@click.option("--min-delay", default=2.0, show_default=True, help="Seconds after start before a kill, at least.")
@click.option("--max-delay", default=10.0, show_default=True, help="... and at most.")
@click.option("--seed", default=0, show_default=True, help="Seeds the kill moments.")
def main(kills, epochs, limit, data_dir, min_delay, max_delay, seed):
    from vae import storage

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    moments = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="vae-fault-injection-"))
    reference, victim = work / "reference", work / "victim"

    started = time.perf_counter()
    subprocess.run(train_command(reference, data_dir, epochs, limit, resume=False), check=True, capture_output=True)
    click.echo(f"reference run: {time.perf_counter() - started:.0f} s")

    survived = 0
    for kill in range(1, kills + 1):
        resume = storage.read_checkpoint_safe(victim) is not None
        if storage.has_finished_run(victim):
            click.echo(f"kill {kill}: the run finished before it could be killed; lower --max-delay")
            break
        process = subprocess.Popen(
            train_command(victim, data_dir, epochs, limit, resume), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        delay = moments.uniform(min_delay, max_delay)
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
        else:
            if process.returncode != 0:
                click.echo(f"kill {kill}: the run failed by itself: {process.stderr.read().decode().strip()}")
                break
        ok, state = readable(victim)
        survived += ok
        click.echo(f"kill {kill:2d} after {delay:4.1f} s: {'readable' if ok else 'BROKEN'} ({state})")

    final = subprocess.run(
        train_command(victim, data_dir, epochs, limit, resume=storage.read_checkpoint_safe(victim) is not None),
        capture_output=True,
        text=True,
    )
    if final.returncode != 0 and "already trained" not in final.stderr:
        click.echo(f"final resume failed: {final.stderr.strip()}")
    model, _, history = storage.load_run(victim)
    expected, _, _ = storage.load_run(reference)
    identical = all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(model.weights, expected.weights))
    click.echo(f"final run: {len(history['loss'])} epochs, weights identical to the uninterrupted run: {identical}")
    click.echo(f"survived {survived}/{kills}")
    sys.exit(0 if survived == kills and identical else 1)


if __name__ == "__main__":
    main()
