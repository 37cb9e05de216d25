"""Options that several benchmarks share."""

from pathlib import Path

import click

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    envvar="VAE_DATA_DIR",
    required=True,
    help="The full MNIST IDX files (env VAE_DATA_DIR).",
)
