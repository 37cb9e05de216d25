"""The estimators of -log p(x) that the VAE literature reports: the negative ELBO and the importance-weighted estimate.

The ELBO is a lower bound on log p(x) whose gap, KL(q(z|x) || p(z|x)), depends on how good the encoder is, so two
models cannot be ranked by it alone. The importance-weighted estimate with k samples (Burda et al. 2015) is a
tighter bound that approaches log p(x) as k grows, and is the number the VAE literature compares.

The estimators take a `LatentVariableModel` of plain callables: `single_layer` makes one from an encoder returning
the mean and log-variance of a diagonal Gaussian q(z|x) and log p(x|z), so they can be checked against a model whose
log p(x) is known in closed form; `of_vae` makes one of a trained VAE, with one stochastic layer or two. What they
score may be images alone or a tuple (images, labels): a conditional VAE's callables take the tuple, and the same
computation then estimates log p(x|y). Under the binarized protocol log p(x|z) is an exact Bernoulli log-likelihood
and the result is the literature's test NLL, as it is under the discretised logistic of 8-bit images; on grayscale
digits the Bernoulli "likelihood" is not normalised over
[0, 1], so the same computation gives a bound on a BCE objective and is reported as such, never as a log-likelihood.
They return per-image numbers; `vae.evaluation.workflow` averages them over a run's test split (`vae-eval`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from vae.errors import UsageError
from vae.evaluation import EVALUATION_BATCH_SIZE
from vae.model.gaussian import kl_from_standard_normal
from vae.model.structures.gaussian_layer import importance_terms

# The noise is drawn in chunks of at most this many (sample, digit) pairs, each chunk from its own seed: the chunking
# is part of what fixes the numbers of a seed, so it does not change with the memory below.
MAX_DECODED_IMAGES = 10_000
# At most this many (sample, digit) pairs go through the decoder at once. The keras.io decoder holds about 150 KB of
# activations per image: `vae-eval --k 100000 --limit 1` peaked at 2.2 GB decoding 10,000 at once and at 1.3 GB
# with 2,000 (the whole process, TensorFlow included), with the same result and no loss of speed.
MAX_DECODER_ROWS = 2_000
# The two estimators draw from separate noise streams of the one seed, so neither depends on whether the other ran.
ELBO_STREAM = 0
IMPORTANCE_STREAM = 1

Encoder = Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor]]
LogLikelihood = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
LogPrior = Callable[[tf.Tensor], tf.Tensor]


def importance_weighted_metric_name(config) -> str:
    """The key of the importance-weighted result: a negative log-likelihood only where the run's likelihood is one of
    its data (`VAEConfig.exact_likelihood`)."""
    return "importance_weighted_nll" if config.exact_likelihood else "importance_weighted_bce_bound"


@dataclass(frozen=True)
class LatentVariableModel:
    """What the estimators need of a model whose q over its latent variables h is Gaussian.

    `posterior(inputs)` gives the parameters (mean, log-variance) of the part of q that depends on the inputs alone,
    computed once per batch: q(z|x), or q(z1|x) in a model of two stochastic layers. `terms(inputs, posterior,
    noise)` gives log p(x|h), log p(h) and log q(h|x), each (samples, digits), at the h that the standard normal
    `noise` (samples, digits, width) draws; `noise_width` is that width (None: the posterior mean's).
    `closed_form_kl(posterior)` gives KL(q(h|x) || p(h)) per digit where it has a closed form, None otherwise; the
    ELBO then takes it instead of its single-sample estimate.

    `compiled` holds the estimators' traced functions for this model (`_compiled`), so that every call on it reuses
    them instead of tracing its own.
    """

    posterior: Callable
    terms: Callable
    noise_width: int | None = None
    closed_form_kl: Callable | None = None
    compiled: dict = field(default_factory=dict, compare=False, repr=False)


def single_layer(encode: Encoder, log_likelihood: LogLikelihood, log_prior: LogPrior | None = None):
    """The model with one stochastic layer z: `encode(inputs)` gives the mean and log-variance of q(z|x),
    `log_likelihood(inputs, z)` gives log p(x|z) per row of inputs and z, and p(z) is N(0, I) or `log_prior(z)`."""
    prior = {} if log_prior is None else {"log_prior": log_prior}
    return LatentVariableModel(
        posterior=encode,
        terms=lambda inputs, posterior, noise: importance_terms(log_likelihood, inputs, *posterior, noise, **prior),
        closed_form_kl=(lambda posterior: kl_from_standard_normal(*posterior)) if log_prior is None else None,
    )


# The attribute of a model's latent structure that keeps its `of_vae` view, and with it the traced estimators.
ESTIMATOR_VIEW = "estimator_view"


def of_vae(model) -> LatentVariableModel:
    """A trained VAE's latent variables as the estimators see them, in inference mode: z, or (z1, z2) of two
    stochastic layers, given the labels (inputs (images, labels)) for a conditional model.

    One view per model, kept on its latent structure, so that the estimators trace their functions once per model
    (`_compiled`): `vae-eval --outliers` on a conditional run calls the importance-weighted one five times (the
    test split, then classifying and scoring the test images and the outliers)."""
    latent = model.latent
    view = getattr(latent, ESTIMATOR_VIEW, None)
    if view is None:
        view = LatentVariableModel(
            posterior=lambda inputs: latent.posterior(*latent.labels.split(inputs)),
            terms=latent.terms,
            noise_width=latent.noise_width,
            closed_form_kl=latent.closed_form_kl,
        )
        setattr(latent, ESTIMATOR_VIEW, view)
    return view


def model_inputs(model, images, labels=None):
    """What the estimators score for `model`: (images, labels) on a conditional model, images otherwise."""
    return model.latent.labels.join(images, labels)


def negative_elbo_terms(
    latent: LatentVariableModel,
    images,
    *,
    seed: int = 0,
    batch_size: int = EVALUATION_BATCH_SIZE,
    noise_keys: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-image reconstruction loss -log p(x|h) at one seeded h ~ q(h|x), and the KL(q(h|x) || p(h)): in closed
    form where the model has one (`latent.closed_form_kl`), otherwise (the VampPrior, two stochastic layers) its
    estimate log q(h|x) - log p(h) at that h.

    Their sum is the single-sample estimate of the negative ELBO that training minimises (Kingma & Welling 2013,
    equation 10), here always with beta = 1, because only then is it a bound on -log p(x).

    The noise of batch b comes from a stateless generator seeded by (seed, b). With `noise_keys`, one integer per
    image, each image's noise is seeded by (seed, its key) instead, so that its terms do not depend on the other
    images of the call or on its place among them (see `vae.evaluation.scores.content_keys`).
    """
    _check_integer("seed", seed, 0)
    _check_integer("batch_size", batch_size, 1)
    images = _as_inputs(images)
    keys = _as_keys(noise_keys, images)
    base_seed = tf.constant([seed, ELBO_STREAM], tf.int64)
    batch_terms = _compiled(latent, _negative_elbo_batch, keys, _first_batch_rows(images, keys, batch_size))
    terms = _over_batches(lambda *batch: batch_terms(*batch, base_seed), images, keys, batch_size)
    return terms[:, 0], terms[:, 1]


def _negative_elbo_batch(latent: LatentVariableModel, keyed: bool):
    """`negative_elbo_terms` of one batch, (digits, 2): traced once per model (`_compiled`), its seed a tensor."""

    @tf.function(reduce_retracing=True)
    def batch_terms(batch, batch_index, batch_keys, base_seed):
        mean, log_var = _posterior(latent, batch)
        shape = _noise_shape(latent, mean)
        if not keyed:
            noise = tf.random.stateless_normal(shape, seed=_fold_in(base_seed, batch_index), dtype=mean.dtype)
        else:
            noise = _keyed_normal(base_seed, batch_keys, shape[1:], mean.dtype)
        log_p_x_given_h, log_p_h, log_q_h = _terms(latent, batch, (mean, log_var), noise[None])
        reconstruction = -log_p_x_given_h[0]
        closed_form = latent.closed_form_kl((mean, log_var)) if latent.closed_form_kl is not None else None
        kl = log_q_h[0] - log_p_h[0] if closed_form is None else tf.cast(closed_form, mean.dtype)
        return tf.stack([reconstruction, kl], axis=1)

    return batch_terms


def importance_weighted_log_likelihood(
    latent: LatentVariableModel,
    images,
    k: int,
    *,
    seed: int = 0,
    batch_size: int = EVALUATION_BATCH_SIZE,
    max_decoded_images: int = MAX_DECODED_IMAGES,
    noise_keys: np.ndarray | None = None,
) -> np.ndarray:
    """Per-image estimates of log p(x) from k importance samples of q(h|x) (Burda et al. 2015, equation 8):

        log p(x) ~ log (1/k) sum_i p(x|h_i) p(h_i) / q(h_i|x),   h_i ~ q(h|x)
                 = logsumexp_i [log p(x|h_i) + log p(h_i) - log q(h_i|x)] - log k.

    In expectation this is a lower bound that equals the ELBO at k = 1, never decreases with k, and tends to log p(x)
    (Burda et al. 2015, theorem 1); with the true posterior as q it is exact for every k. With two stochastic
    layers, h = (z1, z2) and the weights span both (Burda et al. 2015, section 5).

    `latent` gives q's parameters and the three terms (see `LatentVariableModel`). The k samples are
    drawn in chunks of at most `max_decoded_images` (sample, digit) pairs and decoded at most `MAX_DECODER_ROWS` at a
    time, combined by a running logsumexp, so memory stays bounded for any k. The noise of batch b, chunk c comes
    from a stateless generator seeded by (seed, b, c): the same seed, batch size and chunking give the same numbers
    on every run. With `noise_keys`, one integer per image, chunk c of an image's noise is seeded by (seed, its key,
    c), and the chunks follow `batch_size` alone, so that each image's estimate does not depend on the other images
    of the call or on its place among them.
    """
    _check_integer("k", k, 1)
    _check_integer("seed", seed, 0)
    _check_integer("batch_size", batch_size, 1)
    _check_integer("max_decoded_images", max_decoded_images, 1)
    images = _as_inputs(images)
    keys = _as_keys(noise_keys, images)
    # Keyed batches are padded to `batch_size` rows (see `_over_batches`), so their chunks follow it alone.
    digits_per_batch = _first_batch_rows(images, keys, batch_size)
    samples_per_chunk = min(k, max(1, max_decoded_images // digits_per_batch))
    samples_per_decode = min(samples_per_chunk, max(1, MAX_DECODER_ROWS // digits_per_batch))
    chunk_count = -(-k // samples_per_chunk)
    base_seed = tf.constant([seed, IMPORTANCE_STREAM], tf.int64)
    plan = tf.constant([k, samples_per_chunk, samples_per_decode, chunk_count], tf.int64)
    batch_log_likelihood = _compiled(latent, _importance_weighted_batch, keys, digits_per_batch)
    return _over_batches(lambda *batch: batch_log_likelihood(*batch, base_seed, plan), images, keys, batch_size)


def _importance_weighted_batch(latent: LatentVariableModel, keyed: bool):
    """`importance_weighted_log_likelihood` of one batch: traced once per model (`_compiled`), its seed and its
    `plan` (k, samples per chunk, samples per decoder call, chunks) tensors, so that another k or seed reuses it."""

    @tf.function(reduce_retracing=True)
    def batch_log_likelihood(batch, batch_index, batch_keys, base_seed, plan):
        k, samples_per_chunk, samples_per_decode, chunk_count = tf.unstack(plan)
        mean, log_var = _posterior(latent, batch)
        batch_seed = _fold_in(base_seed, batch_index)
        # log of the sum of the importance weights seen so far; exp(-inf) = 0 before the first chunk.
        log_total = tf.fill(tf.shape(mean)[:1], tf.constant(-math.inf, mean.dtype))
        for chunk_index in tf.range(chunk_count, dtype=tf.int64):
            size = tf.minimum(samples_per_chunk, k - chunk_index * samples_per_chunk)
            shape = _noise_shape(latent, mean)
            if not keyed:
                noise = tf.random.stateless_normal(
                    tf.concat([[tf.cast(size, tf.int32)], shape], axis=0),
                    seed=_fold_in(batch_seed, chunk_index),
                    dtype=mean.dtype,
                )
            else:
                # (digits, size, width) from each image's own seed, then sample-major like the batch's draw.
                per_image = _keyed_normal(
                    base_seed, batch_keys, tf.stack([tf.cast(size, tf.int32), shape[1]]), mean.dtype, chunk_index
                )
                noise = tf.transpose(per_image, [1, 0, 2])
            for start in tf.range(0, size, samples_per_decode, dtype=tf.int64):
                part = noise[start : start + samples_per_decode]
                log_p_x_given_h, log_p_h, log_q_h = _terms(latent, batch, (mean, log_var), part)
                log_weights = log_p_x_given_h + log_p_h - log_q_h
                # log(a + b) from log a and log b, stably: the logsumexp of the two.
                log_total = tf.reduce_logsumexp(tf.stack([log_total, tf.reduce_logsumexp(log_weights, axis=0)]), axis=0)
        return log_total - tf.math.log(tf.cast(k, mean.dtype))

    return batch_log_likelihood


def _compiled(latent: LatentVariableModel, build: Callable, keys, rows: int):
    """The traced function `build(latent, keyed)` of this model for batches of `rows` digits, made on its first use
    and kept in `latent.compiled`: a function made anew per call traces anew per call, whatever its inputs, which
    is slow and makes TensorFlow warn of retracing. Keyed and unkeyed noise are two functions, as their graphs
    differ. So is each batch size: each function sees a call's batches as a function of its own would (its full
    batches at their size, a shorter last one at any size), so that no number depends on what ran before it."""
    key = (build.__name__, keys is not None, rows)
    if key not in latent.compiled:
        latent.compiled[key] = build(latent, keys is not None)
    return latent.compiled[key]


def _first_batch_rows(images, keys, batch_size: int) -> int:
    """The digits of a call's first batch: keyed batches are padded to `batch_size` (see `_over_batches`)."""
    return batch_size if keys is not None else min(batch_size, _count(images))


def _posterior(latent: LatentVariableModel, inputs):
    """q's mean and log-variance in the images' precision, so float64 test models stay float64."""
    mean, log_var = latent.posterior(inputs)
    dtype = tf.nest.flatten(inputs)[0].dtype
    return tf.cast(mean, dtype), tf.cast(log_var, dtype)


def _noise_shape(latent: LatentVariableModel, mean):
    """(digits, width) of one draw of the latent variables for each digit."""
    width = tf.shape(mean)[1] if latent.noise_width is None else latent.noise_width
    return tf.stack([tf.shape(mean)[0], width])


def _terms(latent: LatentVariableModel, inputs, posterior, noise):
    """`latent.terms`, in the posterior's precision."""
    return tuple(tf.cast(term, posterior[0].dtype) for term in latent.terms(inputs, posterior, noise))


def _fold_in(seed, index):
    """A seed of its own for each batch and chunk, derived from the user's one seed, so no two draws share noise."""
    return tf.random.experimental.stateless_fold_in(seed, index)


def _over_batches(batch_function, images, keys, batch_size: int) -> np.ndarray:
    """Apply `batch_function(batch, batch_index, batch_keys)` to consecutive batches and concatenate the results.

    The index goes in as a tensor, so the compiled function is traced once rather than once per batch; without
    keys, every batch gets an empty tensor of them. With keys, a short last batch is padded to `batch_size` rows
    and the padding's results dropped: the kernels' floating-point sums can depend on the number of rows, and an
    image's result must not depend on how many others share its call.
    """
    no_keys = tf.zeros([0], tf.int64)
    count = _count(images)
    results = []
    for index, start in enumerate(range(0, count, batch_size)):
        batch = rows_of(images, start, start + batch_size)
        batch_keys = no_keys if keys is None else keys[start : start + batch_size]
        rows = min(batch_size, count - start)
        if keys is not None and rows < batch_size:
            batch, batch_keys = padded(batch, batch_size), padded(batch_keys, batch_size)
        results.append(batch_function(batch, tf.constant(index, tf.int64), batch_keys)[:rows])
    return tf.concat(results, axis=0).numpy()


def padded(inputs, rows: int):
    """`inputs` (images, or each part of (images, labels)) with zero rows added up to `rows`."""

    def pad(part):
        part = tf.convert_to_tensor(part)
        extra = rows - int(part.shape[0])
        return tf.pad(part, [[0, extra]] + [[0, 0]] * (part.shape.rank - 1))

    return tf.nest.map_structure(pad, inputs)


def _keyed_normal(base_seed, keys, shape, dtype, chunk_index=None):
    """Standard normal noise of `shape` for each key, (len(keys), *shape), each drawn from the seed (base_seed, key)
    folded with `chunk_index` when given: what one image draws depends on its key alone."""

    def draw(key):
        seed = _fold_in(base_seed, key)
        if chunk_index is not None:
            seed = _fold_in(seed, chunk_index)
        return tf.random.stateless_normal(shape, seed=seed, dtype=dtype)

    return tf.map_fn(draw, keys, fn_output_signature=tf.TensorSpec(None, dtype))


def _as_keys(noise_keys, images):
    """`noise_keys` as an int64 tensor with one key per image, or None."""
    if noise_keys is None:
        return None
    keys = np.asarray(noise_keys)
    if keys.shape != (_count(images),) or keys.dtype.kind not in "iu":
        raise UsageError(f"noise_keys must hold one integer per image ({_count(images)}), got shape {keys.shape}")
    return tf.constant(keys.astype(np.int64))


def rows_of(inputs, start: int, stop: int):
    """Rows start..stop of images, or of each part of (images, labels)."""
    return tf.nest.map_structure(lambda rows: rows[start:stop], inputs)


def _count(inputs) -> int:
    return int(tf.nest.flatten(inputs)[0].shape[0])


def _as_inputs(inputs):
    """Images, or a tuple (images, labels), as tensors; the images checked to be a non-empty floating batch, the
    labels to have a row for each image."""
    if isinstance(inputs, (tuple, list)):
        if len(inputs) != 2:
            raise UsageError(f"inputs must be images or (images, labels), got {len(inputs)} arrays")
        images, labels = _as_float_tensor(inputs[0]), tf.convert_to_tensor(inputs[1])
        if labels.shape.rank != 1 or labels.shape[0] != images.shape[0]:
            raise UsageError(f"labels must hold one label per image ({images.shape[0]}), got shape {labels.shape}")
        return images, labels
    return _as_float_tensor(inputs)


def _as_float_tensor(images) -> tf.Tensor:
    images = tf.convert_to_tensor(images)
    if not images.dtype.is_floating:
        raise UsageError(f"images must be floating point (0/1 or grayscale in [0, 1]), got {images.dtype.name}")
    if images.shape.rank is None or images.shape.rank < 2 or images.shape[0] == 0:
        raise UsageError(f"images must be a non-empty batch with one row per image, got shape {images.shape}")
    return images


def _check_integer(name: str, value, minimum: int) -> None:
    # bool is an int to Python, but a flag where a count belongs is a mistake.
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not minimum <= value < 2**63:
        raise UsageError(f"{name} must be an integer >= {minimum}, got {value!r}")
