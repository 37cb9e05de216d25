"""Hostile inputs against every command: damaged runs, damaged data, absurd options, signals, a full disk.

    python benchmarks/hostile_inputs.py [--only NAME] [--output benchmarks/hostile_inputs.md]

Trains one tiny run once (1 epoch on 512 digits of the test subset, about 20 s). Then, for each case, it copies that
run and the data folder into a folder of the case's own, damages the copies, and runs one command on them in a
subprocess, as a user would. A case is clean when the command

- exits with the expected code: 1 for a bad file or run, 2 for a bad option (click's usage errors), 143 for SIGTERM,
  and 0 where the right behaviour is to work (then the case checks stdout or the files instead of a message);
- prints no traceback;
- says what is wrong in one line on stderr (a usage error prints "Usage:", a "Try ... --help" line and one "Error:"
  line: one "Error:" line counts as one line);
- names the real problem: the case's fragment appears in stderr, compared case-insensitively;
- leaves every file that was in the run and data copies before it ran as it was (SHA-256 of each file);
- and passes the case's own checks (a run directory that must not appear, a checkpoint that must survive, ...).

It prints a markdown table, writes it to --output, ends with the line `clean N/N`, and exits 0 only when every case
is clean. A case that cannot run here (no root for the tmpfs, no full MNIST files) is skipped and not counted.
"""

from __future__ import annotations

import contextlib
import fnmatch
import gzip
import hashlib
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import click
import numpy as np

from vae.data import IDX_FILES, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC
from vae.storage import (
    CHECKPOINT_DIR,
    CHECKPOINT_STATE_FILE,
    CONFIG_FILE,
    HISTORY_FILE,
    MODEL_FILE,
    RUN_FILES,
    SNAPSHOTS_DIR,
    WEIGHTS_FILE,
)

ROOT = Path(__file__).resolve().parent.parent
SUBSET_DIR = ROOT / "tests" / "data" / "mnist-subset"
FULL_MNIST_DIR = ROOT.parent / "shared" / "datasets" / "mnist"
DEFAULT_OUTPUT = ROOT / "benchmarks" / "hostile_inputs.md"

TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS = (f"{IDX_FILES[key]}.gz" for key in IDX_FILES)

# The tiny run every case starts from (the command the brief of this suite fixes).
BASE_TRAINING = ["--epochs", "1", "--limit", "512", "--batch-size", "64", "--verbose", "0"]


# --- Where a case runs ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """The folders of one case: fresh copies of the base run and the data, a path that does not exist yet (`new`,
    for commands that create a run), the case folder itself, and the full MNIST files where there are some.

    Arguments of a case name them as {run}, {data}, {new}, {case} and {full}.
    """

    case: Path
    run: Path
    data: Path
    new: Path
    full: Path | None

    def fill(self, argument: str) -> str:
        return argument.format(case=self.case, run=self.run, data=self.data, new=self.new, full=self.full)


@dataclass
class Outcome:
    """What one command did. `code` is None when the harness had to kill it (`killed` says why); a command killed by
    a signal it did not handle has the negative signal number, as subprocess reports it."""

    code: int | None
    stdout: str
    stderr: str
    seconds: float
    rss_mb: float | None
    killed: str = ""


@dataclass
class Settings:
    timeout: float
    rss_limit_mb: float


class Skipped(Exception):
    """A case that cannot run on this machine; the message says why."""


def child_env() -> dict[str, str]:
    # The ambient VAE_* variables would silently replace the copies a case damaged.
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("VAE_DATA_DIR", None)
    env.pop("VAE_RUN_DIR", None)
    return env


def command_for(module: str, arguments: list[str]) -> list[str]:
    return [sys.executable, "-m", f"vae_scripts.{module}", *arguments]


def resident_mb(pid: int) -> float | None:
    """The current resident memory of a live process, from /proc; None when it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


class Child:
    """One command in a subprocess, its output in files in the case folder (pipes could fill and block it).

    It is reaped with os.wait4, which gives the peak RSS of this one child; RUSAGE_CHILDREN would give the largest of
    all children so far. While it runs, `poll` enforces the timeout and a memory bound, so that a command that tries
    to allocate tens of gigabytes is stopped before it takes the machine down.
    """

    def __init__(self, command: list[str], cwd: Path, stem: str, settings: Settings):
        self.stdout_path, self.stderr_path = cwd / f"{stem}.stdout", cwd / f"{stem}.stderr"
        self.settings = settings
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                command, cwd=cwd, env=child_env(), stdin=subprocess.DEVNULL, stdout=out, stderr=err
            )
        self.started = time.monotonic()
        self.killed = ""
        self.outcome: Outcome | None = None

    def poll(self) -> bool:
        """Reap the child if it has ended; otherwise stop it when it runs too long or too large. True when done."""
        if self.outcome is not None:
            return True
        pid, status, usage = os.wait4(self.process.pid, os.WNOHANG)
        if pid:
            code = os.waitstatus_to_exitcode(status)
            self.process.returncode = code  # so that Popen never tries to reap it again
            self.outcome = Outcome(
                code=None if self.killed else code,
                stdout=self.stdout_path.read_text(errors="replace"),
                stderr=self.stderr_path.read_text(errors="replace"),
                seconds=time.monotonic() - self.started,
                rss_mb=usage.ru_maxrss / 1024,  # kilobytes on Linux
                killed=self.killed,
            )
            return True
        if not self.killed:
            rss = resident_mb(self.process.pid)
            if time.monotonic() - self.started > self.settings.timeout:
                self.kill(f"killed by the harness after {self.settings.timeout:.0f} s")
            elif rss is not None and rss > self.settings.rss_limit_mb:
                self.kill(f"killed by the harness at {rss:.0f} MB resident (limit {self.settings.rss_limit_mb:.0f})")
        return False

    def kill(self, reason: str) -> None:
        self.killed = reason
        # Not reaped yet, so the pid is still ours: no risk of signalling a stranger.
        os.kill(self.process.pid, signal.SIGKILL)

    def send(self, number: int) -> None:
        if self.outcome is None:
            os.kill(self.process.pid, number)

    def wait(self) -> Outcome:
        return wait_all([self])[0]


def wait_all(children: list[Child]) -> list[Outcome]:
    while True:
        finished = [child.poll() for child in children]  # every child polled each round, for its limits
        if all(finished):
            break
        time.sleep(0.1)
    return [child.outcome for child in children]


def run_command(place: Place, settings: Settings, module: str, arguments: list[str], stem: str = "command") -> Outcome:
    return Child(
        command_for(module, [place.fill(argument) for argument in arguments]), place.case, stem, settings
    ).wait()


# --- Cases --------------------------------------------------------------------------------------------------------


def keep(run: Path, data: Path) -> None:
    """Damage nothing."""


Check = Callable[[Place, Outcome], list[str]]  # returns the problems it found; empty when all is well


@dataclass
class Case:
    """One hostile input. `prepare(run, data)` damages the copies (the case folder is `run.parent`); `arguments`
    may name {run}, {data}, {new}, {case} and {full}. For `code` 0 the fragment is looked for in stdout, otherwise in
    stderr. `volatile` lists glob patterns (relative to the case folder) of files the command may change or remove.
    `special` replaces the one command by a scenario of its own (signals, two processes, a tmpfs) and returns the
    outcome to judge with extra problems. `exclusive` cases never run beside another (timing or memory)."""

    name: str
    module: str
    arguments: list[str]
    code: int
    fragment: str
    prepare: Callable[[Path, Path], None] = keep
    checks: tuple[Check, ...] = ()
    volatile: tuple[str, ...] = ()
    special: Callable[[Place, Settings], tuple[Outcome, list[str]]] | None = None
    exclusive: bool = False
    needs_full_mnist: bool = False


def must_not_exist(template: str) -> Check:
    def check(place: Place, outcome: Outcome) -> list[str]:
        path = Path(place.fill(template))
        return [f"{path.relative_to(place.case)} exists afterwards"] if path.exists() else []

    return check


def must_exist(*templates: str) -> Check:
    def check(place: Place, outcome: Outcome) -> list[str]:
        paths = [Path(place.fill(template)) for template in templates]
        return [f"{path.relative_to(place.case)} is missing afterwards" for path in paths if not path.exists()]

    return check


def stdout_has(*fragments: str) -> Check:
    def check(place: Place, outcome: Outcome) -> list[str]:
        return [
            f"stdout lacks {fragment!r}" for fragment in fragments if fragment.lower() not in outcome.stdout.lower()
        ]

    return check


def rss_below(megabytes: float) -> Check:
    def check(place: Place, outcome: Outcome) -> list[str]:
        if outcome.rss_mb is None or outcome.rss_mb >= megabytes:
            return [f"peak RSS {outcome.rss_mb or 0:.0f} MB, not below {megabytes:.0f} MB"]
        return []

    return check


def stderr_ends_with(ending: str) -> Check:
    """The one line must not be cut mid-word: no ellipsis, and it ends as the full message does."""

    def check(place: Place, outcome: Outcome) -> list[str]:
        line = outcome.stderr.strip()
        problems = ["stderr holds a cut marker '…'"] if "…" in line else []
        return problems + ([] if line.endswith(ending) else [f"stderr does not end with {ending!r}"])

    return check


def must_hold(template: str, content: str) -> Check:
    """A file of the user's, outside the run and data copies, that the command must leave as it was."""

    def check(place: Place, outcome: Outcome) -> list[str]:
        path = Path(place.fill(template))
        held = path.read_text(errors="replace") if path.is_file() else None
        return [] if held == content else [f"{path.relative_to(place.case)} was changed or removed"]

    return check


def file_holds(template: str, fragment: bytes) -> Check:
    def check(place: Place, outcome: Outcome) -> list[str]:
        path = Path(place.fill(template))
        if not path.is_file():
            return [f"{path.relative_to(place.case)} is missing afterwards"]
        return [] if fragment in path.read_bytes() else [f"{path.relative_to(place.case)} lacks {fragment!r}"]

    return check


def stderr_is(*starts: str) -> Check:
    """stderr holds exactly these lines, each starting as given: the warnings a command that worked must show."""

    def check(place: Place, outcome: Outcome) -> list[str]:
        lines = [line for line in outcome.stderr.splitlines() if line.strip()]
        expected = [place.fill(start) for start in starts]
        if len(lines) != len(expected) or not all(line.startswith(start) for line, start in zip(lines, expected)):
            return [f"stderr is {lines!r}, expected lines starting {list(starts)!r}"]
        return []

    return check


def same_scores(*columns: str, tolerance: float = 0.0) -> Check:
    """Every row of the CSV on stdout has the same values in `columns` as the first, within `tolerance`."""

    def check(place: Place, outcome: Outcome) -> list[str]:
        import csv
        import io

        rows = list(csv.DictReader(io.StringIO(outcome.stdout)))
        if len(rows) < 2:
            return [f"{len(rows)} rows on stdout, expected several"]
        problems = []
        for column in columns:
            values = [float(row[column]) for row in rows]
            if max(values) - min(values) > tolerance:
                problems.append(f"{column} spans {min(values)!r} to {max(values)!r}")
        return problems

    return check


# Shorthands for the argument lists.
RUN = ["--run-dir", "{run}"]
DATA = ["--data-dir", "{data}"]
NEW = ["--run-dir", "{new}"]
QUICK_TRAIN = ["--epochs", "1", "--limit", "256", "--batch-size", "64", "--verbose", "0"]
QUICK_EVAL = ["--limit", "20", "--k", "2"]


# Damage: run files. ---------------------------------------------------------------------------------------------


def read_json(path: Path):
    return json.loads(path.read_text())


def edit_config(**changes) -> Callable[[Path, Path], None]:
    def prepare(run: Path, data: Path) -> None:
        values = read_json(run / CONFIG_FILE)
        values.update(changes)
        (run / CONFIG_FILE).write_text(json.dumps(values))

    return prepare


def drop_config_field(name: str) -> Callable[[Path, Path], None]:
    def prepare(run: Path, data: Path) -> None:
        values = read_json(run / CONFIG_FILE)
        del values[name]
        (run / CONFIG_FILE).write_text(json.dumps(values))

    return prepare


def write_file(relative: str, content: bytes | str) -> Callable[[Path, Path], None]:
    """Replace (or create) a file of the run with `content`."""

    def prepare(run: Path, data: Path) -> None:
        path = run / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)

    return prepare


def remove(relative: str) -> Callable[[Path, Path], None]:
    def prepare(run: Path, data: Path) -> None:
        (run / relative).unlink()

    return prepare


def truncate_weights(run: Path, data: Path) -> None:
    weights = run / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:3000])


def random_weights(run: Path, data: Path) -> None:
    weights = run / WEIGHTS_FILE
    weights.write_bytes(random.Random(1).randbytes(weights.stat().st_size))


def corrupt_weights_in_place(run: Path, data: Path) -> None:
    """0xFF over 5000 bytes of the weights' data: an HDF5 file that still opens and loads, holding NaNs (0xFFFFFFFF
    is a float32 NaN). Bytes 300000-305000 lie in the raw data of the file the base run writes; a shorter file gets
    the middle of its largest dataset instead."""
    path = run / WEIGHTS_FILE
    start, length = 300_000, 5_000
    if path.stat().st_size < start + length:
        start = middle_of_largest_dataset(path, length)
    with open(path, "r+b") as stream:
        stream.seek(start)
        stream.write(b"\xff" * length)


def middle_of_largest_dataset(path: Path, length: int) -> int:
    import h5py

    datasets = []
    with h5py.File(path, "r") as archive:

        def visit(name, item):
            # get_offset() is None for chunked or empty datasets, whose bytes do not lie in one place.
            if isinstance(item, h5py.Dataset) and item.id.get_offset() is not None:
                datasets.append((item.id.get_storage_size(), item.id.get_offset()))

        archive.visititems(visit)
    size, offset = max(datasets)
    return offset + max(0, (size - length) // 2)


def unfinish(run: Path) -> None:
    """Leave only the checkpoint (and logs): a run whose final save never happened."""
    for name in RUN_FILES:
        (run / name).unlink(missing_ok=True)


def edit_state(change: Callable[[dict, Path], None]) -> Callable[[Path, Path], None]:
    """Remove the finished run's files, then let `change(state, run)` tamper with checkpoint/state.json."""

    def prepare(run: Path, data: Path) -> None:
        unfinish(run)
        path = run / CHECKPOINT_DIR / CHECKPOINT_STATE_FILE
        state = read_json(path)
        change(state, run)
        path.write_text(json.dumps(state))

    return prepare


def state_model_outside(state: dict, run: Path) -> None:
    # A real, loadable model file, only outside the run: what must be refused is the path itself.
    outside = run.parent / "outside.keras"
    shutil.copyfile(run / CHECKPOINT_DIR / state["model"], outside)
    state["model"] = str(outside)


def state_model_parent(state: dict, run: Path) -> None:
    # Put a loadable file where "../vae.keras" points, so that only the escape from checkpoint/ is wrong.
    shutil.copyfile(run / CHECKPOINT_DIR / state["model"], run / MODEL_FILE)
    state["model"] = "../vae.keras"


def state_epochs_negative(state: dict, run: Path) -> None:
    state["epochs_done"] = -1


def state_epochs_beyond_history(state: dict, run: Path) -> None:
    state["epochs_done"] = 2  # the history holds one epoch


def image_file(name: str, kind: str) -> Callable[[Path, Path], None]:
    """Write one of your own images into the case folder: `kind` says what is wrong with it."""

    def prepare(run: Path, data: Path) -> None:
        from PIL import Image

        path = run.parent / name
        if kind == "text":
            path.write_text("not a picture\n")
        elif kind == "blank":
            Image.new("L", (120, 90), 200).save(path)
        elif kind == "dot":
            Image.new("L", (1, 1), 0).save(path)
        elif kind == "bomb":
            path.write_bytes(png_claiming(50_000, 50_000))
        elif kind == "truncated":
            Image.new("L", (200, 200), 255).save(path, format="JPEG")
            path.write_bytes(path.read_bytes()[:300])
        elif kind == "large":
            Image.new("L", (300, 200), 0).save(path)
        elif kind == "folder":
            path.mkdir()
        else:
            raise ValueError(kind)

    return prepare


def png_claiming(width: int, height: int) -> bytes:
    """A PNG signature and header that claim width x height gray pixels, followed by one tiny compressed row."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def resume_after_lost_final_save(run: Path, data: Path) -> None:
    """A run killed (or stopped by a full disk) during its final save: the checkpoint of its last epoch, no run
    files, and the temporary file of a writer long dead (pid 999999 is above any pid in use here)."""
    unfinish(run)
    (run / ".tmp-999999-vae.weights.h5").write_bytes(b"half a file")


def history_with_nan(run: Path, data: Path) -> None:
    history = read_json(run / HISTORY_FILE)
    history["test_loss"][0] = float("nan")
    (run / HISTORY_FILE).write_text(json.dumps(history))  # json writes the bare token NaN


def make_blocker(run: Path, data: Path) -> None:
    """A plain file at {case}/blocker, for paths that must be directories."""
    (run.parent / "blocker").write_text("a file, not a folder\n")


def damaged_snapshot(run: Path, data: Path) -> None:
    (run / SNAPSHOTS_DIR).mkdir(exist_ok=True)
    (run / SNAPSHOTS_DIR / "epoch-0001.npz").write_bytes(random.Random(2).randbytes(3000))


def own_images(*kinds: str) -> Callable[[Path, Path], None]:
    """Images of a digit in {case}/img/, of the `kinds` asked for: "ref2" (a drawn 2), "sixteen-bit" and
    "eight-bit" (one picture in both depths), "sixteen-bit-high" (ink 20000 on paper 60000), "copies" (five
    identical files), "bad-name" (a name that is not UTF-8), "bad-exif" (a JPEG with a damaged EXIF block)."""

    def prepare(run: Path, data: Path) -> None:
        from PIL import Image, ImageDraw

        folder = run.parent / "img"
        folder.mkdir(exist_ok=True)
        drawing = Image.new("L", (120, 120), 255)
        ImageDraw.Draw(drawing).line((30, 30, 90, 30, 30, 90, 90, 90), fill=0, width=10)
        for kind in kinds:
            if kind == "ref2":
                drawing.save(folder / "ref2.png")
            elif kind == "eight-bit":
                drawing.save(folder / "a-eight-bit.png")
            elif kind == "sixteen-bit":
                Image.fromarray(np.asarray(drawing, dtype=np.uint16) * 257).save(folder / "b-sixteen-bit.png")
            elif kind == "sixteen-bit-high":
                levels = np.full((80, 80), 60000, np.uint16)
                levels[15:65, 35:45] = 20000
                Image.fromarray(levels).save(folder / "high.png")
            elif kind == "copies":
                for index in range(5):
                    drawing.save(folder / f"copy-{index}.png")
            elif kind == "bad-name":
                drawing.save(os.fsdecode(os.fsencode(str(folder)) + b"/bad-\xff\xfe.png"))
            elif kind == "bad-exif":
                drawing.save(folder / "exif.jpg", exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff\x01\x01\x03\x00")
            else:
                raise ValueError(kind)

    return prepare


def users_preprocessed(run: Path, data: Path) -> None:
    """A drawn 2, a file of the user's where --save-preprocessed would put its digit, and a blocker file."""
    own_images("ref2")(run, data)
    (run.parent / "pre").mkdir()
    (run.parent / "pre" / "0000-ref2.png").write_text("mine\n")
    make_blocker(run, data)


def old_profile(run: Path, data: Path) -> None:
    (run / "profile.json").write_text('[{"phase": "start-up", "start": 0.0, "seconds": 7.0}]\n')


# Damage: data. --------------------------------------------------------------------------------------------------


def clear(data: Path) -> None:
    """Empty the data copy (whatever it holds: the folder is opaque to this suite)."""
    for path in data.iterdir():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def empty_data(run: Path, data: Path) -> None:
    clear(data)


def remove_data(name: str) -> Callable[[Path, Path], None]:
    def prepare(run: Path, data: Path) -> None:
        (data / name).unlink()

    return prepare


def edit_idx(name: str, change: Callable[[bytearray], bytes | bytearray]) -> Callable[[Path, Path], None]:
    """Decompress one IDX file of the data copy, change its bytes, and write it back gzipped."""

    def prepare(run: Path, data: Path) -> None:
        raw = bytearray(gzip.decompress((data / name).read_bytes()))
        (data / name).write_bytes(gzip.compress(bytes(change(raw))))

    return prepare


def bad_magic(raw: bytearray) -> bytearray:
    raw[3] = 1  # 2051 becomes 2049, the labels' magic
    return raw


def label_twelve(raw: bytearray) -> bytearray:
    raw[8] = 12  # the first label, after the 8-byte header
    return raw


def ten_labels_fewer(raw: bytearray) -> bytes:
    """A consistent labels file (header and data agree) with 10 labels fewer than there are images."""
    count = int.from_bytes(raw[4:8], "big") - 10
    return struct.pack(">II", IDX_LABELS_MAGIC, count) + bytes(raw[8 : 8 + count])


def overflowing_header(raw: bytearray) -> bytes:
    # Three dimensions of 2**32 - 1: their product overflows 64-bit integers.
    return struct.pack(">IIII", IDX_IMAGES_MAGIC, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)


def truncate_gzip(name: str) -> Callable[[Path, Path], None]:
    def prepare(run: Path, data: Path) -> None:
        path = data / name
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    return prepare


def truncated_plain_idx(run: Path, data: Path) -> None:
    """The test images as a plain (not gzipped) IDX file that stops halfway through its data."""
    raw = gzip.decompress((data / TEST_IMAGES).read_bytes())
    (data / TEST_IMAGES).unlink()
    (data / TEST_IMAGES.removesuffix(".gz")).write_bytes(raw[: len(raw) // 2])


def gzip_bomb(run: Path, data: Path) -> None:
    """A 200 kB gzip of a valid-looking IDX file of 250,000 test images (196 MB once decompressed), written in chunks
    so that this harness never holds it in memory."""
    chunk = bytes(1_000_000)
    with gzip.GzipFile(data / TEST_IMAGES, "wb", compresslevel=9) as stream:
        stream.write(struct.pack(">IIII", IDX_IMAGES_MAGIC, 250_000, 28, 28))
        for _ in range(196):
            stream.write(chunk)


def npz(**arrays: np.ndarray) -> Callable[[Path, Path], None]:
    """Replace the data by one mnist.npz holding `arrays`."""

    def prepare(run: Path, data: Path) -> None:
        clear(data)
        np.savez(data / "mnist.npz", **arrays)

    return prepare


def digits(count: int, shape=(28, 28), dtype=np.uint8) -> np.ndarray:
    return np.random.default_rng(count).integers(0, 256, size=(count, *shape)).astype(dtype)


def labels(count: int) -> np.ndarray:
    return (np.arange(count) % 10).astype(np.uint8)


NO_TEST_DIGITS = npz(x_train=digits(100), y_train=labels(100), x_test=digits(0), y_test=labels(0))


def random_npz(run: Path, data: Path) -> None:
    clear(data)
    (data / "mnist.npz").write_bytes(random.Random(0).randbytes(5000))


def pickled_npz(run: Path, data: Path) -> None:
    clear(data)
    objects = np.array([{"not": "digits"}], dtype=object)
    np.savez(data / "mnist.npz", x_train=objects, y_train=objects, x_test=objects, y_test=objects)


# Scenarios that need more than one command. ---------------------------------------------------------------------


def full_disk(place: Place, settings: Settings) -> tuple[Outcome, list[str]]:
    """Defect 1: train into a 3 MB tmpfs. The first checkpoint (1.7 MB) fits; the final save (weights and model,
    another 3.3 MB) cannot. The command must say so and leave the checkpoint, so that --resume can finish later."""
    if os.geteuid() != 0:
        raise Skipped("mounting a tmpfs needs root")
    mount_point = place.case / "tmpfs"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "none", str(mount_point)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if mounted.returncode != 0:
        raise Skipped(f"mount -t tmpfs failed: {(mounted.stderr.strip() or 'no message').splitlines()[0]}")
    try:
        run_dir = mount_point / "run"
        arguments = ["--epochs", "1", "--limit", "512", "--data-dir", str(place.data), "--run-dir", str(run_dir)]
        outcome = run_command(place, settings, "train", [*arguments, "--verbose", "0"])
        state = run_dir / CHECKPOINT_DIR / CHECKPOINT_STATE_FILE
        try:
            json.loads(state.read_text())
            problems = []
        except (OSError, ValueError) as error:
            problems = [f"checkpoint/state.json unreadable afterwards ({type(error).__name__})"]
    finally:
        unmount(mount_point)
    return outcome, problems


def unmount(mount_point: Path) -> None:
    if subprocess.run(["umount", str(mount_point)], capture_output=True, timeout=30, check=False).returncode:
        subprocess.run(
            ["umount", "-l", str(mount_point)], capture_output=True, timeout=30, check=False
        )  # lazily, if still busy


def concurrent_training(place: Place, settings: Settings) -> tuple[Outcome, list[str]]:
    """Defect 5: two trainings into one new run folder, the second started 1.5 s after the first. The second must
    be refused; the first must finish. The second's outcome is the one judged."""
    arguments = ["--run-dir", str(place.new), "--epochs", "2", "--limit", "512", "--batch-size", "64"]
    arguments += ["--data-dir", str(place.data), "--verbose", "0"]
    first = Child(command_for("train", arguments), place.case, "first", settings)
    time.sleep(1.5)
    second = Child(command_for("train", arguments), place.case, "second", settings)
    first_outcome, second_outcome = wait_all([first, second])
    problems = []
    if first_outcome.code != 0:
        problems.append(f"the first training exited {first_outcome.code}: {first_line(first_outcome.stderr, 80)}")
    return second_outcome, problems


def sigterm_training(place: Place, settings: Settings) -> tuple[Outcome, list[str]]:
    """Defect 9 (signals): SIGTERM a long training once its first checkpoint is committed. It must exit 143 saying
    how to continue, and leave a readable checkpoint."""
    arguments = ["--epochs", "50", "--limit", "512", "--batch-size", "64", "--data-dir", str(place.data)]
    child = Child(
        command_for("train", [*arguments, "--run-dir", str(place.new), "--verbose", "0"]),
        place.case,
        "command",
        settings,
    )
    state = place.new / CHECKPOINT_DIR / CHECKPOINT_STATE_FILE
    while not state.is_file() and not child.poll():  # poll also enforces the timeout
        time.sleep(0.2)
    finished_early = child.outcome is not None
    child.send(signal.SIGTERM)
    outcome = child.wait()
    problems = ["the training ended before the first checkpoint appeared"] if finished_early else []
    try:
        model = state.parent / json.loads(state.read_text())["model"]
        if not model.is_file():
            problems.append(f"state.json names {model.name}, which is missing")
    except (OSError, ValueError, KeyError, TypeError) as error:
        problems.append(f"checkpoint/state.json unreadable afterwards ({type(error).__name__})")
    return outcome, problems


def stale_evaluation(place: Place, settings: Settings) -> tuple[Outcome, list[str]]:
    """Score the run with vae-eval, resume it for one more epoch, then write its report: the resume must drop the
    eval.json of the weights it replaced, and say so; the report must not show their scores. The resume's outcome
    is the one judged."""
    common = ["--run-dir", str(place.run), "--data-dir", str(place.data)]
    evaluated = run_command(place, settings, "evaluate", [*common, "--limit", "20", "--k", "2"], "evaluate")
    problems = [] if evaluated.code == 0 else [f"vae-eval exited {evaluated.code}"]
    scored = read_json(place.run / "eval.json") if (place.run / "eval.json").is_file() else {}
    resumed = run_command(place, settings, "train", ["--resume", "--epochs", "2", *common, "--verbose", "0"], "resume")
    if (place.run / "eval.json").exists():
        problems.append("eval.json of the replaced weights is still there after the resume")
    reported = run_command(place, settings, "report", [*common, "--explorer-size", "8"], "report")
    page = (place.run / "report.html").read_text() if (place.run / "report.html").is_file() else ""
    old = scored.get("metrics", {}).get("negative_elbo")
    if reported.code != 0 or (old is not None and f"{old:.2f} nats" in page):
        problems.append(f"the report (exit {reported.code}) shows the replaced weights' negative ELBO")
    return resumed, problems


# The cases. ----------------------------------------------------------------------------------------------------

# One case a line or two reads as a table; the formatter would spread each over eight.
# fmt: off
CASES: list[Case] = [
    # The ten reported defects, and the diverged first epoch.
    Case("d1-full-disk-final-save", "train", ["--run-dir", "{case}/tmpfs/run"], 1, "no space left",
         special=full_disk, exclusive=True),
    Case("d2-resume-lost-final-save", "train", ["--resume", *DATA, *RUN], 0, "",
         prepare=resume_after_lost_final_save, volatile=("run/.tmp-999999-*",),
         checks=(must_exist(*(f"{{run}}/{name}" for name in RUN_FILES)),
                 must_not_exist("{run}/.tmp-999999-vae.weights.h5"))),
    Case("d3-fashion-on-mnist-subset", "train", ["--dataset", "fashion-mnist", *DATA, *NEW, *QUICK_TRAIN], 1, "mnist",
         checks=(must_not_exist("{new}"),)),
    Case("d3-fashion-on-full-mnist", "train",
         ["--dataset", "fashion-mnist", "--data-dir", "{full}", *NEW, *QUICK_TRAIN], 1, "holds mnist",
         checks=(must_not_exist("{new}"),), needs_full_mnist=True),
    Case("d4-weights-nan-reconstruct", "reconstruct", ["--n", "3", *RUN, *DATA], 1, "non-finite",
         prepare=corrupt_weights_in_place),
    Case("d4-weights-nan-evaluate", "evaluate", [*QUICK_EVAL, *RUN, *DATA], 1, "non-finite",
         prepare=corrupt_weights_in_place),
    Case("d5-two-trainings-one-run-dir", "train", ["--run-dir", "{new}", "--epochs", "2"], 1, "in use by another",
         special=concurrent_training, exclusive=True),
    Case("d6a-state-model-absolute-path", "train", ["--resume", "--epochs", "2", *DATA, *RUN], 1, "state.json",
         prepare=edit_state(state_model_outside)),
    Case("d6b-state-epochs-negative", "train", ["--resume", "--epochs", "2", *DATA, *RUN], 1, "state.json",
         prepare=edit_state(state_epochs_negative)),
    Case("d6c-state-epochs-vs-history", "train", ["--resume", "--epochs", "4", *DATA, *RUN], 1, "state.json",
         prepare=edit_state(state_epochs_beyond_history)),
    Case("d6d-state-model-parent-dir", "train", ["--resume", "--epochs", "2", *DATA, *RUN], 1, "state.json",
         prepare=edit_state(state_model_parent)),
    Case("d7-npz-no-test-digits-train", "train", [*DATA, *NEW, *QUICK_TRAIN], 1, "no test digits",
         prepare=NO_TEST_DIGITS, checks=(must_not_exist("{new}"),)),
    Case("d7-npz-no-test-digits-evaluate", "evaluate", [*QUICK_EVAL, *RUN, *DATA], 1, "no test digits",
         prepare=NO_TEST_DIGITS),
    Case("d7-npz-no-test-digits-clusters", "plot", ["clusters", *RUN, *DATA], 1, "no test digits",
         prepare=NO_TEST_DIGITS),
    Case("d8a-config-latent-50000000", "reconstruct", ["--n", "3", *RUN, *DATA], 1, "latent_dim must be at most",
         prepare=edit_config(latent_dim=50_000_000), exclusive=True),
    Case("d8b-gzip-bomb-test-images", "evaluate", ["--limit", "5", "--k", "2", *RUN, *DATA], 1,
         "refusing to decompress", prepare=gzip_bomb, exclusive=True),
    Case("d8c-evaluate-k-100000", "evaluate", ["--k", "100000", "--limit", "1", *RUN, *DATA], 0, "",
         checks=(rss_below(2500),), exclusive=True),
    Case("d9-progress-fps-0.005", "plot", ["progress", "--fps", "0.005", *RUN], 2, "--fps"),
    Case("d9-progress-fps-inf", "plot", ["progress", "--fps", "inf", *RUN], 2, "--fps"),
    Case("d9-latent-grid-span-inf", "plot", ["latent-grid", "--span", "inf", *RUN, *DATA], 2, "--span"),
    Case("d9-latent-grid-span-1e308", "plot", ["latent-grid", "--span", "1e308", *RUN, *DATA], 2, "--span"),
    Case("d9-history-nan-plot", "plot", ["history", *RUN], 1, "history.json", prepare=history_with_nan),
    Case("d9-history-empty-report", "report", [*RUN, *DATA, "--explorer-size", "8"], 1, "history.json",
         prepare=write_file("history.json", "{}")),
    Case("d9-npz-random-bytes-evaluate", "evaluate", [*QUICK_EVAL, *RUN, *DATA], 1, "not a valid npz",
         prepare=random_npz),
    Case("d9-idx-dims-overflow-evaluate", "evaluate", [*QUICK_EVAL, *RUN, *DATA], 1, "t10k-images-idx3-ubyte",
         prepare=edit_idx(TEST_IMAGES, overflowing_header)),
    Case("d9-config-latent-3-reconstruct", "reconstruct", ["--n", "3", *RUN, *DATA], 1, "does not fit",
         prepare=edit_config(latent_dim=3), checks=(stderr_ends_with("--overwrite"),)),
    Case("d9-train-learning-rate-nan", "train", ["--learning-rate", "nan", *DATA, *NEW, *QUICK_TRAIN], 2,
         "--learning-rate", checks=(must_not_exist("{new}"),)),
    Case("d9-train-beta-nan", "train", ["--beta", "nan", *DATA, *NEW, *QUICK_TRAIN], 2, "--beta",
         checks=(must_not_exist("{new}"),)),
    Case("d9-train-learning-rate-inf", "train", ["--learning-rate", "inf", *DATA, *NEW, *QUICK_TRAIN], 2,
         "--learning-rate", checks=(must_not_exist("{new}"),)),
    Case("d9-train-beta-inf", "train", ["--beta", "inf", *DATA, *NEW, *QUICK_TRAIN], 2, "--beta",
         checks=(must_not_exist("{new}"),)),
    Case("d9-sigterm-train", "train", ["--epochs", "50", *NEW], 143, "vae-train --resume",
         special=sigterm_training, exclusive=True),
    Case("d10-train-beta-0-summary", "train", ["--beta", "0", "--epochs", "1", "--limit", "512", "--batch-size", "64",
         "--verbose", "0", *DATA, *NEW], 0, "negative ELBO", checks=(stdout_has("beta"),)),
    Case("diverged-first-epoch", "train", ["--learning-rate", "1e9", "--schedule", "constant", *DATA, *NEW,
         *QUICK_TRAIN], 1, "diverged", checks=(must_not_exist("{new}"),)),
    # vae-train: options.
    Case("train-unknown-option", "train", ["--frobnicate", *DATA, *NEW], 2, "no such option"),
    Case("train-epochs-0", "train", ["--epochs", "0", *DATA, *NEW], 2, "--epochs"),
    Case("train-batch-size-0", "train", ["--batch-size", "0", *DATA, *NEW], 2, "--batch-size"),
    Case("train-latent-dim-0", "train", ["--latent-dim", "0", *DATA, *NEW], 2, "--latent-dim"),
    Case("train-limit-0", "train", ["--limit", "0", *DATA, *NEW], 2, "--limit"),
    Case("train-learning-rate-negative", "train", ["--learning-rate", "-1", *DATA, *NEW], 2, "--learning-rate"),
    Case("train-unknown-dataset", "train", ["--dataset", "cifar10", *DATA, *NEW], 2, "--dataset"),
    Case("train-epochs-not-a-number", "train", ["--epochs", "ten", *DATA, *NEW], 2, "--epochs"),
    # vae-train: run directories.
    Case("train-run-dir-is-a-file", "train", [*DATA, "--run-dir", "{case}/blocker", *QUICK_TRAIN], 2, "is a file",
         prepare=make_blocker),
    Case("train-run-dir-under-a-file", "train", [*DATA, "--run-dir", "{case}/blocker/run", *QUICK_TRAIN], 1,
         "not a directory", prepare=make_blocker),
    Case("train-over-a-trained-run", "train", [*DATA, *RUN, *QUICK_TRAIN], 1, "--overwrite"),
    Case("train-resume-without-checkpoint", "train", ["--resume", *DATA, *NEW], 1, "no checkpoint",
         checks=(must_not_exist("{new}"),)),
    Case("train-resume-contradicting-latent-dim", "train", ["--resume", "--latent-dim", "4", *DATA, *RUN], 2,
         "--latent-dim"),
    Case("train-resume-state-not-json", "train", ["--resume", "--epochs", "2", *DATA, *RUN], 1, "state.json",
         prepare=write_file("checkpoint/state.json", "{\"epochs_done\": ")),
    Case("train-resume-checkpoint-model-missing", "train", ["--resume", "--epochs", "2", *DATA, *RUN], 1,
         "epoch-0001.keras", prepare=remove("checkpoint/epoch-0001.keras")),
    # vae-train: data.
    Case("train-data-dir-missing", "train", ["--data-dir", "{case}/nowhere", *NEW, *QUICK_TRAIN], 1,
         "does not exist", checks=(must_not_exist("{new}"),)),
    Case("train-data-dir-is-a-file", "train", ["--data-dir", "{case}/blocker", *NEW, *QUICK_TRAIN], 1,
         "not a directory", prepare=make_blocker, checks=(must_not_exist("{new}"),)),
    Case("train-data-dir-empty", "train", [*DATA, *NEW, *QUICK_TRAIN], 1, "holds no mnist data",
         prepare=empty_data, checks=(must_not_exist("{new}"),)),
    Case("train-data-lacks-train-labels", "train", [*DATA, *NEW, *QUICK_TRAIN], 1, "lacks train-labels-idx1-ubyte",
         prepare=remove_data(TRAIN_LABELS), checks=(must_not_exist("{new}"),)),
    Case("train-truncated-gzip", "train", [*DATA, *NEW, *QUICK_TRAIN], 1, "truncated or corrupted gzip",
         prepare=truncate_gzip(TRAIN_IMAGES), checks=(must_not_exist("{new}"),)),
    Case("train-label-12", "train", [*DATA, *NEW, *QUICK_TRAIN], 1, "label 12 is outside 0-9",
         prepare=edit_idx(TRAIN_LABELS, label_twelve), checks=(must_not_exist("{new}"),)),
    Case("train-npz-float-images", "train", [*DATA, *NEW, *QUICK_TRAIN], 1, "expected uint8",
         prepare=npz(x_train=digits(100, dtype=np.float32), y_train=labels(100), x_test=digits(20),
                     y_test=labels(20)), checks=(must_not_exist("{new}"),)),
    Case("train-npz-27x28-images", "train", [*DATA, *NEW, *QUICK_TRAIN], 1, "expected (n, 28, 28)",
         prepare=npz(x_train=digits(100, shape=(27, 28)), y_train=labels(100), x_test=digits(20),
                     y_test=labels(20)), checks=(must_not_exist("{new}"),)),
    # vae-reconstruct. An index or axis outside what the run has is a bad option value: a usage error (2).
    Case("reconstruct-n-0", "reconstruct", ["--n", "0", *RUN, *DATA], 2, "--n"),
    Case("reconstruct-n-1000", "reconstruct", ["--n", "1000", *RUN, *DATA], 2, "--n"),
    Case("reconstruct-indices-99999", "reconstruct", ["--indices", "3,99999", *RUN, *DATA], 2, "99999 is out of range"),
    Case("reconstruct-indices-minus-1", "reconstruct", ["--indices", "-1", *RUN, *DATA], 2, "-1 is out of range"),
    Case("reconstruct-indices-not-numbers", "reconstruct", ["--indices", "a,b", *RUN, *DATA], 2, "--indices"),
    Case("reconstruct-unknown-option", "reconstruct", ["--colour", "red", *RUN, *DATA], 2, "no such option"),
    Case("reconstruct-no-run", "reconstruct", ["--n", "3", *NEW, *DATA], 1, "no trained run"),
    Case("reconstruct-run-dir-is-a-file", "reconstruct", ["--run-dir", "{case}/blocker", *DATA], 2, "is a file",
         prepare=make_blocker),
    Case("reconstruct-weights-missing", "reconstruct", ["--n", "3", *RUN, *DATA], 1, "vae.weights.h5 is missing",
         prepare=remove("vae.weights.h5")),
    Case("reconstruct-weights-truncated", "reconstruct", ["--n", "3", *RUN, *DATA], 1, "vae.weights.h5 cannot be read",
         prepare=truncate_weights),
    Case("reconstruct-weights-random-bytes", "reconstruct", ["--n", "3", *RUN, *DATA], 1,
         "vae.weights.h5 cannot be read", prepare=random_weights),
    Case("reconstruct-config-not-json", "reconstruct", ["--n", "3", *RUN, *DATA], 1, "not valid json",
         prepare=write_file("config.json", "{latent_dim: 2,")),
    Case("reconstruct-config-an-array", "reconstruct", ["--n", "3", *RUN, *DATA], 1, "must be a json object",
         prepare=write_file("config.json", "[2, 1.0]")),
    Case("reconstruct-config-unknown-field", "reconstruct", ["--n", "3", *RUN, *DATA], 1, "unknown config field",
         prepare=edit_config(dropout=0.5)),
    Case("reconstruct-config-missing-field", "reconstruct", ["--n", "3", *RUN, *DATA], 1,
         "missing config field(s): latent_dim", prepare=drop_config_field("latent_dim")),
    Case("reconstruct-config-latent-dim-two", "reconstruct", ["--n", "3", *RUN, *DATA], 1,
         "latent_dim must be an integer", prepare=edit_config(latent_dim="two")),
    Case("reconstruct-config-beta-true", "reconstruct", ["--n", "3", *RUN, *DATA], 1, "beta must be",
         prepare=edit_config(beta=True)),
    Case("reconstruct-history-not-json", "reconstruct", ["--n", "3", *RUN, *DATA], 1, "history.json",
         prepare=write_file("history.json", "{\"loss\": [1.0,")),
    Case("reconstruct-output-under-a-file", "reconstruct", ["--n", "3", *RUN, *DATA, "--output",
         "{case}/blocker/out.png"], 1, "not a directory", prepare=make_blocker),
    Case("reconstruct-idx-bad-magic", "reconstruct", ["--n", "3", *RUN, *DATA], 1, "bad idx magic number 2049",
         prepare=edit_idx(TEST_IMAGES, bad_magic)),
    Case("reconstruct-npz-pickled-objects", "reconstruct", ["--n", "3", *RUN, *DATA], 1, "pickled objects",
         prepare=pickled_npz),
    # vae-plot.
    Case("plot-unknown-view", "plot", ["frobnicate", *RUN], 2, "no such command"),
    Case("plot-latent-grid-dims-0-0", "plot", ["latent-grid", "--dims", "0,0", *RUN, *DATA], 2,
         "two different latent axes"),
    Case("plot-latent-grid-dims-0-5", "plot", ["latent-grid", "--dims", "0,5", *RUN, *DATA], 2,
         "two different latent axes"),
    Case("plot-latent-grid-dims-a-b", "plot", ["latent-grid", "--dims", "a,b", *RUN, *DATA], 2, "--dims"),
    Case("plot-latent-grid-span-and-quantiles", "plot", ["latent-grid", "--span", "2", "--quantiles", *RUN], 2,
         "exclude each other"),
    Case("plot-latent-grid-n-1", "plot", ["latent-grid", "--n", "1", *RUN, *DATA], 2, "--n"),
    Case("plot-samples-n-0", "plot", ["samples", "--n", "0", *RUN], 2, "--n"),
    Case("plot-samples-no-run", "plot", ["samples", *NEW], 1, "no trained run"),
    Case("plot-interpolate-from-999999", "plot", ["interpolate", "--from", "999999", *RUN, *DATA], 2,
         "999999 is out of range"),
    Case("plot-interpolate-steps-1", "plot", ["interpolate", "--steps", "1", *RUN, *DATA], 2, "--steps"),
    Case("plot-clusters-label-count-mismatch", "plot", ["clusters", *RUN, *DATA], 1, "490 labels for 500 images",
         prepare=edit_idx(TEST_LABELS, ten_labels_fewer)),
    Case("plot-history-missing", "plot", ["history", *RUN], 1, "history.json is missing",
         prepare=remove("history.json")),
    Case("plot-progress-no-snapshots", "plot", ["progress", *RUN], 1, "no training snapshots"),
    Case("plot-progress-snapshot-damaged", "plot", ["progress", *RUN], 1, "not a readable snapshot",
         prepare=damaged_snapshot),
    Case("plot-progress-output-is-a-folder", "plot", ["progress", *RUN, "--output", "{case}"], 2, "--output"),
    # vae-eval.
    Case("evaluate-k-0", "evaluate", ["--k", "0", *RUN, *DATA], 2, "--k"),
    Case("evaluate-limit-0", "evaluate", ["--limit", "0", *RUN, *DATA], 2, "--limit"),
    Case("evaluate-batch-size-0", "evaluate", ["--batch-size", "0", *RUN, *DATA], 2, "--batch-size"),
    Case("evaluate-no-run", "evaluate", [*QUICK_EVAL, *NEW, *DATA], 1, "no trained run"),
    Case("evaluate-run-dir-is-a-file", "evaluate", ["--run-dir", "{case}/blocker", *DATA], 2, "is a file",
         prepare=make_blocker),
    Case("evaluate-data-lacks-test-labels", "evaluate", [*QUICK_EVAL, *RUN, *DATA], 1, "lacks t10k-labels-idx1-ubyte",
         prepare=remove_data(TEST_LABELS)),
    Case("evaluate-truncated-plain-idx", "evaluate", [*QUICK_EVAL, *RUN, *DATA], 1, "truncated",
         prepare=truncated_plain_idx),
    # vae-report.
    Case("report-no-run", "report", [*NEW, *DATA], 1, "no trained run"),
    Case("report-explorer-size-1", "report", ["--explorer-size", "1", *RUN, *DATA], 2, "--explorer-size"),
    Case("report-dims-0-5", "report", ["--dims", "0,5", "--explorer-size", "8", *RUN, *DATA], 2,
         "two different latent axes"),
    Case("report-unknown-option", "report", ["--theme", "dark", *RUN, *DATA], 2, "no such option"),
    Case("report-eval-json-damaged", "report", ["--explorer-size", "8", *RUN, *DATA], 1, "eval.json is damaged",
         prepare=write_file("eval.json", "{\"metrics\": ")),
    Case("report-output-under-a-file", "report", ["--explorer-size", "8", *RUN, *DATA, "--output",
         "{case}/blocker/report.html"], 1, "not a directory", prepare=make_blocker),
    Case("report-snapshot-damaged", "report", ["--explorer-size", "8", *RUN, *DATA], 1, "not a readable snapshot",
         prepare=damaged_snapshot),
    # Your own images (vae-encode, vae-reconstruct --images), latent vectors (vae-decode), and the options of the
    # conditional VAE, the IWAE objective and the VampPrior.
    Case("encode-not-an-image", "encode", ["{case}/notes.png", *RUN], 1, "is not a PNG or JPEG image",
         prepare=image_file("notes.png", "text")),
    Case("encode-empty-folder", "encode", ["{case}/empty", *RUN], 1, "holds no PNG or JPEG files",
         prepare=image_file("empty", "folder")),
    Case("encode-no-ink", "encode", ["{case}/blank.png", *RUN], 1, "holds no ink", prepare=image_file("blank.png", "blank")),
    Case("encode-1x1", "encode", ["{case}/dot.png", *RUN], 1, "too small to hold a digit",
         prepare=image_file("dot.png", "dot")),
    Case("encode-bomb-50000x50000", "encode", ["{case}/bomb.png", *RUN], 1, "more than the 50,000,000 read at most",
         prepare=image_file("bomb.png", "bomb")),
    Case("encode-truncated-jpeg", "encode", ["{case}/cut.jpg", *RUN], 1, "could not be read as an image",
         prepare=image_file("cut.jpg", "truncated")),
    Case("encode-missing", "encode", ["{case}/nowhere.png", *RUN], 1, "no such file or folder"),
    Case("encode-no-preprocess-300x200", "encode", ["{case}/big.png", "--no-preprocess", *RUN], 1,
         "without preprocessing an image must be in MNIST form", prepare=image_file("big.png", "large")),
    Case("encode-digit-unconditional", "encode", ["{case}/big.png", "--digit", "3", *RUN], 2,
         "needs a conditional run", prepare=image_file("big.png", "large")),
    Case("encode-k-0", "encode", ["{case}/big.png", "--k", "0", *RUN], 2, "--k", prepare=image_file("big.png", "large")),
    Case("reconstruct-images-bomb", "reconstruct", ["--images", "{case}/bomb.png", *RUN], 1,
         "more than the 50,000,000 read at most", prepare=image_file("bomb.png", "bomb")),
    Case("decode-z-wrong-count", "decode", ["--z", "0.5", *RUN], 2, "this run's latent size is 2"),
    Case("decode-z-nan", "decode", ["--z", "0.5,nan", *RUN], 2, "finite number"),
    Case("decode-z-words", "decode", ["--z", "left,right", *RUN], 2, "not a comma-separated list of numbers"),
    Case("decode-digit-10", "decode", ["--z", "0,0", "--digit", "10", *RUN], 2, "--digit"),
    Case("decode-digit-minus-1", "decode", ["--z", "0,0", "--digit", "-1", *RUN], 2, "--digit"),
    Case("plot-analogies-unconditional", "plot", ["analogies", *RUN, *DATA], 2, "need a conditional run"),
    Case("plot-samples-digit-unconditional", "plot", ["samples", "--digit", "7", *RUN], 2, "--conditional"),
    Case("train-resume-conditional", "train", ["--resume", "--conditional", *RUN, *DATA], 2,
         "contradicts the run being resumed", prepare=lambda run, data: unfinish(run)),
    Case("train-samples-0", "train", ["--objective", "iwae", "--samples", "0", *NEW, *DATA], 2, "--samples"),
    Case("train-samples-without-iwae", "train", ["--samples", "5", *NEW, *DATA], 2, "needs objective iwae"),
    Case("train-objective-unknown", "train", ["--objective", "vimco", *NEW, *DATA], 2, "--objective"),
    Case("train-vamp-no-pseudo-inputs", "train", ["--prior", "vamp", *NEW, *DATA], 2, "needs pseudo_inputs"),
    Case("train-vamp-too-large", "train", ["--prior", "vamp", "--pseudo-inputs", "5000", "--latent-dim", "1024",
         *NEW, *DATA], 2, "must be at most 268,435,456"),
    Case("train-vamp-conditional", "train", ["--prior", "vamp", "--pseudo-inputs", "10", "--conditional", *NEW,
         *DATA], 2, "carry no label"),
    Case("train-eval-every-zero", "train", ["--eval-every", "0", *NEW, *DATA], 2, "--eval-every"),
    Case("train-eval-every-snapshots", "train", ["--eval-every", "2", "--snapshots", *NEW, *DATA], 2,
         "needs --eval-every 1"),
    Case("train-hierarchical-conditional", "train", ["--arch", "hierarchical", "--conditional", *NEW, *DATA], 2,
         "not for conditional runs"),
    # The newest surfaces: profiles, eval.json, your own images and the outputs of every command.
    Case("profile-failed-overwrite", "train", ["--overwrite", "--profile", "--data-dir", "{case}/nowhere", *RUN,
         "--epochs", "1"], 1, "does not exist", prepare=old_profile),
    Case("profile-resume-finished-run", "train", ["--resume", "--profile", *RUN, *DATA], 1, "already trained",
         prepare=old_profile),
    Case("profile-run-dir-in-proc", "train", ["--profile", "--run-dir", "/proc/vae-x", *DATA, *QUICK_TRAIN], 1,
         "/proc/vae-x"),
    Case("encode-save-preprocessed-output-fails", "encode", ["{case}/img/ref2.png", "--save-preprocessed",
         "{case}/pre", "--output", "{case}/blocker/x.csv", *RUN], 1, "not a directory", prepare=users_preprocessed,
         checks=(must_hold("{case}/pre/0000-ref2.png", "mine\n"),)),
    Case("encode-16-bit-matches-8-bit", "encode", ["{case}/img", "--k", "2", *RUN], 0, "z_mean_0",
         prepare=own_images("eight-bit", "sixteen-bit"), checks=(same_scores("z_mean_0", "z_mean_1", tolerance=0.02),)),
    Case("encode-16-bit-high-levels", "encode", ["{case}/img/high.png", "--k", "2", *RUN], 0, "negative_elbo",
         prepare=own_images("sixteen-bit-high")),
    Case("report-after-resume-stale-eval", "train", ["--resume", *RUN], 0, "removed eval.json",
         special=stale_evaluation, volatile=("run/*", "run/*/*")),
    Case("encode-non-utf8-name-output", "encode", ["{case}/img", "--output", "{case}/bad.csv", "--k", "2", *RUN], 0,
         "", prepare=own_images("bad-name"), checks=(file_holds("{case}/bad.csv", b"bad-\xff\xfe.png"),)),
    Case("reconstruct-digit-unconditional", "reconstruct", ["--n", "2", "--digit", "3", *RUN, *DATA], 2,
         "needs a conditional run", checks=(must_not_exist("{run}/reconstruction.png"),)),
    Case("report-eval-json-nan", "report", ["--explorer-size", "8", *RUN, *DATA], 1, "eval.json is damaged",
         prepare=write_file("eval.json", '{"metrics": {"negative_elbo": NaN}}')),
    Case("report-eval-json-infinity", "report", ["--explorer-size", "8", *RUN, *DATA], 1, "eval.json is damaged",
         prepare=write_file("eval.json", '{"metrics": {"negative_elbo": Infinity}}')),
    Case("decode-output-name-252-bytes", "decode", ["--z", "0,0", "--output", "{case}/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.png", *RUN], 0, "",
         checks=(must_exist("{case}/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.png"),)),
    Case("encode-output-name-252-bytes", "encode", ["{case}/img/ref2.png", "--k", "2", "--output",
         "{case}/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.csv", *RUN], 0, "", prepare=own_images("ref2"), checks=(must_exist("{case}/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.csv"),)),
    Case("encode-output-missing-folder", "encode", ["{case}/img/ref2.png", "--k", "2", "--output",
         "{case}/nodir/x.csv", *RUN], 0, "", prepare=own_images("ref2"), checks=(must_exist("{case}/nodir/x.csv"),)),
    Case("reconstruct-images-with-indices-and-n", "reconstruct", ["--images", "{case}/img/ref2.png", "--indices",
         "3,4", "--n", "7", *RUN], 2, "choose test digits", prepare=own_images("ref2")),
    Case("encode-jpeg-damaged-exif", "encode", ["{case}/img/exif.jpg", "--k", "2", *RUN], 0, "negative_elbo",
         prepare=own_images("bad-exif"), checks=(stderr_is("warning: {case}/img/exif.jpg: Corrupt EXIF data"),)),
    Case("encode-five-copies-score-alike", "encode", ["{case}/img", "--k", "20", *RUN], 0, "negative_elbo",
         prepare=own_images("copies"), checks=(same_scores("negative_elbo", "importance_weighted_bce_bound"),)),
    Case("decode-z-underscore", "decode", ["--z", "1_0,0", *RUN], 2, "not a comma-separated list of numbers"),
]
# fmt: on


# --- Running and judging -----------------------------------------------------------------------------------------


@dataclass
class Row:
    case: Case
    outcome: Outcome | None = None
    skipped: str = ""
    traceback: bool = False
    one_line: bool | None = None
    changed: list[str] = field(default_factory=list)
    matched: bool = False
    problems: list[str] = field(default_factory=list)
    clean: bool = False
    message: str = ""  # the line of stderr that says what happened, for the table


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(place: Place) -> dict[str, str]:
    """SHA-256 of every file in the run and data copies, keyed by its path relative to the case folder."""
    digests = {}
    for root in (place.run, place.data):
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    digests[str(path.relative_to(place.case))] = sha256(path)
    return digests


# The run's lock file holds the pid of the training that holds it: rewriting it is its job, not damage.
ALWAYS_VOLATILE = ("run/.lock",)


def changed_files(before: dict[str, str], after: dict[str, str], volatile: tuple[str, ...]) -> list[str]:
    """Files that were there before and changed or vanished; new files are the commands' business."""
    patterns = (*volatile, *ALWAYS_VOLATILE)
    return [
        name
        for name, digest in before.items()
        if after.get(name) != digest and not any(fnmatch.fnmatch(name, pattern) for pattern in patterns)
    ]


def one_line(stderr: str, code: int | None) -> bool | None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    if code == 0:
        return None
    if code == 2:  # click: "Usage: ...", "Try '... --help' for help.", then the one message that counts
        return sum(line.startswith(("Error:", "error:")) for line in lines) == 1
    return len(lines) == 1


def message_line(outcome: Outcome, place: Place) -> str:
    """The first line of stderr, or for a usage error its "Error:" line (the first is click's "Usage: ..."); the
    case folder is shortened to {case} so that the table shows what the message says, not where it ran."""
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    if outcome.code == 2:
        lines = [line for line in lines if line.startswith(("Error:", "error:"))] or lines
    if not lines and outcome.stdout.strip():
        lines = ["(stdout) " + outcome.stdout.strip().splitlines()[0]]
    return first_line(lines[0].replace(str(place.case), "{case}") if lines else "")


def judge(case: Case, place: Place, outcome: Outcome, changed: list[str], problems: list[str]) -> Row:
    row = Row(case, outcome, changed=changed, problems=list(problems), message=message_line(outcome, place))
    if outcome.killed:
        row.problems.insert(0, outcome.killed)
    row.traceback = "Traceback" in outcome.stderr
    row.one_line = one_line(outcome.stderr, outcome.code)
    where = outcome.stdout if case.code == 0 else outcome.stderr
    row.matched = case.fragment.lower() in where.lower()
    row.clean = (
        outcome.code == case.code
        and not row.traceback
        and (case.code == 0 or row.one_line is True)
        and not changed
        and row.matched
        and not row.problems
    )
    return row


def run_case(case: Case, base: Path, data_source: Path, work: Path, full: Path | None, settings: Settings) -> Row:
    case_dir = work / "cases" / case.name
    if case_dir.exists():
        shutil.rmtree(case_dir)
    case_dir.mkdir(parents=True)
    place = Place(case_dir, case_dir / "run", case_dir / "data", case_dir / "new-run", full)
    if case.needs_full_mnist and full is None:
        return Row(case, skipped="no full MNIST files (--full-mnist-dir)")
    shutil.copytree(base, place.run)
    shutil.copytree(data_source, place.data)
    case.prepare(place.run, place.data)
    before = fingerprint(place)
    try:
        if case.special is not None:
            outcome, problems = case.special(place, settings)
        else:
            outcome, problems = run_command(place, settings, case.module, case.arguments), []
    except Skipped as reason:
        return Row(case, skipped=str(reason))
    for check in case.checks:
        problems += check(place, outcome)
    return judge(case, place, outcome, changed_files(before, fingerprint(place), case.volatile), problems)


def train_base(base: Path, data_dir: Path, settings: Settings) -> None:
    if base.exists():
        shutil.rmtree(base)
    command = command_for("train", [*BASE_TRAINING, "--data-dir", str(data_dir), "--run-dir", str(base)])
    outcome = Child(command, base.parent, "base", settings).wait()
    if outcome.code != 0:
        raise click.ClickException(f"the base run failed ({outcome.code}): {first_line(outcome.stderr, 300)}")


# --- The table ---------------------------------------------------------------------------------------------------


def first_line(text: str, width: int = 100) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= width else line[: width - 3] + "..."


def short_command(case: Case) -> str:
    """The command as a user would type it, without the copies every case points at."""
    words, arguments = [], list(case.arguments)
    while arguments:
        word = arguments.pop(0)
        if arguments and (word, arguments[0]) in {("--run-dir", "{run}"), ("--data-dir", "{data}"), ("--verbose", "0")}:
            arguments.pop(0)
            continue
        words.append(word)
    name = {"evaluate": "vae-eval"}.get(case.module, f"vae-{case.module}")
    return " ".join([name, *words])


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def table(rows: list[Row]) -> str:
    header = [
        "case",
        "command",
        "exit",
        "expected",
        "traceback",
        "one line",
        "files unchanged",
        "message",
        "other checks",
        "peak RSS MB",
        "clean",
        "first line of stderr",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        case, outcome = row.case, row.outcome
        if outcome is None:
            values = [
                case.name,
                short_command(case),
                "-",
                str(case.code),
                "-",
                "-",
                "-",
                "-",
                "-",
                "-",
                f"skipped: {row.skipped}",
                "",
            ]
        else:
            stderr_line = row.message
            values = [
                case.name,
                short_command(case),
                "killed" if outcome.code is None else str(outcome.code),
                str(case.code),
                yes_no(row.traceback),
                yes_no(row.one_line),
                "yes" if not row.changed else "no: " + ", ".join(row.changed[:3]),
                yes_no(row.matched) + (f" ({case.fragment!r})" if case.fragment else ""),
                "; ".join(row.problems) or "ok",
                "-" if outcome.rss_mb is None else f"{outcome.rss_mb:.0f}",
                "yes" if row.clean else "NO",
                stderr_line,
            ]
        lines.append("| " + " | ".join(cell(value) for value in values) + " |")
    return "\n".join(lines)


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w") as stream:
            stream.write(text)
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


# --- The command -------------------------------------------------------------------------------------------------


@click.command()
@click.option(
    "--data-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=SUBSET_DIR,
    show_default=True,
    help="The data every case copies (four IDX files or mnist.npz).",
)
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the base run and the case folders go (kept). Default: a temporary folder.",
)
@click.option("--keep", is_flag=True, help="Keep the temporary work folder.")
@click.option("--only", multiple=True, help="Run the cases whose name contains this (repeatable).")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_OUTPUT,
    show_default=True,
    help="The markdown table.",
)
@click.option(
    "--full-mnist-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=FULL_MNIST_DIR if FULL_MNIST_DIR.is_dir() else None,
    help="The full canonical MNIST files, for the cases that need them. Default: ../shared/datasets/mnist.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Cases at once (exclusive cases always run alone). Two cores: keep 1.",
)
@click.option("--timeout", type=click.FloatRange(min=1), default=300, show_default=True, help="Seconds per command.")
@click.option(
    "--rss-limit-mb",
    type=click.FloatRange(min=100),
    default=8000,
    show_default=True,
    help="A command above this resident size is killed, to protect the machine.",
)
def main(data_dir, work_dir, keep, only, output, full_mnist_dir, jobs, timeout, rss_limit_mb):
    cases = [case for case in CASES if not only or any(part in case.name for part in only)]
    if not cases:
        raise click.UsageError(f"no case name contains {' or '.join(only)}")
    settings = Settings(timeout=timeout, rss_limit_mb=rss_limit_mb)
    full = full_mnist_dir if full_mnist_dir is not None and full_mnist_dir.is_dir() else None
    temporary = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="vae-hostile-")) if temporary else work_dir
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        click.echo(f"training the base run in {work}/base ...")
        train_base(work / "base", data_dir, settings)
        click.echo(f"base run: {time.perf_counter() - started:.0f} s; {len(cases)} cases")
        rows = run_all(cases, work / "base", data_dir, work, full, settings, jobs)
    finally:
        if temporary and not keep:
            shutil.rmtree(work, ignore_errors=True)
    seconds = time.perf_counter() - started
    counted = [row for row in rows if not row.skipped]
    clean = sum(row.clean for row in counted)
    text = table(rows)
    skipped = [f"{row.case.name} ({row.skipped})" for row in rows if row.skipped]
    notes = [f"skipped, not counted: {', '.join(skipped)}"] if skipped else []
    summary = f"clean {clean}/{len(counted)}"
    document = "\n\n".join(
        [
            "# Hostile inputs",
            (
                f"`python benchmarks/hostile_inputs.py`, {time.strftime('%Y-%m-%d %H:%M')}, {len(rows)} cases, "
                f"{seconds:.0f} s."
            ),
            text,
            *notes,
            summary,
        ]
    )
    write_atomically(output, document + "\n")
    click.echo(text)
    for note in notes:
        click.echo(note)
    click.echo(f"{seconds:.0f} s; table written to {output}")
    click.echo(summary)
    sys.exit(0 if clean == len(counted) else 1)


def run_all(cases, base, data_dir, work, full, settings, jobs) -> list[Row]:
    """Exclusive cases first, each alone; then the rest, `jobs` at a time. Rows come back in the list's order."""
    rows: dict[str, Row] = {}
    total = len(cases)

    def one(case: Case) -> None:
        case_started = time.perf_counter()
        row = run_case(case, base, data_dir, work, full, settings)
        rows[case.name] = row
        verdict = f"skipped ({row.skipped})" if row.skipped else ("clean" if row.clean else "NOT CLEAN")
        click.echo(f"[{len(rows):3d}/{total}] {case.name}: {verdict} ({time.perf_counter() - case_started:.1f} s)")

    for case in cases:
        if case.exclusive:
            one(case)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(one, [case for case in cases if not case.exclusive]))
    return [rows[case.name] for case in cases]


if __name__ == "__main__":
    main()
