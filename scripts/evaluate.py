"""`vae-eval`: score a trained run on its test split as papers do, and save eval.json beside it."""

from __future__ import annotations

import click

from vae.evaluation import (
    EVALUATION_BATCH_SIZE,
    IMPORTANCE_SAMPLES,
    MAX_SAMPLE_QUALITY_SAMPLES,
    MAX_TEMPERATURE,
    MIN_SAMPLE_QUALITY_SAMPLES,
    SAMPLE_QUALITY_SAMPLES,
)
from vae_scripts.common import FiniteFloatRange, data_dir_option, one_line_errors, options_given, run_dir_option

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
@click.option(
    "--set-threshold",
    "set_threshold",
    metavar="RULE",
    help="Choose a threshold on the run's detector score and save it in the run: fpr=R (R of the test images above "
    "it; needs no outliers) or f1 (F1-optimal against --outliers). vae-encode and the export then add an outlier "
    "label and a normalised score.",
)
@click.option(
    "--sample-quality",
    is_flag=True,
    help="Instead of the test bound, judge new images from the prior: the Fréchet distance, classifier score, "
    "precision and recall in the eyes of the classifier shipped for MNIST or Fashion-MNIST, beside real images' "
    "(the floor); saved in eval.json under sample_quality, the rest of it kept.",
)
@click.option(
    "--samples",
    type=click.IntRange(MIN_SAMPLE_QUALITY_SAMPLES, MAX_SAMPLE_QUALITY_SAMPLES),
    default=SAMPLE_QUALITY_SAMPLES,
    show_default=True,
    help="With --sample-quality: images drawn, and real training images for the floor.",
)
@click.option(
    "--temperature",
    type=FiniteFloatRange(0, MAX_TEMPERATURE, min_open=True),
    default=1.0,
    show_default=True,
    help="With --sample-quality: the prior's spread is scaled by it, z ~ N(0, t^2 I); below 1 trades variety for "
    "more typical images.",
)
@one_line_errors
def main(run_dir, data_dir, k, limit, batch_size, seed, outliers, set_threshold, sample_quality, samples, temperature):
    """Report the test negative ELBO, its parts and the importance-weighted -log p(x) of the run in --run-dir.

    The last is the test NLL only for runs trained with --binarize; on grayscale digits it is a bound on the BCE
    objective, not a log-likelihood, and is labelled so. Beside them: the active latent units (Burda et al. 2015),
    and the reconstruction error (MSE per pixel, PSNR) beside PCA's with as many components and the mean image's;
    a warning when the run ignores its input. With --sample-quality, judge samples of the run instead.
    """
    from vae.evaluation.collapse import active_units_line, reconstruction_line
    from vae.evaluation.workflow import evaluate_run
    from vae.run.directory import EVAL_FILE

    if sample_quality:
        measure_samples(run_dir, data_dir, samples, temperature, seed)
        return
    sampling = options_given("samples", "temperature")
    if sampling:
        raise click.UsageError(f"{' and '.join(sampling)} need --sample-quality")
    record = evaluate_run(
        run_dir,
        data_dir,
        k=k,
        limit=limit,
        batch_size=batch_size,
        seed=seed,
        outliers=outliers,
        set_threshold=set_threshold,
    )
    click.echo(f"{record['protocol']}: {record['digits']} test digits, k = {k}, seed {seed}")
    width = max(len(name) for name in [*record["metrics"], *record.get("outliers", {}).get("scores", {})])
    bits = record.get("bits_per_dimension") or {}
    click.echo(f"{'metric':<{width}}  {'nats':>9}" + ("  bits/dim" if bits else ""))
    for name, value in record["metrics"].items():
        click.echo(f"{name:<{width}}  {value:>9.2f}" + (f"  {bits[name]:>8.3f}" if name in bits else ""))
    click.echo(active_units_line(record))
    click.echo(reconstruction_line(record))
    if "outliers" in record:
        found = record["outliers"]
        click.echo(
            f"outliers: {found['outlier_images']} images against {found['inlier_images']} test images, each scored "
            f"as vae-encode scores it (k = {k})"
        )
        click.echo(f"{'score':<{width}}  {'AUROC':>7}  threshold (outliers above it) at")
        for name, result in found["scores"].items():
            at = "  ".join(
                f"{rate if rate.startswith('F1') else rate + ' false alarms'}: {value['threshold']:.2f} "
                f"({100 * value['outliers_above']:.1f} %)"
                for rate, value in result["thresholds"].items()
            )
            click.echo(f"{name:<{width}}  {result['auroc']:>7.4f}  {at}")
        click.echo(f"saved {draw_outliers(run_dir, record)}")
    if "threshold" in record:
        click.echo(threshold_line(record["threshold"], record["digits"]))
    click.echo(f"saved {run_dir.output_dir() / EVAL_FILE}")


def draw_outliers(run_dir, record: dict):
    """The ROC curve and histograms of the run's detector score, with its thresholds, beside eval.json."""
    from vae.evaluation.outliers import load_outlier_scores
    from vae.evaluation.thresholds import detector_score
    from vae.run.records import read_config
    from vae.views.outliers import OUTLIERS_PICTURE, plot_outlier_scores

    score = detector_score(read_config(run_dir))
    result = record["outliers"]["scores"][score]
    thresholds = {
        (rate if rate.startswith("F1") else f"{rate} false alarms"): value["threshold"]
        for rate, value in result["thresholds"].items()
    }
    if "threshold" in record:
        thresholds[f"saved ({record['threshold']['rule']})"] = record["threshold"]["value"]
    inliers, outliers = load_outlier_scores(run_dir, score)
    return plot_outlier_scores(
        inliers, outliers, score, result["auroc"], thresholds, run_dir.output_dir() / OUTLIERS_PICTURE
    )


def threshold_line(threshold: dict, digits: int) -> str:
    """What a saved threshold is and what it was chosen on, in one line."""
    if threshold["outliers"]:
        chosen = f"chosen on {threshold['inliers']:,} test images and {threshold['outliers']:,} labelled outliers"
    else:
        chosen = f"from the {digits:,} held-out test images' scores alone, with no labelled outliers"
    return (
        f"threshold: {threshold['score']} > {threshold['value']:.4g} ({threshold['rule']}, {chosen}); saved in the "
        "run: vae-encode and vae-export now add an outlier label and a normalised score"
    )


def measure_samples(run_dir, data_dir, samples: int, temperature: float, seed: int) -> None:
    """`vae-eval --sample-quality`: measure, print, and save into eval.json."""
    from vae.evaluation.generation import sample_quality, save_sample_quality
    from vae.run.directory import EVAL_FILE

    bound = options_given("k", "limit", "batch_size", "outliers")
    if bound:
        raise click.UsageError(
            f"{', '.join(bound)} set the test bound, which --sample-quality does not measure: run them without it"
        )
    record = sample_quality(run_dir, data_dir, samples=samples, temperature=temperature, seed=seed)
    save_sample_quality(run_dir, record)
    print_sample_quality(record)
    click.echo(f"saved {run_dir.output_dir() / EVAL_FILE}")


def print_sample_quality(record: dict) -> None:
    """The numbers of the samples beside the floor's, and a conditional run's accuracy per asked class."""
    from vae.evaluation.sample_quality import METRIC_NAMES

    judge, floor = record["judge"], record["floor"]
    click.echo(
        f"sample quality: {record['samples']} samples from {record['prior']} at temperature {record['temperature']:g}, "
        f"seed {record['seed']}, judged by the {judge['dataset']} classifier ({100 * judge['test_accuracy']:.2f} % "
        f"test accuracy) against {record['test_images']} test images; the floor: {floor['images']} training images"
    )
    width = max(len(name) for name in METRIC_NAMES.values())
    click.echo(f"{'metric':<{width}}  {'samples':>8}  {'floor':>8}")
    for key, name in METRIC_NAMES.items():
        if key in record["metrics"]:
            click.echo(f"{name:<{width}}  {record['metrics'][key]:>8.3f}  {floor['metrics'][key]:>8.3f}")
    per_class = record["metrics"].get("per_class_accuracy")
    if per_class:
        shares = ", ".join(f"{name} {100 * share:.1f} %" for name, share in per_class.items())
        click.echo(f"named as the asked class: {shares}")


if __name__ == "__main__":
    main()
