"""The decoder p(x|z), or p(x|z,y) for a conditional model: vectors to the logits of independent Bernoulli pixels."""

import keras

from vae.config import CLASSES, IMAGE_SHAPE, PIXELS, VAEConfig
from vae.encoder import MLP_HIDDEN_UNITS
from vae.errors import UsageError


def build_decoder(config: VAEConfig) -> keras.Model:
    """The decoder named by `config.architecture`, emitting logits rather than probabilities.

    The loss takes the logits directly, which is numerically stable where sigmoid-then-log is not; callers that
    want images apply a sigmoid. "conv" mirrors the keras.io example; "mlp" mirrors the MLP encoder, and is cheap
    enough per sample for importance-weighted evaluation with k=1000 on a CPU. The last layers compute in float32
    under any dtype policy, so that a mixed-precision model still hands the loss full-precision logits.

    A conditional model's decoder takes the one-hot label as a second input, concatenated to z before the first
    dense layer (Sohn, Lee & Yan 2015), so every layer can draw the asked digit and z is left to hold the style.
    """
    z = keras.Input(shape=(config.latent_dim,), name="z")
    inputs, x = z, z
    if config.conditional:
        labels = keras.Input(shape=(CLASSES,), name="labels")
        inputs, x = [z, labels], keras.layers.Concatenate(name="with_labels")([z, labels])
    if config.architecture == "mlp":
        for index, units in enumerate(reversed(MLP_HIDDEN_UNITS), start=1):
            x = keras.layers.Dense(units, activation="elu", name=f"hidden_{index}")(x)
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
