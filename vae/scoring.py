"""Per-image scores: how typical each image is for a trained model, what a conditional model takes it for, and the
table `vae-encode` prints.

The scores are the negative ELBO and the importance-weighted estimate of -log p(x) (Burda et al. 2015), the same
estimators `vae-eval` averages over the test split (`vae.evaluation`), here kept per image. An image unlike the
training data gets a high score, so either serves as an outlier score.
"""

from __future__ import annotations

import numpy as np

from vae.config import CLASSES, EVALUATION_BATCH_SIZE, IMPORTANCE_SAMPLES
from vae.data import binarize_once
from vae.errors import UsageError
from vae.evaluation import (
    importance_weighted_log_likelihood,
    importance_weighted_metric_name,
    model_inputs,
    negative_elbo_terms,
    of_vae,
    rows_of,
)


def score_images(model, images, k: int = IMPORTANCE_SAMPLES, *, labels=None, seed: int = 0) -> dict[str, np.ndarray]:
    """Per-image scores of how typical each image is for the model: the latent mean and log-variance, the negative
    ELBO, and the importance-weighted -log p(x) from k samples, in nats; on a conditional model given `labels`,
    of q(z|x,y) and -log p(x|y). Higher scores mean less typical images: an outlier score.

    Under --binarize the images are binarized as the test digits are, once with a fixed seed.
    """
    images = scored_images(model, images)
    inputs = model_inputs(model, images, labels)
    means, log_vars = [], []
    for start in range(0, len(images), EVALUATION_BATCH_SIZE):
        mean, log_var = model.encode(*model.split_inputs(rows_of(inputs, start, start + EVALUATION_BATCH_SIZE)))
        means.append(np.asarray(mean))
        log_vars.append(np.asarray(log_var))
    latent = of_vae(model)
    reconstruction, kl = negative_elbo_terms(latent, inputs, seed=seed)
    log_marginal = importance_weighted_log_likelihood(latent, inputs, k, seed=seed)
    return {
        "z_mean": np.concatenate(means),
        "z_log_var": np.concatenate(log_vars),
        "negative_elbo": reconstruction + kl,
        importance_weighted_metric_name(model.vae_config.binarize): -log_marginal,
    }


def classify(model, images, k: int = IMPORTANCE_SAMPLES, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A conditional VAE as a classifier: each image's label argmax_y p(x|y), with the importance-weighted estimate of
    log p(x|y) from k samples, and the (N, 10) estimates. Under a uniform prior over labels, p(y|x) is proportional
    to p(x|y), so this is the Bayes classifier of the generative model (Kingma et al. 2014)."""
    if not model.vae_config.conditional:
        raise UsageError(
            "only a conditional run can name the label of an image: train one with vae-train --conditional"
        )
    images = scored_images(model, images)
    # Every image with every label in one call, label-major, so that the estimator is compiled once.
    every_label = (np.tile(images, (CLASSES, 1, 1, 1)), np.repeat(np.arange(CLASSES, dtype=np.int32), len(images)))
    log_likelihoods = importance_weighted_log_likelihood(of_vae(model), every_label, k, seed=seed)
    log_likelihoods = log_likelihoods.reshape(CLASSES, len(images)).T
    return np.argmax(log_likelihoods, axis=1), log_likelihoods


def image_labels(model, images, digit: int | None, k: int = IMPORTANCE_SAMPLES, *, seed: int = 0):
    """The labels a model takes for `images`: None for an unconditional model; for a conditional one, `digit` for all
    of them, or with no digit each image's most likely label (`classify`)."""
    if not model.vae_config.conditional:
        return None
    if digit is not None:
        return np.full(len(images), digit, np.int32)
    return classify(model, images, k, seed=seed)[0].astype(np.int32)


def scored_images(model, images) -> np.ndarray:
    """Images as the model scores them: float32, binarized once with the test digits' fixed seed under --binarize."""
    images = np.asarray(images, dtype=np.float32)
    return binarize_once(images) if model.vae_config.binarize else images


def score_table(model, names: list[str], images, k: int = IMPORTANCE_SAMPLES, *, digit=None, seed: int = 0):
    """`vae-encode`'s table: a header and one row per image, (name, [label,] latent means, latent log-variances,
    negative ELBO, importance-weighted score). A conditional model scores each image as `digit`, or, with no digit,
    as the label it finds most likely (`classify`)."""
    labels = image_labels(model, images, digit, k, seed=seed)
    scores = score_images(model, images, k, labels=labels, seed=seed)
    latent_dim = model.vae_config.latent_dim
    header = ["path"] + (["label"] if labels is not None else [])
    header += [f"z_mean_{index}" for index in range(latent_dim)] + [f"z_log_var_{index}" for index in range(latent_dim)]
    header += ["negative_elbo", importance_weighted_metric_name(model.vae_config.binarize)]
    rows = []
    for index, name in enumerate(names):
        row = [name] + ([int(labels[index])] if labels is not None else [])
        row += [float(value) for value in scores["z_mean"][index]] + [
            float(value) for value in scores["z_log_var"][index]
        ]
        row += [float(scores["negative_elbo"][index]), float(scores[header[-1]][index])]
        rows.append(row)
    return header, rows
