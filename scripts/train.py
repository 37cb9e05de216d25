"""`vae-train`: train a VAE on MNIST and save the run."""

from __future__ import annotations

import shlex
import signal
import sys

import click
from click.core import ParameterSource

from vae.config import (
    ARCHITECTURES,
    DATASETS,
    DEFAULTS,
    LEARNING_RATES,
    LIKELIHOODS,
    MAX_BATCH_SIZE,
    MAX_IMAGE_SIZE,
    MAX_LATENT_DIM,
    MAX_PSEUDO_INPUTS,
    MIN_IMAGE_SIZE,
    OBJECTIVES,
    PRIORS,
    SCHEDULES,
)
from vae.model import HIERARCHICAL_LOWER_LATENT_DIM, PRECISIONS, STRATEGIES
from vae.model.conditioning import labels_of
from vae.run.directory import CHECKPOINT_DIR, EVAL_FILE, LOGS_DIR, RUN_FILES
from vae_scripts.common import (
    FiniteFloatRange,
    one_line_errors,
    reading_progress,
    run_dir_option,
)


def config_option(field: str, type, help: str, names: tuple[str, ...] = ()):
    """An option for the `VAEConfig` field `field` (`--field-name` unless `names` are given), with its default."""
    names = names or ("--" + field.replace("_", "-"),)
    return click.option(*names, field, type=type, default=getattr(DEFAULTS, field), show_default=True, help=help)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@config_option("epochs", click.IntRange(min=1), "Epochs to train.")
@config_option(
    "batch_size",
    click.IntRange(1, MAX_BATCH_SIZE),
    "Digits per step, over all devices together (the global batch). Growing it k times, e.g. for k devices? "
    "Multiply --learning-rate by k (the linear scaling rule); the cosine schedule's warm-up epoch eases it in.",
)
@click.option(
    "--latent-dim",
    "latent_dim",
    type=click.IntRange(1, MAX_LATENT_DIM),
    help="Size of z.  [default: 2 for mnist and fashion-mnist; for a folder, the power of two nearest half the "
    "square root of side x side x channels: 16 at 28x28 gray, 32 at 32x32 RGB, 64 at 64x64 RGB]",
)
@click.option(
    "--learning-rate",
    "learning_rate",
    type=FiniteFloatRange(min=0, min_open=True),
    help="Adam's peak learning rate.  [default: "
    + "; ".join(f"{rate:g} for --arch {name}" for name, rate in LEARNING_RATES.items())
    + "]",
)
@config_option(
    "schedule",
    click.Choice(SCHEDULES),
    "cosine: a warm-up of one epoch (and at least --min-warmup-steps), then a cosine decay to 1 %. constant: the "
    "keras.io example's.",
)
@config_option(
    "warmup_epochs",
    FiniteFloatRange(min=0),
    "Epochs of the cosine schedule's linear warm-up to --learning-rate (fractions allowed; at most half the run).",
)
@config_option(
    "min_warmup_steps",
    click.IntRange(min=0),
    "The warm-up lasts at least this many steps (at most half the run), however small the data set.",
)
@config_option(
    "free_nats",
    FiniteFloatRange(min=0, max=10),
    "Free bits: the ELBO's KL term counts as at least this many nats per latent dimension (batch mean), which keeps "
    "a small data set from collapsing to the mean image. 0 switches it off.",
)
@config_option(
    "eval_every",
    click.IntRange(min=1),
    "Score the test split after every N-th epoch and after the last; 1 scores every epoch. The history holds null "
    "for the epochs in between.",
)
@click.option(
    "--arch",
    "--architecture",
    "architecture",
    type=click.Choice(ARCHITECTURES),
    help="conv: the keras.io model. mlp: two dense layers of 512, cheap to evaluate with large --k. hierarchical: "
    f"two stochastic layers (Burda et al. 2015), a {HIERARCHICAL_LOWER_LATENT_DIM}-D z1 below a --latent-dim z2; the "
    "pictures show z2. resnet: residual blocks whose depth follows the side, for sides of 16 to 256.  [default: "
    "resnet for a folder of colour images or of images larger than 28x28, conv otherwise]",
)
@click.option(
    "--likelihood",
    type=click.Choice(LIKELIHOODS),
    help="p(x|z). bernoulli: independent Bernoulli pixels. logistic: the discretised logistic of 8-bit levels "
    "(Salimans et al. 2017), whose nats are a real likelihood, also reported in bits per dimension.  [default: "
    "logistic for colour images, bernoulli otherwise]",
)
@config_option("beta", FiniteFloatRange(min=0), "Weight of the KL term.")
@config_option(
    "objective",
    click.Choice(OBJECTIVES),
    "elbo: the evidence lower bound. iwae: the importance-weighted bound with --samples draws per digit (Burda et "
    "al. 2015), reported as negative_iw_bound beside the ELBO.",
)
@config_option(
    "samples",
    click.IntRange(1, MAX_BATCH_SIZE),
    "Importance samples per digit and step for --objective iwae (the decoder sees batch size x samples digits).",
)
@config_option(
    "prior",
    click.Choice(PRIORS),
    "gaussian: N(0, I). vamp: the VampPrior, a mixture of the encoder's posteriors at --pseudo-inputs learned images "
    "(Tomczak & Welling 2018); its KL term is estimated from the samples.",
)
@config_option(
    "pseudo_inputs",
    click.IntRange(0, MAX_PSEUDO_INPUTS),
    "The VampPrior's pseudo-inputs, for --prior vamp (the paper uses 500).",
)
@config_option("seed", click.IntRange(min=0), "The one seed of the run.")
@config_option(
    "dataset",
    click.Choice(DATASETS),
    "The data set to train on; a --data-dir that holds a folder of images is one by itself (folder).",
)
@click.option(
    "--data-dir",
    type=click.Path(),
    envvar="VAE_DATA_DIR",
    help="The four IDX files or mnist.npz, or a folder of your own images: DIR/train/<class>/ and DIR/test/<class>/, "
    "DIR/<class>/, or DIR/*.png without classes (env VAE_DATA_DIR). Default: the Keras download.",
)
@click.option(
    "--image-size",
    type=click.IntRange(MIN_IMAGE_SIZE, MAX_IMAGE_SIZE),
    help="A folder's images are fitted to this side (scaled, the middle square cut out). Default: the images' own, "
    "when they all share one square size.",
)
@click.option(
    "--channels",
    type=click.Choice(["1", "3"]),
    help="A folder's images as gray (1) or RGB (3). Default: the images' own, when they are all one or the other.",
)
@config_option(
    "test_fraction",
    FiniteFloatRange(min=0, max=1, min_open=True, max_open=True),
    "A folder without train/ and test/: the share of each class held out for testing, drawn with --seed.",
)
@click.option(
    "--skip-damaged",
    is_flag=True,
    help="Leave a folder's damaged images out, listing them in the run, instead of refusing the folder.",
)
@run_dir_option
@config_option("limit", click.IntRange(min=1), "Train on the first N digits only.")
@click.option(
    "--binarize",
    is_flag=True,
    default=DEFAULTS.binarize,  # spelled out: click 8.3+ reports an unset flag default as UNSET, not False
    help="Dynamically binarized MNIST, the literature's likelihood protocol.",
)
@click.option(
    "--conditional",
    is_flag=True,
    default=DEFAULTS.conditional,
    help="A conditional VAE: encoder and decoder also take the digit's label, so vae-plot samples --digit 7 draws "
    "sevens and z holds the style.",
)
@click.option(
    "--detector",
    is_flag=True,
    default=DEFAULTS.detector,
    help="An outlier detector: the logistic likelihood of 8-bit levels (Bernoulli under --binarize) and a latent "
    "sized by the folder rule, so that vae-encode and vae-eval --outliers add the score corrected for each image's "
    "complexity (docs/own-images.md, Detector runs).",
)
@click.option(
    "--strategy",
    type=click.Choice(STRATEGIES),
    default=STRATEGIES[0],
    show_default=True,
    help="default: one device. mirrored: all local GPUs (or all logical CPUs) in sync. multi-worker: several "
    "processes or machines, described by the TF_CONFIG environment variable; only the chief writes --run-dir.",
)
@click.option(
    "--mixed-precision",
    type=click.Choice(PRECISIONS),
    is_flag=False,
    flag_value="auto",
    default=None,
    help="Compute in 16-bit floats, keep float32 weights. Alone or 'auto': float16 on a GPU, float32 with a warning "
    "without one. 'float16' or 'bfloat16' force it (bfloat16 suits recent CPUs). Default: off; a resumed run keeps "
    "its own.",
)
@click.option(
    "--snapshots",
    is_flag=True,
    default=False,
    help="After every epoch, save a small latent grid and reconstructions for vae-plot progress and vae-report. "
    "A resumed run that has them goes on taking them.",
)
@click.option(
    "--profile",
    is_flag=True,
    help="Log the wall time of every phase (start-up, data, model, each epoch's training, test and end, the end of "
    "fit, the final save, the exit) to RUN_DIR/profile.json and stderr.",
)
@click.option("--overwrite", is_flag=True, help="Replace a trained run in --run-dir.")
@click.option("--resume", is_flag=True, help="Continue the run in --run-dir from its last checkpoint, up to --epochs.")
@click.option(
    "--verbose",
    type=click.IntRange(0, 2),
    default=1,
    show_default=True,
    help="0 silent, 1 progress bar, 2 a line per epoch.",
)
@one_line_errors
def main(
    data_dir,
    run_dir,
    image_size,
    channels,
    skip_damaged,
    overwrite,
    resume,
    verbose,
    strategy,
    mixed_precision,
    snapshots,
    profile,
    **options,
):
    """Train a convolutional VAE and save config.json, vae.weights.h5, vae.keras and history.json in --run-dir.

    Every epoch also leaves a checkpoint, so an interrupted run continues with --resume, and TensorBoard logs
    (tensorboard --logdir RUN_DIR/logs).
    """
    from vae.data.sources import new_run_data
    from vae.run.checkpoints import read_checkpoint, read_checkpoint_safe
    from vae.run.dataset import run_dataset
    from vae.training.loop import check_run_dir, resumed_config, train

    run_dir.refuse_pretrained()
    check_run_dir(run_dir, overwrite=overwrite, resume=resume)
    context = click.get_current_context()
    given = {
        name: value
        for name, value in options.items()
        if context.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    }
    shape = {"image_size": image_size, "channels": None if channels is None else int(channels)}
    phases = None
    if profile:
        from vae.training.profiling import PhaseLog

        phases = PhaseLog()
        phases.mark("data")
    if resume:
        checkpoint = read_checkpoint(run_dir)
        config = resumed_config(checkpoint.config, {**given, **{k: v for k, v in shape.items() if v is not None}})
        # A folder run reads its own folder unless --data-dir is typed: VAE_DATA_DIR, which names IDX data, is
        # read by load_dataset for an IDX run alone.
        typed = context.get_parameter_source("data_dir") == ParameterSource.COMMANDLINE
        data = run_dataset(
            run_dir, config, data_dir if typed else None, manifest=checkpoint.manifest, progress=reading_progress()
        )
    else:
        prepared = new_run_data(
            options, data_dir, dataset_given="dataset" in given, skip_damaged=skip_damaged,
            progress=reading_progress(), **shape,
        )  # fmt: skip
        config, data = prepared.config, prepared.dataset
        if prepared.description:
            click.echo(prepared.description)
        chosen = [name for name in CHOSEN_FROM_DATA if options[name] is None]
        if chosen and config.dataset == "folder":
            click.echo(chosen_line(config, chosen))
    if phases:
        phases.close("data")
    # A scheduler's or container's SIGTERM stops the run as Ctrl-C does: the last checkpoint stays, and we say so.
    signal.signal(signal.SIGTERM, raise_terminated)
    try:
        result = train(
            config,
            data,
            run_dir,
            overwrite=overwrite,
            resume=resume,
            verbose=verbose,
            strategy=strategy,
            precision=mixed_precision,
            snapshots=snapshots,
            profile=phases,
        )
    except KeyboardInterrupt as interruption:
        checkpoint = read_checkpoint_safe(run_dir)
        saved = f"epoch {checkpoint.epochs_done}/{config.epochs} is saved" if checkpoint else "no epoch had finished"
        command = f"vae-train --resume --run-dir {shlex.quote(str(run_dir.path))}"
        if data_dir and click.get_current_context().get_parameter_source("data_dir") == ParameterSource.COMMANDLINE:
            command += f" --data-dir {shlex.quote(str(data_dir))}"
        terminated = isinstance(interruption, Terminated)
        click.echo(f"\n{'terminated' if terminated else 'interrupted'}: {saved}; continue with: {command}", err=True)
        sys.exit(143 if terminated else 130)
    if result.finished_from_checkpoint:
        click.echo(f"its {config.epochs} epochs were already trained: wrote the finished run from its last checkpoint")
    click.echo(summary(result))
    if result.wrote_run_dir:
        files = ", ".join([*RUN_FILES, f"{CHECKPOINT_DIR}/"])
        click.echo(f"saved the run in {run_dir.path}/: {files} and {LOGS_DIR}/")
    else:
        click.echo(f"this worker is not the chief: the chief saves the run in {run_dir.path}/")
    if result.dropped_evaluation:
        click.echo(f"removed {EVAL_FILE}: it scored the weights before this training; run vae-eval again")
    if phases:
        # Only a command that succeeded writes its profile: a failed one leaves the run's profile.json as it was.
        phases.mark("exit")
        phases.write_at_exit(run_dir)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, like the KeyboardInterrupt of Ctrl-C."""


def raise_terminated(signal_number, frame):
    raise Terminated()


# The config fields a run that leaves them out gets from its images, and the option that sets each.
CHOSEN_FROM_DATA = {"architecture": "--arch", "latent_dim": "--latent-dim", "likelihood": "--likelihood"}


def chosen_line(config, chosen) -> str:
    """One line on the model a folder run gets from its images: its network, latent size and likelihood."""
    size = f"{config.image_size}x{config.image_size}x{config.channels}"
    options = ", ".join(CHOSEN_FROM_DATA[name] for name in chosen)
    return (
        f"model for {size} images: the {config.architecture} network, a {config.latent_dim}-D latent and the "
        f"{config.likelihood} likelihood ({options} chosen from the images; docs/models.md says how)"
    )


def summary(result) -> str:
    """The last epoch's test result. With beta != 1 the training objective is no ELBO; the true negative ELBO,
    reconstruction + KL, is printed under its own name beside it."""
    from vae.model.likelihoods import bits_per_dimension

    config, metrics = result.config, result.test_metrics
    reconstruction, kl = metrics["reconstruction_loss"], metrics["kl_loss"]
    name = labels_of(config).negative_elbo
    name += " (grayscale BCE)" if config.likelihood == "bernoulli" and not config.binarize else ""
    line = f"test {name} {reconstruction + kl:.2f} nats per image (reconstruction {reconstruction:.2f} + KL {kl:.2f})"
    if config.likelihood == "logistic":
        line += f", {bits_per_dimension(reconstruction + kl, config.image_shape):.3f} bits per dimension"
    if config.objective == "iwae":
        bound = result.history["test_negative_iw_bound"][-1]
        line += (
            f"; training objective, the negative importance-weighted bound with {config.samples} samples: {bound:.2f}"
        )
    elif config.beta != 1:
        line += f"; training objective, reconstruction + beta {config.beta:g} x KL: {metrics['loss']:.2f}"
    epochs = len(result.history["loss"])
    return line + f" after {epochs} epoch{'s' * (epochs != 1)}, {result.seconds:.0f} s"


if __name__ == "__main__":
    main()
