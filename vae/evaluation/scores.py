"""Per-image scores: how typical each image is for a trained model, what a conditional model takes it for, and the
table `vae-encode` prints.

The scores are the negative ELBO and the importance-weighted estimate of -log p(x) (Burda et al. 2015), the same
estimators `vae-eval` averages over the test split (`vae.evaluation.estimators`), here kept per image. An image
unlike the training data gets a high score, so either serves as an outlier score.

An image's scores depend on the run, the image and the seed alone: its sampling noise is seeded by the seed and a
digest of its pixels (`content_keys`), not drawn per batch. The same image scores the same alone, among 500 others,
or at another place in its folder, so that a threshold set once holds across calls.
"""

from __future__ import annotations

import hashlib

import numpy as np
from keras import ops

from vae.data.datasets import TEST_BINARIZATION_SEED
from vae.evaluation import IMPORTANCE_SAMPLES, SCORING_BATCH_SIZE, complexity
from vae.evaluation.estimators import (
    importance_weighted_log_likelihood,
    importance_weighted_metric_name,
    model_inputs,
    negative_elbo_terms,
    of_vae,
    padded,
    rows_of,
)
from vae.evaluation.thresholds import with_threshold
from vae.model.objectives import importance_weighted_bound


def score_images(model, images, k: int = IMPORTANCE_SAMPLES, *, labels=None, seed: int = 0) -> dict[str, np.ndarray]:
    """Per-image scores of how typical each image is for the model: the latent mean and log-variance, the negative
    ELBO, and the importance-weighted -log p(x) from k samples, in nats; on a conditional model given `labels`,
    of q(z|x,y) and -log p(x|y). Higher scores mean less typical images: an outlier score. A run whose likelihood
    is a code length of its data adds the image's complexity and the corrected score in bits
    (`vae.evaluation.complexity`), which the importance-weighted estimate gives.

    Under --binarize each image is binarized once, from a seed of its own (`scored_images`).
    """
    images, keys = scored_images(model, images)
    inputs = model_inputs(model, images, labels)
    means, log_vars = [], []
    for start in range(0, len(images), SCORING_BATCH_SIZE):
        # Every batch is a full one, as in the estimators, so that no image's numbers depend on its neighbours.
        rows = min(SCORING_BATCH_SIZE, len(images) - start)
        batch = padded(rows_of(inputs, start, start + SCORING_BATCH_SIZE), SCORING_BATCH_SIZE)
        mean, log_var = model.encode(*model.latent.labels.split(batch))
        means.append(np.asarray(mean)[:rows])
        log_vars.append(np.asarray(log_var)[:rows])
    latent = of_vae(model)
    options = dict(seed=seed, batch_size=SCORING_BATCH_SIZE, noise_keys=keys)
    reconstruction, kl = negative_elbo_terms(latent, inputs, **options)
    log_marginal = importance_weighted_log_likelihood(latent, inputs, k, **options)
    scores = {
        "z_mean": np.concatenate(means),
        "z_log_var": np.concatenate(log_vars),
        "negative_elbo": reconstruction + kl,
        importance_weighted_metric_name(model.vae_config): -log_marginal,
    }
    return (
        complexity.corrected_columns(scores, images, -log_marginal) if complexity.corrects(model.vae_config) else scores
    )


def classify(model, images, k: int = IMPORTANCE_SAMPLES, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A conditional VAE as a classifier: each image's label argmax_y p(x|y), with the importance-weighted estimate of
    log p(x|y) from k samples, and the (N, 10) estimates. Under a uniform prior over labels, p(y|x) is proportional
    to p(x|y), so this is the Bayes classifier of the generative model (Kingma et al. 2014)."""
    model.latent.labels.require("only a conditional run can name the label of an image")
    images, keys = scored_images(model, images)
    # Every image with every label in one call, label-major, so that the estimator is compiled once.
    classes = len(model.vae_config.classes)
    every_label = (np.tile(images, (classes, 1, 1, 1)), np.repeat(np.arange(classes, dtype=np.int32), len(images)))
    # Each image draws the same noise under every label (the keys are of its pixels alone): the labels are compared
    # with common random numbers, which makes their differences less noisy than independent draws would.
    every_key = np.tile(keys, classes)
    log_likelihoods = importance_weighted_log_likelihood(
        of_vae(model), every_label, k, seed=seed, batch_size=SCORING_BATCH_SIZE, noise_keys=every_key
    )
    log_likelihoods = log_likelihoods.reshape(classes, len(images)).T
    return np.argmax(log_likelihoods, axis=1), log_likelihoods


def image_labels(model, images, label: int | None, k: int = IMPORTANCE_SAMPLES, *, seed: int = 0):
    """The labels a model takes for `images`: None for an unconditional model; for a conditional one, `label` for all
    of them, or with no label each image's most likely label (`classify`)."""
    return model.latent.labels.image_labels(len(images), label, lambda: classify(model, images, k, seed=seed)[0])


def content_keys(images: np.ndarray) -> np.ndarray:
    """One int64 per image from the SHA-256 of its float32 pixels: the key that seeds its sampling noise."""
    rows = np.ascontiguousarray(images, dtype=np.float32).reshape(len(images), -1)
    return np.array([int.from_bytes(hashlib.sha256(row.tobytes()).digest()[:8], "little", signed=True) for row in rows])


def scored_images(model, images) -> tuple[np.ndarray, np.ndarray]:
    """Images as the model scores them, float32, and their `content_keys`. Under --binarize each image is binarized
    once, as the test digits are, from a seed of its own key, so that its 0/1 pixels do not depend on its neighbours
    either. An exported model's contract states this rule (`binarization_step`): the two change together."""
    images = np.asarray(images, dtype=np.float32)
    keys = content_keys(images)
    if model.vae_config.binarize:
        images = np.stack(
            [
                (np.random.default_rng([TEST_BINARIZATION_SEED, int(key) % 2**63]).random(image.shape) < image)
                for image, key in zip(images, keys, strict=True)
            ]
        ).astype(np.float32)
    return images, keys


def binarization_step() -> dict:
    """How `scored_images` binarizes an image under --binarize, in words and numbers a client can follow without
    this package: the last preparation step of a --binarize run's model.json
    (`vae.serving.export.preparation_steps`)."""
    return {
        "step": "binarize",
        "pixel": "1.0 where u < p, else 0.0 (a Bernoulli draw with probability p)",
        "uniform": "u = numpy.random.default_rng([seed, key % 2**63]).random((side, side, channels)), one number in "
        "[0, 1) per pixel",
        "seed": TEST_BINARIZATION_SEED,
        "key": "int.from_bytes(hashlib.sha256(pixels).digest()[:8], 'little', signed=True), pixels being the image's "
        "bytes after the steps before: float32, (side, side, channels), C order",
    }


def score_table(
    model, names: list[str], images, k: int = IMPORTANCE_SAMPLES, *, labels=None, seed: int = 0, threshold=None
):
    """`vae-encode`'s table: a header and one row per image, (name, [label, class,] latent means, latent
    log-variances, negative ELBO, importance-weighted score[, complexity, corrected score][, outlier, normalised
    score]), the last two where the run has a saved `threshold` (`vae.evaluation.thresholds`). A conditional model
    scores each image as its label of `labels` (`image_labels` gives them); the class is that label's name."""
    scores = with_threshold(score_images(model, images, k, labels=labels, seed=seed), threshold, k)
    latent_dim = model.vae_config.latent_dim
    conditioning = model.latent.labels
    header = ["path"] + conditioning.columns
    header += [f"z_mean_{index}" for index in range(latent_dim)] + [f"z_log_var_{index}" for index in range(latent_dim)]
    columns = [name for name in scores if not name.startswith("z_")]
    header += columns
    rows = []
    for index, name in enumerate(names):
        row = [name] + conditioning.cells(labels, index)
        row += [float(value) for value in scores["z_mean"][index]] + [
            float(value) for value in scores["z_log_var"][index]
        ]
        row += [scores[column][index].item() for column in columns]
        rows.append(row)
    return header, rows


def scores_at_noise(model, images, noise, labels=None, complexity_bits=None) -> dict:
    """Per-image scores at given standard normal `noise`, (k, images, noise width): the negative ELBO at its first
    sample (with the closed-form KL where there is one) and minus the importance-weighted bound over all k (Burda et
    al. 2015, equation 8); given the images' `complexity_bits` L(x), the corrected score S(x) from that bound
    (`vae.evaluation.complexity`). A pure function of the model, the images (and labels) and the noise, in
    `keras.ops`: what an exported model's `score` endpoint computes. `vae-encode` computes the same estimators with
    noise it draws itself (`score_images`)."""
    latent = model.latent
    posterior = latent.posterior(images, labels)
    log_p_x, log_p_h, log_q_h = latent.terms(latent.labels.join(images, labels), posterior, noise)
    closed_form = latent.closed_form_kl(posterior)
    kl = log_q_h[0] - log_p_h[0] if closed_form is None else ops.cast(closed_form, log_p_x.dtype)
    bound = -importance_weighted_bound(log_p_x + log_p_h - log_q_h)
    scores = {"negative_elbo": -log_p_x[0] + kl, importance_weighted_metric_name(model.vae_config): bound}
    if complexity_bits is None:
        return scores
    return scores | {complexity.CORRECTED: complexity.corrected_score(bound, ops.cast(complexity_bits, bound.dtype))}
