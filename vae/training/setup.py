"""What a training runs on: the seeded, deterministic start, the model with its optimizer and learning-rate schedule,
new or restored from a checkpoint, and the checks that the data and the precision suit the devices and the run.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from vae.config import VAEConfig
from vae.data.datasets import Dataset
from vae.errors import UsageError
from vae.model import INFERENCE_BATCH_SIZE
from vae.model.autoencoder import VAE
from vae.model.distribution import dtype_policy_name
from vae.run.loading import check_finite, load_model


def configure_determinism(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow from one seed and ask TensorFlow for deterministic kernels."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def learning_rate_schedule(config: VAEConfig, steps_per_epoch: int):
    """The learning rate as a function of the step.

    "cosine": a linear warm-up over the first `warmup_epochs`, and at least `min_warmup_steps` steps, to
    `learning_rate` (at most half the run), then a
    cosine decay (Loshchilov & Hutter 2017) to 1 % of it at the last step. The warm-up lets a higher peak rate be
    used safely while Adam's moment estimates are still poor; the decay settles the weights at the end. "constant"
    is the keras.io example's.
    """
    if config.schedule == "constant":
        return config.learning_rate
    total_steps = config.epochs * steps_per_epoch
    warmup_steps = min(warmup_steps_of(config, steps_per_epoch), total_steps // 2)
    if warmup_steps == 0:
        return keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=total_steps, alpha=0.01)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        warmup_target=config.learning_rate,
        warmup_steps=warmup_steps,
        decay_steps=max(total_steps - warmup_steps, 1),
        alpha=0.01,
    )


def warmup_steps_of(config: VAEConfig, steps_per_epoch: int) -> int:
    """The warm-up's steps before the half-run cap: `warmup_epochs` of them, and at least `min_warmup_steps` unless
    the warm-up is switched off (`warmup_epochs` 0)."""
    steps = round(config.warmup_epochs * steps_per_epoch)
    return max(steps, config.min_warmup_steps) if config.warmup_epochs > 0 else 0


def build_model(config: VAEConfig, steps_per_epoch: int, dtype_policy: str = "float32"):
    """A new compiled VAE under `dtype_policy`; under "mixed_float16" Keras' compile wraps Adam in a
    LossScaleOptimizer, which keeps small float16 gradients from flushing to zero. Under a distribution strategy,
    call it inside `strategy.scope()` so that the weights, optimizer state and metrics are created on every replica.
    """
    model = VAE(config, dtype=dtype_policy)
    model.build()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate_schedule(config, steps_per_epoch)))
    return model


def restore_model(checkpoint, config: VAEConfig, steps: int, precision: str | None):
    """The checkpoint's model, ready to continue to `config.epochs`: its weights, optimizer and random state, and
    the learning-rate schedule stretched to the new end when the run grows (the step count carries on)."""
    model = load_model(checkpoint.model_path)
    check_finite(model, checkpoint.model_path)
    check_resumed_precision(model.dtype_policy.name, precision)
    model.continue_as(config, learning_rate_schedule(config, steps))
    return model


def check_last_batches(dataset: Dataset, batch_size: int, replicas: int) -> None:
    """Refuse a split whose last batch has fewer digits than there are replicas.

    The last batch of an epoch may be smaller than the others; split among the replicas, it would leave some of them
    an empty batch, which TensorFlow's CPU convolutions reject with an error about filter depths.
    """
    for split, count, size in (
        ("training", len(dataset.train_images), batch_size),
        ("test", len(dataset.test_images), INFERENCE_BATCH_SIZE),
    ):
        remainder = count % size
        if 0 < remainder < replicas:
            if split == "training":
                hint = f"choose a --limit or --batch-size that leaves none or at least {replicas}"
            else:
                hint = "use fewer replicas"
            raise UsageError(
                f"the last {split} batch would hold {remainder} of {count} digits, too few for {replicas} replicas: "
                + hint
            )


def check_resumed_precision(saved_policy: str, precision: str | None) -> None:
    """Refuse a `--mixed-precision` that asks a resumed run for another dtype policy than the one it was started
    with: the model's layers and its optimizer (loss-scaled or not) were built for that one."""
    if precision is not None and dtype_policy_name(precision) != saved_policy:
        raise UsageError(
            f"--mixed-precision {precision} contradicts the run being resumed (dtype policy {saved_policy}); "
            "drop --mixed-precision, or start a new run with --overwrite"
        )
