"""`vae-decode`: latent vectors in, the decoded digits out as a PNG."""

from __future__ import annotations

from pathlib import Path

import click

from vae_scripts.common import digit_option, one_line_errors, output_path, run_dir_option


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--z",
    "vectors",
    multiple=True,
    required=True,
    help='A latent vector, comma-separated ("0.5,-1.2"), one value per latent axis. Repeat for a row of digits.',
)
@digit_option
@run_dir_option
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Default: <run-dir>/decoded.png")
@one_line_errors
def main(vectors, digit, run_dir, output):
    """Decode latent vectors (with --digit on a conditional run) into a PNG of their digits, side by side, at 28x28
    pixels each: the decoder's mean image, white ink on black, ready for vae-encode --no-preprocess."""
    from vae import load_run
    from vae.latent import check_digit, decode, digit_labels, parse_latent_vectors
    from vae.plots import save_digit_row

    model, config, _ = load_run(run_dir)
    check_digit(config, digit)
    z = parse_latent_vectors(vectors, config.latent_dim)
    images = decode(model, z, digit_labels(digit, len(z)))
    click.echo(save_digit_row(images, output_path(output, run_dir, "decoded")))


if __name__ == "__main__":
    main()
