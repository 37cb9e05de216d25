"""The decoder p(x|z), or p(x|z,y) for a conditional model: vectors to the parameters of the run's likelihood."""

import math

import keras

from vae.errors import UsageError
from vae.model import NETWORKS
from vae.model.encoder import MLP_HIDDEN_UNITS, UPPER_HIDDEN_UNITS, dense_layers
from vae.model.residual import residual_pixels


def build_decoder(
    network: str, latent_dim: int, classes: int = 0, image_shape=(28, 28, 1), parameters: int = 1
) -> keras.Model:
    """The decoder of the network `network` ("conv", "mlp" or "resnet") from a `latent_dim`-D latent to images of
    `image_shape`, taking a one-hot label of `classes` classes beside it when `classes` is not 0; it emits
    `parameters` maps per channel, the parameters of the run's likelihood (`vae.model.likelihoods`): one Bernoulli
    logit per pixel and channel, or a discretised logistic's location and log-scale.

    The loss takes the logits directly, which is numerically stable where sigmoid-then-log is not; the likelihood
    turns them into images. "conv" mirrors the keras.io example; "mlp" mirrors the MLP encoder, and is cheap
    enough per sample for importance-weighted evaluation with k=1000 on a CPU; "resnet" is the residual network of
    `vae.model.residual`. The last layers compute in float32 under any dtype policy, so that a mixed-precision model
    still hands the loss full-precision numbers.

    A conditional model's decoder takes the one-hot label as a second input, concatenated to z before the first
    dense layer (Sohn, Lee & Yan 2015), so every layer can draw the asked digit and z is left to hold the style.
    The two-layer model's p(x|z1) is the mlp decoder from z1; `build_upper_decoder` gives its p(z1|z2).
    """
    if network not in PIXELS:
        raise UsageError(f"network must be one of {', '.join(NETWORKS)}, got {network!r}")
    z = keras.Input(shape=(latent_dim,), name="z")
    inputs, x = z, z
    if classes:
        labels = keras.Input(shape=(classes,), name="labels")
        inputs, x = [z, labels], keras.layers.Concatenate(name="with_labels")([z, labels])
    outputs = PIXELS[network](x, tuple(image_shape), parameters)
    return keras.Model(inputs, outputs, name="decoder")


def dense_pixels(x, image_shape, parameters):
    x = dense_layers(x, tuple(reversed(MLP_HIDDEN_UNITS)))
    x = keras.layers.Dense(math.prod(image_shape) * parameters, name="pixel_logits", dtype="float32")(x)
    shape = (*image_shape[:2], image_shape[2] * parameters)
    return keras.layers.Reshape(shape, name="logits", dtype="float32")(x)


def convolutional_pixels(x, image_shape, parameters):
    # Two transposed convolutions of stride 2 grow a quarter of the side back to the whole: 7 to 28 for MNIST.
    base = image_shape[0] // 4
    x = keras.layers.Dense(base * base * 64, activation="relu", name="hidden")(x)
    x = keras.layers.Reshape((base, base, 64), name="reshape")(x)
    x = keras.layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu", name="deconv_1")(x)
    x = keras.layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu", name="deconv_2")(x)
    channels = image_shape[2] * parameters
    return keras.layers.Conv2DTranspose(channels, 3, padding="same", name="logits", dtype="float32")(x)


# The layers each network grows from the latent vector (and label) to the likelihood's parameters.
PIXELS = {"conv": convolutional_pixels, "mlp": dense_pixels, "resnet": residual_pixels}


def build_upper_decoder(latent_dim: int, lower_dim: int) -> keras.Model:
    """p(z1|z2) of the two-layer model: the top latent z2 to the mean and log-variance of a diagonal Gaussian over
    the lower one, z1 (Burda et al. 2015, section 5). They come out in float32: the log-density is taken of them."""
    z2 = keras.Input(shape=(latent_dim,), name="z2")
    x = dense_layers(z2, tuple(reversed(UPPER_HIDDEN_UNITS)))
    mean = keras.layers.Dense(lower_dim, name="z1_mean", dtype="float32")(x)
    log_var = keras.layers.Dense(lower_dim, name="z1_log_var", dtype="float32")(x)
    return keras.Model(z2, [mean, log_var], name="upper_decoder")
