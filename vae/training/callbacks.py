"""The Keras callbacks of a training, run after every step or epoch: the divergence guard, the checkpoint (with the
test split's active latent units), the snapshots for the training animation, and the TensorBoard logs.
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from vae.config import VAEConfig
from vae.errors import TrainingDivergedError
from vae.evaluation.collapse import count_active_units
from vae.model.latent import model_labels, pictures, reconstruct
from vae.run.checkpoints import save_checkpoint
from vae.run.directory import RunDir
from vae.run.snapshots import save_snapshot, snapshot_path, take_snapshot

# How many fixed test digits TensorBoard shows above their reconstructions after every epoch.
TENSORBOARD_DIGITS = 8
# The history's series of the active latent units of the test split (Burda et al. 2015, section 5), after every
# scored epoch: a count that falls to 0 is posterior collapse, which the losses alone do not show plainly.
ACTIVE_UNITS_KEY = "test_active_units"


class DivergenceGuard(keras.callbacks.Callback):
    """Stops training at the first step whose running loss is NaN or infinite, naming the epoch and step."""

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            raise TrainingDivergedError(
                f"training diverged: the loss became {loss} at epoch {self.epoch + 1}, step {batch + 1}"
            )


class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch, appends the epoch's metrics to the history and commits a checkpoint to disk.

    With `test_data`, the test images and their labels, an epoch whose test split was scored also records the number
    of active latent units over those images (`ACTIVE_UNITS_KEY`; null in the epochs that were not scored)."""

    def __init__(
        self,
        run_dir: RunDir,
        config: VAEConfig,
        history: dict,
        started_at: float,
        elapsed_before: float,
        replaced: list[Path] = (),
        manifest: dict | None = None,
        test_data: tuple[np.ndarray, np.ndarray | None] | None = None,
    ):
        super().__init__()
        self.run_dir = run_dir
        self.config = config
        self.history = history
        self.started_at = started_at
        self.elapsed_before = elapsed_before
        # Files and directories of an overwritten run, deleted once the first checkpoint has replaced its own.
        self.replaced = list(replaced)
        self.manifest = manifest
        self.test_data = test_data

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        epochs_before = len(self.history.get("loss", []))
        for key, value in logs.items():
            # Keras calls the validation split "val_"; here it is the test split.
            name = "test_" + key[len("val_") :] if key.startswith("val_") else key
            self.history.setdefault(name, []).append(float(value))
            # An epoch whose test split was not scored (--eval-every) holds null in the test series.
            if not key.startswith("val_") and "val_" + key not in logs:
                self.history.setdefault("test_" + key, []).append(None)
        if self.test_data is not None:
            active = count_active_units(self.model, *self.test_data) if "val_loss" in logs else None
            # A run resumed from a checkpoint written before this series existed holds null for its earlier epochs,
            # so that every series keeps one value per epoch.
            self.history.setdefault(ACTIVE_UNITS_KEY, [None] * epochs_before).append(active)
        elapsed = self.elapsed_before + time.perf_counter() - self.started_at
        self.history.setdefault("wall_seconds", []).append(round(elapsed, 3))
        save_checkpoint(self.run_dir, self.model, self.config, epoch + 1, self.history, self.manifest)
        for path in self.replaced:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        self.replaced = []


class EpochSnapshots(keras.callbacks.Callback):
    """After every epoch's checkpoint, saves a snapshot (`vae.run.snapshots`) of the model for the training animation.

    A resumed run first takes the snapshot of the epoch it resumes from if a kill came between that epoch's
    checkpoint and its snapshot, so that every finished epoch has one.
    """

    def __init__(self, run_dir: RunDir, originals: tuple[np.ndarray, np.ndarray], initial_epoch: int, history: dict):
        super().__init__()
        self.run_dir = run_dir
        self.originals = originals
        self.initial_epoch = initial_epoch
        self.history = history

    def on_train_begin(self, logs=None):
        epoch = self.initial_epoch
        if epoch > 0 and not snapshot_path(self.run_dir, epoch).is_file():
            self.save(epoch, self.history["test_loss"][-1])

    def on_epoch_end(self, epoch, logs=None):
        self.save(epoch + 1, (logs or {})["val_loss"])

    def save(self, epoch: int, test_loss: float) -> None:
        save_snapshot(self.run_dir, take_snapshot(self.model, self.originals, epoch, float(test_loss)))


class TensorBoardLogs(keras.callbacks.Callback):
    """After every epoch, writes TensorBoard summaries to `log_dir`: the epoch's losses under train/ and test/ (one
    chart per loss, one curve per split), the learning rate, and an image of fixed test digits (top row) above their
    reconstructions from the latent mean (bottom row). The step is the number of epochs done.

    Keras' own TensorBoard callback opens its event files when training begins, so a run that fails in its first
    epoch would leave files behind in a directory that must then stay as it was. This one writes nothing until an
    epoch's checkpoint is on disk (and `EpochCheckpoint` has deleted the logs of a run this one replaces).
    """

    def __init__(self, log_dir: Path, shown: tuple[np.ndarray, np.ndarray]):
        super().__init__()
        self.log_dir = log_dir
        self.images, self.labels = shown
        self.writers = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.writers is None:
            self.writers = {
                split: tf.summary.create_file_writer(str(self.log_dir / split)) for split in ("train", "test")
            }
        step = epoch + 1
        with self.writers["train"].as_default(step=step):
            for key, value in logs.items():
                if not key.startswith("val_"):
                    tf.summary.scalar(key, value)
            tf.summary.scalar("learning_rate", keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        with self.writers["test"].as_default(step=step):
            for key, value in logs.items():
                if key.startswith("val_"):
                    tf.summary.scalar(key[len("val_") :], value)
            tf.summary.image(
                "reconstructions",
                self.reconstruction_strip()[None],
                description="top: fixed test digits; bottom: their reconstructions from the latent mean",
            )
        for writer in self.writers.values():
            writer.flush()

    def reconstruction_strip(self) -> np.ndarray:
        """The images side by side in one row, their reconstructions in a second row below: (2 x side, side x count,
        channels)."""
        reconstructions = reconstruct(self.model, self.images, model_labels(self.model, self.labels))
        rows = [np.concatenate(list(pictures(self.images)), axis=1), np.concatenate(list(reconstructions), axis=1)]
        strip = np.concatenate(rows)
        return strip[..., None] if strip.ndim == 2 else strip

    def on_train_end(self, logs=None):
        for writer in (self.writers or {}).values():
            writer.close()
