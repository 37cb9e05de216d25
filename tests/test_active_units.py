"""Posterior collapse, measured and reported: active latent units (Burda et al. 2015, section 5), the PCA and mean-image
baselines of the reconstruction error, the one-line warning of a run that ignores its input, and where they are
recorded (eval.json, history.json, the report)."""

from __future__ import annotations

import json
import math
import shutil
import warnings

import numpy as np
import pytest

from tests.conftest import SUBSET_DIR, copy_run, invoke, tiny
from vae.errors import CollapseWarning
from vae.evaluation import collapse
from vae.evaluation.collapse import (
    active_units,
    collapse_warning,
    fit_pca,
    mean_image_baseline,
    mean_squared_error,
    pca_baseline,
    psnr,
    reconstruction_line,
)
from vae.run.directory import EVAL_FILE, HISTORY_FILE, RunDir

COLLAPSE_WARNING = "warning: the model ignores its input ("
EARLIER_RUN = SUBSET_DIR.parent / "run-from-0.1.0"


def warning_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning: ")]


# --- the measures, against numbers worked out by hand -----------------------------------------------------------


def test_a_unit_is_active_when_its_posterior_mean_varies_over_the_images_by_more_than_a_hundredth():
    # Variances over the two images (ddof 0): 0.11^2 = 0.0121 (active), 0.09^2 = 0.0081, and 0 for a constant mean.
    means = np.array([[0.11, 0.09, 5.0], [-0.11, -0.09, 5.0]])
    count, variances = active_units(means)
    assert count == 1
    np.testing.assert_allclose(variances, [0.0121, 0.0081, 0.0])
    assert active_units(means, threshold=0.005)[0] == 2
    assert active_units(np.zeros((10, 4)))[0] == 0


def test_active_units_need_the_means_of_at_least_one_image():
    with pytest.raises(ValueError, match="at least one image"):
        active_units(np.zeros((0, 2)))


def test_pca_and_the_mean_image_on_three_pixels_worked_out_by_hand():
    # Training images of mean 0 varying most along pixel 0 (variance 2), less along pixel 1 (0.5), never along 2.
    train = np.array([[2.0, 0, 0], [-2, 0, 0], [0, 1, 0], [0, -1, 0]])
    test = np.array([[1.0, 1, 0]])
    one = pca_baseline(train, test, 1)
    # One component keeps pixel 0: the error is the 1 of pixel 1, over 3 pixels.
    assert one["components"] == 1 and one["mse"] == pytest.approx(1 / 3)
    assert one["psnr_db"] == pytest.approx(10 * math.log10(3))
    assert one["training_images"] == 4 and one["method"].startswith("exact: eigendecomposition")
    two = pca_baseline(train, test, 2)
    assert two["mse"] == pytest.approx(0, abs=1e-24) and (two["psnr_db"] is None or two["psnr_db"] > 200)
    # The mean image is 0: the error is 1 + 1 over 3 pixels.
    assert mean_image_baseline(train, test) == pytest.approx({"mse": 2 / 3, "psnr_db": 10 * math.log10(1.5)})
    # Asking for more components than pixels gives all of them.
    assert pca_baseline(train, test, 9)["components"] == 3


def test_pca_with_as_many_components_as_the_data_has_dimensions_reconstructs_it_exactly():
    generator = np.random.default_rng(0)
    basis, offset = generator.normal(size=(2, 36)), generator.uniform(size=36)
    train = (generator.normal(size=(200, 2)) @ basis + offset).reshape(200, 6, 6, 1)
    test = (generator.normal(size=(30, 2)) @ basis + offset).reshape(30, 6, 6, 1)
    assert pca_baseline(train, test, 2)["mse"] < 1e-20
    assert pca_baseline(train, test, 1)["mse"] > 1e-3
    pca = fit_pca(train, 2)
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(2), atol=1e-10)  # orthonormal rows
    np.testing.assert_allclose(pca.reconstruct(test), test.reshape(30, -1), atol=1e-9)


def test_pca_of_large_images_comes_from_a_subsample_and_agrees_with_the_exact_one(monkeypatch):
    generator = np.random.default_rng(1)
    train = generator.normal(size=(300, 2)) @ generator.normal(size=(2, 50)) + 0.01 * generator.normal(size=(300, 50))
    test = train[:40] + 0.01 * generator.normal(size=(40, 50))
    exact = pca_baseline(train, test, 2)
    monkeypatch.setattr(collapse, "EXACT_PCA_MAX_PIXELS", 10)
    whole = pca_baseline(train, test, 2)  # 2^23 numbers hold all 300 images: exact for them
    assert whole["method"] == "exact: SVD of all 300 centred training images"
    assert whole["mse"] == pytest.approx(exact["mse"], rel=1e-9)
    monkeypatch.setattr(collapse, "PCA_SUBSAMPLE_NUMBERS", 100 * 50)
    sampled = pca_baseline(train, test, 2)
    assert sampled["method"] == "SVD of 100 of the centred training images, chosen at random (seed 0)"
    assert sampled["training_images"] == 300 and sampled["mse"] == pytest.approx(exact["mse"], rel=0.05)
    # Directions the subsample never varies in are no components.
    assert fit_pca(np.ones((5, 20)), 3).components.shape == (0, 20)


def test_the_mean_squared_error_and_psnr_of_images_in_zero_to_one():
    images = np.zeros((2, 4, 4, 1))
    assert mean_squared_error(images, np.full((2, 4, 4), 0.1)) == pytest.approx(0.01)  # a channel axis or none
    assert psnr(0.01) == pytest.approx(20.0) and psnr(1.0) == 0 and psnr(0.0) is None


def collapse_record(active: int, ours: float, mean_image: float = 0.06, pca: float = 0.05) -> dict:
    return {
        "active_units": active,
        "latent_dim": 2,
        "active_unit_threshold": 0.01,
        "posterior_mean_variances": [0.0, 0.0],
        "reconstruction": {
            "vae": {"mse": ours, "psnr_db": psnr(ours)},
            "mean_image": {"mse": mean_image, "psnr_db": psnr(mean_image)},
            "pca": {"components": 2, "mse": pca, "psnr_db": psnr(pca), "method": "exact", "training_images": 9},
        },
    }


def test_the_collapse_warning_says_which_sign_it_saw_and_what_to_try():
    both = collapse_warning(collapse_record(active=0, ours=0.07))
    assert both.startswith("the model ignores its input (0 of 2 latent units active; reconstructions no better")
    assert "MSE 0.0700 per pixel against 0.0600" in both
    assert both.endswith(
        "train longer, or keep the defaults --free-nats and --min-warmup-steps, or lower --learning-rate"
    )
    assert "latent units" not in collapse_warning(collapse_record(active=1, ours=0.06))  # equal: no better
    assert "mean image" not in collapse_warning(collapse_record(active=0, ours=0.01))
    assert collapse_warning(collapse_record(active=1, ours=0.059)) is None


def test_a_vae_that_loses_to_pca_shows_it_on_its_line():
    losing = reconstruction_line(collapse_record(active=2, ours=0.055, pca=0.05))
    assert losing == (
        "reconstruction PSNR 12.6 dB (MSE 0.0550 per pixel), PCA with 2 components 13.0 dB (MSE 0.0500 per pixel), "
        "the mean image 12.2 dB (MSE 0.0600 per pixel): PCA beats the VAE"
    )
    assert reconstruction_line(collapse_record(active=2, ours=0.02)).endswith(": the VAE beats PCA")


# --- a collapsed run made on purpose, and a healthy one ---------------------------------------------------------


@pytest.fixture(scope="module")
def collapsed_model():
    """An untrained model whose encoder's mean head is all zeros: every image has the same posterior mean, so no unit
    is active, and the decoder draws one image whatever it is shown."""
    from vae.model.autoencoder import VAE

    model = VAE(tiny())
    model.build()
    head = model.encoder.get_layer("z_mean")
    head.set_weights([np.zeros_like(weight) for weight in head.get_weights()])
    return model


@pytest.fixture(scope="module")
def collapsed_run(tmp_path_factory, collapsed_model):
    """The collapsed model saved as a finished run, which tests must copy to change."""
    from vae.run.records import HISTORY_KEYS, save_run

    run_dir = tmp_path_factory.mktemp("collapsed") / "run"
    history = {key: [100.0] for key in HISTORY_KEYS} | {"wall_seconds": [1.0]}  # saved before active units existed
    save_run(RunDir(run_dir), collapsed_model, collapsed_model.vae_config, history)
    return run_dir


@pytest.fixture(scope="module")
def pretrained_model():
    from vae.run.loading import load_run

    return load_run(RunDir("pretrained:mnist"))[0]


def test_vae_eval_of_a_collapsed_run_warns_once_and_eval_json_records_why(collapsed_run, subset, tmp_path):
    from vae.data.datasets import test_inputs
    from vae_scripts.evaluate import main as evaluate_command

    run_dir = copy_run(collapsed_run, tmp_path)
    result = invoke(evaluate_command, "--run-dir", run_dir, "--data-dir", SUBSET_DIR, "--limit", 40, "--k", 2)
    assert result.exit_code == 0, result.output
    lines = warning_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith(COLLAPSE_WARNING + "0 of 2 latent units active; "), lines
    record = json.loads((run_dir / EVAL_FILE).read_text())
    assert (record["active_units"], record["latent_dim"], record["active_unit_threshold"]) == (0, 2, 0.01)
    assert record["posterior_mean_variances"] == [0.0, 0.0]
    errors = record["reconstruction"]
    assert set(errors) == {"vae", "pca", "mean_image"}
    assert errors["pca"]["components"] == 2 and errors["pca"]["training_images"] == tiny().limit
    assert errors["vae"]["mse"] >= errors["mean_image"]["mse"] > errors["pca"]["mse"] > 0
    # The baselines are fitted on the run's own training images, its --limit of them, and score the same test images.
    train = collapse.training_inputs(subset.train_images[: tiny().limit], binarize=False)
    test = test_inputs(subset, binarize=False)[:40]
    assert errors["pca"] == pca_baseline(train, test, 2) and errors["mean_image"] == mean_image_baseline(train, test)
    for part in errors.values():
        assert part["psnr_db"] == pytest.approx(10 * math.log10(1 / part["mse"]))
    assert lines[0] == "warning: " + record["collapse_warning"]
    assert "active latent units: 0 of 2" in result.stdout
    assert f"PCA with 2 components {errors['pca']['psnr_db']:.1f} dB" in result.stdout
    assert result.stdout.splitlines()[-2].endswith("PCA beats the VAE")


def test_vae_eval_of_a_healthy_run_gives_no_warning(tmp_path, monkeypatch):
    from vae_scripts.evaluate import main as evaluate_command

    monkeypatch.chdir(tmp_path)
    result = invoke(
        evaluate_command, "--run-dir", "pretrained:mnist", "--data-dir", SUBSET_DIR, "--limit", 50, "--k", 2
    )
    assert result.exit_code == 0, result.output
    assert warning_lines(result.stderr) == []
    assert "active latent units: 2 of 2" in result.stdout and ": the VAE beats PCA" in result.stdout


def test_the_end_of_training_check_warns_of_a_collapsed_model_alone(collapsed_model, pretrained_model, subset):
    from vae.training.loop import TrainingResult, checked_for_collapse

    data = subset.limited(256)
    result = TrainingResult(tiny(), {}, RunDir("run"), 1.0)
    with pytest.warns(CollapseWarning, match=r"the model ignores its input \(0 of 2 latent units active") as caught:
        checked = checked_for_collapse(result, collapsed_model, data, chief=True)
    assert len(caught) == 1 and checked.collapse_warning == str(caught[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollapseWarning)
        assert checked_for_collapse(result, pretrained_model, data, chief=True).collapse_warning is None
        assert checked_for_collapse(result, collapsed_model, data, chief=False).collapse_warning is None


# --- the history and the report --------------------------------------------------------------------------------


def test_each_scored_epoch_records_the_active_units_and_a_resumed_earlier_run_gets_nulls_before(
    collapsed_model, pretrained_model, subset, monkeypatch, tmp_path
):
    from vae.data.datasets import test_inputs
    from vae.run.records import check_history
    from vae.training import callbacks

    monkeypatch.setattr(callbacks, "save_checkpoint", lambda *arguments: None)
    earlier = json.loads((EARLIER_RUN / HISTORY_FILE).read_text())
    epochs = len(earlier["loss"])
    test_data = (test_inputs(subset, False)[:100], subset.test_labels[:100])
    checkpoint = callbacks.EpochCheckpoint(RunDir(tmp_path), tiny(), earlier, 0.0, 0.0, test_data=test_data)
    train_logs = {"loss": 150.0, "reconstruction_loss": 140.0, "kl_loss": 10.0}
    scored = train_logs | {"val_" + key: value for key, value in train_logs.items()}
    checkpoint.set_model(pretrained_model)
    checkpoint.on_epoch_end(epochs, scored)
    checkpoint.on_epoch_end(epochs + 1, train_logs)  # not scored (--eval-every)
    checkpoint.set_model(collapsed_model)
    checkpoint.on_epoch_end(epochs + 2, scored)
    assert earlier[callbacks.ACTIVE_UNITS_KEY] == [None] * epochs + [2, None, 0]
    assert check_history(json.loads(json.dumps(earlier)))[callbacks.ACTIVE_UNITS_KEY][-3:] == [2.0, None, 0.0]


def test_the_report_shows_the_collapse_measures_and_its_warning():
    from vae.views.report import collapse_paragraph, evaluation_table, last_active_units

    record = collapse_record(active=0, ours=0.07) | {"metrics": {"negative_elbo": 150.0}, "protocol": "p"}
    record["collapse_warning"] = collapse_warning(record)
    table = evaluation_table(record)
    assert "<tr><th>active latent units</th><td>0 of 2</td></tr>" in table
    assert "<tr><th>PCA, 2 components</th><td>13.0 dB (MSE 0.0500 per pixel)</td></tr>" in table
    assert "<tr><th>the mean training image</th><td>12.2 dB (MSE 0.0600 per pixel)</td></tr>" in table
    history = {"loss": [1.0, 1.0, 1.0], "test_active_units": [None, 2.0, 0.0]}
    assert last_active_units(history) == 0 and last_active_units({"loss": [1.0]}) is None
    assert collapse_paragraph(history, record, 2) == f"<p class=warning>Warning: {record['collapse_warning']}</p>"
    # Without eval.json, the history's last count says it; with one that found no collapse, nothing does.
    assert "0 of 2 latent units active after the last epoch" in collapse_paragraph(history, None, 2)
    healthy = collapse_record(active=2, ours=0.02) | {"collapse_warning": None}
    assert collapse_paragraph(history, healthy, 2) == "" and collapse_paragraph({"loss": [1.0]}, None, 2) == ""
    # An eval.json of an earlier release has none of these: its table is as it was.
    earlier = json.loads((EARLIER_RUN / EVAL_FILE).read_text())
    assert "active latent units" not in evaluation_table(earlier) and "PCA" not in evaluation_table(earlier)


# --- trainings ---------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_vae_train_of_a_run_that_collapses_says_so_in_one_line(tmp_path):
    from vae_scripts.train import main as train_command

    run_dir = tmp_path / "run"
    options = ["--epochs", 2, "--limit", 128, "--batch-size", 64, "--beta", 100, "--free-nats", 0]
    result = invoke(train_command, *options, "--data-dir", SUBSET_DIR, "--run-dir", run_dir, "--verbose", 0)
    assert result.exit_code == 0, result.output
    lines = warning_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith(COLLAPSE_WARNING + "0 of 2 latent units active"), result.stderr
    history = json.loads((run_dir / HISTORY_FILE).read_text())
    assert history["test_active_units"][-1] == 0 and len(history["test_active_units"]) == 2


@pytest.mark.slow
def test_a_trained_run_records_its_active_units_every_epoch(tiny_run):
    history = json.loads((tiny_run / HISTORY_FILE).read_text())
    assert len(history["test_active_units"]) == len(history["loss"])
    assert all(isinstance(count, int) and 0 <= count <= tiny().latent_dim for count in history["test_active_units"])


@pytest.mark.slow
def test_a_run_saved_before_active_units_still_plots_and_reports(tmp_path):
    from vae_scripts.plot import main as plot_command
    from vae_scripts.report import main as report_command

    run_dir = tmp_path / "run"
    shutil.copytree(EARLIER_RUN, run_dir)
    result = invoke(plot_command, "history", "--run-dir", run_dir)
    assert result.exit_code == 0, result.output
    result = invoke(report_command, "--run-dir", run_dir, "--data-dir", SUBSET_DIR)
    assert result.exit_code == 0, result.output
    page = (run_dir / "report.html").read_text()
    assert "active latent units" not in page and "class=warning" not in page
