"""The diagonal Gaussian: its log-density, the reparameterised sample and its KL divergence from N(0, I).

Every latent variable of the package is such a Gaussian, so these few formulas serve the posteriors, the priors and
the estimators alike. Each sums over the last axis, in `keras.ops`, so the same code runs inside a training step and
in evaluation. The densities of a model's own parameters compute in float32 whatever precision the layers used;
`sample`, `log_density_of_draw` and `standard_log_density` keep the precision they are given, so that the float64
test models of the estimators stay exact.
"""

from __future__ import annotations

import math

from keras import ops

LOG_TWO_PI = math.log(2.0 * math.pi)


def as_float32(*tensors):
    return tuple(ops.cast(tensor, "float32") for tensor in tensors)


def sample(mean, log_var, noise):
    """The reparameterised draw z = mean + sigma * epsilon (Kingma & Welling 2013, section 2.4), from standard normal
    `noise`: a deterministic function of the parameters, so gradients flow into them."""
    return mean + ops.exp(0.5 * log_var) * noise


def log_density(x, mean, log_var):
    """log N(x; mean, diag(exp(log_var))), summed over the last axis."""
    x, mean, log_var = as_float32(x, mean, log_var)
    return -0.5 * ops.sum(ops.square(x - mean) * ops.exp(-log_var) + log_var + LOG_TWO_PI, axis=-1)


def log_density_of_draw(noise, log_var):
    """log N(z; mean, diag(exp(log_var))) at the z that `sample` draws with `noise`: (z - mean)^2 / sigma^2 is
    exactly noise^2, which avoids dividing by a tiny variance."""
    return -0.5 * ops.sum(ops.square(noise) + log_var + LOG_TWO_PI, axis=-1)


def standard_log_density(z):
    """log N(z; 0, I), summed over the last axis, in z's own precision."""
    return -0.5 * ops.sum(ops.square(z) + LOG_TWO_PI, axis=-1)


def kl_from_standard_normal(mean, log_var):
    """KL(N(mean, diag(exp(log_var))) || N(0, I)) in closed form (Kingma & Welling 2013, appendix B):
    -1/2 * sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)."""
    mean, log_var = as_float32(mean, log_var)
    return -0.5 * ops.sum(1.0 + log_var - ops.square(mean) - ops.exp(log_var), axis=-1)


def mixture_log_density(z, means, log_vars):
    """log (1/K sum_k N(z; means_k, diag(exp(log_vars_k)))), over the last axis of z (..., d), for K components
    (K, d), by a stable logsumexp over the components.

    The squared distances come from matrix products, sum_j (z_j - m_kj)^2 / v_kj = (z^2) . (1/v_k) - 2 z . (m_k / v_k)
    + sum_j m_kj^2 / v_kj, instead of a (..., K, d) tensor of differences: for a batch of 128 x 500 components x 50
    dimensions that tensor is 3.2 million numbers per operation, the products are two small matrix multiplications.
    """
    z, means, log_vars = as_float32(z, means, log_vars)
    precisions = ops.exp(-log_vars)  # (K, d)
    constants = ops.sum(ops.square(means) * precisions + log_vars + LOG_TWO_PI, axis=-1)  # (K,)
    squared = ops.matmul(ops.square(z), ops.transpose(precisions)) - 2.0 * ops.matmul(
        z, ops.transpose(means * precisions)
    )  # (..., K)
    components = -0.5 * (squared + constants)
    return ops.logsumexp(components, axis=-1) - math.log(means.shape[0])
