"""The importance-weighted training objective (`vae-train --objective iwae --samples K`, Burda et al. 2015)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import SUBSET_DIR, files_of, invoke
from vae.config import VAEConfig
from vae.errors import UsageError
from vae.run.directory import MODEL_FILE, RunDir
from vae.run.loading import load_model, load_run
from vae_scripts.train import main as train_command

IWAE = {"objective": "iwae", "samples": 3, "limit": 256}


@pytest.fixture(scope="module")
def iwae_config(tiny_config):
    return tiny_config.replace(**IWAE)


@pytest.fixture(scope="module")
def iwae_run(trained_run):
    return trained_run(**IWAE)


def built(config):
    from vae.model.autoencoder import VAE

    model = VAE(config)
    model.build()
    return model


def test_one_sample_draws_the_elbos_noise_and_estimates_its_kl(subset, tiny_config):
    """With K = 1 the bound is the ELBO's single-sample estimate: the same z from the same noise stream, and
    log q(z|x) - log p(z) in place of the analytic KL, which it equals in expectation."""
    elbo, iwae = built(tiny_config), built(tiny_config.replace(objective="iwae", samples=1))
    iwae.set_weights(elbo.get_weights())
    images = np.repeat((subset.test_images[:20, ..., None] / 255).astype("float32"), 100, axis=0)
    elbo_losses, iwae_losses = elbo.compute_losses(images), iwae.compute_losses(images)
    reconstruction, kl = elbo_losses.reconstruction, elbo_losses.kl
    iw_reconstruction, iw_kl, negative_bound = iwae_losses.reconstruction, iwae_losses.kl, iwae_losses.negative_bound
    assert elbo_losses.negative_bound is None
    np.testing.assert_allclose(np.asarray(iw_reconstruction), np.asarray(reconstruction), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(iw_kl), np.asarray(kl))
    sampled_kl = np.asarray(negative_bound) - np.asarray(iw_reconstruction)
    error = 3 * sampled_kl.std() / np.sqrt(len(sampled_kl))
    assert abs(sampled_kl.mean() - np.asarray(kl).mean()) < error


def test_the_bound_does_not_decrease_in_k(iwae_run, subset):
    """Averaged over 200 test digits with the same seed, the bound grows with K (Burda et al. 2015, theorem 1)."""
    from vae.evaluation.estimators import importance_weighted_log_likelihood, of_vae

    model, _, _ = load_run(RunDir(iwae_run))
    images = (subset.test_images[:200, ..., None] / 255).astype("float32")
    bounds = [importance_weighted_log_likelihood(of_vae(model), images, k).mean() for k in (1, 3, 10, 50)]
    assert all(later >= earlier - 1e-3 for earlier, later in zip(bounds, bounds[1:], strict=False)), bounds
    assert bounds[-1] > bounds[0] + 1.0


def test_the_bound_is_a_stable_logsumexp_of_the_weights():
    from vae.model.objectives import importance_weighted_bound

    log_weights = np.array([[-1000.0, 3.0], [-1001.0, -2.0], [-999.0, 0.5]], "float32")
    expected = [np.log(np.mean(np.exp(column - column.max()))) + column.max() for column in log_weights.T]
    np.testing.assert_allclose(np.asarray(importance_weighted_bound(log_weights)), expected, rtol=1e-6)


def test_an_iwae_run_reports_its_bound_and_the_elbo(iwae_run):
    _, config, history = load_run(RunDir(iwae_run))
    assert config.objective == "iwae" and config.samples == 3
    for split in ("", "test_"):
        bound, elbo = np.array(history[f"{split}negative_iw_bound"]), np.array(history[f"{split}loss"])
        assert len(bound) == 2 and np.all(np.isfinite(bound))
        np.testing.assert_allclose(
            elbo, np.array(history[f"{split}reconstruction_loss"]) + np.array(history[f"{split}kl_loss"]), rtol=1e-6
        )
    # The tighter bound: minus it lies below the negative ELBO.
    assert history["test_negative_iw_bound"][-1] < history["test_loss"][-1]
    assert history["test_loss"][-1] < history["test_loss"][0]


def test_an_iwae_run_reloads(iwae_run):
    """Its resume, bit for bit, is tested with the VampPrior (tests/test_vamp.py), which trains with this objective."""
    whole = load_model(iwae_run / MODEL_FILE)
    model, _, _ = load_run(RunDir(iwae_run))
    assert whole.vae_config == model.vae_config
    for first, second in zip(whole.weights, model.weights, strict=True):
        np.testing.assert_array_equal(first.numpy(), second.numpy())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"samples": 0}, "samples must be at least 1, got 0"),
        ({"objective": "iwae", "samples": 0}, "samples must be at least 1, got 0"),
        ({"samples": 5}, "samples 5 needs objective iwae"),
        ({"objective": "vimco"}, "objective must be one of elbo, iwae, got 'vimco'"),
        ({"objective": "iwae", "samples": 100, "batch_size": 128}, "batch_size x samples must be at most 8192"),
        ({"objective": "iwae", "samples": True}, "samples must be an integer, got True"),
    ],
)
def test_bad_objectives_are_refused(changes, message):
    with pytest.raises(UsageError, match=message):
        VAEConfig(**changes)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--objective", "iwae", "--samples", "0"], "Invalid value for '--samples': 0 is not in the range 1<=x<=8192"),
        (["--objective", "vimco"], "Invalid value for '--objective': 'vimco' is not one of 'elbo', 'iwae'"),
        (["--objective", "iwae", "--samples", "200"], "error: batch_size x samples must be at most 8192"),
    ],
)
def test_the_cli_refuses_bad_objectives_in_one_line_and_writes_nothing(tmp_path, arguments, message):
    result = invoke(train_command, *arguments, "--data-dir", SUBSET_DIR, "--run-dir", tmp_path / "run")
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "run").exists()


def test_resuming_with_a_contradicting_objective_is_refused(iwae_run, tmp_path):
    from tests.conftest import copy_run

    run_dir = copy_run(iwae_run, tmp_path)
    (run_dir / MODEL_FILE).unlink()
    before = files_of(run_dir)
    result = invoke(train_command, "--resume", "--objective", "elbo", "--run-dir", run_dir, "--data-dir", SUBSET_DIR)
    assert result.exit_code == 2
    assert result.output.startswith("error: --objective elbo contradicts the run being resumed (objective = iwae)")
    assert files_of(run_dir) == before


@pytest.mark.slow
def test_vae_train_names_the_objective_it_trained(tmp_path):
    options = ["--objective", "iwae", "--samples", 2, "--epochs", 1, "--limit", 128, "--batch-size", 64, "--verbose", 0]
    result = invoke(train_command, *options, "--data-dir", SUBSET_DIR, "--run-dir", tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert "; training objective, the negative importance-weighted bound with 2 samples: " in result.output
