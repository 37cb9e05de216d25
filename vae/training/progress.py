"""A line of progress inside an epoch, for `verbose=2` (`vae-train --verbose 2`), whose line per epoch Keras prints
only when the epoch ends: an epoch of a large model or data set would otherwise sit silent for minutes.

At most every `EVERY_SECONDS`, and never in an epoch shorter than that, one line on stderr:

    epoch 3/30: 1,200/3,000 steps (40 %), loss 123.45, 41 s

The loss is the epoch's running mean that Keras reports after each step. Only the clock is read after a step; the
line costs nothing between its prints.
"""

from __future__ import annotations

import math
import sys
import time

import keras

# The least time between two lines of one epoch.
EVERY_SECONDS = 10.0


class StepProgress(keras.callbacks.Callback):
    """Every `every` seconds inside an epoch, "epoch E/EPOCHS: S/STEPS steps (P %), loss L, T s" on stderr."""

    def __init__(self, epochs: int, steps: int, every: float = EVERY_SECONDS, clock=time.monotonic):
        super().__init__()
        self.epochs = epochs
        self.steps = steps
        self.every = every
        self.clock = clock
        self.epoch = 0
        self.started = self.shown = clock()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.started = self.shown = self.clock()

    def on_train_batch_end(self, batch, logs=None):
        now = self.clock()
        if now - self.shown < self.every:
            return
        self.shown = now
        done = batch + 1
        line = f"epoch {self.epoch + 1}/{self.epochs}: {done:,}/{self.steps:,} steps ({100 * done / self.steps:.0f} %)"
        loss = _number((logs or {}).get("loss"))
        if loss is not None:
            line += f", loss {loss:.2f}"
        sys.stderr.write(f"{line}, {now - self.started:.0f} s\n")
        sys.stderr.flush()


def _number(value) -> float | None:
    """A log's value as a finite float, or None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
