"""What several benchmarks share: options, and running one of the package's commands."""

import subprocess
import sys
from pathlib import Path

import click

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    envvar="VAE_DATA_DIR",
    required=True,
    help="The full MNIST IDX files (env VAE_DATA_DIR).",
)


def run_command(arguments: list[str]) -> str:
    """`python -m ARGUMENTS` (a command's module, `vae_scripts.train` say, and its options): its stdout, or a
    ClickException naming the command with the end of its stderr."""
    completed = subprocess.run([sys.executable, "-m", *arguments], capture_output=True, text=True)
    if completed.returncode != 0:
        raise click.ClickException(f"{' '.join(arguments[:2])} failed: {completed.stderr.strip()[-400:]}")
    return completed.stdout
