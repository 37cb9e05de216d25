"""Where the wall time of a training goes: `vae-train --profile` logs the start of every phase and how long it took.

Phases, in order: start-up (the interpreter and the imports, from the process's own start time in /proc), data,
model (build or restore), then per epoch its training part, its test part and its end (checkpoint, snapshot and
TensorBoard logs), then the end of fit (from the last callback until `fit` returns), the final save, and the exit
(from the final save to the interpreter's `atexit`). What happens after `atexit`, the interpreter's own shutdown, is
outside the process's reach: compare the last phase's end with the wall time measured from outside.

The log is `profile.json` in the run directory, written when the process exits, and a table on stderr.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import time
from collections.abc import Iterator

import keras

from vae import files
from vae.errors import RunError
from vae.run.directory import RunDir

PROFILE_FILE = "profile.json"


def seconds_since_process_start() -> float:
    """How long this process has run, from the kernel's record of its start (Linux); 0 where there is none."""
    try:
        with open("/proc/self/stat") as stream:
            # Field 22, the start time in clock ticks after boot; the fields after the ")" of the name start at 3.
            start_ticks = int(stream.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as stream:
            uptime = float(stream.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return max(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 0.0)


class PhaseLog:
    """Phases as (name, start, seconds), with start in seconds since the process started."""

    def __init__(self) -> None:
        self.origin = time.perf_counter() - seconds_since_process_start()
        self.phases: list[dict] = []
        self.marks: dict[str, float] = {}
        self.add("start-up", self.origin, time.perf_counter())

    def now(self) -> float:
        return time.perf_counter()

    def add(self, name: str, start: float, end: float) -> None:
        self.phases.append({"phase": name, "start": round(start - self.origin, 3), "seconds": round(end - start, 3)})

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = self.now()
        try:
            yield
        finally:
            self.add(name, start, self.now())

    def mark(self, name: str) -> None:
        """Remember this moment as the start of the phase `name`, which `close` ends."""
        self.marks[name] = self.now()

    def close(self, name: str) -> None:
        if name in self.marks:
            self.add(name, self.marks.pop(name), self.now())

    def write_at_exit(self, run_dir: RunDir) -> None:
        """At the interpreter's exit: end the exit phase if one was marked, write profile.json, print the table."""

        def finish() -> None:
            self.close("exit")
            with contextlib.suppress(OSError, RunError):
                files.write_json(run_dir.path / PROFILE_FILE, self.phases)
            print(self.table(), file=sys.stderr)

        atexit.register(finish)

    def callbacks(self, callbacks: list) -> list:
        """`callbacks` between the two markers that time each epoch's parts."""
        return [EpochPhases(self, "first"), *callbacks, EpochPhases(self, "last")]

    def table(self) -> str:
        width = max(len(phase["phase"]) for phase in self.phases)
        lines = [f"{'phase':<{width}}  {'start s':>9}  {'seconds':>9}"]
        lines += [f"{p['phase']:<{width}}  {p['start']:>9.3f}  {p['seconds']:>9.3f}" for p in self.phases]
        return "\n".join(lines)


class EpochPhases(keras.callbacks.Callback):
    """Marks the parts of every epoch. Put `first` before every other callback and `last` after them, so that the
    epoch's end (checkpoint, snapshot, logs) is timed between the two."""

    def __init__(self, log: PhaseLog, position: str):
        super().__init__()
        self.log = log
        self.position = position

    def on_epoch_begin(self, epoch, logs=None):
        if self.position == "first":
            self.log.mark(f"epoch {epoch + 1} train")

    def on_test_begin(self, logs=None):
        if self.position == "first":
            for name in list(self.log.marks):
                if name.endswith(" train"):
                    self.log.close(name)
                    self.log.mark(name.replace(" train", " test"))

    def on_epoch_end(self, epoch, logs=None):
        if self.position == "first":
            self.log.close(f"epoch {epoch + 1} train")  # still open where --eval-every left the epoch unscored
            self.log.close(f"epoch {epoch + 1} test")
            self.log.mark(f"epoch {epoch + 1} end (checkpoint, snapshot, logs)")
        else:
            self.log.close(f"epoch {epoch + 1} end (checkpoint, snapshot, logs)")

    def on_train_end(self, logs=None):
        if self.position == "last":
            self.log.mark("end of fit")


class NoProfile:
    """A PhaseLog that logs nothing, for runs without --profile."""

    def mark(self, name: str) -> None:
        pass

    def close(self, name: str) -> None:
        pass

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        yield

    def callbacks(self, callbacks: list) -> list:
        return callbacks


NO_PROFILE = NoProfile()
