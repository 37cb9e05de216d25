"""`vae-reconstruct`: test digits, or your own images, above their reconstructions."""

from __future__ import annotations

from pathlib import Path

import click

from vae.evaluation import IMPORTANCE_SAMPLES
from vae.views import MAX_RECONSTRUCTIONS
from vae_scripts.common import (
    data_dir_option,
    image_options,
    index_list,
    label_options,
    one_line_errors,
    options_given,
    output_path,
    run_dir_option,
)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--images",
    "own_images",
    is_flag=True,
    help="Reconstruct the image files (or folders of them) given as arguments instead of test images.",
)
@image_options
@label_options
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
def main(paths, own_images, preprocess, save_preprocessed, label, n, indices, seed, run_dir, data_dir, output):
    """Draw test images (upper rows) and their reconstructions (lower rows), labelled, at most 10 per row. With
    --images, your own images instead, prepared as vae-encode prepares them; a conditional run reconstructs them as
    --label, or as the label it finds most likely."""
    if paths and not own_images:
        raise click.UsageError("to reconstruct your own images, pass --images before their paths")
    if own_images:
        if not paths:
            raise click.UsageError("--images needs at least one image file or folder")
        chosen = options_given("n", "indices")
        if chosen:
            raise click.UsageError(f"{' and '.join(chosen)} choose test digits, which --images replaces: drop them")
        reconstruct_images(paths, preprocess, save_preprocessed, label, run_dir, output)
        return
    preparing = options_given("preprocess", "save_preprocessed")
    if preparing:
        raise click.UsageError(f"{' and '.join(preparing)} prepare your own images: pass --images and their paths")
    if indices is not None and not 1 <= len(indices) <= MAX_RECONSTRUCTIONS:
        raise click.BadParameter(
            f"give 1 to {MAX_RECONSTRUCTIONS} indices, got {len(indices)}", param_hint="'--indices'"
        )

    from vae.errors import UsageError
    from vae.model.latent import check_indices, choose_test_digits, label_index
    from vae.run.dataset import load_test_digits
    from vae.run.loading import load_run
    from vae.views.figures import plot_reconstructions

    model, config, _ = load_run(run_dir)
    label_index(config, label)
    if label is not None:
        raise UsageError(
            f"{label.option} {label.text} applies to your own images (--images): test images are reconstructed with "
            "their own labels"
        )
    images, labels = load_test_digits(config, data_dir, run_dir)
    if indices is None:
        chosen = choose_test_digits(len(images), n, seed)
    else:
        chosen = check_indices(indices, len(images))
    click.echo(plot_reconstructions(model, images, labels, chosen, output_path(output, run_dir, "reconstruction")))


def reconstruct_images(paths, preprocess, save_preprocessed, label, run_dir, output):
    from vae.data.images import find_images, preprocessed_pngs
    from vae.data.sources import load_images
    from vae.evaluation.scores import image_labels
    from vae.files import check_writable, write_files
    from vae.model.latent import label_index
    from vae.run.loading import load_run
    from vae.views.figures import plot_image_reconstructions

    model, config, _ = load_run(run_dir)
    label = label_index(config, label)
    found = find_images(paths)
    if len(found) > MAX_RECONSTRUCTIONS:  # counted before any image is read
        raise click.UsageError(f"at most {MAX_RECONSTRUCTIONS} images, got {len(found)}")
    files, digits = load_images(found, config, preprocess)
    labels = image_labels(model, digits, label, IMPORTANCE_SAMPLES)
    pngs = preprocessed_pngs(digits, files, save_preprocessed) if save_preprocessed else {}
    path = output_path(output, run_dir, "reconstruction")
    # Both places are checked before either is written, so that a failure changes neither.
    for folder in {path.parent, *(png.parent for png in pngs)}:
        check_writable(folder)
    click.echo(plot_image_reconstructions(model, digits, [file.name for file in files], labels, path))
    write_files(pngs)


if __name__ == "__main__":
    main()
