"""`vae-encode`: your own images in, one CSV row each out: the latent point and two outlier scores."""

from __future__ import annotations

from pathlib import Path

import click

from vae.evaluation import IMPORTANCE_SAMPLES
from vae_scripts.common import image_options, label_options, one_line_errors, run_dir_option


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--k",
    type=click.IntRange(min=1),
    default=IMPORTANCE_SAMPLES,
    show_default=True,
    help="Importance samples per image for the -log p(x) column.",
)
@label_options
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seeds the sampling noise.")
@image_options
@run_dir_option
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the CSV here, not to stdout.")
@click.option(
    "--maps",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write each image's anomaly map into this folder: a PNG of the per-pixel -log p(x|z) over the image, "
    "on one colour scale for all of them.",
)
@one_line_errors
def main(paths, k, label, seed, preprocess, save_preprocessed, run_dir, output, maps):
    """Encode images (PNG, JPEG, BMP, GIF, WebP; files, or folders of them) and score them: a CSV row per image with
    its path, [its label and class,] the latent mean and log-variance, the negative ELBO and the importance-weighted
    -log p(x) in nats; on a detector run also its complexity and the corrected score in bits; and where a threshold
    is saved in the run (vae-eval --set-threshold), outlier (0 or 1) and normalised_score (0 to 1, 0.5 at the
    threshold). Higher scores mean images less like the training data.

    Images are prepared as the run's training images were: for a run of digits, made to look like MNIST digits
    (light ink on dark, cropped, scaled into 20x20, centred by mass in 28x28); for a run on a folder of images, fitted
    to its size and colour; unless --no-preprocess. A conditional run scores each image as --label, or as its most
    likely label.
    """
    from vae.data.images import preprocessed_pngs
    from vae.data.sources import load_images
    from vae.evaluation.scores import image_labels, score_table
    from vae.evaluation.thresholds import load_threshold
    from vae.files import csv_text, write_files
    from vae.model.latent import label_index
    from vae.run.loading import load_run

    if maps and save_preprocessed and Path(maps).resolve() == Path(save_preprocessed).resolve():
        raise click.UsageError("--maps and --save-preprocessed name one folder, where their pictures of an image "
                               "would take one name: give each its own folder")  # fmt: skip
    model, config, _ = load_run(run_dir)
    label = label_index(config, label)
    files, digits = load_images(paths, config, preprocess)
    threshold = load_threshold(run_dir, config)
    labels = image_labels(model, digits, label, k, seed=seed)
    names = [str(file) for file in files]
    header, rows = score_table(model, names, digits, k, labels=labels, seed=seed, threshold=threshold)
    text = csv_text(header, rows)
    # Every file this command writes is ready, and every folder checked, before the first is written.
    contents = preprocessed_pngs(digits, files, save_preprocessed) if save_preprocessed else {}
    if maps:
        from vae.evaluation.anomaly_maps import anomaly_maps
        from vae.views.anomaly_maps import anomaly_map_pngs

        pictures, top = anomaly_map_pngs(digits, anomaly_maps(model, digits, labels), files, maps)
        contents |= pictures
    if output:
        contents[output] = text
    write_files(contents)
    if maps:
        click.echo(
            f"wrote {len(files)} anomaly maps to {maps}, on one scale from 0 to {top:.3g} nats per pixel", err=True
        )
    if output:
        click.echo(f"wrote {len(rows)} rows to {output}", err=True)
    else:
        click.echo(text, nl=False)


if __name__ == "__main__":
    main()
