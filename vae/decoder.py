"""The decoder p(x|z): latent vectors to the logits of independent Bernoulli pixels."""

import keras

from vae.config import VAEConfig


def build_decoder(config: VAEConfig) -> keras.Model:
    """The keras.io example's decoder, emitting logits rather than probabilities.

    The loss takes the logits directly, which is numerically stable where sigmoid-then-log is not; callers that
    want images apply a sigmoid.
    """
    if config.architecture != "conv":
        raise ValueError(f"unknown architecture {config.architecture!r}")
    z = keras.Input(shape=(config.latent_dim,), name="z")
    x = keras.layers.Dense(7 * 7 * 64, activation="relu", name="hidden")(z)
    x = keras.layers.Reshape((7, 7, 64), name="reshape")(x)
    x = keras.layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu", name="deconv_1")(x)
    x = keras.layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu", name="deconv_2")(x)
    logits = keras.layers.Conv2DTranspose(1, 3, padding="same", name="logits")(x)
    return keras.Model(z, logits, name="decoder")
