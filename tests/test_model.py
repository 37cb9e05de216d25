import keras
import numpy as np
import pytest

from vae.config import VAEConfig
from vae.model.autoencoder import VAE
from vae.model.decoder import build_decoder
from vae.model.encoder import build_encoder
from vae.model.gaussian import kl_from_standard_normal as kl_divergence
from vae.model.likelihoods import Bernoulli
from vae.model.sampling import Sampling


def test_sampling_matches_mean_and_variance():
    layer = Sampling(seed=11)
    count = 200_000
    z_mean = np.tile(np.array([[1.5, -2.0, 0.0]], dtype="float32"), (count, 1))
    z_log_var = np.tile(np.array([[0.0, np.log(4.0), np.log(0.25)]], dtype="float32"), (count, 1))
    z = keras.ops.convert_to_numpy(layer([z_mean, z_log_var]))
    np.testing.assert_allclose(z.mean(axis=0), [1.5, -2.0, 0.0], atol=0.02)
    np.testing.assert_allclose(z.var(axis=0), [1.0, 4.0, 0.25], rtol=0.02)


def test_sampling_is_seeded_and_advances():
    inputs = [np.zeros((4, 2), "float32"), np.zeros((4, 2), "float32")]
    first, second = Sampling(seed=1), Sampling(seed=1)
    a = keras.ops.convert_to_numpy(first(inputs))
    np.testing.assert_array_equal(a, keras.ops.convert_to_numpy(second(inputs)))
    assert not np.array_equal(a, keras.ops.convert_to_numpy(first(inputs)))


def test_sampling_config_round_trip():
    layer = Sampling(seed=5, name="noise")
    rebuilt = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(rebuilt, Sampling) and rebuilt.seed == 5 and rebuilt.name == "noise"


def test_sampling_save_and_reload_in_a_model(tmp_path):
    z_mean = keras.Input((3,))
    z_log_var = keras.Input((3,))
    model = keras.Model([z_mean, z_log_var], Sampling(seed=2)([z_mean, z_log_var]))
    inputs = [np.ones((2, 3), "float32"), np.zeros((2, 3), "float32")]
    first_draw = keras.ops.convert_to_numpy(model(inputs))
    path = tmp_path / "sampling.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert isinstance(reloaded.layers[-1], Sampling)
    # The generator state travels with the weights: both continue with the same next noise, not the first draw.
    next_draw = keras.ops.convert_to_numpy(model(inputs))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(reloaded(inputs)), next_draw)
    assert not np.array_equal(next_draw, first_draw)


@pytest.mark.parametrize(("architecture", "latent_dim"), [("conv", 2), ("conv", 5), ("mlp", 50)])
def test_encoder_and_decoder_shapes(architecture, latent_dim):
    config = VAEConfig(architecture=architecture, latent_dim=latent_dim)
    encoder = build_encoder(config.network, config.latent_dim)
    decoder = build_decoder(config.network, config.latent_dim)
    z_mean, z_log_var = encoder(np.zeros((3, 28, 28, 1), "float32"))
    assert tuple(z_mean.shape) == (3, latent_dim) and tuple(z_log_var.shape) == (3, latent_dim)
    assert tuple(decoder(np.zeros((3, latent_dim), "float32")).shape) == (3, 28, 28, 1)
    if (architecture, latent_dim) == ("conv", 2):
        # The default is the keras.io architecture: its parameter counts.
        assert encoder.count_params() == 69076 and decoder.count_params() == 65089


def test_losses_match_their_formulas():
    rng = np.random.default_rng(0)
    images = rng.random((4, 28, 28, 1)).astype("float32")
    logits = rng.normal(size=(4, 28, 28, 1)).astype("float32")
    probabilities = 1 / (1 + np.exp(-logits))
    expected = -(images * np.log(probabilities) + (1 - images) * np.log(1 - probabilities)).sum(axis=(1, 2, 3))
    got = keras.ops.convert_to_numpy(Bernoulli().negative_log_likelihood(images, logits))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    z_mean = rng.normal(size=(4, 2)).astype("float32")
    z_log_var = rng.normal(size=(4, 2)).astype("float32")
    expected_kl = 0.5 * (np.exp(z_log_var) + z_mean**2 - 1 - z_log_var).sum(axis=1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(kl_divergence(z_mean, z_log_var)), expected_kl, rtol=1e-5)
    # A posterior equal to the prior costs nothing.
    assert float(keras.ops.max(kl_divergence(np.zeros((2, 2)), np.zeros((2, 2))))) == 0.0


def test_extreme_logits_stay_finite():
    images = np.ones((1, 28, 28, 1), "float32")
    logits = np.full((1, 28, 28, 1), -200.0, "float32")
    value = float(Bernoulli().negative_log_likelihood(images, logits)[0])
    assert np.isfinite(value) and value == pytest.approx(200.0 * 784, rel=1e-4)


@pytest.mark.parametrize("beta", [1.0, 0.5])
def test_reported_losses_match_a_numpy_computation(subset, beta):
    """What evaluate() reports, recomputed in numpy from the encoder's outputs and the decoder's logits: the Bernoulli
    cross-entropy from logits, the closed-form KL, and loss = reconstruction + beta * KL, means over the images."""
    model = VAE(VAEConfig(beta=beta, seed=1))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    images = subset.test_images[:100, ..., None].astype("float32") / 255
    epsilon = np.random.default_rng(0).standard_normal((100, 2)).astype("float32")
    # The same noise for the model and for numpy: the sampling layer draws this epsilon instead of its own.
    model.sampling.standard_normal = lambda shape, dtype="float32": epsilon[:, None, :]
    reported = model.evaluate(images, batch_size=100, verbose=0, return_dict=True)

    z_mean, z_log_var = (keras.ops.convert_to_numpy(t).astype("float64") for t in model.encoder(images))
    z = (z_mean + np.exp(0.5 * z_log_var) * epsilon).astype("float32")
    logits = keras.ops.convert_to_numpy(model.decoder(z)).astype("float64")
    targets = images.astype("float64")
    # -[x log sigmoid(l) + (1 - x) log(1 - sigmoid(l))], written in its overflow-free form.
    cross_entropy = np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))
    reconstruction = cross_entropy.sum(axis=(1, 2, 3)).mean()
    kl = (0.5 * (np.exp(z_log_var) + z_mean**2 - 1 - z_log_var).sum(axis=1)).mean()
    assert reported["reconstruction_loss"] == pytest.approx(reconstruction, rel=1e-5)
    assert reported["kl_loss"] == pytest.approx(kl, rel=1e-4, abs=1e-6)
    assert reported["loss"] == pytest.approx(reconstruction + beta * kl, rel=1e-5)


def test_test_step_averages_over_images_not_batches(subset):
    # 200 images in batches of 64 leave a last batch of 8; the mean must weight every image equally. The KL term
    # is deterministic given the images, so batching must not change it.
    model = VAE(VAEConfig(seed=4))
    model.compile(optimizer="adam")
    images = subset.test_images[:200, ..., None].astype("float32") / 255
    batched = model.evaluate(images, batch_size=64, verbose=0, return_dict=True)
    whole = model.evaluate(images, batch_size=200, verbose=0, return_dict=True)
    z_mean, z_log_var = model.encode(images)
    expected = float(keras.ops.mean(kl_divergence(z_mean, z_log_var)))
    assert batched["kl_loss"] == pytest.approx(expected, rel=1e-5)
    assert whole["kl_loss"] == pytest.approx(expected, rel=1e-5)


@pytest.mark.slow
def test_short_fit_lowers_the_test_loss(subset):
    from vae.data.datasets import test_inputs
    from vae.data.pipeline import evaluation_dataset, training_dataset

    keras.utils.set_random_seed(0)
    model = VAE(VAEConfig(seed=0))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    test_data = evaluation_dataset(test_inputs(subset, binarize=False), 250)
    before = model.evaluate(test_data, verbose=0, return_dict=True)["loss"]
    model.fit(
        training_dataset(subset.train_images, 64, 0, 0, 3), epochs=3, steps_per_epoch=32, shuffle=False, verbose=0
    )
    after = model.evaluate(test_data, verbose=0, return_dict=True)["loss"]
    assert after < before - 200, (before, after)  # from ~543 nats (uniform pixels) to well under 300


def outputs_of(model, images):
    z_mean, z_log_var = model.encode(images)
    return [keras.ops.convert_to_numpy(t) for t in (model(images), z_mean, z_log_var, model.decode(z_mean))]


@pytest.mark.slow
def test_weights_and_keras_file_round_trips(tmp_path, subset):
    config = VAEConfig(latent_dim=3, seed=2)
    model = VAE(config)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    images = subset.test_images[:64, ..., None].astype("float32") / 255
    model.fit(images, batch_size=32, epochs=1, verbose=0)
    expected = outputs_of(model, images)

    model.save_weights(tmp_path / "vae.weights.h5")
    from_weights = VAE(config)
    from_weights.build()
    from_weights.load_weights(tmp_path / "vae.weights.h5")
    for got, want in zip(outputs_of(from_weights, images), expected, strict=True):
        np.testing.assert_array_equal(got, want)

    model.save(tmp_path / "vae.keras")
    reloaded = keras.saving.load_model(tmp_path / "vae.keras", safe_mode=True)
    assert isinstance(reloaded, VAE) and reloaded.vae_config == config
    for got, want in zip(outputs_of(reloaded, images), expected, strict=True):
        np.testing.assert_array_equal(got, want)
    # The optimizer state travels too, so training can resume.
    assert int(reloaded.optimizer.iterations) == int(model.optimizer.iterations) == 2


def test_vae_config_round_trip():
    model = VAE(VAEConfig(latent_dim=4, beta=2.0))
    rebuilt = VAE.from_config(model.get_config())
    assert rebuilt.vae_config == model.vae_config and rebuilt.name == model.name
