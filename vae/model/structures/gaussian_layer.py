"""One stochastic layer: x -> z -> x, with a diagonal Gaussian q(z|x) (Kingma & Welling 2013).

The networks are the encoder q(z|x) and the decoder p(x|z) of the run's network; a conditional run's take the label
too, through the run's label adapter (`vae.model.conditioning`), and p(z) is the run's prior (`vae.model.prior`).
"""

from __future__ import annotations

from keras import ops

from vae.model import gaussian
from vae.model.decoder import build_decoder
from vae.model.encoder import build_encoder
from vae.model.likelihoods import likelihood_of


def tile_samples(rows, samples):
    """`rows` repeated `samples` times along the first axis: row s * count + n is row n, for sample s."""
    return ops.tile(rows, (samples,) + (1,) * (len(rows.shape) - 1))


def importance_terms(log_likelihood, inputs, mean, log_var, noise, log_prior=gaussian.standard_log_density):
    """The three terms of the log importance weights of Burda et al. 2015, equation 8, at z = mean + sigma * noise:
    log p(x|z), log p(z) and log q(z|x), each a (samples, digits) tensor, in the precision of `mean`.

    `noise` is (samples, digits, latent_dim); `log_likelihood(inputs, z)` gives log p(x|z) per row of the tiled
    inputs; `log_prior(z)` gives log p(z) over the last axis, the standard normal's by default.
    """
    samples, count = ops.shape(noise)[0], ops.shape(noise)[1]
    z = gaussian.sample(mean, log_var, noise)
    # Sample-major rows: row s * count + n holds sample s of digit n, so the images (and labels) are tiled the same
    # way.
    tiled = _map_structure(lambda rows: tile_samples(rows, samples), inputs)
    flat_z = ops.reshape(z, (samples * count, ops.shape(z)[2]))
    log_p_x_given_z = ops.reshape(ops.cast(log_likelihood(tiled, flat_z), mean.dtype), (samples, count))
    log_p_z = ops.cast(log_prior(z), mean.dtype)
    log_q_z = gaussian.log_density_of_draw(noise, log_var)
    return log_p_x_given_z, log_p_z, log_q_z


def _map_structure(function, inputs):
    """`function` applied to images, or to each part of (images, labels)."""
    if isinstance(inputs, (tuple, list)):
        return type(inputs)(function(part) for part in inputs)
    return function(inputs)


class GaussianLayer:
    """z ~ q(z|x) = N(mean(x), diag(exp(log_var(x)))), p(z) the prior, p(x|z) the run's likelihood.

    `networks` are its Keras networks, which the model tracks under these names: their paths in the weights file.
    """

    def __init__(self, config, labels, prior):
        self.labels = labels
        self.latent_dim = config.latent_dim
        self.noise_width = config.latent_dim  # standard normal numbers per digit and sample that draw z
        self.likelihood = likelihood_of(config)
        parameters = self.likelihood.parameters
        self.networks = {
            "encoder": build_encoder(config.network, config.latent_dim, labels.classes, config.image_shape),
            "decoder": build_decoder(config.network, config.latent_dim, labels.classes, config.image_shape, parameters),
        }
        self.encoder, self.decoder = self.networks["encoder"], self.networks["decoder"]
        self.prior = prior
        prior.bind(self.encode)

    def build(self, image_shape) -> None:
        labels = self.labels.label_inputs()
        self.encoder.build([(None, *image_shape), *labels])
        self.decoder.build([(None, self.latent_dim), *labels])

    def posterior(self, images, labels=None, training=False):
        """The parameters (mean, log-variance) of q(z|x), or of q(z|x,y) given the labels y."""
        return self.encoder(self.labels.attach(images, labels), training=training)

    def encode(self, images, labels=None, training=False):
        """Where the images lie in the latent space: the parameters of q(z|x)."""
        return self.posterior(images, labels, training=training)

    def decoder_outputs(self, z, labels=None, training=False):
        """The parameters of p(x|z), or p(x|z,y), in float32."""
        return ops.cast(self.decoder(self.labels.attach(z, labels), training=training), "float32")

    def closed_form_kl(self, posterior):
        """KL(q(z|x) || p(z)) per digit where the prior gives it in closed form, else None."""
        return self.prior.closed_form_kl(*posterior)

    def terms(self, inputs, posterior, noise, training=False):
        """log p(x|z), log p(z) and log q(z|x), each (samples, digits), at the z that `noise` (samples, digits,
        latent_dim) draws from q, whose parameters are `posterior`. `inputs` are the images, or (images, labels)."""
        mean, log_var = gaussian.as_float32(*posterior)

        def log_likelihood(tiled_inputs, z):
            tiled_images, tiled_labels = self.labels.split(tiled_inputs)
            outputs = self.decoder_outputs(z, tiled_labels, training=training)
            return -self.likelihood.negative_log_likelihood(tiled_images, outputs)

        def log_prior(z):
            return self.prior.log_density(z, training=training)

        return importance_terms(log_likelihood, inputs, mean, log_var, noise, log_prior)
