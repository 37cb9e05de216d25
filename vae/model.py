"""The variational autoencoder: encoder, sampling and decoder, trained by maximising the ELBO with `fit()`.

A conditional model (`VAEConfig.conditional`, Sohn, Lee & Yan 2015) takes `(images, labels)` wherever an
unconditional one takes images, the labels as integers 0-9, and maximises the conditional ELBO
log p(x|y) >= E_q(z|x,y)[log p(x|z,y)] - KL(q(z|x,y) || N(0, I)).

`VAEConfig.objective` "iwae" trains on the importance-weighted bound with `samples` draws instead (Burda et al.
2015), and `VAEConfig.prior` "vamp" replaces N(0, I) by the VampPrior (`vae.prior`, Tomczak & Welling 2018).

The "hierarchical" architecture has two stochastic layers (Burda et al. 2015, section 5): q(z1|x) q(z2|z1) infers,
p(z2) p(z1|z2) p(x|z1) generates. Its latent variables h = (z1, z2) take the place of z in every bound; z2, the top
layer, is what `encode` and `decode` show, through the means of q(z1|x) and p(z1|z2).
"""

import contextlib

import keras
from keras import ops

from vae.config import CLASSES, HIERARCHICAL_LOWER_LATENT_DIM, IMAGE_SHAPE, VAEConfig
from vae.decoder import build_decoder, build_upper_decoder
from vae.distribution import draw_for_global_batch, replica_rows, spans_several_workers
from vae.encoder import build_encoder, build_upper_encoder
from vae.errors import UsageError
from vae.prior import (
    LOG_TWO_PI,
    PseudoInputs,
    diagonal_normal_log_density,
    mixture_log_density,
    standard_normal_log_density,
)
from vae.sampling import Sampling

# The binarization noise is seeded with the run's seed plus this, the sampling noise with the seed itself.
BINARIZATION_SEED_OFFSET = 1
# The history's name for minus the IWAE objective's bound (test_negative_iw_bound on the test split).
NEGATIVE_IW_BOUND = "negative_iw_bound"


def reconstruction_loss(images, logits):
    """-log p(x|z) per image: Bernoulli cross-entropy summed over the 784 pixels, computed from logits.

    For grayscale targets this is the usual "BCE" surrogate; for binarized targets it is the exact negative
    log-likelihood of independent Bernoulli pixels.
    """
    per_pixel = ops.binary_crossentropy(images, ops.cast(logits, "float32"), from_logits=True)
    return ops.sum(ops.reshape(per_pixel, (ops.shape(images)[0], -1)), axis=1)


def kl_divergence(z_mean, z_log_var):
    """KL(q(z|x) || N(0, I)) per image, in closed form (Kingma & Welling 2013, appendix B):
    -1/2 * sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)."""
    z_mean = ops.cast(z_mean, "float32")
    z_log_var = ops.cast(z_log_var, "float32")
    return -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1)


def importance_terms(log_likelihood, inputs, mean, log_var, noise, log_prior=None):
    """The three terms of the log importance weights of Burda et al. 2015, equation 8, at z = mean + sigma * noise:
    log p(x|z), log p(z) and log q(z|x), each a (samples, digits) tensor. `noise` is (samples, digits, latent_dim);
    `log_likelihood(inputs, z)` gives log p(x|z) per row of tiled inputs; `log_prior(z)` gives log p(z) over the last
    axis, the standard normal's when it is None.
    """
    import tensorflow as tf

    samples, count = tf.shape(noise)[0], tf.shape(noise)[1]
    z = mean + tf.exp(0.5 * log_var) * noise
    # Sample-major rows: row s * count + n holds sample s of digit n, so the images (and labels) are tiled the same
    # way.
    tiled = tf.nest.map_structure(lambda rows: tile_samples(rows, samples), inputs)
    flat_z = tf.reshape(z, tf.stack([samples * count, tf.shape(z)[2]]))
    log_p_x_given_z = tf.reshape(tf.cast(log_likelihood(tiled, flat_z), mean.dtype), tf.stack([samples, count]))
    log_two_pi = tf.constant(LOG_TWO_PI, mean.dtype)
    if log_prior is None:
        log_p_z = -0.5 * tf.reduce_sum(tf.square(z) + log_two_pi, axis=2)
    else:
        log_p_z = tf.cast(log_prior(z), mean.dtype)
    # (z - mean)^2 / sigma^2 is exactly noise^2; using it avoids dividing by a tiny variance.
    log_q_z = -0.5 * tf.reduce_sum(tf.square(noise) + log_var + log_two_pi, axis=2)
    return log_p_x_given_z, log_p_z, log_q_z


def tile_samples(rows, samples):
    """`rows` repeated `samples` times along the first axis: row s * count + n is row n, for sample s."""
    import tensorflow as tf

    return tf.tile(rows, tf.concat([[samples], tf.ones([tf.rank(rows) - 1], tf.int32)], axis=0))


def importance_weighted_bound(log_weights):
    """Per digit, log (1/K) sum_k w_k from the (K, digits) log weights, by a stable logsumexp (Burda et al. 2015,
    equation 8). It equals the ELBO's single-sample estimate at K = 1 and does not decrease in K, in expectation."""
    samples = ops.cast(ops.shape(log_weights)[0], log_weights.dtype)
    return ops.logsumexp(log_weights, axis=0) - ops.log(samples)


@keras.saving.register_keras_serializable(package="vae")
class VAE(keras.Model):
    """A VAE whose `train_step` and `test_step` report the negative ELBO and its two parts, in nats per image.

    The model is rebuilt from its `VAEConfig` and Keras' own `dtype`, its dtype policy: `VAE(config,
    dtype="mixed_bfloat16")` builds every layer under that policy, and Keras saves it in the model's config, so a
    checkpoint of a mixed-precision run reloads as one. The weights are float32 under every policy Keras offers for
    training, so `load_run`, which builds a float32 model, reads any run's weights.
    """

    def __init__(self, vae_config, **kwargs):
        super().__init__(**kwargs)
        if isinstance(vae_config, dict):
            vae_config = VAEConfig.from_dict(vae_config)
        self.vae_config = vae_config
        with global_dtype_policy(self.dtype_policy):
            self.encoder = build_encoder(vae_config)
            self.decoder = build_decoder(vae_config)
            self.upper_encoder = build_upper_encoder(vae_config) if self.hierarchical else None
            self.upper_decoder = build_upper_decoder(vae_config) if self.hierarchical else None
        # The noise and the sample z are where a 16-bit float would cost most precision, and they are cheap.
        self.sampling = Sampling(seed=vae_config.seed, name="sampling", dtype="float32")
        # Dynamic binarization draws a fresh Bernoulli sample of each training digit at every use; its own
        # generator, seeded apart from the sampling noise's, keeps the two streams independent, and its state is
        # saved with the weights.
        self.binarization_seed_generator = keras.random.SeedGenerator(vae_config.seed + BINARIZATION_SEED_OFFSET)
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")
        # The IWAE objective's own number: minus its importance-weighted bound, reported beside the ELBO's parts.
        self.iw_bound_tracker = keras.metrics.Mean(name=NEGATIVE_IW_BOUND)
        self.pseudo_inputs = None
        if vae_config.prior == "vamp":
            self.pseudo_inputs = PseudoInputs(vae_config.pseudo_inputs, seed=vae_config.seed, name="pseudo_inputs")

    @property
    def importance_weighted(self) -> bool:
        return self.vae_config.objective == "iwae"

    @property
    def hierarchical(self) -> bool:
        return self.vae_config.architecture == "hierarchical"

    @property
    def analytic_kl(self) -> bool:
        """Whether the KL term has a closed form: one stochastic layer under the standard normal prior."""
        return not self.hierarchical and self.vae_config.prior == "gaussian"

    @property
    def noise_width(self) -> int:
        """Standard normal numbers per digit and sample that draw its latent variables: z, or z1 and z2."""
        lower = HIERARCHICAL_LOWER_LATENT_DIM if self.hierarchical else 0
        return lower + self.vae_config.latent_dim

    @property
    def metrics(self):
        # Listed here so that Keras resets them at the start of every epoch and of every evaluation.
        trackers = [self.reconstruction_loss_tracker, self.kl_loss_tracker]
        return trackers + [self.iw_bound_tracker] if self.importance_weighted else trackers

    def get_metrics_result(self):
        # `loss` is derived from the two tracked parts instead of tracked on its own, so the three numbers the
        # progress bar and history show always satisfy loss = reconstruction_loss + beta * kl_loss: under every
        # objective it is the single-sample (beta-)ELBO, so runs stay comparable. An IWAE run adds the bound it
        # maximises, as `negative_iw_bound`.
        reconstruction = self.reconstruction_loss_tracker.result()
        kl = self.kl_loss_tracker.result()
        results = {"loss": reconstruction + self.vae_config.beta * kl, "reconstruction_loss": reconstruction, "kl_loss": kl}
        if self.importance_weighted:
            results[NEGATIVE_IW_BOUND] = self.iw_bound_tracker.result()
        return results

    def build(self, input_shape=None):
        labels = [(None, CLASSES)] if self.vae_config.conditional else []
        self.encoder.build([(None, *IMAGE_SHAPE), *labels])
        if self.hierarchical:
            self.decoder.build((None, HIERARCHICAL_LOWER_LATENT_DIM))
            self.upper_encoder.build((None, HIERARCHICAL_LOWER_LATENT_DIM))
            self.upper_decoder.build((None, self.vae_config.latent_dim))
        else:
            self.decoder.build([(None, self.vae_config.latent_dim), *labels])
        if self.pseudo_inputs is not None:
            self.pseudo_inputs.build()
        self.built = True

    def prior_components(self, training=False):
        """The VampPrior's components: the encoder's (means, log-variances) at the pseudo-inputs, (K, d) each. In the
        hierarchical model they are `encode`'s, q(z2|z1) at the mean of q(z1|u_k), so that each component stays a
        Gaussian and the prior over z2 a mixture with a closed-form density (Tomczak & Welling 2018 instead infer
        z2 first)."""
        means, log_vars = self.encode(self.pseudo_inputs.images(), training=training)
        return ops.cast(means, "float32"), ops.cast(log_vars, "float32")

    def log_prior(self, z, training=False):
        """log p(z) over the last axis of z: the standard normal's, or the VampPrior's mixture density."""
        if self.pseudo_inputs is None:
            return standard_normal_log_density(z)
        return mixture_log_density(z, *self.prior_components(training=training))

    def split_inputs(self, inputs):
        """(images, labels) from what the model is given: for a conditional model `(images, labels)`, or the
        `{"images": ..., "labels": ...}` of the input pipelines; images alone (labels None) otherwise.

        The pipelines hand over a dict because Keras reads a 2-tuple from a dataset as (inputs, targets) and, under a
        distribution strategy, builds the model by calling it on the first part alone.
        """
        if self.vae_config.conditional:
            if isinstance(inputs, dict) and set(inputs) == {"images", "labels"}:
                return inputs["images"], inputs["labels"]
            if not isinstance(inputs, (tuple, list)) or len(inputs) != 2:
                raise UsageError("a conditional model needs (images, labels): every image needs its label (--digit)")
            return inputs[0], inputs[1]
        return inputs, None

    def conditioned(self, tensor, labels):
        """What the encoder or decoder takes: `tensor` alone, or with the one-hot labels for a conditional model."""
        if not self.vae_config.conditional:
            if labels is not None:
                raise UsageError("this run is not conditional: labels (--digit) need a run trained with --conditional")
            return tensor
        if labels is None:
            raise UsageError("this run is conditional: every image and latent point needs a label (--digit)")
        # Keras refuses a call whose inputs mix NumPy arrays and tensors.
        return [ops.convert_to_tensor(tensor), ops.one_hot(ops.cast(labels, "int32"), CLASSES, dtype="float32")]

    def posterior(self, images, labels=None, training=False):
        """The parameters (mean, log-variance) of q(z|x), or of q(z|x,y) given the labels y; of q(z1|x) in the
        hierarchical model, whose q(z2|z1) depends on the sampled z1."""
        return self.encoder(self.conditioned(images, labels), training=training)

    def encode(self, images, labels=None, training=False):
        """The parameters (z_mean, z_log_var) of q(z|x), or of q(z|x,y) given the labels y. In the hierarchical
        model those of q(z2|z1) at the mean of q(z1|x): where the top layer puts the images."""
        z_mean, z_log_var = self.posterior(images, labels, training=training)
        return self.upper_encoder(z_mean, training=training) if self.hierarchical else (z_mean, z_log_var)

    def decode(self, z, labels=None, training=False):
        """The decoder's mean image, p(x|z) or p(x|z,y): Bernoulli pixel probabilities in [0, 1]. In the
        hierarchical model z is the top layer, z2, decoded through the mean of p(z1|z2)."""
        return ops.sigmoid(self.decoder_logits(z, labels, training=training))

    def decoder_logits(self, z, labels=None, training=False):
        if self.hierarchical:
            z, _ = self.upper_decoder(z, training=training)
        return self.pixel_logits(z, labels, training=training)

    def pixel_logits(self, z, labels=None, training=False):
        """The logits of p(x|z), or p(x|z1) in the hierarchical model, from the decoder's own input."""
        return ops.cast(self.decoder(self.conditioned(z, labels), training=training), "float32")

    def latent_terms(self, inputs, posterior, noise, training=False):
        """log p(x|h), log p(h) and log q(h|x), each a (samples, digits) tensor, at the latent variables h drawn
        with `noise` (samples, digits, noise_width) from q, whose `posterior` parameters come from `posterior`:
        h = z for one stochastic layer, h = (z1, z2) for the hierarchical model. `inputs` are the images, or
        (images, labels) for a conditional model. The log importance weights are log p(x|h) + log p(h) - log q(h|x)
        (Burda et al. 2015, equation 8)."""
        mean, log_var = (ops.cast(parameter, "float32") for parameter in posterior)
        if self.hierarchical:
            return self.hierarchical_terms(inputs, mean, log_var, noise, training=training)

        def log_likelihood(tiled_inputs, z):
            tiled_images, tiled_labels = self.split_inputs(tiled_inputs)
            return -reconstruction_loss(tiled_images, self.pixel_logits(z, tiled_labels, training=training))

        log_prior = None if self.vae_config.prior == "gaussian" else lambda z: self.log_prior(z, training=training)
        return importance_terms(log_likelihood, inputs, mean, log_var, noise, log_prior)

    def hierarchical_terms(self, images, mean, log_var, noise, training=False):
        """`latent_terms` of the two-layer model (Burda et al. 2015, section 5), with q(z1|x) given by `mean` and
        `log_var`: log p(x|z1), log p(z1|z2) + log p(z2), and log q(z1|x) + log q(z2|z1)."""
        import tensorflow as tf

        lower, upper = HIERARCHICAL_LOWER_LATENT_DIM, self.vae_config.latent_dim
        samples, count = tf.shape(noise)[0], tf.shape(noise)[1]
        rows = samples * count
        # Sample-major rows, as in `importance_terms`: row s * count + n holds sample s of digit n.
        noise_1 = tf.reshape(noise[..., :lower], tf.stack([rows, lower]))
        noise_2 = tf.reshape(noise[..., lower:], tf.stack([rows, upper]))
        mean_1, log_var_1 = tile_samples(mean, samples), tile_samples(log_var, samples)
        z1 = mean_1 + tf.exp(0.5 * log_var_1) * noise_1
        mean_2, log_var_2 = (tf.cast(t, "float32") for t in self.upper_encoder(z1, training=training))
        z2 = mean_2 + tf.exp(0.5 * log_var_2) * noise_2
        prior_mean_1, prior_log_var_1 = self.upper_decoder(z2, training=training)
        # (z - mean)^2 / sigma^2 is exactly noise^2, as in `importance_terms`.
        log_q = -0.5 * tf.reduce_sum(tf.square(noise_1) + log_var_1 + LOG_TWO_PI, axis=1)
        log_q -= 0.5 * tf.reduce_sum(tf.square(noise_2) + log_var_2 + LOG_TWO_PI, axis=1)
        log_p = diagonal_normal_log_density(z1, prior_mean_1, prior_log_var_1) + self.log_prior(z2, training=training)
        log_p_x = -reconstruction_loss(tile_samples(images, samples), self.pixel_logits(z1, training=training))
        shape = tf.stack([samples, count])
        return tf.reshape(log_p_x, shape), tf.reshape(log_p, shape), tf.reshape(log_q, shape)

    def call(self, inputs, training=False):
        """The reconstruction of the images from their latent mean, as probabilities (deterministic)."""
        images, labels = self.split_inputs(inputs)
        z_mean, _ = self.encode(images, labels, training=training)
        return self.decode(z_mean, labels, training=training)

    def compute_losses(self, images, labels=None, training=False):
        """Per-image reconstruction loss and KL divergence, with one sample z ~ q(z|x) (or q(z|x,y)); for an IWAE
        run also minus the importance-weighted bound from `samples` draws, the first of which the reconstruction
        loss uses (otherwise None). The KL divergence is analytic against N(0, I) for one stochastic layer;
        estimated at the sample against the VampPrior and in the hierarchical model, whose KL term is
        log q(z1, z2|x) - log p(z1, z2)."""
        posterior = self.posterior(images, labels, training=training)
        kl = kl_divergence(*posterior) if self.analytic_kl else None
        if self.analytic_kl and not self.importance_weighted:
            z = self.sampling(list(posterior))
            return reconstruction_loss(images, self.pixel_logits(z, labels, training=training)), kl, None
        samples = self.vae_config.samples
        # Drawn batch-major from the sampling layer's generator (one stream of noise for a run, saved with it), then
        # sample-major for the decoder's one batched call of K x batch rows.
        noise = draw_for_global_batch(
            lambda shape: keras.random.normal(shape, seed=self.sampling.seed_generator),
            (ops.shape(images)[0], samples, self.noise_width),
        )
        noise = ops.transpose(ops.cast(noise, "float32"), (1, 0, 2))
        inputs = (images, labels) if self.vae_config.conditional else images
        log_p_x_given_h, log_p_h, log_q_h = self.latent_terms(inputs, posterior, noise, training=training)
        # The first sample's terms are the single-sample ELBO's; without a closed form its KL is estimated at that
        # sample, log q(h|x) - log p(h), which is the KL in expectation.
        reconstruction = -log_p_x_given_h[0]
        if kl is None:
            kl = log_q_h[0] - log_p_h[0]
        if not self.importance_weighted:
            return reconstruction, kl, None
        log_weights = log_p_x_given_h + self.vae_config.beta * (log_p_h - log_q_h)
        return reconstruction, kl, -importance_weighted_bound(log_weights)

    def training_inputs(self, images):
        if self.vae_config.binarize:
            noise = draw_for_global_batch(
                lambda shape: keras.random.uniform(shape, seed=self.binarization_seed_generator), ops.shape(images)
            )
            return ops.cast(noise < images, images.dtype)
        return images

    def train_step(self, data):
        import tensorflow as tf

        images, labels = self.split_inputs(data)
        images = self.training_inputs(images)
        with tf.GradientTape() as tape:
            reconstruction, kl, negative_bound = self.compute_losses(images, labels, training=True)
            # What is minimised, per digit: the negative (beta-)ELBO, or minus the importance-weighted bound.
            objective = reconstruction + self.vae_config.beta * kl if negative_bound is None else negative_bound
            # The mean over the global batch. Under tf.distribute the replicas' gradients are summed, so each replica
            # divides its own sum by the global batch size: exact even when the last batch of an epoch splits
            # unevenly. scale_loss multiplies by the loss scale when the optimizer is a LossScaleOptimizer
            # (mixed_float16).
            _, global_rows = replica_rows(ops.shape(images)[0])
            loss = ops.sum(objective) / ops.cast(global_rows, "float32")
            scaled_loss = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled_loss, self.trainable_weights)
        self.optimizer.apply(gradients, self.trainable_weights)
        self.update_trackers(reconstruction, kl, negative_bound)
        return self.step_results()

    def test_step(self, data):
        # Test inputs arrive already in their final form (binarized once, with a fixed seed, under that protocol).
        self.update_trackers(*self.compute_losses(*self.split_inputs(data), training=False))
        return self.step_results()

    def update_trackers(self, reconstruction, kl, negative_bound):
        self.reconstruction_loss_tracker.update_state(reconstruction)
        self.kl_loss_tracker.update_state(kl)
        if negative_bound is not None:
            self.iw_bound_tracker.update_state(negative_bound)

    def step_results(self):
        """The metrics as a training or test step hands them to Keras.

        Across several workers, Keras 3 averages the steps' results with `strategy.reduce("MEAN", value, axis=0)`,
        which fails on scalars ("Invalid reduction dimension 0 for input with 0 dimensions", tensorflow/tensorflow
        issue 72388); there each result goes out as a one-element vector, which that reduction turns into a scalar.
        The epoch's results do not come from here: Keras reads them from the metrics, summed over all replicas.
        """
        import tensorflow as tf

        results = self.get_metrics_result()
        if not spans_several_workers(tf.distribute.get_strategy()):
            return results
        return {name: ops.reshape(value, (1,)) for name, value in results.items()}

    def continue_as(self, vae_config: VAEConfig, learning_rate) -> None:
        """Take up the config of a resumed run, which may differ from the saved one in its epochs alone, with its
        learning rate (a schedule stretched to the new end); the optimizer's step count carries on."""
        self.vae_config = vae_config
        self.optimizer.learning_rate = learning_rate

    # As in Sampling: the binarization stream's state is saved with the weights so that a resumed run continues it.
    def save_own_variables(self, store):
        store["binarization_seed_generator_state"] = self.binarization_seed_generator.state

    def load_own_variables(self, store):
        self.binarization_seed_generator.state.assign(store["binarization_seed_generator_state"])

    def get_config(self):
        return {**super().get_config(), "vae_config": self.vae_config.to_dict()}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@contextlib.contextmanager
def global_dtype_policy(policy):
    """Make `policy` Keras' default dtype policy for the layers created inside the block, then restore the old one.

    Functional models do not hand their own policy down to their layers; the layers take the default one.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
