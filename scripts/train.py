"""`vae-train`: train a VAE on MNIST and save the run."""

from __future__ import annotations

from pathlib import Path

import click

from vae_scripts.common import one_line_errors, run_dir_option

DATASETS = ["mnist", "fashion-mnist"]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True, help="Epochs to train.")
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True, help="Digits per step.")
@click.option("--latent-dim", type=click.IntRange(min=1), default=2, show_default=True, help="Size of z.")
@click.option(
    "--learning-rate",
    type=click.FloatRange(min=0, min_open=True),
    default=2e-3,
    show_default=True,
    help="Adam's peak learning rate.",
)
@click.option(
    "--schedule",
    type=click.Choice(["cosine", "constant"]),
    default="cosine",
    show_default=True,
    help="cosine: one epoch of warm-up, then a cosine decay to 1 %. constant: the keras.io example's.",
)
@click.option("--beta", type=click.FloatRange(min=0), default=1.0, show_default=True, help="Weight of the KL term.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="The one seed of the run.")
@click.option("--dataset", type=click.Choice(DATASETS), default="mnist", show_default=True)
@click.option(
    "--data-dir",
    type=click.Path(),
    envvar="VAE_DATA_DIR",
    help="Folder with the four IDX files or mnist.npz (env VAE_DATA_DIR). Default: the Keras download.",
)
@run_dir_option
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Train on the first N digits only.")
@click.option("--overwrite", is_flag=True, help="Replace a trained run in --run-dir.")
@click.option(
    "--verbose", type=click.IntRange(0, 2), default=1, show_default=True, help="0 silent, 1 progress bar, 2 a line per epoch."
)
@one_line_errors
def main(epochs, batch_size, latent_dim, learning_rate, schedule, beta, seed, dataset, data_dir, run_dir, limit, overwrite, verbose):
    """Train a convolutional VAE and save config.json, vae.weights.h5, vae.keras and history.json in --run-dir."""
    from vae.config import VAEConfig
    from vae.data import load_dataset
    from vae.training import prepare_run_dir, train

    prepare_run_dir(Path(run_dir), overwrite=overwrite, resume=False)
    config = VAEConfig(
        latent_dim=latent_dim,
        beta=beta,
        dataset=dataset,
        limit=limit,
        seed=seed,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        schedule=schedule,
    )
    data = load_dataset(dataset, data_dir)
    result = train(config, data, run_dir, overwrite=overwrite, verbose=verbose)
    metrics = result.test_metrics
    click.echo(
        f"test negative ELBO {metrics['loss']:.2f} nats per image "
        f"(reconstruction {metrics['reconstruction_loss']:.2f} + KL {metrics['kl_loss']:.2f}) "
        f"after {len(result.history['loss'])} epochs in {result.seconds:.0f} s"
    )
    click.echo(f"saved the run in {run_dir}/")


if __name__ == "__main__":
    main()
