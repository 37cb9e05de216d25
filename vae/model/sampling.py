"""The reparameterisation trick as a Keras layer."""

import keras

from vae.model import gaussian
from vae.model.distribution import draw_for_global_batch


@keras.saving.register_keras_serializable(package="vae")
class Sampling(keras.layers.Layer):
    """Draws z = mean + exp(log_var / 2) * epsilon with epsilon ~ N(0, I) (Kingma & Welling 2013, section 2.4).

    Writing the sample as a deterministic function of (mean, log_var) and independent noise lets gradients flow
    into the encoder. The noise comes from a `SeedGenerator`, whose state is a variable saved with the weights, so
    a seeded run draws the same noise and a resumed run continues the same stream. Under a distribution strategy each
    replica keeps its own rows of the noise drawn for the global batch (see `draw_for_global_batch`).
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        return gaussian.sample(z_mean, z_log_var, self.standard_normal(keras.ops.shape(z_mean), z_mean.dtype))

    def standard_normal(self, shape, dtype="float32"):
        """epsilon ~ N(0, I) of `shape` from the layer's generator, the next numbers of the run's noise stream."""
        return draw_for_global_batch(
            lambda size: keras.random.normal(size, dtype=dtype, seed=self.seed_generator), shape
        )

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    # Keras saves a layer's weights but not the state of its seed generators. Saving it here lets a reloaded or
    # resumed model continue the noise stream where it stopped instead of replaying it from the start.
    def save_own_variables(self, store):
        store["seed_generator_state"] = self.seed_generator.state

    def load_own_variables(self, store):
        self.seed_generator.state.assign(store["seed_generator_state"])

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}
