"""The prior p(z): the standard normal, or the VampPrior (Tomczak & Welling 2018).

The VampPrior is the mixture of the encoder's own posteriors at K learned pseudo-inputs u_1..u_K,

    p(z) = 1/K sum_k q(z | u_k),

so the prior is learned with the encoder and fits where the encoder puts the data ("variational mixture of
posteriors", Tomczak & Welling 2018, equation 9). Its KL term against q(z|x) has no closed form: training and
evaluation estimate it with the same samples of z as the reconstruction term, log q(z|x) - log p(z).
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from vae.config import IMAGE_SHAPE

LOG_TWO_PI = math.log(2.0 * math.pi)


@keras.saving.register_keras_serializable(package="vae")
class PseudoInputs(keras.layers.Layer):
    """K learned images in [0, 1], the VampPrior's pseudo-inputs: a sigmoid of free logits, so that they stay valid
    images without clipping. The logits start as N(0, 1) noise, so every component starts at its own point."""

    def __init__(self, count: int, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.count = count
        self.seed = seed

    def build(self, input_shape=None):
        self.logits = self.add_weight(
            shape=(self.count, *IMAGE_SHAPE),
            initializer=keras.initializers.RandomNormal(stddev=1.0, seed=self.seed),
            name="logits",
        )
        self.built = True

    def images(self):
        """The pseudo-inputs, (K, 28, 28, 1)."""
        return ops.sigmoid(self.logits)

    def call(self, inputs=None):
        return self.images()

    def get_config(self):
        return {**super().get_config(), "count": self.count, "seed": self.seed}


def standard_normal_log_density(z):
    """log N(z; 0, I), summed over the last axis."""
    z = ops.cast(z, "float32")
    return -0.5 * ops.sum(ops.square(z) + LOG_TWO_PI, axis=-1)


def diagonal_normal_log_density(x, mean, log_var):
    """log N(x; mean, diag(exp(log_var))), summed over the last axis."""
    x, mean, log_var = (ops.cast(t, "float32") for t in (x, mean, log_var))
    return -0.5 * ops.sum(ops.square(x - mean) * ops.exp(-log_var) + log_var + LOG_TWO_PI, axis=-1)


def mixture_log_density(z, means, log_vars):
    """log (1/K sum_k N(z; means_k, diag(exp(log_vars_k)))), over the last axis of z (..., d), for K components
    (K, d), by a stable logsumexp over the components.

    The squared distances come from matrix products, sum_j (z_j - m_kj)^2 / v_kj = (z^2) . (1/v_k) - 2 z . (m_k / v_k)
    + sum_j m_kj^2 / v_kj, instead of a (..., K, d) tensor of differences: for a batch of 128 x 500 components x 50
    dimensions that tensor is 3.2 million numbers per operation, the products are two small matrix multiplications.
    """
    z = ops.cast(z, "float32")
    means, log_vars = ops.cast(means, "float32"), ops.cast(log_vars, "float32")
    precisions = ops.exp(-log_vars)  # (K, d)
    constants = ops.sum(ops.square(means) * precisions + log_vars + LOG_TWO_PI, axis=-1)  # (K,)
    squared = ops.matmul(ops.square(z), ops.transpose(precisions)) - 2.0 * ops.matmul(
        z, ops.transpose(means * precisions)
    )  # (..., K)
    components = -0.5 * (squared + constants)
    return ops.logsumexp(components, axis=-1) - math.log(means.shape[0])


def sample_mixture(means: np.ndarray, log_vars: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n draws from the mixture: a component chosen uniformly, then z = mean + sigma * epsilon."""
    chosen = rng.integers(0, len(means), n)
    noise = rng.standard_normal((n, means.shape[1]))
    return (means[chosen] + np.exp(0.5 * log_vars[chosen]) * noise).astype("float32")
