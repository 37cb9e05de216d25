"""Four ways to hurt `vae-train`, and the checks that nothing was lost each time.

Every run trains on the committed test subset with `--batch-size 64`, in a subprocess, as a user would:

random
    Trains an uninterrupted reference run, then the same run in another directory, killed (SIGKILL) after a random
    delay (2-25 s by default: start-up takes about 10 s, so some kills land before the first checkpoint and most
    after it), N times; each restart uses `--resume` once a checkpoint exists. After every kill the directory must
    be readable: the committed checkpoint loads, or no epoch had finished yet. The last restart runs to the end, and
    the run must load with `vae.run.loading.load_run` with weights equal to the reference's bit for bit. A machine
    that trains the reference faster than the kills would take gets a longer run (`inject_random` says how much longer).
final-save
    Trains `--epochs 2 --limit 512` in a fresh directory and kills it (SIGKILL) as soon as a temporary
    `.tmp-*vae.keras` or `.tmp-*vae.weights.h5` appears in it after the last checkpoint (epochs_done == epochs): a
    kill in the middle of the final save. A run that ends before that is retried (3 attempts) and counts as "not
    caught". After the kill the directory must be readable, `vae-train --resume --run-dir D --data-dir S` must exit
    0 and leave a complete finished run, bit-identical to an uninterrupted one, with no `.tmp-*` file anywhere in it.
sigterm
    Trains a run of 10 + 6 N epochs on 512 digits and sends it SIGTERM a random 0-3 s after it commits a new
    checkpoint, N times, resuming in between. Each time it must exit with code 143 within 30 s, name
    `vae-train --resume` on stderr, and leave the directory readable. Finally the run is resumed to the end and its
    weights must equal an uninterrupted run's bit for bit.
concurrent
    Starts two identical `vae-train --epochs 2 --limit 512` on one fresh directory, 1.5 s apart (every other try
    0.2 s apart). The second must exit 1 while the first still runs, saying the directory is "in use by another";
    the first must exit 0 and leave a complete run that loads. Such a try counts as "refused".

Each `inject_*` returns a `Tally`, whose line reads e.g. `SIGTERM: survived 5/5`, and prints a line per try (pytest
shows them for a failed test, and live with -s). Reading a run back (`readable`, `run_problems`) loads it with the
package's own storage functions in this process: that a user's next command can load what a fault left is the
point.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# final-save and concurrent: a run short enough to repeat, long enough (seconds) to be caught while it runs.
SHORT_EPOCHS, SHORT_LIMIT = 2, 512
FINAL_SAVE_ATTEMPTS = 3
SIGTERM_TIMEOUT = 30
CONCURRENT_GAPS = (1.5, 0.2)  # seconds between the two starts, taken in turn
# random: the reference run must train for at least this many times the sum of the kill delays.
RANDOM_MARGIN = 1.5


def say(line: str) -> None:
    print(line, flush=True)


@dataclass
class Tally:
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


def train_reference(command: list[str]) -> float:
    """Train the uninterrupted run the others are compared with; return its wall seconds."""
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"the reference run failed: {result.stderr.strip()}")
    seconds = time.perf_counter() - started
    say(f"reference run: {seconds:.0f} s")
    return seconds


def readable(run_dir: Path) -> tuple[bool, str]:
    """Whether the run directory is in a state a user can continue from, and what it holds."""
    import keras

    import vae.model.autoencoder  # noqa: F401  (registers the VAE class, which load_model needs to rebuild a checkpoint)
    from vae.run.checkpoints import read_checkpoint
    from vae.run.directory import RunDir
    from vae.run.loading import load_run

    try:
        checkpoint = read_checkpoint(RunDir(run_dir))
        if checkpoint is None:
            return True, "no checkpoint yet"
        keras.saving.load_model(checkpoint.model_path, safe_mode=True)
        if RunDir(run_dir).has_finished_run():
            load_run(RunDir(run_dir))
            return True, f"finished run, checkpoint at epoch {checkpoint.epochs_done}"
        return True, f"checkpoint at epoch {checkpoint.epochs_done}"
    except Exception as error:  # any failure to read is what this suite exists to find
        return False, f"{type(error).__name__}: {error}"


def same_weights(model, reference: Path) -> bool:
    """Whether `model` holds the weights of the finished run at `reference`, bit for bit."""
    from vae.run.directory import RunDir
    from vae.run.loading import load_run

    expected, _, _ = load_run(RunDir(reference))
    if len(model.weights) != len(expected.weights):
        return False
    pairs = zip(model.weights, expected.weights, strict=True)
    return all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in pairs)


def run_problems(run_dir: Path, epochs: int, reference: Path | None = None) -> list[str]:
    """What keeps `run_dir` from being a complete finished run of `epochs` epochs (with `reference`'s weights, if
    given) that holds no temporary file; empty when nothing does."""
    from vae.run.directory import RUN_FILES, RunDir
    from vae.run.loading import load_run

    problems = [f"{name} missing" for name in RUN_FILES if not (run_dir / name).is_file()]
    try:
        model, _, history = load_run(RunDir(run_dir))
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
    from vae.errors import RunError
    from vae.run.directory import RunDir
    from vae.run.loading import load_run

    final = subprocess.run(command, capture_output=True, text=True)
    if final.returncode != 0 and "already trained" not in final.stderr:
        say(f"final resume failed: {final.stderr.strip()}")
    try:
        model, _, history = load_run(RunDir(victim))
    except RunError as error:
        say(f"final run does not load: {error}")
        return False
    identical = same_weights(model, reference)
    say(f"final run: {len(history['loss'])} epochs, weights identical to the uninterrupted run: {identical}")
    return identical


def inject_random(
    work: Path, data_dir: Path, kills: int, epochs: int, limit: int, delays: tuple[float, float], seed: int
) -> Tally:
    """SIGKILL a training `kills` times at random moments, `delays` (least, most) seconds after each start.

    The run must outlast the kills, or the last ones would find it finished: where the reference of `epochs` epochs
    trains in less than RANDOM_MARGIN times the sum of the delays, it is trained again with proportionally more
    epochs, and the victim trains as many.
    """
    from vae.run.checkpoints import read_checkpoint_safe
    from vae.run.directory import RunDir

    moments = random.Random(seed)
    waits = [moments.uniform(*delays) for _ in range(kills)]
    reference, victim = work / "reference", work / "victim"
    seconds = train_reference(train_command(reference, data_dir, epochs, limit, resume=False))
    needed = RANDOM_MARGIN * sum(waits)
    if seconds < needed:
        epochs = math.ceil(epochs * needed / seconds)
        say(f"the kills take up to {sum(waits):.0f} s: training the reference again with {epochs} epochs")
        shutil.rmtree(reference)
        train_reference(train_command(reference, data_dir, epochs, limit, resume=False))

    survived = 0
    for kill in range(1, kills + 1):
        resume = read_checkpoint_safe(RunDir(victim)) is not None
        if RunDir(victim).has_finished_run():
            say(f"kill {kill}: the run finished before it could be killed")
            break
        stderr_path = work / f"kill-{kill}.stderr"
        process = start(train_command(victim, data_dir, epochs, limit, resume), stderr_path)
        delay = waits[kill - 1]
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
        else:
            ended = "failed" if process.returncode else "finished"
            say(f"kill {kill}: the run {ended} by itself: {last_line(stderr_path.read_text())}")
            break
        ok, state = readable(victim)
        survived += ok
        say(f"kill {kill:2d} after {delay:4.1f} s: {'readable' if ok else 'BROKEN'} ({state})")

    resume = read_checkpoint_safe(RunDir(victim)) is not None
    identical = finish(victim, reference, train_command(victim, data_dir, epochs, limit, resume))
    return Tally("random kills", "survived", survived, kills, [] if identical else ["final weights differ"])


def final_save_temporary(run_dir: Path, epochs: int) -> str | None:
    """The name of a temporary model or weights file of the final save in `run_dir`, if one is there now.

    Checkpoints live in checkpoint/, but the epoch count is checked too, so that only the save after the last epoch
    counts, whatever the package writes at the top level before it.
    """
    from vae.run.checkpoints import read_checkpoint_safe
    from vae.run.directory import MODEL_FILE, WEIGHTS_FILE, RunDir

    try:
        names = [entry.name for entry in os.scandir(run_dir)]
    except FileNotFoundError:
        return None
    suffixes = (MODEL_FILE, WEIGHTS_FILE)
    temporary = next((name for name in names if name.startswith(".tmp-") and name.endswith(suffixes)), None)
    if temporary is None:
        return None
    checkpoint = read_checkpoint_safe(RunDir(run_dir))
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


def inject_final_save(work: Path, data_dir: Path, count: int) -> Tally:
    """SIGKILL `count` short trainings in the middle of their final save, then resume each to the end."""
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
            say(f"final-save kill {number}: not caught, the run ended first {FINAL_SAVE_ATTEMPTS} times")
            continue
        problems = final_save_problems(run_dir, data_dir, reference)
        survived += not problems
        verdict = "; ".join(problems) if problems else "survived"
        say(f"final-save kill {number} (attempt {attempt}, {temporary} present): {verdict}")
    problems = [f"{not_caught} not caught"] if not_caught else []
    return Tally("kills during the final save", "survived", survived, count, problems)


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
    from vae.run.checkpoints import read_checkpoint_safe
    from vae.run.directory import RunDir

    while process.poll() is None:
        checkpoint = read_checkpoint_safe(RunDir(run_dir))
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


def inject_sigterm(work: Path, data_dir: Path, count: int, seed: int) -> Tally:
    """SIGTERM one training `count` times, each a random 0-3 s after a new checkpoint, resuming in between."""
    from vae.run.checkpoints import read_checkpoint_safe
    from vae.run.directory import RunDir

    moments = random.Random(seed)
    # A try advances the run one epoch to its new checkpoint plus up to 3 s (a few epochs of 512 digits): 6 each
    # leaves epochs to spare, so the run never ends before its last SIGTERM.
    epochs = 10 + 6 * count
    reference, victim = work / "reference", work / "victim"
    train_reference(train_command(reference, data_dir, epochs, SHORT_LIMIT, resume=False))
    survived = 0
    for number in range(1, count + 1):
        checkpoint = read_checkpoint_safe(RunDir(victim))
        epochs_before = checkpoint.epochs_done if checkpoint else 0
        stderr_path = work / f"sigterm-{number}.stderr"
        process = start(train_command(victim, data_dir, epochs, SHORT_LIMIT, checkpoint is not None), stderr_path)
        epoch = wait_for_new_checkpoint(process, victim, epochs_before)
        if epoch is None:
            ended = f"the run ended (exit {process.returncode}) before a new checkpoint"
            say(f"SIGTERM {number}: {ended}: {last_line(stderr_path.read_text())}")
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
        say(f"SIGTERM {number} at epoch {epoch} + {delay:.1f} s, gone in {seconds:.1f} s: {verdict}")

    resume = read_checkpoint_safe(RunDir(victim)) is not None
    identical = finish(victim, reference, train_command(victim, data_dir, epochs, SHORT_LIMIT, resume))
    return Tally("SIGTERM", "survived", survived, count, [] if identical else ["final weights differ"])


def inject_concurrent(work: Path, data_dir: Path, count: int) -> Tally:
    """Start `count` pairs of identical trainings on one fresh directory each; the second of a pair must be refused."""
    refused = 0
    for number in range(1, count + 1):
        gap = CONCURRENT_GAPS[(number - 1) % len(CONCURRENT_GAPS)]
        problems, second_seconds = concurrent_try(work, data_dir, number, gap)
        refused += not problems
        verdict = "; ".join(problems) if problems else "refused"
        say(f"concurrent {number} ({gap} s apart, second gone in {second_seconds:.1f} s): {verdict}")
    return Tally("concurrent trainings", "refused", refused, count)


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
