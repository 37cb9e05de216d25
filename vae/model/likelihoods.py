"""The decoder's distribution p(x|z) over the pixels, chosen by the config's `likelihood`.

Each likelihood says how many numbers the decoder emits per pixel and channel (`parameters`), what -log p(x|z) is
of each pixel and channel (`per_value`) and of an image (`negative_log_likelihood`, nats per image, summed over the
pixels) under them, and which image the pictures show (`mean`). The structures (`vae.model.structures`) ask it for
log p(x|z), and the model for its images, so the ELBO, the importance-weighted bound, the per-image scores of
`vae-encode`, the anomaly maps and the exported models all use the run's own likelihood.

- "bernoulli": independent Bernoulli pixels. For binarized data it is the exact likelihood; for gray levels it is the
  usual cross-entropy surrogate, which is not a density of 8-bit images.
- "logistic": the discretised logistic of PixelCNN++ (Salimans et al. 2017, equation 2), one component per pixel and
  channel with its own location and scale: a probability over the 256 levels of an 8-bit image, so its negative log
  likelihood is a real one, reported in nats and in bits per dimension. It was chosen over the σ-VAE's Gaussian with
  a calibrated scale (Rybkin et al. 2021) because it is a probability of the 8-bit values themselves, with no
  dequantisation, and its learned per-pixel scale calibrates the decoder as the σ-VAE's does.
"""

from __future__ import annotations

import math

from keras import ops

# The 8-bit levels of the images a discretised likelihood is a probability over.
LEVELS = 256
# The logistic's log-scale floor, as in PixelCNN++: a scale of e^-7 of the [-1, 1] range already puts all of a pixel's
# mass in one level, and a smaller one only makes the gradients steep.
MIN_LOG_SCALE = -7.0


def per_image(per_value):
    """The sum over every pixel and channel of each image."""
    return ops.sum(ops.reshape(per_value, (ops.shape(per_value)[0], -1)), axis=1)


class Bernoulli:
    """Independent Bernoulli pixels, from one logit per pixel and channel."""

    name = "bernoulli"
    parameters = 1

    def per_value(self, images, outputs):
        """-log p(x_i|z) of every pixel and channel: the Bernoulli cross-entropy, computed from the logits, which is
        stable where sigmoid-then-log is not."""
        return ops.binary_crossentropy(images, ops.cast(outputs, "float32"), from_logits=True)

    def negative_log_likelihood(self, images, outputs):
        """-log p(x|z) per image: the cross-entropy summed over the pixels."""
        return per_image(self.per_value(images, outputs))

    def mean(self, outputs):
        """The pixel probabilities, in [0, 1]."""
        return ops.sigmoid(outputs)


class DiscretisedLogistic:
    """A logistic per pixel and channel, discretised to the 256 levels of 8-bit images (Salimans et al. 2017).

    The decoder emits the locations in its first `channels` maps and the log-scales in the next `channels`, on the
    [-1, 1] scale of PixelCNN++; images in [0, 1] are x = level / 255 and map to 2x - 1 there.
    """

    name = "logistic"
    parameters = 2

    @staticmethod
    def split(outputs):
        outputs = ops.cast(outputs, "float32")
        channels = ops.shape(outputs)[-1] // 2
        return outputs[..., :channels], ops.maximum(outputs[..., channels:], MIN_LOG_SCALE)

    def negative_log_likelihood(self, images, outputs):
        """-log P(x|z) per image, the sum over the pixels of -log of the logistic's mass on each pixel's level
        (`per_value`)."""
        return per_image(self.per_value(images, outputs))

    def per_value(self, images, outputs):
        """-log P(x_i|z) of every pixel and channel: -log of the logistic's mass on the pixel's level.

        A level's mass is sigmoid((x + 1/255 - mu) / s) - sigmoid((x - 1/255 - mu) / s) on the [-1, 1] scale, whose
        levels lie 2/255 apart; the lowest level takes all the mass below it and the highest all above (Salimans et
        al. 2017, equation 2). Where the difference underflows, the density at the centre times the level's width
        stands in for it, as in PixelCNN++'s own code.
        """
        location, log_scale = self.split(outputs)
        x = 2.0 * ops.cast(images, "float32") - 1.0
        centred = x - location
        inverse_scale = ops.exp(-log_scale)
        half_level = 1.0 / (LEVELS - 1)
        upper = inverse_scale * (centred + half_level)
        lower = inverse_scale * (centred - half_level)
        # log sigmoid(a) = a - softplus(a); log (1 - sigmoid(b)) = -softplus(b).
        log_cdf_upper = upper - ops.softplus(upper)
        log_survival_lower = -ops.softplus(lower)
        mass = ops.sigmoid(upper) - ops.sigmoid(lower)
        middle = inverse_scale * centred
        log_density_middle = middle - log_scale - 2.0 * ops.softplus(middle)
        log_mass = ops.where(
            mass > 1e-5,
            ops.log(ops.maximum(mass, 1e-12)),
            log_density_middle + math.log(2.0 * half_level),
        )
        log_probability = ops.where(
            x < -1.0 + half_level, log_cdf_upper, ops.where(x > 1.0 - half_level, log_survival_lower, log_mass)
        )
        return -log_probability

    def mean(self, outputs):
        """The logistic's location, as an image in [0, 1]: the picture of the most likely levels."""
        location, _ = self.split(outputs)
        return ops.clip((location + 1.0) / 2.0, 0.0, 1.0)


# The class of each likelihood of `vae.config.LIKELIHOODS`.
LIKELIHOOD_CLASSES = {likelihood.name: likelihood for likelihood in (Bernoulli, DiscretisedLogistic)}


def likelihood_of(config):
    """The likelihood object of a run's config."""
    return LIKELIHOOD_CLASSES[config.likelihood]()


def bits_per_dimension(nats_per_image: float, image_shape) -> float:
    """Nats per image as bits per pixel and channel, as the field reports likelihoods of colour images."""
    return nats_per_image / (math.prod(image_shape) * math.log(2.0))
