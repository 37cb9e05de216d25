"""A faithful re-implementation of the keras.io "Variational AutoEncoder" example (fchollet, 2020; Keras 3 version).

Same architecture, a sigmoid decoder with `binary_crossentropy` on probabilities, the per-image loss summed over
pixels and averaged over the batch, three `Mean` trackers, `fit` on numpy arrays, Adam 1e-3, batch 128. Two
differences from the page, both needed to compare fairly: it trains on the 60k training digits only (the page
concatenates train and test) and scores the test digits after every epoch.

Used by benchmarks/run.py; it is not part of the package.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops


class Sampling(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch = ops.shape(z_mean)[0]
        dim = ops.shape(z_mean)[1]
        epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


def build(latent_dim: int = 2):
    encoder_inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
    x = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    z = Sampling()([z_mean, z_log_var])
    encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")

    latent_inputs = keras.Input(shape=(latent_dim,))
    x = layers.Dense(7 * 7 * 64, activation="relu")(latent_inputs)
    x = layers.Reshape((7, 7, 64))(x)
    x = layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
    decoder_outputs = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x)
    decoder = keras.Model(latent_inputs, decoder_outputs, name="decoder")
    return encoder, decoder


class ReferenceVAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def losses_of(self, data):
        z_mean, z_log_var, z = self.encoder(data)
        reconstruction = self.decoder(z)
        reconstruction_loss = ops.mean(ops.sum(keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2)))
        kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
        kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
        return reconstruction_loss + kl_loss, reconstruction_loss, kl_loss

    def train_step(self, data):
        with tf.GradientTape() as tape:
            total_loss, reconstruction_loss, kl_loss = self.losses_of(data)
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        total_loss, reconstruction_loss, kl_loss = self.losses_of(data)
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {m.name: m.result() for m in self.metrics}


class TestEveryEpoch(keras.callbacks.Callback):
    """Scores the test digits after each epoch and records the wall time since training began.

    The clock includes this scoring, as `vae-train`'s does, so times to a given test loss compare fairly.
    """

    def __init__(self, test_images):
        super().__init__()
        self.test_images = test_images
        self.records = []

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        scored = self.model.evaluate(self.test_images, batch_size=500, verbose=0, return_dict=True)
        self.records.append({"epoch": epoch + 1, "wall_seconds": time.perf_counter() - self.started, **scored})


def train_reference(
    train_images: np.ndarray,
    test_images: np.ndarray,
    epochs: int = 30,
    seed: int = 0,
    decoder_path: str | None = None,
):
    """Train as the example does; return the per-epoch records (test losses, wall seconds so far).

    With `decoder_path`, the trained decoder is saved there (a `.keras` file), so its samples can be judged.
    """
    keras.utils.set_random_seed(seed)
    x_train = np.expand_dims(train_images, -1).astype("float32") / 255
    x_test = np.expand_dims(test_images, -1).astype("float32") / 255
    encoder, decoder = build()
    model = ReferenceVAE(encoder, decoder)
    model.compile(optimizer=keras.optimizers.Adam())
    recorder = TestEveryEpoch(x_test)
    model.fit(x_train, epochs=epochs, batch_size=128, verbose=0, callbacks=[recorder])
    if decoder_path is not None:
        decoder.save(decoder_path)
    return recorder.records
