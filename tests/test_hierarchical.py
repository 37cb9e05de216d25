"""Two stochastic layers (`vae-train --arch hierarchical`, Burda et al. 2015, section 5), combined with the
VampPrior, the IWAE objective and binarized digits."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.conftest import SUBSET_DIR, invoke, tiny, train_stopped_after_first_epoch
from vae.model import HIERARCHICAL_LOWER_LATENT_DIM
from vae.model.gaussian import LOG_TWO_PI
from vae.run.directory import MODEL_FILE, RunDir
from vae.run.loading import load_model, load_run
from vae_scripts.plot import main as plot_command
from vae_scripts.train import main as train_command

# Two stochastic layers with every option that changes their terms: binarized digits, the VampPrior, IWAE.
HIERARCHICAL = {
    "architecture": "hierarchical", "binarize": True, "prior": "vamp", "pseudo_inputs": 10, "objective": "iwae",
    "samples": 2, "limit": 256,
}  # fmt: skip


@pytest.fixture(scope="module")
def hierarchical_config():
    return tiny(**HIERARCHICAL)


@pytest.fixture(scope="module")
def hierarchical_run(trained_run):
    return trained_run(**HIERARCHICAL)


def dense(model, name, x, activation=True):
    kernel, bias = (np.asarray(weight, np.float64) for weight in model.get_layer(name).weights)
    x = x @ kernel + bias
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0))) if activation else x  # ELU


def gaussian_heads(model, x, mean_name, log_var_name):
    x = dense(model, "hidden_2", dense(model, "hidden_1", x))
    return dense(model, mean_name, x, False), dense(model, log_var_name, x, False)


def log_normal(x, mean, log_var):
    return -0.5 * np.sum((x - mean) ** 2 * np.exp(-log_var) + log_var + LOG_TWO_PI, axis=-1)


def test_the_importance_weighted_estimate_matches_numpy(hierarchical_config, subset):
    """log p(x) ~ logsumexp_k [log p(x|z1) + log p(z1|z2) + log p(z2) - log q(z1|x) - log q(z2|z1)] - log K over
    both layers, recomputed in float64 numpy from the model's weights and the same noise."""
    from vae.model.autoencoder import VAE
    from vae.model.objectives import importance_weighted_bound

    config = hierarchical_config
    model = VAE(config)
    model.build()
    images = (subset.test_images[:6, ..., None] > 127).astype("float32")
    samples, lower = 5, HIERARCHICAL_LOWER_LATENT_DIM
    noise = np.random.default_rng(0).standard_normal((samples, 6, lower + config.latent_dim)).astype("float32")
    terms = model.latent.terms(images, model.latent.posterior(images), noise)
    bound = np.asarray(importance_weighted_bound(terms[0] + terms[1] - terms[2]))

    x = images.reshape(1, 6, -1).astype(np.float64)
    mean_1, log_var_1 = gaussian_heads(model.encoder, x.reshape(6, -1), "z_mean", "z_log_var")
    z1 = mean_1 + np.exp(0.5 * log_var_1) * noise[..., :lower]
    mean_2, log_var_2 = gaussian_heads(model.upper_encoder, z1, "z_mean", "z_log_var")
    z2 = mean_2 + np.exp(0.5 * log_var_2) * noise[..., lower:]
    prior_mean, prior_log_var = gaussian_heads(model.upper_decoder, z2, "z1_mean", "z1_log_var")
    pseudo_inputs = np.asarray(model.pseudo_inputs.images(), np.float64).reshape(10, -1)
    pseudo_mean, _ = gaussian_heads(model.encoder, pseudo_inputs, "z_mean", "z_log_var")  # the means only
    component_means, component_log_vars = gaussian_heads(model.upper_encoder, pseudo_mean, "z_mean", "z_log_var")
    components = log_normal(z2[..., None, :], component_means, component_log_vars)
    log_p_z2 = np.log(np.mean(np.exp(components), axis=-1))
    hidden = dense(model.decoder, "hidden_2", dense(model.decoder, "hidden_1", z1))
    logits = dense(model.decoder, "pixel_logits", hidden, False)
    log_p_x = np.sum(x * logits - np.logaddexp(0, logits), axis=-1)
    log_weights = (
        log_p_x + log_normal(z1, prior_mean, prior_log_var) + log_p_z2
        - log_normal(z1, mean_1, log_var_1) - log_normal(z2, mean_2, log_var_2)
    )  # fmt: skip
    expected = np.log(np.mean(np.exp(log_weights - log_weights.max(axis=0)), axis=0)) + log_weights.max(axis=0)
    assert np.asarray(terms[0]).shape == (samples, 6)
    np.testing.assert_allclose(bound, expected, rtol=1e-4)


def test_a_hierarchical_run_reloads_and_resumes_bit_for_bit(monkeypatch, tmp_path, hierarchical_run,
                                                           hierarchical_config, subset):  # fmt: skip
    from vae.training.loop import train

    model, config, history = load_run(RunDir(hierarchical_run))
    assert config == hierarchical_config
    assert history["test_loss"][-1] < history["test_loss"][0]
    whole = load_model(hierarchical_run / MODEL_FILE)
    for first, second in zip(whole.weights, model.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(first), np.asarray(second))

    run_dir = train_stopped_after_first_epoch(monkeypatch, hierarchical_config, subset, tmp_path / "stopped")
    train(hierarchical_config, subset, RunDir(run_dir), resume=True, verbose=0)
    resumed, _, _ = load_run(RunDir(run_dir))
    for first, second in zip(resumed.weights, model.weights, strict=True):
        np.testing.assert_array_equal(first.numpy(), second.numpy())


def test_vae_eval_and_the_pictures_use_both_layers_and_show_the_top_one(hierarchical_run, subset, tmp_path):
    from vae.evaluation.workflow import evaluate

    model, config, _ = load_run(RunDir(hierarchical_run))
    images = (subset.test_images[:40, ..., None] > 127).astype("float32")
    metrics = evaluate(model, images, 20)
    assert all(np.isfinite(value) for value in metrics.values())
    assert metrics["importance_weighted_nll"] < metrics["negative_elbo"]
    z_mean, _ = model.encode(images)
    assert tuple(z_mean.shape) == (40, config.latent_dim)
    assert tuple(model.decode(z_mean).shape) == (40, 28, 28, 1)

    result = invoke(plot_command, "latent-grid", "--run-dir", hierarchical_run, "--data-dir", SUBSET_DIR,
                    "--output", tmp_path / "grid.png")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "grid.png").size[0] > 0


def test_the_cli_refuses_a_conditional_hierarchical_run_in_one_line(tmp_path):
    result = invoke(train_command, "--arch", "hierarchical", "--conditional",
                    "--data-dir", SUBSET_DIR, "--run-dir", tmp_path / "run")  # fmt: skip
    assert result.exit_code == 2
    assert result.output.startswith("error: architecture hierarchical is not for conditional runs")
    assert len(result.output.splitlines()) == 1
    assert not (tmp_path / "run").exists()
