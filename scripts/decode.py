"""`vae-decode`: latent vectors in, the decoded digits out as a PNG."""

from __future__ import annotations

from pathlib import Path

import click

from vae_scripts.common import label_options, one_line_errors, output_path, run_dir_option


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--z",
    "vectors",
    multiple=True,
    required=True,
    help='A latent vector, comma-separated ("0.5,-1.2"), one value per latent axis. Repeat for a row of digits.',
)
@label_options
@run_dir_option
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Default: <run-dir>/decoded.png")
@one_line_errors
def main(vectors, label, run_dir, output):
    """Decode latent vectors (with --label on a conditional run) into a PNG of their images, side by side, at the
    run's size, pixel for pixel: the decoder's mean image, ready for vae-encode --no-preprocess."""
    from vae.model.latent import decode, label_index, parse_latent_vectors, repeated_label
    from vae.run.loading import load_run
    from vae.views.figures import save_digit_row

    model, config, _ = load_run(run_dir)
    label = label_index(config, label)
    z = parse_latent_vectors(vectors, config.latent_dim)
    images = decode(model, z, repeated_label(label, len(z)))
    click.echo(save_digit_row(images, output_path(output, run_dir, "decoded")))


if __name__ == "__main__":
    main()
