"""The model for images of any size: the residual network, the discretised logistic likelihood and the defaults
that choose them from the data."""

import math

import keras
import numpy as np
import pytest

from vae.config import (
    MAX_ACTIVATION_BYTES,
    VAEConfig,
    default_latent_dim,
    resnet_activation_bytes,
    resnet_sides,
)
from vae.errors import UsageError
from vae.model.autoencoder import VAE
from vae.model.decoder import build_decoder
from vae.model.encoder import build_encoder
from vae.model.likelihoods import Bernoulli, DiscretisedLogistic, bits_per_dimension


def logistic_cdf(x, location, scale):
    return 1.0 / (1.0 + np.exp(-(x - location) / scale))


def test_the_discretised_logistic_is_the_mass_of_each_level_in_closed_form():
    """Three pixels, at the lowest level, a middle one and the highest, against the logistic's CDF on the [-1, 1]
    scale in float64: the edges take all the mass beyond them (Salimans et al. 2017, equation 2)."""
    levels = np.array([0, 100, 255])
    images = (levels / 255.0).reshape(1, 1, 3, 1).astype("float32")
    location = np.array([-0.9, 0.1, 0.8])
    log_scale = np.array([-1.0, -2.0, -0.5])
    # The decoder's maps are per channel: locations first, then log-scales.
    outputs = np.stack([location, log_scale], axis=-1).reshape(1, 1, 3, 2).astype("float32")
    scale = np.exp(log_scale)
    x = 2 * levels / 255.0 - 1
    half = 1 / 255.0
    mass = [
        logistic_cdf(x[0] + half, location[0], scale[0]),
        logistic_cdf(x[1] + half, location[1], scale[1]) - logistic_cdf(x[1] - half, location[1], scale[1]),
        1 - logistic_cdf(x[2] - half, location[2], scale[2]),
    ]
    expected = -np.log(mass).sum()
    got = float(DiscretisedLogistic().negative_log_likelihood(images, outputs)[0])
    assert got == pytest.approx(expected, rel=1e-5)


def test_the_discretised_logistic_is_a_probability_over_the_256_levels():
    levels = np.arange(256)
    images = (levels / 255.0).reshape(1, 1, 256, 1).astype("float32")
    for location, log_scale in ((0.3, -3.0), (-0.95, -6.0), (0.0, 1.0)):
        outputs = np.tile(np.array([location, log_scale], "float32"), (1, 1, 256, 1))
        per_level = [
            float(DiscretisedLogistic().negative_log_likelihood(images[:, :, [i]], outputs[:, :, [i]])[0])
            for i in levels
        ]
        assert np.exp(-np.array(per_level)).sum() == pytest.approx(1.0, abs=1e-4)


def test_a_sharp_logistic_stays_finite_where_its_mass_underflows():
    images = np.full((1, 2, 2, 1), 128 / 255.0, "float32")
    outputs = np.concatenate([np.full((1, 2, 2, 1), -0.9), np.full((1, 2, 2, 1), -7.0)], axis=-1).astype("float32")
    value = float(DiscretisedLogistic().negative_log_likelihood(images, outputs)[0])
    assert np.isfinite(value) and value > 100


def test_the_likelihoods_pictures_are_images():
    outputs = np.array([[[[-50.0, 0.0], [0.3, -2.0], [5.0, 1.0]]]], "float32")
    pictures = keras.ops.convert_to_numpy(DiscretisedLogistic().mean(outputs))
    np.testing.assert_allclose(pictures.ravel(), [0.0, 0.65, 1.0], rtol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(Bernoulli().mean(np.zeros((1, 1)))), [[0.5]])
    assert bits_per_dimension(784 * math.log(2), (28, 28, 1)) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("side", "channels"), [(16, 1), (20, 3), (28, 1), (32, 3), (64, 3), (96, 1), (128, 3), (256, 3)]
)
def test_the_residual_network_takes_every_side_and_grows_with_it(side, channels):
    latent = default_latent_dim("folder", side, channels)
    encoder = build_encoder("resnet", latent, image_shape=(side, side, channels))
    decoder = build_decoder("resnet", latent, image_shape=(side, side, channels), parameters=2)
    images = np.zeros((2, side, side, channels), "float32")
    mean, log_var = encoder(images)
    assert tuple(mean.shape) == tuple(log_var.shape) == (2, latent)
    assert tuple(decoder(np.zeros((2, latent), "float32")).shape) == (2, side, side, 2 * channels)
    # One block per resolution: a larger side is a deeper network.
    blocks = sum(layer.name.endswith("_sum") for layer in encoder.layers)
    assert blocks == len(resnet_sides(side))


def test_the_residual_networks_depth_follows_the_side():
    assert resnet_sides(16) == [16, 8]
    assert resnet_sides(28) == [28, 14, 7]
    assert resnet_sides(256) == [256, 128, 64, 32, 16, 8]
    assert resnet_sides(18) is None and resnet_sides(8) is None and resnet_sides(10) is None


def test_a_resnet_logistic_model_round_trips_through_its_weights_and_keras_file(tmp_path):
    config = VAEConfig(dataset="folder", image_size=32, channels=3, class_names=(), latent_dim=8, seed=3)
    assert (config.architecture, config.likelihood) == ("resnet", "logistic")
    model = VAE(config)
    model.build()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3)).astype("float32") / 255
    # Weights that are not the initial zeros, so that the round trip carries something.
    for weight in model.weights:
        weight.assign(np.random.default_rng(len(weight.path)).normal(0, 0.02, weight.shape).astype("float32"))
    expected = [keras.ops.convert_to_numpy(model(images)), keras.ops.convert_to_numpy(model.encode(images)[0])]
    model.save(tmp_path / "vae.keras")
    reloaded = keras.saving.load_model(tmp_path / "vae.keras", safe_mode=True)
    assert reloaded.vae_config == config
    got = [keras.ops.convert_to_numpy(reloaded(images)), keras.ops.convert_to_numpy(reloaded.encode(images)[0])]
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)
    model.save_weights(tmp_path / "vae.weights.h5")
    from_weights = VAE(config)
    from_weights.build()
    from_weights.load_weights(tmp_path / "vae.weights.h5")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(from_weights(images)), expected[0])
    losses = model.compute_losses(images)
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(losses.reconstruction)))


def test_the_defaults_follow_the_data():
    mnist = VAEConfig()
    assert (mnist.architecture, mnist.latent_dim, mnist.likelihood) == ("conv", 2, "bernoulli")
    gray_digits = VAEConfig(dataset="folder", class_names=())
    assert (gray_digits.architecture, gray_digits.latent_dim, gray_digits.likelihood) == ("conv", 16, "bernoulli")
    photos = VAEConfig(dataset="folder", image_size=64, channels=3, class_names=())
    assert (photos.architecture, photos.latent_dim, photos.likelihood) == ("resnet", 64, "logistic")
    large_gray = VAEConfig(dataset="folder", image_size=128, class_names=())
    assert (large_gray.architecture, large_gray.likelihood) == ("resnet", "bernoulli")
    # What a config names is kept.
    chosen = VAEConfig(dataset="folder", image_size=64, channels=3, class_names=(), architecture="conv", latent_dim=3)
    assert (chosen.architecture, chosen.latent_dim) == ("conv", 3)
    # Saved as chosen: a run reloads as what it was, whatever the defaults become.
    assert VAEConfig.from_json(photos.to_json()) == photos


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"likelihood": "gaussian"}, "likelihood must be one of bernoulli, logistic"),
        ({"likelihood": "logistic", "binarize": True}, "use likelihood bernoulli with it"),
        ({"architecture": "resnet", "image_size": 18}, "halves to a grid of 4 to 8"),
        ({"architecture": "resnet", "image_size": 8}, "halves to a grid of 4 to 8"),
        ({"architecture": "conv", "image_size": 128}, "or --arch resnet"),
        ({"architecture": "mlp", "image_size": 256}, "use --arch resnet"),
        ({"image_size": 512}, "image_size must be from 8 to 256"),
        ({"image_size": 256, "channels": 3, "batch_size": 8192}, "of activations, more than 8 GiB"),
    ],
)
def test_what_the_image_model_cannot_take_is_refused_naming_it(changes, message):
    with pytest.raises(UsageError, match=message):
        VAEConfig(**{"dataset": "folder", "class_names": (), **changes})


def test_the_default_batch_of_the_largest_images_fits_the_activation_limit():
    assert VAEConfig().batch_size * resnet_activation_bytes(256, 3) <= MAX_ACTIVATION_BYTES
