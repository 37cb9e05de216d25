"""Two stochastic layers (Burda et al. 2015, section 5): q(z1|x) q(z2|z1) infers, p(z2) p(z1|z2) p(x|z1) generates.

The latent variables h = (z1, z2) take the place of z in every bound. z1 has `HIERARCHICAL_LOWER_LATENT_DIM`
dimensions, as in that paper, and z2, the top, has `latent_dim`; p(z2) is the run's prior. The top layer is what the
pictures show: `encode` gives q(z2|z1) at the mean of q(z1|x), and `decoder_outputs` decodes z2 through the mean of
p(z1|z2). A label would have to enter both layers, so this structure is for unconditional runs only.
"""

from __future__ import annotations

from keras import ops

from vae.model import HIERARCHICAL_LOWER_LATENT_DIM, gaussian
from vae.model.decoder import build_decoder, build_upper_decoder
from vae.model.encoder import build_encoder, build_upper_encoder
from vae.model.likelihoods import likelihood_of
from vae.model.structures.gaussian_layer import tile_samples


class TwoStochasticLayers:
    """x -> z1 -> z2 and back, each a diagonal Gaussian. `networks` are tracked by the model under these names."""

    def __init__(self, config, labels, prior):
        self.labels = labels  # always the unconditional adapter: the config refuses labels here
        self.latent_dim = config.latent_dim
        self.lower_dim = HIERARCHICAL_LOWER_LATENT_DIM
        self.noise_width = self.lower_dim + self.latent_dim  # numbers that draw z1, then z2
        self.likelihood = likelihood_of(config)
        parameters = self.likelihood.parameters
        # In this order: the networks' weights are created, and initialised from the run's seed, as they are built.
        self.networks = {
            "encoder": build_encoder(config.network, self.lower_dim, image_shape=config.image_shape),
            "decoder": build_decoder(
                config.network, self.lower_dim, image_shape=config.image_shape, parameters=parameters
            ),
            "upper_encoder": build_upper_encoder(self.lower_dim, self.latent_dim),
            "upper_decoder": build_upper_decoder(self.latent_dim, self.lower_dim),
        }
        self.encoder, self.decoder = self.networks["encoder"], self.networks["decoder"]
        self.upper_encoder, self.upper_decoder = self.networks["upper_encoder"], self.networks["upper_decoder"]
        self.prior = prior
        prior.bind(self.encode)

    def build(self, image_shape) -> None:
        self.encoder.build((None, *image_shape))
        self.decoder.build((None, self.lower_dim))
        self.upper_encoder.build((None, self.lower_dim))
        self.upper_decoder.build((None, self.latent_dim))

    def posterior(self, images, labels=None, training=False):
        """The parameters (mean, log-variance) of q(z1|x); q(z2|z1) depends on the sampled z1."""
        return self.encoder(self.labels.attach(images, labels), training=training)

    def encode(self, images, labels=None, training=False):
        """The parameters of q(z2|z1) at the mean of q(z1|x): where the top layer puts the images."""
        z1_mean, _ = self.posterior(images, labels, training=training)
        return self.upper_encoder(z1_mean, training=training)

    def decoder_outputs(self, z, labels=None, training=False):
        """The parameters of p(x|z1) at the mean of p(z1|z2), for the top latent z = z2, in float32."""
        z1, _ = self.upper_decoder(self.labels.attach(z, labels), training=training)
        return self.lower_outputs(z1, training=training)

    def lower_outputs(self, z1, training=False):
        return ops.cast(self.decoder(z1, training=training), "float32")

    def closed_form_kl(self, posterior):
        """None: the KL term over two layers has no closed form; it is estimated from the samples."""
        return None

    def terms(self, inputs, posterior, noise, training=False):
        """log p(x|z1), log p(z1|z2) + log p(z2), and log q(z1|x) + log q(z2|z1), each (samples, digits), at the
        (z1, z2) that `noise` (samples, digits, lower_dim + latent_dim) draws, with q(z1|x) given by `posterior`."""
        images, _ = self.labels.split(inputs)
        mean, log_var = gaussian.as_float32(*posterior)
        lower, upper = self.lower_dim, self.latent_dim
        samples, count = ops.shape(noise)[0], ops.shape(noise)[1]
        rows = samples * count
        # Sample-major rows, as in `importance_terms`: row s * count + n holds sample s of digit n.
        noise_1 = ops.reshape(noise[..., :lower], (rows, lower))
        noise_2 = ops.reshape(noise[..., lower:], (rows, upper))
        mean_1, log_var_1 = tile_samples(mean, samples), tile_samples(log_var, samples)
        z1 = gaussian.sample(mean_1, log_var_1, noise_1)
        mean_2, log_var_2 = gaussian.as_float32(*self.upper_encoder(z1, training=training))
        z2 = gaussian.sample(mean_2, log_var_2, noise_2)
        prior_mean_1, prior_log_var_1 = self.upper_decoder(z2, training=training)
        log_q = gaussian.log_density_of_draw(noise_1, log_var_1) + gaussian.log_density_of_draw(noise_2, log_var_2)
        log_p = gaussian.log_density(z1, prior_mean_1, prior_log_var_1) + self.prior.log_density(z2, training=training)
        outputs = self.lower_outputs(z1, training=training)
        log_p_x = -self.likelihood.negative_log_likelihood(tile_samples(images, samples), outputs)
        shape = (samples, count)
        return ops.reshape(log_p_x, shape), ops.reshape(log_p, shape), ops.reshape(log_q, shape)
