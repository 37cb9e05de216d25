"""The decoder p(x|z), or p(x|z,y) for a conditional model: vectors to the logits of independent Bernoulli pixels."""

import keras

from vae.config import CLASSES, HIERARCHICAL_LOWER_LATENT_DIM, IMAGE_SHAPE, PIXELS, VAEConfig
from vae.encoder import MLP_HIDDEN_UNITS, UPPER_HIDDEN_UNITS, dense_layers
from vae.errors import UsageError


def build_decoder(config: VAEConfig) -> keras.Model:
    """The decoder named by `config.architecture`, emitting logits rather than probabilities.

    The loss takes the logits directly, which is numerically stable where sigmoid-then-log is not; callers that
    want images apply a sigmoid. "conv" mirrors the keras.io example; "mlp" mirrors the MLP encoder, and is cheap
    enough per sample for importance-weighted evaluation with k=1000 on a CPU. The last layers compute in float32
    under any dtype policy, so that a mixed-precision model still hands the loss full-precision logits.

    A conditional model's decoder takes the one-hot label as a second input, concatenated to z before the first
    dense layer (Sohn, Lee & Yan 2015), so every layer can draw the asked digit and z is left to hold the style.

    The hierarchical model's decoder is the mlp one from its lower latent layer, p(x|z1); `build_upper_decoder`
    gives p(z1|z2).
    """
    hierarchical = config.architecture == "hierarchical"
    z = keras.Input(shape=(HIERARCHICAL_LOWER_LATENT_DIM if hierarchical else config.latent_dim,), name="z")
    inputs, x = z, z
    if config.conditional:
        labels = keras.Input(shape=(CLASSES,), name="labels")
        inputs, x = [z, labels], keras.layers.Concatenate(name="with_labels")([z, labels])
    if config.architecture in ("mlp", "hierarchical"):
        x = dense_layers(x, tuple(reversed(MLP_HIDDEN_UNITS)))
        x = keras.layers.Dense(PIXELS, name="pixel_logits", dtype="float32")(x)
        return keras.Model(inputs, keras.layers.Reshape(IMAGE_SHAPE, name="logits", dtype="float32")(x), name="decoder")
    if config.architecture != "conv":
        raise UsageError(f"unknown architecture {config.architecture!r}")
    x = keras.layers.Dense(7 * 7 * 64, activation="relu", name="hidden")(x)
    x = keras.layers.Reshape((7, 7, 64), name="reshape")(x)
    x = keras.layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu", name="deconv_1")(x)
    x = keras.layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu", name="deconv_2")(x)
    logits = keras.layers.Conv2DTranspose(1, 3, padding="same", name="logits", dtype="float32")(x)
    return keras.Model(inputs, logits, name="decoder")


def build_upper_decoder(config: VAEConfig) -> keras.Model:
    """p(z1|z2) of the hierarchical model: the top latent z2 to the mean and log-variance of a diagonal Gaussian
    over the lower one, z1 (Burda et al. 2015, section 5). They come out in float32: the log-density is taken of
    them."""
    z2 = keras.Input(shape=(config.latent_dim,), name="z2")
    x = dense_layers(z2, tuple(reversed(UPPER_HIDDEN_UNITS)))
    mean = keras.layers.Dense(HIERARCHICAL_LOWER_LATENT_DIM, name="z1_mean", dtype="float32")(x)
    log_var = keras.layers.Dense(HIERARCHICAL_LOWER_LATENT_DIM, name="z1_log_var", dtype="float32")(x)
    return keras.Model(z2, [mean, log_var], name="upper_decoder")
