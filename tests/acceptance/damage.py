"""What the hostile cases do to a run, a data folder or the images they hand to a command, and what they check
afterwards.

- Prepare functions, `prepare(run, data)`, damage the case's copies of the base run and the data folder (the case
  folder is `run.parent`): they edit config.json, tamper with checkpoint/state.json, truncate or overwrite the
  weights, break IDX files and npz archives, build a gzip bomb, or write images of the user's own.
- Checks, `check(place, outcome)`, return the problems they find after the command ran (empty when all is well):
  a file that must or must not exist, a user's file that must hold what it held, the lines stderr must show,
  scores that must agree across images.
- Scenarios replace the one command of a case where it takes more than one: a full disk (a tmpfs), two trainings
  in one folder, SIGTERM during a training, an evaluation made stale by a resume. Each returns the outcome to judge
  and the problems it found on the way.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vae.data.idx import IDX_FILES, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC
from vae.run.directory import (
    CHECKPOINT_DIR,
    CHECKPOINT_STATE_FILE,
    CONFIG_FILE,
    HISTORY_FILE,
    MODEL_FILE,
    RUN_FILES,
    SNAPSHOTS_DIR,
    WEIGHTS_FILE,
)

from .harness import (
    SUBSET_DIR,
    Check,
    Child,
    Outcome,
    Place,
    Settings,
    Skipped,
    command_for,
    first_line,
    run_command,
    wait_all,
)

TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS = (f"{IDX_FILES[key]}.gz" for key in IDX_FILES)


# Checks. ----------------------------------------------------------------------------------------------------------


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


def stderr_is(*starts: str, allowing: tuple[str, ...] = ()) -> Check:
    """stderr holds exactly these lines, each starting as given: the warnings a command that worked must show.

    Lines starting with one of `allowing` may appear or not: the collapse warning of a run trained for a few steps
    says something true of that run, and is not what the case checks.
    """

    def check(place: Place, outcome: Outcome) -> list[str]:
        lines = [
            line
            for line in outcome.stderr.splitlines()
            if line.strip() and not any(line.startswith(start) for start in allowing)
        ]
        expected = [place.fill(start) for start in starts]
        if len(lines) != len(expected) or not all(
            line.startswith(start) for line, start in zip(lines, expected, strict=True)
        ):
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
        elif kind == "digit":
            from PIL import ImageDraw

            image = Image.new("L", (28, 28), 0)
            ImageDraw.Draw(image).line([(14, 5), (14, 23)], fill=255, width=3)
            image.save(path)
        else:
            raise ValueError(kind)

    return prepare


def png_claiming(width: int, height: int) -> bytes:
    """A PNG signature and header that claim width x height gray pixels, followed by one tiny compressed row."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + pixels + chunk(b"IEND", b"")


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
    identical files), "bad-name" (a name that is not UTF-8), "bad-exif" (a JPEG with a damaged EXIF block),
    "alpha-ground" and "keyed-ground" (one picture whose transparency is an alpha channel, and a tRNS colour key)."""

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
            elif kind in ("alpha-ground", "keyed-ground"):
                # One picture, its transparency an alpha channel or a tRNS colour key: dark strokes on paper, white
                # on the left and transparent (stored as black) on the right. Read as black, the transparent half
                # would be ink, whatever the preprocessing makes of the shades.
                strokes = np.asarray(drawing) < 128
                transparent = ~strokes & (np.arange(120) >= 60)[None, :]
                pixels = np.where(strokes, np.uint8(40), np.uint8(255))
                pixels = np.repeat(np.where(transparent, np.uint8(0), pixels)[..., None], 3, axis=-1)
                if kind == "alpha-ground":
                    alpha = np.where(transparent, np.uint8(0), np.uint8(255))[..., None]
                    Image.fromarray(np.concatenate([pixels, alpha], axis=-1), "RGBA").save(folder / "alpha.png")
                else:
                    Image.fromarray(pixels, "RGB").save(folder / "keyed.png", transparency=(0, 0, 0))
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


def image_folder(kind: str) -> Callable[[Path, Path], None]:
    """Replace the data copy by a folder of images (16x16 gray, a few per class) with what `kind` names wrong with
    it; "classes" and "one-class" are good folders, for the options and the scenarios."""

    def prepare(run: Path, data: Path) -> None:
        from PIL import Image

        clear(data)

        def images(folder: Path, count: int, seed: int = 0) -> None:
            folder.mkdir(parents=True, exist_ok=True)
            rng = np.random.default_rng(seed)
            for index in range(count):
                Image.fromarray((rng.random((16, 16)) * 255).astype(np.uint8)).save(folder / f"{index:02d}.png")

        if kind in (
            "classes", "damaged", "not-an-image", "truncated-jpeg", "bomb", "tiny", "loop", "outside", "damaged-first"
        ):  # fmt: skip
            for index, name in enumerate(("gear", "bolt", "wheel")):
                images(data / name, 6, index)
        if kind == "one-class":
            images(data / "only", 8)
        elif kind == "empty-class":
            images(data / "full", 4)
            (data / "empty").mkdir()
        elif kind == "unknown-test-class":
            images(data / "train" / "a", 4)
            images(data / "test" / "b", 2)
        elif kind == "single":
            images(data, 1)
        elif kind == "too-many-classes":
            for index in range(1001):
                images(data / f"class-{index:04d}", 1, index)
        elif kind in ("not-an-image", "damaged"):
            (data / "gear" / "notes.png").write_text("not a picture\n")
        elif kind == "truncated-jpeg":
            Image.new("L", (40, 40), 128).save(data / "gear" / "cut.jpg")
            (data / "gear" / "cut.jpg").write_bytes((data / "gear" / "cut.jpg").read_bytes()[:200])
        elif kind == "bomb":
            (data / "gear" / "bomb.png").write_bytes(png_claiming(50_000, 50_000))
        elif kind == "tiny":
            Image.new("L", (4, 4), 0).save(data / "gear" / "tiny.png")
        elif kind == "loop":
            os.symlink(data / "gear" / "loop.png", data / "gear" / "loop.png")
        elif kind == "outside":
            os.symlink(run / WEIGHTS_FILE, data / "gear" / "outside.png")
        elif kind == "names":
            images(data / "pièces détachées", 5)
            images(data / "vis à bois", 5, 1)
        elif kind == "test-damaged":  # train/ whole, every image of test/ damaged
            for index, name in enumerate(("a", "b")):
                images(data / "train" / name, 4, index)
                (data / "test" / name).mkdir(parents=True)
                (data / "test" / name / "broken.png").write_text("not a picture\n")
        elif kind == "untested-class":  # test/ lacks the class b of train/
            images(data / "train" / "a", 4)
            images(data / "train" / "b", 4, 1)
            images(data / "test" / "a", 2, 2)
        elif kind == "train-alone":  # train/<class>/ and no test/
            images(data / "train" / "a", 5)
            images(data / "train" / "b", 5, 1)
        elif kind == "damaged-first":  # the first image in sorted order damaged, and another one
            (data / "bolt" / "0-first.png").write_text("not a picture\n")
            (data / "wheel" / "notes.png").write_text("not a picture\n")
        elif kind == "case-classes":  # two classes whose names differ only in case
            images(data / "Cat", 4)
            images(data / "cat", 4, 1)
        elif kind not in ("classes", "empty"):
            raise ValueError(kind)

    return prepare


# Scenarios that need more than one command. ---------------------------------------------------------------------


def full_disk(place: Place, settings: Settings) -> tuple[Outcome, list[str]]:
    """A full disk during the final save: train into a 3 MB tmpfs. The first checkpoint (1.7 MB) fits; the final
    save (weights and model, another 3.3 MB) cannot. The command must say so and leave the checkpoint, so that
    --resume can finish later. Mounting the tmpfs needs root; elsewhere the case is skipped."""
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
    """Unmount the tmpfs; lazily when it is still busy."""
    if subprocess.run(["umount", str(mount_point)], capture_output=True, timeout=30, check=False).returncode:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, timeout=30, check=False)


def concurrent_training(place: Place, settings: Settings) -> tuple[Outcome, list[str]]:
    """Two trainings into one new run folder, the second started 1.5 s after the first. The second must be refused;
    the first must finish. The second's outcome is the one judged."""
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
    """SIGTERM a long training once its first checkpoint is committed. It must exit 143 saying how to continue,
    and leave a readable checkpoint."""
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


def folder_then(command: list[str], change: Callable[[Path], None] | None = None, training_options=()):
    """A scenario: train a conditional run of one epoch on the folder in the data copy into {new} (with
    `training_options` too), let `change` alter the folder, then run `command` (module first, then its arguments)
    on the run; its outcome is judged."""

    def scenario(place: Place, settings: Settings) -> tuple[Outcome, list[str]]:
        training = ["--data-dir", str(place.data), "--run-dir", str(place.new), "--epochs", "1", "--batch-size", "8"]
        training += list(training_options)
        trained = run_command(place, settings, "train", [*training, "--conditional", "--verbose", "0"], "train")
        problems = [] if trained.code == 0 else [f"the folder run could not be trained ({trained.code})"]
        if change is not None:
            change(place.data)
        module, *arguments = command
        return run_command(place, settings, module, [place.fill(argument) for argument in arguments]), problems

    return scenario


def add_image(data: Path) -> None:
    from PIL import Image

    Image.new("L", (16, 16), 200).save(data / "gear" / "added.png")


def remove_damaged(data: Path) -> None:
    """Remove the damaged file of image_folder("damaged"), which --skip-damaged left out."""
    (data / "gear" / "notes.png").unlink()


def in_turn(*prepares: Callable[[Path, Path], None]) -> Callable[[Path, Path], None]:
    """One prepare function that runs `prepares` one after the other."""

    def prepare(run: Path, data: Path) -> None:
        for step in prepares:
            step(run, data)

    return prepare


def folder_run_under_vae_data_dir(place: Place, settings: Settings) -> tuple[Outcome, list[str]]:
    """Train a run of the folder in the data copy into {new}, then, with VAE_DATA_DIR naming MNIST IDX files as for
    offline use, run vae-eval, vae-eval --outliers and vae-reconstruct on it: each must read the run's own folder.
    Then vae-train --resume, whose outcome is judged."""
    training = ["--data-dir", str(place.data), "--run-dir", str(place.new), "--batch-size", "8", "--verbose", "0"]
    trained = run_command(place, settings, "train", [*training, "--epochs", "1"], "train")
    problems = [] if trained.code == 0 else [f"the folder run could not be trained ({trained.code})"]
    under = ["env", f"VAE_DATA_DIR={SUBSET_DIR}"]  # the harness clears VAE_DATA_DIR; this sets it for one command
    run = ["--run-dir", str(place.new)]
    commands = {
        "evaluate": ("evaluate", [*run, "--k", "2"]),
        "outliers": ("evaluate", [*run, "--k", "2", "--outliers", str(place.data / "gear")]),
        "reconstruct": ("reconstruct", [*run, "--n", "3", "--output", str(place.case / "reconstruction.png")]),
    }
    for stem, (module, arguments) in commands.items():
        outcome = Child([*under, *command_for(module, arguments)], place.case, stem, settings).wait()
        if outcome.code != 0:
            problems.append(f"vae-{module} ({stem}) exited {outcome.code}: {first_line(outcome.stderr, 120)}")
    resume = [*under, *command_for("train", [*run, "--resume", "--epochs", "2", "--verbose", "0"])]
    return Child(resume, place.case, "resume", settings).wait(), problems


def killed_export(place: Place, settings: Settings) -> tuple[Outcome, list[str]]:
    """`kill -9` a `vae-export` once its temporary folder appears: the output folder must then be absent, never half
    written; a second export must then write it whole. The second export's outcome is judged."""
    output = place.case / "exported"
    arguments = ["--run-dir", str(place.run), "--output", str(output), "--format", "onnx"]
    child = Child(command_for("export", arguments), place.case, "killed", settings)
    while not any(place.case.glob(".tmp-*-exported")) and not child.poll():
        time.sleep(0.05)
    caught = child.outcome is None
    child.kill("killed by the scenario during the export")
    child.wait()
    problems = [] if caught else ["the export ended before it could be killed"]
    if output.exists():
        problems.append("the output folder exists after the kill")
    again = run_command(place, settings, "export", arguments, "again")
    if sorted(path.name for path in output.iterdir()) != ["README.md", "decode.onnx", "encode.onnx", "model.json",
                                                           "score.onnx"]:  # fmt: skip
        problems.append("the second export is not complete")
    if any(place.case.glob(".tmp-*")):
        problems.append("a temporary folder was left behind")
    return again, problems


def users_folder(run: Path, data: Path) -> None:
    """{case}/full: a folder of the user's with a file in it."""
    (run.parent / "full").mkdir()
    (run.parent / "full" / "mine.txt").write_text("mine\n")


# The pretrained runs of the installed package. ------------------------------------------------------------------
#
# A shipped run cannot be copied into a case folder and still be shipped: it is shipped by where it is. These
# scenarios run the command on the package's own folder of pretrained runs, read whole before and put back as it was
# after (anything changed, added or removed there is a problem of the case), or on a damaged copy of the whole package
# put first on the import path, so that the package itself is never damaged.


def package_contents(root: Path) -> tuple[dict[str, bytes], set[str]]:
    """Every file below `root` with its bytes, and every folder, by path relative to `root`."""
    contents = {str(path.relative_to(root)): path.read_bytes() for path in root.rglob("*") if path.is_file()}
    folders = {str(path.relative_to(root)) for path in root.rglob("*") if path.is_dir() and not path.is_symlink()}
    links = {str(path.relative_to(root)): b"" for path in root.rglob("*") if path.is_symlink()}
    return {**links, **contents}, folders


def put_back(root: Path, before: tuple[dict[str, bytes], set[str]]) -> list[str]:
    """Make `root` hold what `package_contents` read of it before; say what had been changed, added or removed."""
    contents, folders = before
    now, now_folders = package_contents(root)
    problems = []
    for name in sorted(set(now) - set(contents)):
        problems.append(f"the command added vae/pretrained/{name} to the package")
        (root / name).unlink()
    for name in sorted(now_folders - folders, key=len, reverse=True):
        problems.append(f"the command added vae/pretrained/{name}/ to the package")
        shutil.rmtree(root / name, ignore_errors=True)
    for name, content in contents.items():
        if now.get(name) != content:
            problems.append(f"the command changed or removed vae/pretrained/{name} in the package")
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(content)
    if package_contents(root) != before:
        problems.append("vae/pretrained/ could not be put back as it was: reinstall the package")
    return problems


def on_the_package(command: list[str], afterwards: Callable[[Place, Settings], list[str]] | None = None):
    """A scenario: run `command` (module first, then its arguments) on the installed package's pretrained runs, named
    by the path of their folder, {package}, or by {case}/link, a symbolic link to {package}/mnist; then `afterwards`.
    The package's folder of pretrained runs must be as it was, and is put back so if it is not."""

    def scenario(place: Place, settings: Settings) -> tuple[Outcome, list[str]]:
        from vae.run.pretrained import pretrained_root

        root = pretrained_root().resolve()
        (place.case / "link").symlink_to(root / "mnist", target_is_directory=True)
        before = package_contents(root)
        module, *arguments = command
        filled = [place.fill(argument.replace("{package}", str(root))) for argument in arguments]
        problems = []
        try:
            outcome = run_command(place, settings, module, filled)
            if afterwards is not None:
                problems += afterwards(place, settings)
        finally:
            problems += put_back(root, before)
        return outcome, problems

    return scenario


def shipped_run_scores_as_recorded(place: Place, settings: Settings) -> list[str]:
    """vae-eval of pretrained:mnist on the test subset as MANIFEST.json records it: the shipped weights must still
    give the numbers they shipped with."""
    from vae.run.pretrained import PRETRAINED_MANIFEST, pretrained_root

    record = read_json(pretrained_root() / PRETRAINED_MANIFEST)["mnist"]["subset_evaluation"]
    arguments = ["--run-dir", "pretrained:mnist", "--data-dir", str(place.data), "--k", str(record["k"])]
    arguments += ["--limit", str(record["limit"]), "--seed", str(record["seed"])]
    outcome = run_command(place, settings, "evaluate", arguments, "afterwards")
    written = place.case / "outputs" / "pretrained-mnist" / "eval.json"
    if outcome.code != 0 or not written.is_file():
        return [f"vae-eval of pretrained:mnist afterwards exited {outcome.code}: {first_line(outcome.stderr, 200)}"]
    measured, shipped = read_json(written)["metrics"]["negative_elbo"], record["metrics"]["negative_elbo"]
    if abs(measured - shipped) > 1e-5 * shipped:
        return [f"pretrained:mnist afterwards scores a negative ELBO of {measured:.2f}, not its {shipped:.2f}"]
    return []


def on_a_damaged_package(command: list[str], damage: Callable[[Path], None]):
    """A scenario: copy the package `vae` to {case}/installed/vae, let `damage` alter its folder of pretrained runs,
    and run `command` (module first, then its arguments) with that copy first on the import path: a package installed
    with a damaged shipped run."""

    def scenario(place: Place, settings: Settings) -> tuple[Outcome, list[str]]:
        import vae

        copy = place.case / "installed" / "vae"
        shutil.copytree(Path(vae.__file__).resolve().parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
        damage(copy / "pretrained")
        module, *arguments = command
        start = "import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); runpy.run_module(sys.argv.pop(1), "
        start += "run_name='__main__', alter_sys=True)"
        filled = [place.fill(argument) for argument in arguments]
        child = [sys.executable, "-c", start, str(copy.parent), f"vae_scripts.{module}", *filled]
        return Child(child, place.case, "command", settings).wait(), []

    return scenario


def flip_a_byte(relative: str) -> Callable[[Path], None]:
    """Damage: one byte in the middle of a file of the pretrained runs inverted, its size kept."""

    def damage(root: Path) -> None:
        path = root / relative
        content = bytearray(path.read_bytes())
        content[len(content) // 2] ^= 0xFF
        path.write_bytes(bytes(content))

    return damage


def trained_then(options: list[str], command: list[str]):
    """A scenario: train a run of one epoch on 256 digits of the data copy into {new} with the training `options`
    (--conditional, --binarize), then run `command` (module first, then its arguments) on it; its outcome is judged."""

    def scenario(place: Place, settings: Settings) -> tuple[Outcome, list[str]]:
        training = ["--data-dir", str(place.data), "--run-dir", str(place.new), *options, "--epochs", "1",
                    "--limit", "256", "--batch-size", "64", "--verbose", "0"]  # fmt: skip
        trained = run_command(place, settings, "train", training, "train")
        problems = [] if trained.code == 0 else [f"the run could not be trained ({trained.code})"]
        module, *arguments = command
        return run_command(place, settings, module, arguments), problems

    return scenario


def contract_binarizes(template: str) -> Check:
    """The model.json at `template`, of a --binarize run, states the binarization vae-encode applies: in its words
    and as its last preparation step, with the seed that vae-encode uses."""

    def check(place: Place, outcome: Outcome) -> list[str]:
        from vae.data.datasets import TEST_BINARIZATION_SEED

        path = Path(place.fill(template))
        if not path.is_file():
            return [f"{path.relative_to(place.case)} is missing afterwards"]
        contract = read_json(path)["input"]
        steps = contract.get("preparation_steps") or [{}]
        problems = [] if "binarized" in contract["preparation"] else ["preparation does not mention binarization"]
        if steps[-1].get("step") != "binarize" or steps[-1].get("seed") != TEST_BINARIZATION_SEED:
            problems.append(f"the last preparation step is {steps[-1]!r}, not vae-encode's binarization")
        return problems

    return check


def symlinked_output(kind: str) -> Callable[[Path, Path], None]:
    """A symbolic link for an output to go through: {case}/link to the folder {case}/real, empty ("folder") or
    holding an earlier export of the user's ("export", a model.json and a README.md); or {case}/link.png to the
    user's file {case}/real.png ("file")."""

    def prepare(run: Path, data: Path) -> None:
        case = run.parent
        if kind == "file":
            (case / "real.png").write_text("mine\n")
            (case / "link.png").symlink_to(case / "real.png")
            return
        (case / "real").mkdir()
        if kind == "export":
            (case / "real" / "model.json").write_text("{}\n")
            (case / "real" / "README.md").write_text("mine\n")
        elif kind != "folder":
            raise ValueError(kind)
        (case / "link").symlink_to(case / "real")

    return prepare


def link_kept(link: str, target: str) -> Check:
    """The symbolic link at `link` is still one, and still leads to `target`."""

    def check(place: Place, outcome: Outcome) -> list[str]:
        path = Path(place.fill(link))
        if not path.is_symlink():
            return [f"{path.relative_to(place.case)} is no longer a symbolic link"]
        if os.path.realpath(path) != os.path.realpath(place.fill(target)):
            return [f"{path.relative_to(place.case)} leads elsewhere: {os.readlink(path)}"]
        return []

    return check


def no_temporaries() -> Check:
    """No temporary file or folder (.tmp-*) is left anywhere in the case folder."""

    def check(place: Place, outcome: Outcome) -> list[str]:
        left = sorted(str(path.relative_to(place.case)) for path in place.case.rglob(".tmp-*"))
        return [f"left behind: {', '.join(left)}"] if left else []

    return check
