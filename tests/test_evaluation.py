import json
import math

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from vae.config import VAEConfig
from vae.errors import UsageError
from vae.evaluation.estimators import importance_weighted_log_likelihood, negative_elbo_terms, single_layer
from vae.evaluation.workflow import evaluate, protocol
from vae.run.directory import EVAL_FILE, RunDir
from vae.run.loading import load_run

from .conftest import SUBSET_DIR, copy_run


class LinearGaussianModel:
    """z ~ N(0, I_d), x | z ~ N(W z + b, sigma^2 I_D), whose marginal p(x) = N(b, W W^T + sigma^2 I) is known in
    closed form (probabilistic PCA; Tipping & Bishop 1999), as is its posterior
    p(z|x) = N(Sigma W^T (x - b) / sigma^2, Sigma) with Sigma = (I + W^T W / sigma^2)^-1.

    W has orthogonal columns, so Sigma is diagonal and the estimator's diagonal-Gaussian q can equal the posterior.
    Everything is float64, so "exact" can mean exact to ~1e-12.
    """

    def __init__(self, seed=0, latent_dim=3, data_dim=6, noise_std=0.5):
        rng = np.random.default_rng(seed)
        orthonormal, _ = np.linalg.qr(rng.normal(size=(data_dim, latent_dim)))
        self.weights = orthonormal * np.linspace(2.0, 0.5, latent_dim)
        self.bias = rng.normal(size=data_dim)
        self.noise_std = noise_std
        self.posterior_variance = 1.0 / (1.0 + np.sum(self.weights**2, axis=0) / noise_std**2)

    def sample(self, count, seed):
        rng = np.random.default_rng(seed)
        z = rng.normal(size=(count, self.weights.shape[1]))
        return z @ self.weights.T + self.bias + self.noise_std * rng.normal(size=(count, self.weights.shape[0]))

    def log_likelihood(self, x, z):
        """log N(x; W z + b, sigma^2 I) per row, in TensorFlow (the estimator calls it inside its graph)."""
        residual = (x - tf.matmul(z, self.weights.T) - self.bias) / self.noise_std
        return -0.5 * tf.reduce_sum(tf.square(residual) + math.log(2 * math.pi * self.noise_std**2), axis=1)

    def true_posterior(self, x):
        mean = tf.matmul(x - self.bias, self.weights) * self.posterior_variance / self.noise_std**2
        return mean, tf.math.log(tf.ones_like(mean) * self.posterior_variance)

    def imperfect_encoder(self, x):
        """A shifted, shrunk, too-wide posterior: a plausible encoder that is wrong in every parameter."""
        mean, log_var = self.true_posterior(x)
        return 0.7 * mean + 0.2, log_var + 0.7

    def log_marginal(self, x):
        covariance = self.weights @ self.weights.T + self.noise_std**2 * np.eye(len(self.bias))
        residual = x - self.bias
        _, log_determinant = np.linalg.slogdet(covariance)
        mahalanobis = np.sum(residual * np.linalg.solve(covariance, residual.T).T, axis=1)
        return -0.5 * (mahalanobis + log_determinant + len(self.bias) * math.log(2 * math.pi))

    def analytic_elbo(self, x, mean, log_var):
        """E_q[log p(x|z)] - KL(q || p(z)) for q = N(mean, diag exp(log_var)), both terms in closed form."""
        mean, variance = np.asarray(mean), np.exp(np.asarray(log_var))
        residual = x - mean @ self.weights.T - self.bias
        spread = variance @ np.sum(self.weights**2, axis=0)  # E||W (z - mean)||^2 = sum_j var_j ||W_j||^2
        expected_log_likelihood = -0.5 * (
            (np.sum(residual**2, axis=1) + spread) / self.noise_std**2
            + len(self.bias) * math.log(2 * math.pi * self.noise_std**2)
        )
        kl = 0.5 * np.sum(variance + mean**2 - 1.0 - np.log(variance), axis=1)
        return expected_log_likelihood - kl


@pytest.fixture(scope="module")
def linear_model():
    return LinearGaussianModel()


def test_exact_with_the_true_posterior_even_with_one_sample(linear_model):
    x = linear_model.sample(50, seed=1)
    for k, max_decoded_images in ((1, 10_000), (7, 3 * 50)):  # the second draws 3 + 3 + 1 samples in three chunks
        estimate = importance_weighted_log_likelihood(
            single_layer(linear_model.true_posterior, linear_model.log_likelihood),
            x,
            k,
            max_decoded_images=max_decoded_images,
        )
        np.testing.assert_allclose(estimate, linear_model.log_marginal(x), rtol=0, atol=1e-10)


def test_estimate_approaches_the_true_value_as_k_grows(linear_model):
    x = linear_model.sample(200, seed=2)
    truth = linear_model.log_marginal(x)
    errors = {}
    for k in (1, 10, 100, 1000):
        estimate = importance_weighted_log_likelihood(
            single_layer(linear_model.imperfect_encoder, linear_model.log_likelihood), x, k, seed=5
        )
        errors[k] = np.mean(np.abs(estimate - truth))
    assert errors[1] > errors[10] > errors[100] > errors[1000], errors
    assert errors[1000] < errors[1] / 20, errors


def test_one_sample_equals_the_elbo_in_expectation(linear_model):
    x = linear_model.sample(4000, seed=3)
    mean, log_var = linear_model.imperfect_encoder(x)
    elbo = linear_model.analytic_elbo(x, mean, log_var)
    assert np.mean(linear_model.log_marginal(x) - elbo) > 0.5  # a real gap, so the comparison below means something

    imperfect = single_layer(linear_model.imperfect_encoder, linear_model.log_likelihood)
    estimate = importance_weighted_log_likelihood(imperfect, x, 1)
    reconstruction, kl = negative_elbo_terms(imperfect, x)
    np.testing.assert_allclose(kl, 0.5 * np.sum(np.exp(log_var) + mean**2 - 1 - log_var, axis=1), rtol=1e-5)
    for single_sample in (estimate, -(reconstruction + kl)):
        difference = single_sample - elbo
        standard_error = np.std(difference) / math.sqrt(len(x))
        assert abs(np.mean(difference)) < 4 * standard_error, (np.mean(difference), standard_error)


def test_seeded_noise_is_deterministic(linear_model):
    x = linear_model.sample(30, seed=4)

    def estimate(seed):
        return importance_weighted_log_likelihood(
            single_layer(linear_model.imperfect_encoder, linear_model.log_likelihood), x, 5, seed=seed, batch_size=8
        )

    np.testing.assert_array_equal(estimate(1), estimate(1))
    assert not np.array_equal(estimate(1), estimate(2))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"k": 0}, "k must be an integer >= 1"),
        ({"k": 2.5}, "k must be an integer >= 1"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"max_decoded_images": 0}, "max_decoded_images must be an integer >= 1"),
        ({"images": np.zeros((0, 6))}, "non-empty batch"),
        ({"images": np.zeros((3, 6), np.uint8)}, "must be floating point"),
    ],
)
def test_bad_arguments_raise_value_error(linear_model, arguments, message):
    call = {"images": linear_model.sample(3, seed=0), "k": 2, **arguments}
    with pytest.raises(UsageError, match=message):
        importance_weighted_log_likelihood(
            single_layer(linear_model.imperfect_encoder, linear_model.log_likelihood), **call
        )


@pytest.fixture(scope="module")
def trained(tiny_run, subset):
    from vae.data.datasets import test_inputs

    model, _, _ = load_run(RunDir(tiny_run))
    return model, test_inputs(subset, binarize=False)[:100]


def test_nll_estimate_is_at_most_the_negative_elbo_on_real_digits(trained):
    model, images = trained
    metrics = evaluate(model, images, k=50, batch_size=50, seed=0)
    assert set(metrics) == {"negative_elbo", "reconstruction_loss", "kl_loss", "importance_weighted_bce_bound"}
    assert metrics["negative_elbo"] == pytest.approx(metrics["reconstruction_loss"] + metrics["kl_loss"])
    assert 0 < metrics["importance_weighted_bce_bound"] < metrics["negative_elbo"], metrics
    assert evaluate(model, images, k=50, batch_size=50, seed=0) == metrics


def test_only_the_binarized_protocol_is_a_log_likelihood(subset):
    from vae.data.datasets import test_inputs
    from vae.model.autoencoder import VAE

    assert protocol(VAEConfig(binarize=True)) == "test NLL, binarized MNIST (nats)"
    assert protocol(VAEConfig(binarize=True, dataset="fashion-mnist")) == "test NLL, binarized Fashion-MNIST (nats)"
    assert protocol(VAEConfig()) == "grayscale BCE bound (nats), not a log-likelihood"
    model = VAE(VAEConfig(binarize=True))
    model.build()
    metrics = evaluate(model, test_inputs(subset, binarize=True)[:10], k=3)
    assert "importance_weighted_nll" in metrics and "importance_weighted_bce_bound" not in metrics


def test_cli_writes_eval_json_and_prints_a_table(tiny_run, tmp_path):
    from vae_scripts.evaluate import main

    run_dir = copy_run(tiny_run, tmp_path)
    arguments = ["--run-dir", str(run_dir), "--data-dir", str(SUBSET_DIR), "--k", "4", "--limit", "30"]
    result = CliRunner().invoke(main, [*arguments, "--batch-size", "16", "--seed", "2"])
    assert result.exit_code == 0, result.output
    record = json.loads((run_dir / EVAL_FILE).read_text())
    assert record["protocol"] == "grayscale BCE bound (nats), not a log-likelihood"
    assert (record["digits"], record["k"], record["seed"], record["batch_size"]) == (30, 4, 2, 16)
    assert record["dataset"] == "mnist" and record["binarize"] is False
    expected_metrics = {"negative_elbo", "reconstruction_loss", "kl_loss", "importance_weighted_bce_bound"}
    assert set(record["metrics"]) == expected_metrics
    assert all(math.isfinite(value) for value in record["metrics"].values())
    assert "not a log-likelihood" in result.stdout and "log-likelihood" not in result.stdout.replace("not a log-", "")
    for name, value in record["metrics"].items():
        assert f"{name}" in result.stdout and f"{value:.2f}" in result.stdout
    assert str(run_dir / EVAL_FILE) in result.stdout


def test_cli_rejects_bad_input(tmp_path):
    from vae_scripts.evaluate import main

    runner = CliRunner()
    result = runner.invoke(main, ["--run-dir", str(tmp_path), "--data-dir", str(SUBSET_DIR), "--k", "0"])
    assert result.exit_code == 2 and "--k" in result.stderr
    result = runner.invoke(main, ["--run-dir", str(tmp_path / "missing"), "--data-dir", str(SUBSET_DIR)])
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "no trained run" in result.stderr


def test_a_model_traces_its_estimators_once_however_often_it_is_scored(subset):
    # `vae-eval --outliers` on a conditional run classifies and scores the test images, then the outliers: every
    # call must reuse the functions the first traced, at any count of images, k or seed.
    from vae.data.datasets import test_inputs
    from vae.evaluation.estimators import of_vae
    from vae.evaluation.scores import classify, score_images
    from vae.model.autoencoder import VAE

    model = VAE(VAEConfig(conditional=True))
    model.build()
    images = test_inputs(subset, binarize=False)
    for start, stop, k, seed in ((0, 5, 2, 0), (5, 25, 3, 1), (25, 26, 2, 2)):
        labels, _ = classify(model, images[start:stop], k, seed=seed)
        score_images(model, images[start:stop], k, labels=labels.astype(np.int32), seed=seed)
    assert of_vae(model) is of_vae(model)
    traced = {key: function.experimental_get_tracing_count() for key, function in of_vae(model).compiled.items()}
    assert len(traced) == 2 and set(traced.values()) == {1}, traced
