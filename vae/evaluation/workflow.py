"""`vae-eval`: a trained run scored as papers report it, the test negative ELBO and the importance-weighted
estimate of -log p(x), saved in its eval.json.

The numbers are the means over the test split of the per-image estimates of `vae.evaluation.estimators`; what they
mean follows the run's protocol (`protocol`): a test NLL only when the pixels are binary, a bound on a BCE objective
on grayscale digits. Beside them, what says whether the run has collapsed (`vae.evaluation.collapse`): its active
latent units, and its reconstruction error beside PCA's with as many components and the mean image's.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from vae import files
from vae.config import VAEConfig
from vae.data.datasets import test_inputs, to_float
from vae.data.images import find_images
from vae.errors import CollapseWarning, UsageError
from vae.evaluation import EVALUATION_BATCH_SIZE, IMPORTANCE_SAMPLES
from vae.evaluation.collapse import collapse_warning, measure_collapse, training_inputs
from vae.evaluation.estimators import (
    importance_weighted_log_likelihood,
    importance_weighted_metric_name,
    model_inputs,
    negative_elbo_terms,
    of_vae,
)
from vae.evaluation.generation import kept_sample_quality
from vae.evaluation.outliers import save_outlier_scores, score_as_outliers, scored_as_vae_encode_scores
from vae.evaluation.thresholds import check_rule, choose_threshold, detector_score, save_threshold
from vae.model.conditioning import labels_of
from vae.model.likelihoods import bits_per_dimension
from vae.run.dataset import run_dataset
from vae.run.directory import EVAL_FILE, RunDir
from vae.run.loading import load_run
from vae.run.records import weights_digest

DATASET_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}


def protocol(config: VAEConfig) -> str:
    """What the numbers of a run mean: a test NLL only when the pixels are binary, so Bernoulli is a true likelihood;
    of x given its label y on a conditional run."""
    labels = labels_of(config)
    if config.likelihood == "logistic":
        return f"test NLL{labels.likelihood()} of 8-bit images, discretised logistic (nats)"
    if config.binarize:
        return f"test NLL{labels.likelihood()}, binarized {DATASET_TITLES.get(config.dataset, 'images')} (nats)"
    return f"grayscale BCE bound{labels.likelihood(' on')} (nats), not a log-likelihood"


def evaluate(
    model, images, k: int = IMPORTANCE_SAMPLES, *, labels=None, batch_size: int = EVALUATION_BATCH_SIZE, seed: int = 0
) -> dict:
    """The mean negative ELBO, its two parts, and the mean importance-weighted -log p(x) of `images`, in nats; on a
    conditional model, of x given its `labels`, -log p(x|y).

    Args:
        model: a `VAE`.
        images: float images in [0, 1], (N, 28, 28, 1), as the model scores them (binarized under --binarize).
        k: importance samples per image.
        labels: a conditional model's labels, one per image.
        batch_size: images per batch; the noise is drawn per batch, so the numbers depend on it.
        seed: the seed of the noise.

    Returns:
        {"negative_elbo", "reconstruction_loss", "kl_loss", and the importance-weighted estimate named after the
        run's protocol (`importance_weighted_metric_name`)}, floats in nats.
    """
    latent = of_vae(model)
    images = model_inputs(model, np.asarray(images, dtype=np.float32), labels)
    reconstruction, kl = negative_elbo_terms(latent, images, seed=seed, batch_size=batch_size)
    log_marginal = importance_weighted_log_likelihood(latent, images, k, seed=seed, batch_size=batch_size)
    return {
        "negative_elbo": _mean(reconstruction + kl),
        "reconstruction_loss": _mean(reconstruction),
        "kl_loss": _mean(kl),
        importance_weighted_metric_name(model.vae_config): -_mean(log_marginal),
    }


def evaluate_run(
    run_dir: RunDir | str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    *,
    k: int = IMPORTANCE_SAMPLES,
    limit: int | None = None,
    batch_size: int = EVALUATION_BATCH_SIZE,
    seed: int = 0,
    outliers=None,
    set_threshold: str | None = None,
) -> dict:
    """Evaluate the trained run in `run_dir` on its test split and save eval.json there (`vae-eval`).

    Args:
        run_dir: a finished run.
        data_dir: where its data set is (see `vae.data.datasets.load_dataset`).
        k: importance samples per image, as for `evaluate`.
        limit: score the first `limit` test digits only.
        batch_size: images per scoring batch, as for `evaluate`.
        seed: the seed of the sampling noise, as for `evaluate`.
        outliers: image files or folders to score as outliers against the test split (`vae.evaluation.outliers`);
            every image's scores go to `outlier_scores.npz` beside eval.json.
        set_threshold: a rule of `vae.evaluation.thresholds` (`fpr=0.01`, `f1`) whose threshold on the run's
            detector score is chosen on the test split (and the outliers) and saved in the run (`threshold.json`).

    The test digits are those training scored: grayscale, or binarized once with a fixed seed under --binarize. The
    training split is read too, the run's own `limit` of it, for the baselines of `measure_collapse`.

    Returns:
        dict: what eval.json holds: the protocol, the digits, k, seed and batch size, the weights scored (their
        epochs and SHA-256), the metrics of `evaluate`, the active units and reconstruction errors of
        `vae.evaluation.collapse.measure_collapse` (and `collapse_warning`, its one line, or None), and with
        `outliers` how well the scores tell them from the test split (`vae.evaluation.outliers.score_as_outliers`).
        The sample quality that eval.json held of the same weights (`vae-eval --sample-quality`) is kept.

    Warns:
        CollapseWarning: the run ignores its input (no active latent unit, or reconstructions no better than the
            mean training image).
    """
    run_dir = RunDir(run_dir)
    if limit is not None and limit < 1:
        raise UsageError(f"limit must be at least 1, got {limit}")
    model, config, history = load_run(run_dir)
    if set_threshold is not None:
        check_rule(set_threshold, bool(outliers))
    if outliers:
        find_images(outliers)  # a bad path is refused before the test split is scored
    dataset = run_dataset(run_dir, config, data_dir).limited(config.limit)
    images = test_inputs(dataset, config.binarize)[:limit]
    metrics = evaluate(model, images, k, labels=dataset.test_labels[:limit], batch_size=batch_size, seed=seed)
    collapse = measure_collapse(
        model, training_inputs(dataset.train_images, config.binarize), images, dataset.test_labels[:limit]
    )
    record = {
        "protocol": protocol(config),
        "dataset": config.dataset,
        "binarize": config.binarize,
        "conditional": config.conditional,
        "digits": len(images),
        "k": k,
        "seed": seed,
        "batch_size": batch_size,  # the noise is drawn per batch, so the numbers depend on it
        # Which weights were scored, so that a page or table can tell when the run has trained on since.
        "weights": {"epochs": len(history["loss"]), "sha256": weights_digest(run_dir)},
        "metrics": metrics,
        # The field's unit for likelihoods of images, where the nats are a likelihood of the data.
        "bits_per_dimension": (
            {name: bits_per_dimension(value, config.image_shape) for name, value in metrics.items()}
            if config.exact_likelihood
            else None
        ),
        **collapse,
        "collapse_warning": collapse_warning(collapse),
    }
    gray = to_float(dataset.test_images)[:limit]  # binarized per image, as vae-encode does, under --binarize
    inlier_scores = outlier_scores = None
    if outliers:
        record["outliers"], inlier_scores, outlier_scores = score_as_outliers(model, gray, outliers, k, seed=seed)
        save_outlier_scores(run_dir, inlier_scores, outlier_scores)
    if set_threshold is not None:
        if inlier_scores is None:
            inlier_scores = scored_as_vae_encode_scores(model, gray, k, seed)
        score = detector_score(config)
        threshold = choose_threshold(
            set_threshold,
            score,
            record["weights"]["sha256"],
            inlier_scores[score],
            None if outlier_scores is None else outlier_scores[score],
            k,
        )
        save_threshold(run_dir, threshold)
        record["threshold"] = threshold.to_dict()
    record.update(kept_sample_quality(run_dir, record["weights"]["sha256"]))
    files.write_json(run_dir.output_dir() / EVAL_FILE, record)
    if record["collapse_warning"]:
        warnings.warn(record["collapse_warning"], CollapseWarning, stacklevel=2)
    return record


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values, dtype=np.float64))
