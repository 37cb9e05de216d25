"""The VAE as a Keras model: a thin trainer around the run's latent structure and objective.

What the model is lives in the objects the config chooses (`VAE.latent`): the latent structure (`vae.model.structures`:
one Gaussian layer, or two stochastic layers), which holds the networks, the label adapter of a conditional run
(`vae.model.conditioning`) and the prior (`vae.model.prior`); and the objective (`vae.model.objectives`: the ELBO, or
the importance-weighted bound). The trainer draws the noise, hands it to the structure, and minimises what the objective
makes of the log terms, in `fit()`'s `train_step` and `test_step`, reporting the negative ELBO's parts through `Mean`
trackers.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from vae.config import VAEConfig
from vae.model.distribution import draw_for_global_batch, replica_rows, spans_several_workers
from vae.model.objectives import NEGATIVE_IW_BOUND, OBJECTIVE_FUNCTIONS, REPORTED_BOUNDS
from vae.model.sampling import Sampling
from vae.model.structures import structure_of

# The binarization noise is seeded with the run's seed plus this, the sampling noise with the seed itself.
BINARIZATION_SEED_OFFSET = 1


@keras.saving.register_keras_serializable(package="vae")
class VAE(keras.Model):
    """A VAE trained with `fit()`, reporting the negative ELBO and its two parts in nats per image.

    Args:
        vae_config: the run's `VAEConfig` (or its dict), from which the whole model is rebuilt.
        **kwargs: Keras' own, among them `dtype`, the dtype policy: `VAE(config, dtype="mixed_bfloat16")` builds
            the networks under that policy, and Keras saves it in the model's config, so a checkpoint of a
            mixed-precision run reloads as one. The weights are float32 under every policy Keras offers for
            training, so `load_run`, which builds a float32 model, reads any run's weights.

    The progress bar and the history show `loss`, `reconstruction_loss` and `kl_loss` (loss = reconstruction +
    beta x KL, the single-sample beta-ELBO under every objective, so runs stay comparable), and an IWAE run also
    `negative_iw_bound`, the bound it maximises.
    """

    def __init__(self, vae_config, **kwargs):
        super().__init__(**kwargs)
        if isinstance(vae_config, dict):
            vae_config = VAEConfig.from_dict(vae_config)
        self.vae_config = vae_config
        self.latent = structure_of(vae_config, self.dtype_policy)
        # Keras saves a model's layers under the names of the attributes that hold them, in the order they were set:
        # these names and this order are the layout of the weights file.
        for name, network in self.latent.networks.items():
            setattr(self, name, network)
        # The noise and the sample z are where a 16-bit float would cost most precision, and they are cheap.
        self.sampling = Sampling(seed=vae_config.seed, name="sampling", dtype="float32")
        # Dynamic binarization draws a fresh Bernoulli sample of each training digit at every use; its own
        # generator, seeded apart from the sampling noise's, keeps the two streams independent, and its state is
        # saved with the weights.
        self.binarization_seed_generator = keras.random.SeedGenerator(vae_config.seed + BINARIZATION_SEED_OFFSET)
        self.training_images = TRAINING_IMAGES[vae_config.binarize]
        self.objective = OBJECTIVE_FUNCTIONS[vae_config.objective]
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")
        self.iw_bound_tracker = keras.metrics.Mean(name=NEGATIVE_IW_BOUND)
        for name, layer in self.latent.prior.layers.items():
            setattr(self, name, layer)

    @property
    def metrics(self):
        # Listed here so that Keras resets them at the start of every epoch and of every evaluation.
        bounds = [self.iw_bound_tracker] if REPORTED_BOUNDS[self.vae_config.objective] else []
        return [self.reconstruction_loss_tracker, self.kl_loss_tracker, *bounds]

    def get_metrics_result(self):
        # `loss` is derived from the two tracked parts instead of tracked on its own, so that the numbers always
        # satisfy loss = reconstruction_loss + beta * kl_loss.
        reconstruction = self.reconstruction_loss_tracker.result()
        kl = self.kl_loss_tracker.result()
        results = {
            "loss": reconstruction + self.vae_config.beta * kl,
            "reconstruction_loss": reconstruction,
            "kl_loss": kl,
        }
        return results | {tracker.name: tracker.result() for tracker in self.metrics[2:]}

    def build(self, input_shape=None):
        self.latent.build(self.vae_config.image_shape)
        self.latent.prior.build()
        self.built = True

    def encode(self, images, labels=None, training=False):
        """The parameters (z_mean, z_log_var) of the top latent layer's posterior, given the labels on a conditional
        model: where the images lie in the latent space."""
        return self.latent.encode(images, labels, training=training)

    def decode(self, z, labels=None, training=False):
        """The decoder's image for points z of the top latent layer, given the labels on a conditional model, in
        [0, 1]: the likelihood's picture of its parameters (`vae.model.likelihoods`)."""
        return self.latent.likelihood.mean(self.latent.decoder_outputs(z, labels, training=training))

    def call(self, inputs, training=False):
        """The reconstruction of the images from their latent mean, as probabilities (deterministic)."""
        images, labels = self.latent.labels.split(inputs)
        z_mean, _ = self.encode(images, labels, training=training)
        return self.decode(z_mean, labels, training=training)

    def compute_losses(self, images, labels=None, training=False):
        """The objective's per-digit `Losses` at `samples` fresh draws of the latent variables for each digit."""
        posterior = self.latent.posterior(images, labels, training=training)
        # Drawn batch-major from the sampling layer's generator (one stream of noise for a run, saved with it), then
        # sample-major, as the structure's terms take it.
        noise = self.sampling.standard_normal((ops.shape(images)[0], self.vae_config.samples, self.latent.noise_width))
        noise = ops.transpose(noise, (1, 0, 2))
        inputs = self.latent.labels.join(images, labels)
        terms = self.latent.terms(inputs, posterior, noise, training=training)
        return self.objective(*terms, self.latent.closed_form_kl(posterior), self.vae_config.beta)

    def train_step(self, data):
        images, labels = self.latent.labels.split(data)
        images = self.training_images(images, self.binarization_seed_generator)
        with tf.GradientTape() as tape:
            losses = self.compute_losses(images, labels, training=True)
            # The mean over the global batch. Under tf.distribute the replicas' gradients are summed, so each replica
            # divides its own sum by the global batch size: exact even when the last batch of an epoch splits
            # unevenly. scale_loss multiplies by the loss scale when the optimizer is a LossScaleOptimizer
            # (mixed_float16).
            _, global_rows = replica_rows(ops.shape(images)[0])
            free_nats = self.vae_config.free_nats * self.latent.noise_width
            loss = losses.batch_loss(self.vae_config.beta, free_nats, global_rows)
            scaled_loss = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled_loss, self.trainable_weights)
        self.optimizer.apply(gradients, self.trainable_weights)
        self.update_trackers(losses)
        return self.step_results()

    def test_step(self, data):
        # Test inputs arrive already in their final form (binarized once, with a fixed seed, under that protocol).
        self.update_trackers(self.compute_losses(*self.latent.labels.split(data), training=False))
        return self.step_results()

    def update_trackers(self, losses):
        self.reconstruction_loss_tracker.update_state(losses.reconstruction)
        self.kl_loss_tracker.update_state(losses.kl)
        if losses.negative_bound is not None:
            self.iw_bound_tracker.update_state(losses.negative_bound)

    def step_results(self):
        """The metrics as a training or test step hands them to Keras.

        Across several workers, Keras 3 averages the steps' results with `strategy.reduce("MEAN", value, axis=0)`,
        which fails on scalars ("Invalid reduction dimension 0 for input with 0 dimensions", tensorflow/tensorflow
        issue 72388); there each result goes out as a one-element vector, which that reduction turns into a scalar.
        The epoch's results do not come from here: Keras reads them from the metrics, summed over all replicas.
        """
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


def binarized(images, seed_generator):
    """A fresh Bernoulli sample of the gray levels (dynamic binarization), from `seed_generator`."""
    noise = draw_for_global_batch(lambda shape: keras.random.uniform(shape, seed=seed_generator), ops.shape(images))
    return ops.cast(noise < images, images.dtype)


def unchanged(images, seed_generator):
    return images


# What a training step makes of its batch of gray levels: under --binarize, a fresh Bernoulli sample of them.
TRAINING_IMAGES = {False: unchanged, True: binarized}
