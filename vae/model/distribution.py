"""Training on several devices or machines with tf.distribute, and in mixed precision.

TensorFlow's own engine does the work: a `tf.distribute` strategy places a copy of the model on every device
(replica), splits each global batch among them and sums the gradients. This module only chooses the strategy, says
which process may write the run directory, and keeps the per-image random numbers independent of how many replicas
share a batch.
"""

from __future__ import annotations

import os
import warnings

from vae.errors import PrecisionWarning, UsageError
from vae.model import PRECISIONS, STRATEGIES


def make_strategy(name: str):
    """The `tf.distribute` strategy called `name`.

    "default": the one device TensorFlow picks. "mirrored": `MirroredStrategy` over every local GPU, or, on a machine
    without one, over every logical CPU device (one, unless the program split the CPU with
    `tf.config.set_logical_device_configuration`). "multi-worker": `MultiWorkerMirroredStrategy`, with the cluster and
    this process's place in it read from the TF_CONFIG environment variable; it must be made before TensorFlow runs
    any operation, so `train` makes it first.
    """
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "multi-worker":
        # Without TF_CONFIG, TensorFlow quietly trains as a cluster of one, which is never what was meant.
        if not os.environ.get("TF_CONFIG"):
            raise UsageError(
                "--strategy multi-worker needs the TF_CONFIG environment variable to describe the cluster, e.g. "
                '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise UsageError(f"strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")


def is_chief(strategy) -> bool:
    """Whether this process writes the run directory: always, except in a multi-worker cluster, where only the task
    named "chief" does, or worker 0 when the cluster has no chief (TensorFlow's convention)."""
    resolver = strategy.cluster_resolver
    if resolver is None:
        return True
    cluster = resolver.cluster_spec().as_dict()
    if not cluster or resolver.task_type in (None, "chief"):
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in cluster


def spans_several_workers(strategy) -> bool:
    """Whether `strategy` keeps replicas in other processes: a MultiWorkerMirroredStrategy of more than one worker."""
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and (
        strategy.num_replicas_in_sync > len(strategy.extended.worker_devices)
    )


def shard_by_data(dataset):
    """`dataset` with tf.data's DATA auto-shard policy: every worker of a multi-worker run reads the whole pipeline
    and keeps its own slice of each global batch.

    Our pipelines gather digits from tensors in memory rather than read files, so the default policy would first try
    to split them by file, fail, and fall back to this with a warning. Other strategies ignore the option.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def several_replicas_context():
    """The replica context of a step that several replicas run in sync, or None (one device, or outside a step)."""
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    return context if context is not None and context.num_replicas_in_sync > 1 else None


def replica_rows(local_rows):
    """(first_row, global_rows): where this replica's examples sit in the global batch, and its size.

    With several replicas, their batch sizes are gathered (they differ when the last batch of an epoch does not split
    evenly) and this replica's rows follow those of the replicas before it. That is how tf.data splits a global
    batch, contiguous slices in replica order (seen with two local replicas and with two workers); were the order
    ever to differ, each replica would still own distinct rows. Anywhere else the local batch is the whole batch.
    """
    import tensorflow as tf

    context = several_replicas_context()
    if context is None:
        return 0, local_rows
    sizes = context.all_gather(tf.reshape(tf.cast(local_rows, tf.int32), [1]), axis=0)
    return tf.reduce_sum(sizes[: context.replica_id_in_sync_group]), tf.reduce_sum(sizes)


def draw_for_global_batch(draw, shape):
    """`draw(shape)`, computed as this replica's rows of `draw` over the whole global batch.

    Every replica holds the same random-generator state, so drawing only `shape` would give each replica the same
    numbers: images on different replicas would share their noise. Drawing for the global batch and keeping this
    replica's rows gives every image its own noise, the very noise it gets when one device trains on the same batch,
    so a distributed run computes what a single-device run computes, up to the order of floating-point sums.
    """
    if several_replicas_context() is None:
        return draw(shape)
    first, total = replica_rows(shape[0])
    return draw((total, *shape[1:]))[first : first + shape[0]]


def dtype_policy_name(precision: str) -> str:
    """The Keras dtype policy for `--mixed-precision`: "off" float32, "float16" mixed_float16 (float16 arithmetic
    with float32 weights and loss scaling), "bfloat16" mixed_bfloat16 (bfloat16 has float32's range, so it needs no
    loss scaling), "auto" mixed_float16 where a GPU is present and float32, with a `PrecisionWarning`, where none is:
    CPUs have no fast float16 arithmetic. An explicit "float16" or "bfloat16" is obeyed on any device.
    """
    if precision not in PRECISIONS:
        raise UsageError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            return "mixed_float16"
        warnings.warn(
            "--mixed-precision: no GPU here, so training runs in float32 "
            "(--mixed-precision bfloat16 forces it on a CPU)",
            PrecisionWarning,
            stacklevel=2,
        )
        return "float32"
    return {"off": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}[precision]
