"""`vae-eval`: score a trained run on its test split as papers do, and save eval.json beside it."""

from __future__ import annotations

import click

from vae.evaluation import EVALUATION_BATCH_SIZE, IMPORTANCE_SAMPLES
from vae_scripts.common import data_dir_option, one_line_errors, run_dir_option

K_HELP = "Importance samples per digit (Burda et al. 2015); papers use 5000 for their final numbers."
BATCH_HELP = "Digits per step. The noise is drawn per batch, so results depend on it as on --seed."


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@run_dir_option
@data_dir_option
@click.option("--k", type=click.IntRange(min=1), default=IMPORTANCE_SAMPLES, show_default=True, help=K_HELP)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Evaluate the first N test digits only.")
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=EVALUATION_BATCH_SIZE, show_default=True, help=BATCH_HELP
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the sampling noise.")
@click.option(
    "--outliers",
    multiple=True,
    type=click.Path(),
    help="Images (files or folders) to tell from the test split: the AUROC of each score, and its thresholds at 1 % "
    "and 5 % false alarms on the test images. Repeatable.",
)
@one_line_errors
def main(run_dir, data_dir, k, limit, batch_size, seed, outliers):
    """Report the test negative ELBO, its parts and the importance-weighted -log p(x) of the run in --run-dir.

    The last is the test NLL only for runs trained with --binarize; on grayscale digits it is a bound on the BCE
    objective, not a log-likelihood, and is labelled so.
    """
    from vae.evaluation.workflow import evaluate_run
    from vae.run.storage import EVAL_FILE, output_dir

    record = evaluate_run(run_dir, data_dir, k=k, limit=limit, batch_size=batch_size, seed=seed, outliers=outliers)
    click.echo(f"{record['protocol']}: {record['digits']} test digits, k = {k}, seed {seed}")
    width = max(len(name) for name in record["metrics"])
    click.echo(f"{'metric':<{width}}  {'nats':>9}")
    for name, value in record["metrics"].items():
        click.echo(f"{name:<{width}}  {value:>9.2f}")
    if "outliers" in record:
        found = record["outliers"]
        click.echo(
            f"outliers: {found['outlier_images']} images against {found['inlier_images']} test images, each scored "
            f"as vae-encode scores it (k = {k})"
        )
        click.echo(f"{'score':<{width}}  {'AUROC':>7}  threshold (outliers above it) at")
        for name, result in found["scores"].items():
            at = "  ".join(
                f"{rate} false alarms: {value['threshold']:.2f} ({100 * value['outliers_above']:.1f} %)"
                for rate, value in result["thresholds"].items()
            )
            click.echo(f"{name:<{width}}  {result['auroc']:>7.4f}  {at}")
    click.echo(f"saved {output_dir(run_dir) / EVAL_FILE}")


if __name__ == "__main__":
    main()
