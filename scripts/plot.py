"""`vae-plot`: pictures of a trained run: latent-grid, clusters, samples, analogies, interpolate, history,
progress."""

from __future__ import annotations

from pathlib import Path

import click

from vae.model import MAX_GRID_SPAN
from vae.run.directory import PROGRESS_FILE
from vae.views import MAX_FPS, MIN_FPS
from vae_scripts.common import (
    FiniteFloatRange,
    data_dir_option,
    index_list,
    label_options,
    one_line_errors,
    output_path,
    run_dir_option,
)

output_option = click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), help="Default: <run-dir>/<view>.png"
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """Draw what a trained VAE learned. Each view writes <run-dir>/<view>.png unless --output names a file."""


@main.command("latent-grid")
@click.option("--n", type=click.IntRange(2, 100), default=30, show_default=True, help="Cells per side.")
@click.option(
    "--span",
    type=FiniteFloatRange(min=0, max=MAX_GRID_SPAN, min_open=True),
    help="The grid covers [-span, span]. Default: where the test digits' latent means lie.",
)
@click.option("--quantiles", is_flag=True, help="Span the Gaussian quantiles 0.05-0.95 instead.")
@click.option("--dims", callback=index_list, default="0,1", show_default=True, help="The two latent axes that vary.")
@label_options
@run_dir_option
@data_dir_option
@output_option
@one_line_errors
def latent_grid(n, span, quantiles, dims, label, run_dir, data_dir, output):
    """An n x n grid of images decoded from a plane of latent space, in one batched call. A conditional run needs
    --label: its grid is that class's style manifold."""
    if span is not None and quantiles:
        raise click.UsageError("--span and --quantiles exclude each other: the quantiles fix the span")

    from vae.model.latent import check_dims, default_span, label_index
    from vae.run.dataset import load_test_digits
    from vae.run.loading import load_run
    from vae.views.figures import plot_latent_grid

    model, config, _ = load_run(run_dir)
    label = label_index(config, label)
    model.latent.labels.require_label(
        label, "this run is conditional: name the class whose latent grid to draw with --label"
    )
    dims = check_dims(tuple(dims), config.latent_dim)
    if span is None and not quantiles:
        images, labels = load_test_digits(config, data_dir, run_dir)
        if label is not None and (labels == label).any():  # the span of that class's own latent means
            images, labels = images[labels == label], labels[labels == label]
        span = default_span(model, images, labels, dims)
    path = output_path(output, run_dir, "latent-grid")
    click.echo(plot_latent_grid(model, path, n, span, quantiles, dims, label))


@main.command()
@run_dir_option
@data_dir_option
@output_option
@one_line_errors
def clusters(run_dir, data_dir, output):
    """The latent means of the test images, coloured by class (PCA for a latent size above 2)."""
    from vae.run.dataset import load_test_digits
    from vae.run.loading import load_run
    from vae.views.figures import plot_clusters

    model, config, _ = load_run(run_dir)
    images, labels = load_test_digits(config, data_dir, run_dir)
    click.echo(plot_clusters(model, images, labels, output_path(output, run_dir, "clusters")))


@main.command()
@click.option("--n", type=click.IntRange(1, 400), default=64, show_default=True, help="How many images (1-400).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seeds the prior samples.")
@label_options
@run_dir_option
@output_option
@one_line_errors
def samples(n, seed, label, run_dir, output):
    """New images decoded from prior samples z ~ p(z). A conditional run draws n of --label, or without it one
    row per class, the same z down each column."""
    from vae.model.latent import label_index
    from vae.run.loading import load_run
    from vae.views.figures import plot_samples

    model, config, _ = load_run(run_dir)
    label = label_index(config, label)
    click.echo(plot_samples(model, output_path(output, run_dir, "samples"), n, seed, label))


@main.command()
@click.option("--n", type=click.IntRange(1, 100), default=8, show_default=True, help="How many test digits (1-100).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Chooses the test digits.")
@run_dir_option
@data_dir_option
@output_option
@one_line_errors
def analogies(n, seed, run_dir, data_dir, output):
    """A conditional run's n random test images down the side, each one's style written as every class."""
    from vae.model.latent import check_conditional, choose_test_digits
    from vae.run.dataset import load_test_digits
    from vae.run.loading import load_run
    from vae.views.figures import plot_analogies

    model, config, _ = load_run(run_dir)
    check_conditional(model, "analogies")
    images, labels = load_test_digits(config, data_dir, run_dir)
    chosen = choose_test_digits(len(images), n, seed)
    click.echo(plot_analogies(model, images, labels, chosen, output_path(output, run_dir, "analogies")))


@main.command()
@click.option("--from", "start", type=click.IntRange(min=0), default=0, show_default=True, help="Test digit index.")
@click.option("--to", "end", type=click.IntRange(min=0), default=1, show_default=True, help="Test digit index.")
@click.option("--steps", type=click.IntRange(2, 50), default=10, show_default=True, help="Digits in the row (2-50).")
@run_dir_option
@data_dir_option
@output_option
@one_line_errors
def interpolate(start, end, steps, run_dir, data_dir, output):
    """Decode the straight line between the latent means of two test images."""
    from vae.model.latent import check_indices
    from vae.run.dataset import load_test_digits
    from vae.run.loading import load_run
    from vae.views.figures import plot_interpolation

    model, config, _ = load_run(run_dir)
    images, labels = load_test_digits(config, data_dir, run_dir)
    check_indices([start, end], len(images))
    path = output_path(output, run_dir, "interpolate")
    click.echo(plot_interpolation(model, images, labels, start, end, steps, path))


@main.command()
@run_dir_option
@output_option
@one_line_errors
def history(run_dir, output):
    """Train and test curves per epoch: total loss, reconstruction and KL."""
    from vae.run.records import read_config, read_history
    from vae.views.learning import plot_history

    config = read_config(run_dir)
    click.echo(plot_history(read_history(run_dir), config, output_path(output, run_dir, "history")))


@main.command()
@click.option(
    "--fps", type=FiniteFloatRange(MIN_FPS, MAX_FPS), default=4.0, show_default=True, help="Epochs (frames) a second."
)
@run_dir_option
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help=f"Default: <run-dir>/{PROGRESS_FILE}")
@one_line_errors
def progress(fps, run_dir, output):
    """An animated GIF of training, one frame per epoch, from the snapshots of vae-train --snapshots."""
    from vae.run.records import read_config
    from vae.run.snapshots import read_snapshots
    from vae.views.learning import render_progress

    config = read_config(run_dir)
    path = Path(output) if output else run_dir.output_dir() / PROGRESS_FILE
    click.echo(render_progress(read_snapshots(run_dir), config, path, fps))


if __name__ == "__main__":
    main()
