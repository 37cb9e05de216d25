"""`vae-reconstruct`: test digits above their reconstructions."""

from __future__ import annotations

from pathlib import Path

import click

from vae.config import MAX_RECONSTRUCTIONS
from vae_scripts.common import data_dir_option, index_list, one_line_errors, output_path, run_dir_option


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--n",
    type=click.IntRange(1, MAX_RECONSTRUCTIONS),
    default=10,
    show_default=True,
    help=f"How many random test digits (1-{MAX_RECONSTRUCTIONS}).",
)
@click.option("--indices", callback=index_list, help="Comma-separated test digit indices instead (then --n is unused).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Chooses the random digits.")
@run_dir_option
@data_dir_option
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Default: <run-dir>/reconstruction.png")
@one_line_errors
def main(n, indices, seed, run_dir, data_dir, output):
    """Draw test digits (upper rows) and their reconstructions (lower rows), labelled, at most 10 per row."""
    if indices is not None and not 1 <= len(indices) <= MAX_RECONSTRUCTIONS:
        raise click.BadParameter(f"give 1 to {MAX_RECONSTRUCTIONS} indices, got {len(indices)}", param_hint="'--indices'")

    import numpy as np

    from vae import load_run
    from vae.latent import check_indices, load_test_digits
    from vae.plots import plot_reconstructions

    model, config, _ = load_run(run_dir)
    images, labels = load_test_digits(config, data_dir)
    if indices is None:
        chosen = sorted(np.random.default_rng(seed).choice(len(images), size=n, replace=False).tolist())
    else:
        chosen = check_indices(indices, len(images))
    click.echo(plot_reconstructions(model, images, labels, chosen, output_path(output, run_dir, "reconstruction")))


if __name__ == "__main__":
    main()
