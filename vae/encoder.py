"""The encoder q(z|x): digits to the mean and log-variance of a diagonal Gaussian over the latent space."""

import keras

from vae.config import IMAGE_SHAPE, VAEConfig


def build_encoder(config: VAEConfig) -> keras.Model:
    """The well-known small convolutional encoder of the keras.io VAE example."""
    if config.architecture != "conv":
        raise ValueError(f"unknown architecture {config.architecture!r}")
    images = keras.Input(shape=IMAGE_SHAPE, name="images")
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="conv_1")(images)
    x = keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu", name="conv_2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(16, activation="relu", name="hidden")(x)
    z_mean = keras.layers.Dense(config.latent_dim, name="z_mean")(x)
    z_log_var = keras.layers.Dense(config.latent_dim, name="z_log_var")(x)
    return keras.Model(images, [z_mean, z_log_var], name="encoder")
