"""`vae-export`: a trained run as a model for serving, which runs without this package."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from vae.serving import EXPORT_FORMATS
from vae_scripts.common import one_line_errors, run_dir_option


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@run_dir_option
@click.option("--output", type=click.Path(path_type=Path), required=True, help="The folder to write.")
@click.option(
    "--format",
    "format_name",
    type=click.Choice(EXPORT_FORMATS),
    default=EXPORT_FORMATS[0],
    show_default=True,
    help="saved-model: TensorFlow's (and TensorFlow Serving's). litert: a .tflite model. onnx: an .onnx model per "
    "endpoint. litert and onnx need pip install -e '.[export]'.",
)
@click.option("--overwrite", is_flag=True, help="Replace what --output holds.")
@one_line_errors
def main(run_dir, output, format_name, overwrite):
    """Export the run in --run-dir for serving, with three endpoints (encode, decode, score), a model.json that
    states the input contract and the endpoints, and a README.md model card. The folder appears complete or not at
    all."""
    from vae.serving.export import export_run

    command = shlex.join(["vae-export", *sys.argv[1:]]) if sys.argv[0].endswith("vae-export") else "vae-export"
    click.echo(export_run(run_dir, output, format_name, overwrite=overwrite, command=command))


if __name__ == "__main__":
    main()
