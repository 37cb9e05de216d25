"""What training maximises, as pure functions of the log terms of a latent structure.

Every latent structure gives, at samples h_1..h_K ~ q(h|x) drawn with the same noise, the (K, digits) tensors
log p(x|h), log p(h) and log q(h|x), and the closed-form KL(q(h|x) || p(h)) where there is one. From them:

- the ELBO (Kingma & Welling 2013, equation 10): E_q[log p(x|h)] - KL(q(h|x) || p(h)), estimated at the first
  sample, with the closed-form KL where there is one and log q(h|x) - log p(h) at that sample otherwise;
- the importance-weighted bound of Burda et al. 2015 (equation 8), log (1/K) sum_k p(x, h_k) / q(h_k|x), which the
  IWAE objective maximises.

Both weigh the KL part by beta (Higgins et al. 2017); only at beta = 1 is either a bound on log p(x). Each
objective returns `Losses`, per digit: the reconstruction and KL parts of the single-sample ELBO, which every run
reports so that runs stay comparable, and for the IWAE objective minus its bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keras import ops

# The history's name for minus the IWAE objective's bound (test_negative_iw_bound on the test split).
NEGATIVE_IW_BOUND = "negative_iw_bound"


def importance_weighted_bound(log_weights):
    """Per digit, log (1/K) sum_k w_k from the (K, digits) log weights, by a stable logsumexp (Burda et al. 2015,
    equation 8). It equals the ELBO's single-sample estimate at K = 1 and does not decrease in K, in expectation."""
    samples = ops.cast(ops.shape(log_weights)[0], log_weights.dtype)
    return ops.logsumexp(log_weights, axis=0) - ops.log(samples)


@dataclass(frozen=True)
class Losses:
    """Per-digit losses of one step: the single-sample ELBO's reconstruction and KL parts, and minus the objective's
    own bound where it has one beside them (None for the ELBO)."""

    reconstruction: Any
    kl: Any
    negative_bound: Any = None

    def batch_loss(self, beta: float, free_nats: float, global_rows):
        """What training minimises: this replica's share of the batch mean of minus the objective's bound, or of the
        negative (beta-)ELBO, whose rows are divided by the `global_rows` of the whole batch (the replicas' shares
        then sum to the mean).

        The ELBO's KL term counts as at least `free_nats` per image on average over the batch (free bits, Kingma et
        al. 2016, equation 15, with the whole latent as one group): below that the gradient stops pushing q(z|x)
        onto the prior, which keeps a model from collapsing early, when the decoder alone can already draw the mean
        image. The importance-weighted bound has no separate KL term, so it takes no free bits.
        """
        rows = ops.cast(global_rows, "float32")
        if self.negative_bound is not None:
            return ops.sum(self.negative_bound) / rows
        if not free_nats:
            return ops.sum(self.reconstruction + beta * self.kl) / rows
        share = ops.cast(ops.shape(self.kl)[0], "float32") / rows
        return ops.sum(self.reconstruction) / rows + beta * ops.maximum(free_nats * share, ops.sum(self.kl) / rows)


def single_sample_parts(log_p_x_given_h, log_p_h, log_q_h, closed_form_kl):
    """The ELBO's reconstruction and KL parts at the first sample: its KL in closed form where there is one,
    otherwise estimated at that sample as log q(h|x) - log p(h), which is the KL in expectation."""
    kl = log_q_h[0] - log_p_h[0] if closed_form_kl is None else closed_form_kl
    return -log_p_x_given_h[0], kl


def elbo(log_p_x_given_h, log_p_h, log_q_h, closed_form_kl, beta: float) -> Losses:
    """The ELBO's losses (see the module's docstring)."""
    return Losses(*single_sample_parts(log_p_x_given_h, log_p_h, log_q_h, closed_form_kl))


def iwae(log_p_x_given_h, log_p_h, log_q_h, closed_form_kl, beta: float) -> Losses:
    """The importance-weighted bound's losses, with the single-sample ELBO's parts beside it; beta weighs log p(h) -
    log q(h|x) in each log weight."""
    log_weights = log_p_x_given_h + beta * (log_p_h - log_q_h)
    return Losses(
        *single_sample_parts(log_p_x_given_h, log_p_h, log_q_h, closed_form_kl),
        negative_bound=-importance_weighted_bound(log_weights),
    )


# Each objective of `vae.config.OBJECTIVES`, and the per-digit means it reports beside the ELBO's two parts.
OBJECTIVE_FUNCTIONS = {"elbo": elbo, "iwae": iwae}
REPORTED_BOUNDS = {"elbo": (), "iwae": (NEGATIVE_IW_BOUND,)}
