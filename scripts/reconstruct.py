"""`vae-reconstruct`: test digits beside their reconstructions."""

from __future__ import annotations

from pathlib import Path

import click

from vae_scripts.common import data_dir_option, index_list, one_line_errors, output_path, run_dir_option


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--n", type=click.IntRange(1, 100), default=10, show_default=True, help="How many digits (1-100).")
@click.option("--indices", callback=index_list, help="Comma-separated test digit indices instead of random ones.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Chooses the random digits.")
@run_dir_option
@data_dir_option
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Default: <run-dir>/reconstruction.png")
@one_line_errors
def main(n, indices, seed, run_dir, data_dir, output):
    """Draw n test digits (top rows) and their reconstructions (bottom rows), labelled."""
    import numpy as np

    from vae import load_run
    from vae.plots import check_indices, plot_reconstructions, test_digits

    model, config, _ = load_run(run_dir)
    images, labels = test_digits(config, data_dir)
    if indices:
        chosen = check_indices(indices, len(images))
    else:
        chosen = sorted(np.random.default_rng(seed).choice(len(images), size=n, replace=False).tolist())
    click.echo(plot_reconstructions(model, images, labels, chosen, output_path(output, run_dir, "reconstruction")))


if __name__ == "__main__":
    main()
