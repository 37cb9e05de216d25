"""The encoder q(z|x), or q(z|x,y) for a conditional model: digits to the mean and log-variance of a diagonal
Gaussian over a latent layer."""

import keras

from vae.errors import UsageError
from vae.model import NETWORKS
from vae.model.residual import residual_features

MLP_HIDDEN_UNITS = (512, 512)
# The two-layer model's layers between z1 and z2, both ways. Burda et al. (2015) halve the width from the x-z1
# layers to the z1-z2 ones (200 to 100 units); we keep that ratio from our wider 512. The x-z1 layers are the mlp
# network's, so the two-layer model differs from the mlp one only by the layer it adds.
UPPER_HIDDEN_UNITS = (256, 256)


def build_encoder(network: str, latent_dim: int, classes: int = 0, image_shape=(28, 28, 1)) -> keras.Model:
    """The encoder of the network `network` ("conv", "mlp" or "resnet", see `vae.model.NETWORKS`) from images of
    `image_shape` onto a `latent_dim`-D Gaussian, taking a one-hot label of `classes` classes beside the images when
    `classes` is not 0.

    "conv" is the well-known small convolutional encoder of the keras.io example. "mlp" is two dense hidden
    layers, the shape of the one-stochastic-layer VAE of the IWAE paper (Burda et al. 2015), made wider; the
    two-layer model's q(z1|x) is this network too, and `build_upper_encoder` gives its q(z2|z1). "resnet" is the
    residual network of `vae.model.residual`, whose depth follows the side.

    A conditional model's encoder takes the one-hot label as a second input and concatenates it to the dense
    features, just before the two heads (Sohn, Lee & Yan 2015): the label then costs 2 x 10 x latent_dim weights,
    and the features need not rediscover what the label says.
    """
    if network not in FEATURES:
        raise UsageError(f"network must be one of {', '.join(NETWORKS)}, got {network!r}")
    images = keras.Input(shape=tuple(image_shape), name="images")
    x = FEATURES[network](images)
    inputs = images
    if classes:
        labels = keras.Input(shape=(classes,), name="labels")
        x = keras.layers.Concatenate(name="with_labels")([x, labels])
        inputs = [images, labels]
    z_mean = keras.layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = keras.layers.Dense(latent_dim, name="z_log_var")(x)
    return keras.Model(inputs, [z_mean, z_log_var], name="encoder")


def build_upper_encoder(lower_dim: int, latent_dim: int) -> keras.Model:
    """q(z2|z1) of the two-layer model: the lower latent z1 to the mean and log-variance of the top one, z2."""
    z1 = keras.Input(shape=(lower_dim,), name="z1")
    x = dense_layers(z1, UPPER_HIDDEN_UNITS)
    z_mean = keras.layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = keras.layers.Dense(latent_dim, name="z_log_var")(x)
    return keras.Model(z1, [z_mean, z_log_var], name="upper_encoder")


def dense_layers(x, units_per_layer):
    for index, units in enumerate(units_per_layer, start=1):
        x = keras.layers.Dense(units, activation="elu", name=f"hidden_{index}")(x)
    return x


def convolutional_features(images):
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="conv_1")(images)
    x = keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu", name="conv_2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    return keras.layers.Dense(16, activation="relu", name="hidden")(x)


def dense_features(images):
    return dense_layers(keras.layers.Flatten(name="flatten")(images), MLP_HIDDEN_UNITS)


# The features each network draws from the images, before the posterior's two heads.
FEATURES = {"conv": convolutional_features, "mlp": dense_features, "resnet": residual_features}
