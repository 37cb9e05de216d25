"""The prior p(z) over the top latent layer: the standard normal, or the VampPrior (Tomczak & Welling 2018).

The VampPrior is the mixture of the encoder's own posteriors at K learned pseudo-inputs u_1..u_K,

    p(z) = 1/K sum_k q(z | u_k),

so the prior is learned with the encoder and fits where the encoder puts the data ("variational mixture of
posteriors", Tomczak & Welling 2018, equation 9). Its KL term against q(z|x) has no closed form: training and
evaluation estimate it with the same samples of z as the reconstruction term, log q(z|x) - log p(z).

A prior is an object that a latent structure holds. `layers` are its Keras layers, which the model tracks under
those names (their paths in the weights file); `bind` hands it the structure's `encode`, which the VampPrior needs.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from vae.model import gaussian


@keras.saving.register_keras_serializable(package="vae")
class PseudoInputs(keras.layers.Layer):
    """K learned images of `image_shape` in [0, 1], the VampPrior's pseudo-inputs: a sigmoid of free logits, so that
    they stay valid images without clipping. The logits start as N(0, 1) noise, so every component starts at its
    own point."""

    def __init__(self, count: int, seed=None, image_shape=(28, 28, 1), **kwargs):
        super().__init__(**kwargs)
        self.count = count
        self.seed = seed
        self.image_shape = tuple(image_shape)

    def build(self, input_shape=None):
        self.logits = self.add_weight(
            shape=(self.count, *self.image_shape),
            initializer=keras.initializers.RandomNormal(stddev=1.0, seed=self.seed),
            name="logits",
        )
        self.built = True

    def images(self):
        """The pseudo-inputs, (K, side, side, channels)."""
        return ops.sigmoid(self.logits)

    def call(self, inputs=None):
        return self.images()

    def get_config(self):
        return {**super().get_config(), "count": self.count, "seed": self.seed, "image_shape": list(self.image_shape)}


class StandardNormal:
    """p(z) = N(0, I)."""

    title = "N(0, I)"

    def __init__(self, latent_dim: int):
        self.latent_dim = latent_dim
        self.layers: dict[str, keras.layers.Layer] = {}

    def bind(self, encode) -> None:
        pass

    def build(self) -> None:
        pass

    def log_density(self, z, training=False):
        """log p(z) over the last axis of z."""
        return gaussian.standard_log_density(z)

    def closed_form_kl(self, mean, log_var):
        """KL(q(z|x) || p(z)) per image, which has a closed form against N(0, I)."""
        return gaussian.kl_from_standard_normal(mean, log_var)

    def sample(self, n: int, rng: np.random.Generator, temperature: float = 1.0) -> np.ndarray:
        """n draws z ~ p(z), float32 (n, latent_dim), from `rng`; at a `temperature` other than 1, from
        N(0, temperature^2 I)."""
        return (temperature * rng.standard_normal((n, self.latent_dim))).astype("float32")


class VampPrior:
    """p(z) = 1/K sum_k q(z|u_k) over K learned pseudo-inputs u_k (Tomczak & Welling 2018)."""

    title = "the VampPrior"

    def __init__(self, count: int, seed: int, image_shape):
        self.pseudo_inputs = PseudoInputs(count, seed=seed, image_shape=image_shape, name="pseudo_inputs")
        self.layers = {"pseudo_inputs": self.pseudo_inputs}
        self.encode = None

    def bind(self, encode) -> None:
        """Take the structure's `encode(images, labels=None, training=False)`, whose posteriors are the components."""
        self.encode = encode

    def build(self) -> None:
        self.pseudo_inputs.build()

    def components(self, training=False):
        """The components: the encoder's (means, log-variances) at the pseudo-inputs, (K, d) each."""
        means, log_vars = self.encode(self.pseudo_inputs.images(), training=training)
        return ops.cast(means, "float32"), ops.cast(log_vars, "float32")

    def log_density(self, z, training=False):
        return gaussian.mixture_log_density(z, *self.components(training=training))

    def closed_form_kl(self, mean, log_var):
        """None: the KL term against a mixture has no closed form; it is estimated from the samples."""
        return None

    def sample(self, n: int, rng: np.random.Generator, temperature: float = 1.0) -> np.ndarray:
        """n draws from the mixture: a component chosen uniformly, then z = mean + sigma * epsilon; at a
        `temperature` other than 1, each component's spread is scaled by it, z = mean + temperature * sigma *
        epsilon."""
        means, log_vars = (np.asarray(part) for part in self.components())
        chosen = rng.integers(0, len(means), n)
        noise = rng.standard_normal((n, means.shape[1]))
        return (means[chosen] + temperature * np.exp(0.5 * log_vars[chosen]) * noise).astype("float32")


def prior_of(config) -> StandardNormal | VampPrior:
    """The prior a run's config asks for."""
    if config.prior == "vamp":
        return VampPrior(config.pseudo_inputs, seed=config.seed, image_shape=config.image_shape)
    return StandardNormal(config.latent_dim)
