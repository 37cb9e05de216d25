"""Hurt `vae-train` in four ways (SIGKILL at random moments, SIGKILL during the final save, SIGTERM, a second
training in the same directory) and check that nothing was lost each time.

    python benchmarks/fault_injection.py            # all four kinds: 10-15 min on 2 CPU cores (estimate)
    python benchmarks/fault_injection.py --kinds random --kills 20

Every run trains on the committed test subset (`--data-dir`) with `--batch-size 64`. The kinds, in order:

random (`--kills`, default 10)
    Trains an uninterrupted reference run (`--epochs`, default 150, on `--limit` 1024 digits), then the same run in
    another directory, killed (-9) after a random `--min-delay`..`--max-delay` s (2-25 s: start-up takes about
    10 s, so some kills land before the first checkpoint and most after it), N times; each restart uses
    `--resume` once a checkpoint exists. After every kill the directory must be readable: the committed checkpoint
    loads, or no epoch had finished yet. The last restart runs to the end, and the run must load with
    `vae.load_run` with weights equal to the reference's bit for bit.
final-save (`--final-save-kills`, default 5)
    Trains `--epochs 2 --limit 512` in a fresh directory and kills it (-9) as soon as a temporary `.tmp-*vae.keras`
    or `.tmp-*vae.weights.h5` appears in it after the last checkpoint (epochs_done == epochs): a kill in the middle
    of the final save. A run that ends before that is retried (3 attempts) and counts as "not caught". After the
    kill the directory must be readable, `vae-train --resume --run-dir D --data-dir S` must exit 0 and leave a
    complete finished run, bit-identical to an uninterrupted one, with no `.tmp-*` file anywhere in it.
sigterm (`--sigterms`, default 5)
    Trains a run of 10 + 6 N epochs on 512 digits and sends it SIGTERM a random 0-3 s after it commits a new
    checkpoint, N times, resuming in between. Each time it must exit with code 143 within 30 s, name
    `vae-train --resume` on stderr, and leave the directory readable. Finally the run is resumed to the end and its
    weights must equal an uninterrupted run's bit for bit.
concurrent (`--concurrent`, default 3)
    Starts two identical `vae-train --epochs 2 --limit 512` on one fresh directory, 1.5 s apart (every other try
    0.2 s apart). The second must exit 1 while the first still runs, saying the directory is "in use by another";
    the first must exit 0 and leave a complete run that loads. Such a try counts as "refused".

The script prints one line per kind, e.g. `SIGTERM: survived 5/5`, and exits non-zero unless every kind fully
survived and every final run has the reference's weights. Its work directory, printed first, is kept.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import click
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SUBSET_DIR = ROOT / "tests" / "data" / "mnist-subset"
KINDS = ("random", "final-save", "sigterm", "concurrent")

# final-save and concurrent: a run short enough to repeat, long enough (seconds) to be caught while it runs.
SHORT_EPOCHS, SHORT_LIMIT = 2, 512
FINAL_SAVE_ATTEMPTS = 3
SIGTERM_TIMEOUT = 30
CONCURRENT_GAPS = (1.5, 0.2)  # seconds between the two starts, taken in turn


@dataclass
class Outcome:
    """One kind's tally: `passed` of `total` tries went right; `problems` are failures beyond the tries."""

    label: str
    verb: str
    passed: int
    total: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.passed == self.total and not self.problems

    def line(self) -> str:
        extra = f" ({'; '.join(self.problems)})" if self.problems else ""
        return f"{self.label}: {self.verb} {self.passed}/{self.total}{extra}"


def train_command(run_dir: Path, data_dir: Path, epochs: int, limit: int, resume: bool) -> list[str]:
    command = [sys.executable, "-m", "vae_scripts.train", "--epochs", str(epochs), "--limit", str(limit)]
    command += ["--batch-size", "64", "--data-dir", str(data_dir), "--run-dir", str(run_dir), "--verbose", "0"]
    return command + (["--resume"] if resume else [])


def resume_command(run_dir: Path, data_dir: Path) -> list[str]:
    """`vae-train --resume` as a user types it after a crash: every option comes from the checkpoint."""
    command = [sys.executable, "-m", "vae_scripts.train", "--resume", "--run-dir", str(run_dir)]
    return command + ["--data-dir", str(data_dir), "--verbose", "0"]


def start(command: list[str], stderr_path: Path) -> subprocess.Popen:
    """Start `command` with its stderr in a file: a pipe nobody reads while we wait could fill and block it."""
    with open(stderr_path, "w") as stderr:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)


def train_reference(command: list[str]) -> None:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise click.ClickException(f"the reference run failed: {result.stderr.strip()}")
    click.echo(f"reference run: {time.perf_counter() - started:.0f} s")


def readable(run_dir: Path) -> tuple[bool, str]:
    """Whether the run directory is in a state a user can continue from, and what it holds."""
    import keras

    import vae.model  # noqa: F401  (registers the VAE class, which load_model needs to rebuild a checkpoint)
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


def same_weights(model, reference: Path) -> bool:
    from vae import storage

    expected, _, _ = storage.load_run(reference)
    pairs = list(zip(model.weights, expected.weights))
    return len(pairs) == len(expected.weights) and all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in pairs)


def run_problems(run_dir: Path, epochs: int, reference: Path | None = None) -> list[str]:
    """What keeps `run_dir` from being a complete finished run of `epochs` epochs (with `reference`'s weights, if
    given) that holds no temporary file; empty when nothing does."""
    from vae import storage

    problems = [f"{name} missing" for name in storage.RUN_FILES if not (run_dir / name).is_file()]
    try:
        model, _, history = storage.load_run(run_dir)
    except Exception as error:  # a run that does not load, however it fails, is the finding
        return [*problems, f"does not load: {error}"]
    if len(history["loss"]) != epochs:
        problems.append(f"{len(history['loss'])} epochs in history.json, not {epochs}")
    if reference is not None and not same_weights(model, reference):
        problems.append("weights differ from the uninterrupted run")
    leftovers = sorted(str(path.relative_to(run_dir)) for path in run_dir.rglob(".tmp-*"))
    if leftovers:
        problems.append(f"temporary files left: {', '.join(leftovers)}")
    return problems


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "(nothing on stderr)"


def finish(victim: Path, reference: Path, command: list[str]) -> bool:
    """Run `command` to the end and say whether the run it leaves loads and has the reference's weights."""
    from vae import storage

    final = subprocess.run(command, capture_output=True, text=True)
    if final.returncode != 0 and "already trained" not in final.stderr:
        click.echo(f"final resume failed: {final.stderr.strip()}")
    try:
        model, _, history = storage.load_run(victim)
    except storage.RunError as error:
        click.echo(f"final run does not load: {error}")
        return False
    identical = same_weights(model, reference)
    click.echo(f"final run: {len(history['loss'])} epochs, weights identical to the uninterrupted run: {identical}")
    return identical


def inject_random(work: Path, data_dir: Path, kills: int, epochs: int, limit: int, delays: tuple, seed: int) -> Outcome:
    from vae import storage

    moments = random.Random(seed)
    reference, victim = work / "reference", work / "victim"
    train_reference(train_command(reference, data_dir, epochs, limit, resume=False))

    survived = 0
    for kill in range(1, kills + 1):
        resume = storage.read_checkpoint_safe(victim) is not None
        if storage.has_finished_run(victim):
            click.echo(f"kill {kill}: the run finished before it could be killed; lower --max-delay")
            break
        process = subprocess.Popen(
            train_command(victim, data_dir, epochs, limit, resume), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        delay = moments.uniform(*delays)
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

    resume = storage.read_checkpoint_safe(victim) is not None
    identical = finish(victim, reference, train_command(victim, data_dir, epochs, limit, resume))
    return Outcome("random kills", "survived", survived, kills, [] if identical else ["final weights differ"])


def final_save_temporary(run_dir: Path, epochs: int) -> str | None:
    """The name of a temporary model or weights file of the final save in `run_dir`, if one is there now.

    Checkpoints live in checkpoint/, but the epoch count is checked too, so that only the save after the last epoch
    counts, whatever the package writes at the top level before it.
    """
    from vae import storage

    try:
        names = [entry.name for entry in os.scandir(run_dir)]
    except FileNotFoundError:
        return None
    suffixes = (storage.MODEL_FILE, storage.WEIGHTS_FILE)
    temporary = next((name for name in names if name.startswith(".tmp-") and name.endswith(suffixes)), None)
    if temporary is None:
        return None
    checkpoint = storage.read_checkpoint_safe(run_dir)
    return temporary if checkpoint is not None and checkpoint.epochs_done == epochs else None


def kill_in_final_save(run_dir: Path, command: list[str], epochs: int) -> str | None:
    """Run `command` and SIGKILL it the moment its final save has a temporary file; return that file's name, or None
    when the run ended first. The 2 ms poll is what makes the final save, a fraction of a second, catchable."""
    process = start(command, run_dir.with_name(run_dir.name + ".stderr"))
    while process.poll() is None:
        temporary = final_save_temporary(run_dir, epochs)
        if temporary is not None:
            process.kill()
            process.wait()
            # It may have exited between the poll and the kill: only a death by the signal is a catch.
            return temporary if process.returncode == -signal.SIGKILL else None
        time.sleep(0.002)
    return None


def inject_final_save(work: Path, data_dir: Path, count: int) -> Outcome:
    reference = work / "reference"
    train_reference(train_command(reference, data_dir, SHORT_EPOCHS, SHORT_LIMIT, resume=False))
    survived = not_caught = 0
    for number in range(1, count + 1):
        for attempt in range(1, FINAL_SAVE_ATTEMPTS + 1):
            run_dir = work / f"kill-{number}-attempt-{attempt}"
            command = train_command(run_dir, data_dir, SHORT_EPOCHS, SHORT_LIMIT, resume=False)
            temporary = kill_in_final_save(run_dir, command, SHORT_EPOCHS)
            if temporary is not None:
                break
        if temporary is None:
            not_caught += 1
            click.echo(f"final-save kill {number}: not caught, the run ended first {FINAL_SAVE_ATTEMPTS} times")
            continue
        problems = final_save_problems(run_dir, data_dir, reference)
        survived += not problems
        verdict = "; ".join(problems) if problems else "survived"
        click.echo(f"final-save kill {number} (attempt {attempt}, {temporary} present): {verdict}")
    problems = [f"{not_caught} not caught"] if not_caught else []
    return Outcome("kills during the final save", "survived", survived, count, problems)


def final_save_problems(run_dir: Path, data_dir: Path, reference: Path) -> list[str]:
    ok, state = readable(run_dir)
    if not ok:
        return [f"BROKEN after the kill ({state})"]
    resumed = subprocess.run(resume_command(run_dir, data_dir), capture_output=True, text=True)
    if resumed.returncode != 0:
        return [f"--resume exited {resumed.returncode}: {last_line(resumed.stderr)}"]
    return run_problems(run_dir, SHORT_EPOCHS, reference)


def wait_for_new_checkpoint(process: subprocess.Popen, run_dir: Path, epochs_before: int) -> int | None:
    """Wait until `process` commits a checkpoint past `epochs_before`, so that the signal lands mid-training rather
    than during start-up; return its epoch, or None when the process ended first."""
    from vae import storage

    while process.poll() is None:
        checkpoint = storage.read_checkpoint_safe(run_dir)
        if checkpoint is not None and checkpoint.epochs_done > epochs_before:
            return checkpoint.epochs_done
        time.sleep(0.05)
    return None


def sigterm_problems(process: subprocess.Popen, stderr_path: Path) -> list[str]:
    """Send SIGTERM and say what went wrong: a slow exit, another exit code, no `--resume` hint on stderr."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=SIGTERM_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return [f"still running {SIGTERM_TIMEOUT} s after SIGTERM (killed)"]
    problems = [] if process.returncode == 143 else [f"exit {process.returncode}, not 143"]
    if "vae-train --resume" not in stderr_path.read_text():
        problems.append("stderr does not name vae-train --resume")
    return problems


def inject_sigterm(work: Path, data_dir: Path, count: int, seed: int) -> Outcome:
    from vae import storage

    moments = random.Random(seed)
    # A try advances the run one epoch to its new checkpoint plus up to 3 s (a few epochs of 512 digits): 6 each
    # leaves epochs to spare, so the run never ends before its last SIGTERM.
    epochs = 10 + 6 * count
    reference, victim = work / "reference", work / "victim"
    train_reference(train_command(reference, data_dir, epochs, SHORT_LIMIT, resume=False))
    survived = 0
    for number in range(1, count + 1):
        checkpoint = storage.read_checkpoint_safe(victim)
        epochs_before = checkpoint.epochs_done if checkpoint else 0
        stderr_path = work / f"sigterm-{number}.stderr"
        process = start(train_command(victim, data_dir, epochs, SHORT_LIMIT, checkpoint is not None), stderr_path)
        epoch = wait_for_new_checkpoint(process, victim, epochs_before)
        if epoch is None:
            ended = f"the run ended (exit {process.returncode}) before a new checkpoint"
            click.echo(f"SIGTERM {number}: {ended}: {last_line(stderr_path.read_text())}")
            break
        delay = moments.uniform(0, 3)
        time.sleep(delay)
        sent = time.perf_counter()
        problems = sigterm_problems(process, stderr_path)
        seconds = time.perf_counter() - sent
        ok, state = readable(victim)
        if not ok:
            problems.append(f"BROKEN ({state})")
        survived += not problems
        verdict = "; ".join(problems) if problems else f"exit 143, readable ({state})"
        click.echo(f"SIGTERM {number} at epoch {epoch} + {delay:.1f} s, gone in {seconds:.1f} s: {verdict}")

    resume = storage.read_checkpoint_safe(victim) is not None
    identical = finish(victim, reference, train_command(victim, data_dir, epochs, SHORT_LIMIT, resume))
    return Outcome("SIGTERM", "survived", survived, count, [] if identical else ["final weights differ"])


def inject_concurrent(work: Path, data_dir: Path, count: int) -> Outcome:
    refused = 0
    for number in range(1, count + 1):
        gap = CONCURRENT_GAPS[(number - 1) % len(CONCURRENT_GAPS)]
        problems, second_seconds = concurrent_try(work, data_dir, number, gap)
        refused += not problems
        verdict = "; ".join(problems) if problems else "refused"
        click.echo(f"concurrent {number} ({gap} s apart, second gone in {second_seconds:.1f} s): {verdict}")
    return Outcome("concurrent trainings", "refused", refused, count)


def concurrent_try(work: Path, data_dir: Path, number: int, gap: float) -> tuple[list[str], float]:
    """Start the same training twice, `gap` s apart, on one directory; return what went wrong and how long the
    second took."""
    run_dir = work / f"run-{number}"
    command = train_command(run_dir, data_dir, SHORT_EPOCHS, SHORT_LIMIT, resume=False)
    first_stderr, second_stderr = work / f"first-{number}.stderr", work / f"second-{number}.stderr"
    first = start(command, first_stderr)
    time.sleep(gap)
    second_started = time.perf_counter()
    second = start(command, second_stderr)
    second.wait()
    second_seconds = time.perf_counter() - second_started
    # "At once" means while the first still trains: a second that waited for it, or ran beside it, is no refusal.
    first_running = first.poll() is None
    first.wait()
    problems = refusal_problems(second.returncode, second_stderr.read_text(), run_dir)
    if not first_running:
        problems.append("the second ended only after the first")
    if first.returncode != 0:
        problems.append(f"the first exited {first.returncode}: {last_line(first_stderr.read_text())}")
    else:
        problems += run_problems(run_dir, SHORT_EPOCHS)
    return problems, second_seconds


def refusal_problems(returncode: int, stderr: str, run_dir: Path) -> list[str]:
    problems = [] if returncode == 1 else [f"the second exited {returncode}, not 1"]
    if "in use by another" not in stderr or str(run_dir) not in stderr:
        problems.append(f"the second's stderr does not say {run_dir} is in use by another: {last_line(stderr)}")
    return problems


def parse_kinds(ctx, param, value: str) -> list[str]:
    kinds = [kind.strip() for kind in value.split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown or not kinds:
        raise click.BadParameter(f"choose from {','.join(KINDS)}, not {value!r}")
    return kinds


@click.command()
@click.option("--kinds", default=",".join(KINDS), show_default=True, callback=parse_kinds, help="Faults to inject.")
@click.option("--kills", default=10, show_default=True, help="random: how many times to SIGKILL the run.")
@click.option("--final-save-kills", default=5, show_default=True, help="final-save: kills during the final save.")
@click.option("--sigterms", default=5, show_default=True, help="sigterm: SIGTERMs to send.")
@click.option("--concurrent", default=3, show_default=True, help="concurrent: pairs of trainings to start.")
@click.option("--epochs", default=150, show_default=True, help="random: long enough that every kill lands mid-run.")
@click.option("--limit", default=1024, show_default=True, help="random: training digits.")
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=SUBSET_DIR)
@click.option("--min-delay", default=2.0, show_default=True, help="random: seconds before a kill, at least.")
@click.option("--max-delay", default=25.0, show_default=True, help="... and at most.")
@click.option("--seed", default=0, show_default=True, help="Seeds the kill and SIGTERM moments.")
def main(kinds, kills, final_save_kills, sigterms, concurrent, epochs, limit, data_dir, min_delay, max_delay, seed):
    from vae_scripts.common import import_tensorflow_quietly

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import_tensorflow_quietly()  # readable() loads models here: keep TensorFlow's start-up notes out of the report
    work = Path(tempfile.mkdtemp(prefix="vae-fault-injection-"))
    click.echo(f"work directory: {work}")
    started = time.perf_counter()
    runs = {
        "random": lambda: inject_random(work / "random", data_dir, kills, epochs, limit, (min_delay, max_delay), seed),
        "final-save": lambda: inject_final_save(work / "final-save", data_dir, final_save_kills),
        "sigterm": lambda: inject_sigterm(work / "sigterm", data_dir, sigterms, seed),
        "concurrent": lambda: inject_concurrent(work / "concurrent", data_dir, concurrent),
    }
    outcomes = []
    for kind in kinds:
        click.echo(f"--- {kind}")
        (work / kind).mkdir()
        outcomes.append(runs[kind]())
    click.echo(f"--- {time.perf_counter() - started:.0f} s in all")
    for outcome in outcomes:
        click.echo(outcome.line())
    sys.exit(0 if all(outcome.ok for outcome in outcomes) else 1)


if __name__ == "__main__":
    main()
