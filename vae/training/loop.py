"""Training: `train(config, dataset, run_dir)` fits the VAE, checkpoints every epoch, and saves the finished run.

The model and its optimizer come from `vae.training.setup`, what runs after every epoch from
`vae.training.callbacks`.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from typing import Any

from vae import files
from vae.config import VAEConfig
from vae.data.datasets import Dataset, test_inputs
from vae.data.pipeline import evaluation_dataset, steps_per_epoch, training_dataset
from vae.errors import CollapseWarning, DiskFullError, RunError, TrainingDivergedError, UsageError
from vae.evaluation.collapse import collapse_warning, measure_collapse, training_inputs
from vae.model import INFERENCE_BATCH_SIZE
from vae.model.distribution import dtype_policy_name, is_chief, make_strategy, shard_by_data
from vae.model.latent import model_labels
from vae.run.checkpoints import finished_run_matches, read_checkpoint, read_checkpoint_safe
from vae.run.directory import (
    CHECKPOINT_DIR,
    DATA_FILE,
    DEFAULT_RUN,
    EVAL_FILE,
    LOCK_FILE,
    LOGS_DIR,
    SNAPSHOTS_DIR,
    RunDir,
)
from vae.run.records import drop_stale_evaluation, save_run
from vae.run.snapshots import SNAPSHOT_DIGITS, check_latent_dim
from vae.training.callbacks import (
    TENSORBOARD_DIGITS,
    DivergenceGuard,
    EpochCheckpoint,
    EpochSnapshots,
    TensorBoardLogs,
)
from vae.training.profiling import NO_PROFILE
from vae.training.progress import StepProgress
from vae.training.setup import build_model, check_last_batches, configure_determinism, restore_model


@dataclass(frozen=True)
class TrainingResult:
    config: VAEConfig
    history: dict[str, list[float]]
    run_dir: RunDir
    seconds: float
    wrote_run_dir: bool = True  # False on the workers of a multi-worker run other than the chief
    finished_from_checkpoint: bool = False  # True when a resumed run only had its final save left to do
    dropped_evaluation: bool = False  # True when an eval.json of the weights this run replaced was deleted
    # The line of `vae.evaluation.collapse.collapse_warning` when the finished run ignores its input, else None (and
    # None on the workers that are not the chief, which do not check).
    collapse_warning: str | None = None

    @property
    def test_metrics(self) -> dict[str, float]:
        """The last epoch's test negative ELBO and its parts, in nats per image."""
        return {key: self.history[f"test_{key}"][-1] for key in ("loss", "reconstruction_loss", "kl_loss")}


def check_run_dir(run_dir: RunDir, overwrite: bool, resume: bool) -> None:
    """Check, before any training, that the run directory can take this run.

    Refuses to start over a run the user has unless told to, and refuses to resume what is not there. It only reads,
    so that every worker of a multi-worker run can check; `train` then has the one process that writes the directory
    prove it writable, so that no one learns after 30 epochs that the results cannot be saved.
    """
    if resume:
        if read_checkpoint(run_dir) is None:
            raise RunError(f"no checkpoint in {run_dir.path}/ to resume: start a run with vae-train")
    elif not overwrite:
        checkpoint = read_checkpoint_safe(run_dir)
        if run_dir.has_finished_run():
            raise RunError(f"{run_dir.path}/ already holds a trained run: pass --overwrite to replace it")
        if checkpoint is not None:
            raise RunError(
                f"{run_dir.path}/ holds an unfinished run "
                f"({checkpoint.epochs_done}/{checkpoint.config.epochs} epochs): "
                "continue it with --resume, or pass --overwrite to start again"
            )


def resumed_config(saved: VAEConfig, requested: dict) -> VAEConfig:
    """The saved config, with only `epochs` open to change; any other requested value that differs is refused."""
    for name, value in requested.items():
        if name != "epochs" and getattr(saved, name) != value:
            option = "--" + name.replace("_", "-")
            raise UsageError(
                f"{option} {value} contradicts the run being resumed ({name} = {getattr(saved, name)}); "
                f"drop {option}, or start a new run with --overwrite"
            )
    return saved.replace(epochs=requested.get("epochs", saved.epochs))


@dataclass(frozen=True)
class TrainingOptions:
    """How `train` runs a training, beside what the config says the run is. None of these is a field of the config:
    they describe this training and this machine, and a run may be resumed with others.

    Attributes:
        resume: continue from the checkpoint in the run directory up to `config.epochs`, with the saved weights,
            optimizer state, random-generator state and history.
        overwrite: replace a run that is already in the run directory.
        verbose: Keras' progress display: 0 silent, 1 a progress bar, 2 a line per epoch, "auto". With 2, a line
            of progress inside an epoch too, on stderr, at most every 10 seconds (`vae.training.progress`).
        strategy: how to spread the work ("default", "mirrored", "multi-worker", see `make_strategy`).
            `config.batch_size` is the global batch, split among the replicas. Only the chief of a multi-worker run
            writes the run directory; the other workers save what it saves into a temporary folder that they delete,
            as TensorFlow's multi-worker guide asks: saving may read distributed variables through collective
            operations that every worker must join, and a chief saving alone would then wait for them forever. Every
            worker loads the checkpoint of a resumed run, so the run directory of a multi-worker run that is to be
            resumed must be on storage all workers can read.
        precision: the `--mixed-precision` choice ("off", "auto", "float16", "bfloat16", see `dtype_policy_name`).
            None means "off" for a new run; a resumed run keeps the dtype policy it was started with, which its
            checkpoint records, and refuses a `precision` that asks for another.
        snapshots: save a small picture of the model after every epoch (see `vae.run.snapshots`) for `vae-plot
            progress`. A resumed run that has snapshots goes on taking them.
        profile: a `vae.training.profiling.PhaseLog` that logs the wall time of every phase (`vae-train --profile`).
    """

    resume: bool = False
    overwrite: bool = False
    verbose: int | str = "auto"
    strategy: str = "default"
    precision: str | None = None
    snapshots: bool = False
    profile: Any = None


@dataclass(frozen=True)
class Destination:
    """Where a training writes: the run directory, and the folder this process saves into (the run directory on
    the chief, a temporary folder on the other workers of a multi-worker run)."""

    run_dir: RunDir
    save_dir: RunDir
    chief: bool


def train(
    config: VAEConfig, dataset: Dataset, run_dir: RunDir | str | os.PathLike = DEFAULT_RUN, **options
) -> TrainingResult:
    """Fit a VAE described by `config` on `dataset`, scoring the test split after every `config.eval_every`-th epoch
    and after the last, checkpointing every epoch, and save the finished run in `run_dir` (see `vae.run.directory`).

    Args:
        config: the run.
        dataset: the data, of which `config.limit` training digits are used.
        run_dir: the run folder.
        **options: the fields of `TrainingOptions`.

    Returns:
        The `TrainingResult`: the config, the history, the run directory and the training's wall time.
    """
    run_dir = RunDir(run_dir)
    options = TrainingOptions(**options)
    run_dir.refuse_pretrained()
    # First: MultiWorkerMirroredStrategy must exist before TensorFlow runs any operation.
    distribution_strategy = make_strategy(options.strategy)
    chief = is_chief(distribution_strategy)
    check_run_dir(run_dir, overwrite=options.overwrite, resume=options.resume)
    if options.resume and run_dir.snapshots_dir.is_dir():
        options = dataclasses.replace(options, snapshots=True)
    if options.snapshots:
        check_latent_dim(config.latent_dim)
        if config.eval_every != 1:
            raise UsageError(
                f"--snapshots needs --eval-every 1 (each snapshot shows its epoch's test loss), got {config.eval_every}"
            )
    if not chief:
        destination = Destination(run_dir, RunDir(tempfile.mkdtemp(prefix="vae-worker-")), chief=False)
        try:
            return _train(config, dataset, destination, distribution_strategy, options)
        finally:
            shutil.rmtree(destination.save_dir.path, ignore_errors=True)
    created = not run_dir.path.exists()
    files.check_writable(run_dir.path)
    with run_dir.lock():
        try:
            # Read again under the lock: another training may have finished here since the first look.
            check_run_dir(run_dir, overwrite=options.overwrite, resume=options.resume)
            files.sweep_stale_temporaries(run_dir.path)
            return _train(config, dataset, Destination(run_dir, run_dir, chief=True), distribution_strategy, options)
        except BaseException:
            if created:
                remove_if_empty(run_dir)
            raise


def remove_if_empty(run_dir: RunDir) -> None:
    """Remove a run directory this training created when it holds nothing but the lock file: a run that failed
    before its first checkpoint leaves no trace. Only the lock's holder calls this, so no other training can be
    using the directory."""
    if {path.name for path in run_dir.path.iterdir()} <= {LOCK_FILE}:
        shutil.rmtree(run_dir.path, ignore_errors=True)


def _train(config, dataset, destination: Destination, distribution_strategy, options: TrainingOptions):
    """`train` after its checks: the model, the data, the callbacks, fit, and the final save."""
    run_dir = destination.run_dir
    profile = options.profile or NO_PROFILE
    profile.mark("model")
    configure_determinism(config.seed)
    dataset = dataset.limited(config.limit)
    check_last_batches(dataset, config.batch_size, distribution_strategy.num_replicas_in_sync)
    steps = steps_per_epoch(len(dataset.train_images), config.batch_size)
    with distribution_strategy.scope():
        if options.resume:
            checkpoint = read_checkpoint(run_dir)
            model = restore_model(checkpoint, config, steps, options.precision)
            initial_epoch, history = checkpoint.epochs_done, checkpoint.history
        else:
            model = build_model(config, steps, dtype_policy_name(options.precision or "off"))
            initial_epoch, history = 0, {}
    profile.close("model")
    if options.resume and initial_epoch == config.epochs:
        result = finish_from_checkpoint(run_dir, model, checkpoint, destination.chief)
        return checked_for_collapse(result, model, dataset, destination.chief)
    if initial_epoch > config.epochs:
        raise RunError(
            f"the run in {run_dir.path}/ has already trained {epochs(initial_epoch)}: "
            "pass a larger --epochs to continue"
        )
    # A conditional model takes each digit's label with it; an unconditional one never sees them. Keras splits each
    # global batch among the replicas of the strategy the model was built under.
    train_labels, test_labels = model_labels(model, dataset.train_labels), model_labels(model, dataset.test_labels)
    train_data = shard_by_data(
        training_dataset(
            dataset.train_images, config.batch_size, config.seed, initial_epoch, config.epochs, labels=train_labels
        )
    )
    test_images = test_inputs(dataset, config.binarize)
    test_data = shard_by_data(evaluation_dataset(test_images, INFERENCE_BATCH_SIZE, test_labels))
    started = time.perf_counter()
    shown = (test_images, dataset.test_labels)
    callbacks = training_callbacks(config, destination, options, history, shown, started, dataset.manifest)
    if options.verbose == 2:  # Keras' line per epoch comes at its end: a line of progress inside it too
        callbacks.append(StepProgress(config.epochs, steps))
    callbacks = profile.callbacks(callbacks)
    try:
        model.fit(
            train_data,
            epochs=config.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps,
            validation_data=test_data,
            validation_freq=config.scored_epochs(),
            callbacks=callbacks,
            shuffle=False,  # the dataset shuffles itself, per epoch and seeded
            verbose=options.verbose,
        )
        profile.close("end of fit")
        with profile.phase("final save"):
            save_run(destination.save_dir, model, config, history, dataset.manifest)
            dropped = destination.chief and drop_stale_evaluation(run_dir)
    except TrainingDivergedError as error:
        raise TrainingDivergedError(f"{error}; {kept_checkpoint(run_dir)}; try a lower --learning-rate") from None
    except DiskFullError as error:
        raise DiskFullError(
            f"{error}; {kept_checkpoint(run_dir)}: free some space, then finish with vae-train --resume"
        ) from None
    seconds = time.perf_counter() - started
    result = TrainingResult(
        config, history, run_dir, seconds, wrote_run_dir=destination.chief, dropped_evaluation=dropped
    )
    with profile.phase("collapse check"):
        return checked_for_collapse(result, model, dataset, destination.chief)


def checked_for_collapse(result: TrainingResult, model, dataset: Dataset, chief: bool) -> TrainingResult:
    """The result, with the `CollapseWarning` given and its line recorded when the finished run ignores its input:
    no active latent unit on the test split, or reconstructions no better than the mean training image
    (`vae.evaluation.collapse`). Only the chief checks; it costs one pass of the model over the test split."""
    if not chief:
        return result
    config = result.config
    record = measure_collapse(
        model,
        training_inputs(dataset.train_images, config.binarize),
        test_inputs(dataset, config.binarize),
        dataset.test_labels,
        pca=False,  # the PCA baseline is vae-eval's; the collapse check needs only the mean image
    )
    message = collapse_warning(record)
    if message is not None:
        warnings.warn(message, CollapseWarning, stacklevel=4)  # at the call of `train`
    return dataclasses.replace(result, collapse_warning=message)


def training_callbacks(config, destination: Destination, options: TrainingOptions, history, shown, started, manifest):
    """Per epoch: the divergence guard, the checkpoint, and on the chief the snapshots and the TensorBoard logs of
    the first of the test digits and labels `shown`."""
    test_images, test_labels = shown
    run_dir = destination.run_dir
    elapsed_before = history["wall_seconds"][-1] if history.get("wall_seconds") else 0.0
    # A new run replaces what was derived from the run it overwrites, and its manifest, once its own first checkpoint
    # is on disk.
    derived = (LOGS_DIR, SNAPSHOTS_DIR, EVAL_FILE, DATA_FILE)
    replaced = [] if options.resume or not destination.chief else [run_dir.path / name for name in derived]
    checkpoints = EpochCheckpoint(
        destination.save_dir,
        config,
        history,
        started,
        elapsed_before,
        replaced=replaced,
        manifest=manifest,
        test_data=shown,
    )
    callbacks = [DivergenceGuard(), checkpoints]
    if destination.chief and options.snapshots:
        initial_epoch = len(history.get("loss", []))
        originals = (test_images[:SNAPSHOT_DIGITS], test_labels[:SNAPSHOT_DIGITS])
        callbacks.append(EpochSnapshots(run_dir, originals, initial_epoch, history))
    if destination.chief:
        shown = (test_images[:TENSORBOARD_DIGITS], test_labels[:TENSORBOARD_DIGITS])
        callbacks.append(TensorBoardLogs(run_dir.logs_dir, shown))
    return callbacks


def epochs(count: int) -> str:
    return f"{count} epoch{'s' * (count != 1)}"


def kept_checkpoint(run_dir: RunDir) -> str:
    checkpoint = read_checkpoint_safe(run_dir)
    if checkpoint is None:
        return "no epoch had finished, so nothing was saved"
    return f"the last good checkpoint (epoch {checkpoint.epochs_done}) stays in {run_dir.path}/{CHECKPOINT_DIR}"


def finish_from_checkpoint(run_dir: RunDir, model, checkpoint, chief: bool) -> TrainingResult:
    """Write the finished run of a checkpoint that has trained all its epochs, with no training: what a run killed,
    or stopped by a full disk, during its final save needs. A run already finished from it is left alone."""
    if finished_run_matches(run_dir, checkpoint):
        raise RunError(
            f"the run in {run_dir.path}/ has already trained {epochs(checkpoint.epochs_done)}: pass a larger --epochs "
            "to continue"
        )
    dropped = False
    if chief:
        save_run(run_dir, model, checkpoint.config, checkpoint.history, checkpoint.manifest)
        dropped = drop_stale_evaluation(run_dir)
    seconds = checkpoint.history.get("wall_seconds", [0.0])[
        -1
    ]  # the training's own time, as the checkpoint recorded it
    return TrainingResult(
        checkpoint.config,
        checkpoint.history,
        run_dir,
        seconds,
        wrote_run_dir=chief,
        finished_from_checkpoint=True,
        dropped_evaluation=dropped,
    )
