"""Training: `train(config, dataset, run_dir)` fits the VAE, checkpoints every epoch, and saves the finished run."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import keras

from vae import storage
from vae.config import VAEConfig
from vae.data import Dataset, evaluation_dataset, steps_per_epoch, test_inputs, training_dataset

EVALUATION_BATCH_SIZE = 500


class TrainingDivergedError(ValueError):
    """The loss became NaN or infinite, which the settings (a learning rate too high) caused; the last good
    checkpoint stays on disk."""


@dataclass(frozen=True)
class TrainingResult:
    config: VAEConfig
    history: dict[str, list[float]]
    run_dir: Path
    seconds: float

    @property
    def test_metrics(self) -> dict[str, float]:
        """The last epoch's test negative ELBO and its parts, in nats per image."""
        return {key: self.history[f"test_{key}"][-1] for key in ("loss", "reconstruction_loss", "kl_loss")}


def prepare_run_dir(run_dir: Path, overwrite: bool, resume: bool) -> None:
    """Check, before any training, that the run directory can take this run.

    Refuses to start over a run the user has unless told to, refuses to resume what is not there, and proves the
    directory writable, so that no one learns after 30 epochs that the results cannot be saved.
    """
    if resume:
        if storage.read_checkpoint(run_dir) is None:
            raise storage.RunError(f"no checkpoint in {run_dir}/ to resume: start a run with vae-train")
    elif not overwrite:
        checkpoint = storage.read_checkpoint_safe(run_dir)
        if storage.has_finished_run(run_dir):
            raise storage.RunError(f"{run_dir}/ already holds a trained run: pass --overwrite to replace it")
        if checkpoint is not None:
            raise storage.RunError(
                f"{run_dir}/ holds an unfinished run ({checkpoint.epochs_done}/{checkpoint.config.epochs} epochs): "
                "continue it with --resume, or pass --overwrite to start again"
            )
    storage.check_writable(run_dir)


def resumed_config(saved: VAEConfig, requested: dict) -> VAEConfig:
    """The saved config, with only `epochs` open to change; any other requested value that differs is refused."""
    for name, value in requested.items():
        if name != "epochs" and getattr(saved, name) != value:
            option = "--" + name.replace("_", "-")
            raise ValueError(
                f"{option} {value} contradicts the run being resumed ({name} = {getattr(saved, name)}); "
                f"drop {option}, or start a new run with --overwrite"
            )
    return saved.replace(epochs=requested.get("epochs", saved.epochs))


def configure_determinism(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow from one seed and ask TensorFlow for deterministic kernels."""
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def learning_rate_schedule(config: VAEConfig, steps_per_epoch: int):
    """The learning rate as a function of the step.

    "cosine": a linear warm-up over the first epoch to `learning_rate`, then a cosine decay (Loshchilov & Hutter
    2017) to 1 % of it at the last step. The warm-up lets a higher peak rate be used safely while Adam's moment
    estimates are still poor; the decay settles the weights at the end. "constant" is the keras.io example's.
    """
    if config.schedule == "constant":
        return config.learning_rate
    total_steps = config.epochs * steps_per_epoch
    warmup_steps = min(steps_per_epoch, total_steps // 2)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        warmup_target=config.learning_rate,
        warmup_steps=warmup_steps,
        decay_steps=max(total_steps - warmup_steps, 1),
        alpha=0.01,
    )


def build_model(config: VAEConfig, steps_per_epoch: int):
    from vae.model import VAE

    model = VAE(config)
    model.build()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate_schedule(config, steps_per_epoch)))
    return model


def train(
    config: VAEConfig,
    dataset: Dataset,
    run_dir: str | Path = "outputs",
    *,
    resume: bool = False,
    overwrite: bool = False,
    verbose: int | str = "auto",
) -> TrainingResult:
    """Fit a VAE described by `config` on `dataset`, scoring the test split after every epoch.

    With `resume`, training continues from the checkpoint in `run_dir` up to `config.epochs`, with the saved
    weights, optimizer state, random-generator state and history. Files land in `run_dir` (see `vae.storage`).
    """
    run_dir = Path(run_dir)
    prepare_run_dir(run_dir, overwrite=overwrite, resume=resume)
    run_dir.mkdir(parents=True, exist_ok=True)
    configure_determinism(config.seed)

    dataset = dataset.limited(config.limit)
    steps = steps_per_epoch(len(dataset.train_images), config.batch_size)
    if resume:
        checkpoint = storage.read_checkpoint(run_dir)
        model = keras.saving.load_model(checkpoint.model_path, safe_mode=True)
        if checkpoint.config.epochs != config.epochs:
            # A longer run stretches the schedule to its new end; the step count carries on from the checkpoint.
            model.optimizer.learning_rate = learning_rate_schedule(config, steps)
        model.vae_config = config
        initial_epoch, history = checkpoint.epochs_done, checkpoint.history
    else:
        model = build_model(config, steps)
        initial_epoch, history = 0, {}
    if initial_epoch >= config.epochs:
        raise storage.RunError(
            f"the run in {run_dir}/ has already trained {initial_epoch} epochs: pass a larger --epochs to continue"
        )

    train_data = training_dataset(dataset.train_images, config.batch_size, config.seed, initial_epoch, config.epochs)
    test_data = evaluation_dataset(test_inputs(dataset, config.binarize), EVALUATION_BATCH_SIZE)

    started = time.perf_counter()
    elapsed_before = history["wall_seconds"][-1] if history.get("wall_seconds") else 0.0
    callbacks = [
        DivergenceGuard(),
        EpochCheckpoint(run_dir, config, history, started_at=started, elapsed_before=elapsed_before),
    ]
    try:
        model.fit(
            train_data,
            epochs=config.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps,
            validation_data=test_data,
            callbacks=callbacks,
            shuffle=False,  # the dataset shuffles itself, per epoch and seeded
            verbose=verbose,
        )
    except TrainingDivergedError as error:
        checkpoint = storage.read_checkpoint_safe(run_dir)
        kept = (
            f"the last good checkpoint (epoch {checkpoint.epochs_done}) stays in {run_dir}/{storage.CHECKPOINT_DIR}"
            if checkpoint
            else "no epoch had finished, so nothing was saved"
        )
        raise TrainingDivergedError(f"{error}; {kept}; try a lower --learning-rate") from None
    storage.save_run(run_dir, model, config, history)
    return TrainingResult(config, history, run_dir, seconds=time.perf_counter() - started)


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
    """After every epoch, appends the epoch's metrics to the history and commits a checkpoint to disk."""

    def __init__(self, run_dir: Path, config: VAEConfig, history: dict, started_at: float, elapsed_before: float):
        super().__init__()
        self.run_dir = run_dir
        self.config = config
        self.history = history
        self.started_at = started_at
        self.elapsed_before = elapsed_before

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        for key, value in logs.items():
            # Keras calls the validation split "val_"; here it is the test split.
            name = "test_" + key[len("val_") :] if key.startswith("val_") else key
            self.history.setdefault(name, []).append(float(value))
        elapsed = self.elapsed_before + time.perf_counter() - self.started_at
        self.history.setdefault("wall_seconds", []).append(round(elapsed, 3))
        storage.save_checkpoint(self.run_dir, self.model, self.config, epoch + 1, self.history)
