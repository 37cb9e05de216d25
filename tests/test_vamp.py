"""The VampPrior (`vae-train --prior vamp --pseudo-inputs K`, Tomczak & Welling 2018), alone and with the IWAE
objective."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import SUBSET_DIR, invoke, train_stopped_after_first_epoch
from vae.config import VAEConfig
from vae.errors import UsageError
from vae.run.directory import MODEL_FILE, RunDir
from vae.run.loading import load_model, load_run
from vae_scripts.train import main as train_command

VAMP = {"prior": "vamp", "pseudo_inputs": 20, "objective": "iwae", "samples": 2, "limit": 256}


@pytest.fixture(scope="module")
def vamp_config(tiny_config):
    return tiny_config.replace(**VAMP)


@pytest.fixture(scope="module")
def vamp_run(trained_run):
    return trained_run(**VAMP)


def test_the_log_density_is_the_mixture_of_the_posteriors_at_the_pseudo_inputs(vamp_run):
    model, _, _ = load_run(RunDir(vamp_run))
    means, log_vars = model.encoder(model.pseudo_inputs.images())
    means, log_vars = np.asarray(means, np.float64), np.asarray(log_vars, np.float64)
    assert means.shape == (20, 2)
    pseudo = np.asarray(model.pseudo_inputs.images())
    assert pseudo.shape == (20, 28, 28, 1) and pseudo.min() >= 0 and pseudo.max() <= 1
    z = np.random.default_rng(0).standard_normal((3, 7, 2)) * 2
    # log (1/K) sum_k prod_j N(z_j; mean_kj, var_kj), directly, in float64.
    variances = np.exp(log_vars)
    densities = np.exp(-0.5 * (z[..., None, :] - means) ** 2 / variances) / np.sqrt(2 * np.pi * variances)
    expected = np.log(np.prod(densities, axis=-1).mean(axis=-1))
    np.testing.assert_allclose(
        np.asarray(model.latent.prior.log_density(z.astype("float32"))), expected, rtol=1e-5, atol=1e-5
    )


def test_a_vamp_run_trains_reloads_and_resumes_bit_for_bit(monkeypatch, tmp_path, vamp_run, vamp_config, subset):
    from vae.training.loop import train

    model, config, history = load_run(RunDir(vamp_run))
    assert config.prior == "vamp" and config.pseudo_inputs == 20
    assert history["test_loss"][-1] < history["test_loss"][0] and "test_negative_iw_bound" in history
    whole = load_model(vamp_run / MODEL_FILE)
    np.testing.assert_array_equal(np.asarray(whole.pseudo_inputs.logits), np.asarray(model.pseudo_inputs.logits))

    run_dir = train_stopped_after_first_epoch(monkeypatch, vamp_config, subset, tmp_path / "stopped")
    train(vamp_config, subset, RunDir(run_dir), resume=True, verbose=0)
    resumed, _, _ = load_run(RunDir(run_dir))
    for first, second in zip(resumed.weights, model.weights, strict=True):
        np.testing.assert_array_equal(first.numpy(), second.numpy())


def test_vae_eval_weighs_with_the_vampprior(vamp_run, subset, monkeypatch):
    from vae.evaluation.workflow import evaluate

    model, _, _ = load_run(RunDir(vamp_run))
    images = (subset.test_images[:50, ..., None] / 255).astype("float32")
    calls = []
    prior = model.latent.prior
    log_density = prior.log_density
    monkeypatch.setattr(prior, "log_density", lambda z, training=False: calls.append(1) or log_density(z, training))
    metrics = evaluate(model, images, 20)
    assert calls, "the VampPrior's density was not used"
    assert all(np.isfinite(value) for value in metrics.values())
    # The estimated KL is the mean of log q(z|x) - log p(z), which may dip below zero for single digits but not
    # far on average; the importance-weighted bound is the tighter one.
    assert metrics["kl_loss"] > -1.0
    assert metrics["importance_weighted_bce_bound"] < metrics["negative_elbo"]


def test_samples_are_drawn_from_the_mixture(vamp_run, monkeypatch, tmp_path):
    from vae.views import figures as plots

    model, _, _ = load_run(RunDir(vamp_run))
    drawn = []
    decode = model.decode
    monkeypatch.setattr(model, "decode", lambda z, labels=None: drawn.append(np.asarray(z)) or decode(z, labels))
    plots.plot_samples(model, tmp_path / "samples.png", 16, seed=4)
    # A component chosen uniformly, then z = mean + sigma * epsilon, from the same generator.
    means, log_vars = (np.asarray(part) for part in model.latent.prior.components())
    rng = np.random.default_rng(4)
    chosen = rng.integers(0, len(means), 16)
    expected = means[chosen] + np.exp(0.5 * log_vars[chosen]) * rng.standard_normal((16, means.shape[1]))
    np.testing.assert_array_equal(drawn[0], expected.astype("float32"))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"prior": "vamp"}, "prior vamp needs pseudo_inputs from 1 to 5000 \\(the paper uses 500\\), got 0"),
        ({"prior": "vamp", "pseudo_inputs": 0}, "prior vamp needs pseudo_inputs from 1 to 5000"),
        ({"pseudo_inputs": 500}, "pseudo_inputs 500 needs prior vamp"),
        ({"prior": "flow"}, "prior must be one of gaussian, vamp, got 'flow'"),
        ({"prior": "vamp", "pseudo_inputs": 500, "conditional": True}, "its pseudo-inputs carry no label"),
        (
            {"prior": "vamp", "pseudo_inputs": 5000, "latent_dim": 1024, "batch_size": 128},
            "batch_size x samples x pseudo_inputs x latent_dim must be at most 268,435,456",
        ),
    ],
)
def test_bad_priors_are_refused(changes, message):
    with pytest.raises(UsageError, match=message):
        VAEConfig(**changes)


def test_the_cli_refuses_a_vampprior_too_large_for_memory_in_one_line(tmp_path):
    result = invoke(train_command, "--prior", "vamp", "--pseudo-inputs", 5000, "--latent-dim", 1024,
                    "--data-dir", SUBSET_DIR, "--run-dir", tmp_path / "run")  # fmt: skip
    assert result.exit_code == 2
    assert result.output.startswith("error: batch_size x samples x pseudo_inputs x latent_dim must be at most")
    assert len(result.output.splitlines()) == 1 and not (tmp_path / "run").exists()
