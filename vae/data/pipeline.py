"""The tf.data pipelines that feed a model: training batches in a seeded order per epoch, and evaluation batches."""

from __future__ import annotations

import numpy as np

from vae.data.datasets import with_channels

# The input pipelines' fixed settings (see `fixed_pipeline_options`): batches prepared in parallel, and ready ahead.
PIPELINE_PARALLELISM = 2
PREFETCH_BATCHES = 2


def training_dataset(
    images: np.ndarray, batch_size: int, seed: int, initial_epoch: int, epochs: int, labels: np.ndarray | None = None
):
    """Batches of float32 digits for epochs `initial_epoch` .. `epochs - 1`, each epoch in its own seeded order;
    with `labels` (a conditional model's), batches of {"images": digits, "labels": int32 labels}.

    The order of epoch e is a stateless shuffle seeded by (seed, e), so a run resumed at epoch e sees exactly the
    batches an uninterrupted run would have seen. The digits live in memory as one uint8 tensor; each step gathers
    a batch and converts it in the graph, with no per-step Python work. The last batch of an epoch may be smaller.
    """
    import tensorflow as tf

    count = len(images)
    all_images = tf.constant(with_channels(images))
    all_labels = None if labels is None else tf.constant(labels.astype(np.int32))

    def epoch_batches(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(count), seed=tf.stack([tf.constant(seed, tf.int64), epoch])
        )
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    def gather(indices):
        batch = tf.cast(tf.gather(all_images, indices), tf.float32) / 255.0
        return batch if all_labels is None else {"images": batch, "labels": tf.gather(all_labels, indices)}

    return (
        tf.data.Dataset.range(initial_epoch, epochs)
        .flat_map(epoch_batches)
        .map(gather, num_parallel_calls=PIPELINE_PARALLELISM, deterministic=True)
        .prefetch(PREFETCH_BATCHES)
        .with_options(fixed_pipeline_options())
    )


def steps_per_epoch(count: int, batch_size: int) -> int:
    return -(-count // batch_size)


def evaluation_dataset(images: np.ndarray, batch_size: int, labels: np.ndarray | None = None):
    """The test digits (already float32, N x 28 x 28 x 1) in order, batched; with `labels`, as {"images", "labels"}."""
    import tensorflow as tf

    elements = images if labels is None else {"images": images, "labels": labels.astype(np.int32)}
    return (
        tf.data.Dataset.from_tensor_slices(elements)
        .batch(batch_size)
        .prefetch(PREFETCH_BATCHES)
        .with_options(fixed_pipeline_options())
    )


def fixed_pipeline_options():
    """tf.data options with autotuning off.

    Autotuning runs an optimization thread per iterator that sleeps in periods doubling up to a minute, and an
    iterator's destructor waits for that thread to wake up: `vae-train` sat 30-39 s between its last epoch and its
    final save in 4 of 10 profiled runs, in `RootDataset::Iterator::~Iterator`, when Keras dropped the training
    iterator at the end of fit. These pipelines are a gather and a cast; fixed settings serve them as well.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return options
