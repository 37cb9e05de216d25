"""The encoder q(z|x), or q(z|x,y) for a conditional model: digits to the mean and log-variance of a diagonal
Gaussian over the latent space."""

import keras

from vae.config import CLASSES, IMAGE_SHAPE, VAEConfig
from vae.errors import UsageError

MLP_HIDDEN_UNITS = (512, 512)


def build_encoder(config: VAEConfig) -> keras.Model:
    """The encoder named by `config.architecture`.

    "conv" is the well-known small convolutional encoder of the keras.io example. "mlp" is two dense hidden
    layers, the shape of the one-stochastic-layer VAE of the IWAE paper (Burda et al. 2015), made wider.

    A conditional model's encoder takes the one-hot label as a second input and concatenates it to the dense
    features, just before the two heads (Sohn, Lee & Yan 2015): the label then costs 2 x 10 x latent_dim weights,
    and the features need not rediscover what the label says.
    """
    images = keras.Input(shape=IMAGE_SHAPE, name="images")
    if config.architecture == "conv":
        x = convolutional_features(images)
    elif config.architecture == "mlp":
        x = keras.layers.Flatten(name="flatten")(images)
        for index, units in enumerate(MLP_HIDDEN_UNITS, start=1):
            x = keras.layers.Dense(units, activation="elu", name=f"hidden_{index}")(x)
    else:
        raise UsageError(f"unknown architecture {config.architecture!r}")
    inputs = images
    if config.conditional:
        labels = keras.Input(shape=(CLASSES,), name="labels")
        x = keras.layers.Concatenate(name="with_labels")([x, labels])
        inputs = [images, labels]
    z_mean = keras.layers.Dense(config.latent_dim, name="z_mean")(x)
    z_log_var = keras.layers.Dense(config.latent_dim, name="z_log_var")(x)
    return keras.Model(inputs, [z_mean, z_log_var], name="encoder")


def convolutional_features(images):
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="conv_1")(images)
    x = keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu", name="conv_2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    return keras.layers.Dense(16, activation="relu", name="hidden")(x)
