"""The input-complexity correction of the outlier score (Serrà et al. 2020): L(x), S(x), and where they appear."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

from tests.conftest import tiny
from vae.evaluation import complexity
from vae.evaluation.outliers import summary


def test_the_complexity_is_the_bits_of_zlibs_code_of_the_8_bit_pixels():
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (28, 28, 1)).astype(np.uint8)
    blank = np.zeros((28, 28, 1), np.uint8)
    images = np.stack([noise, blank]).astype(np.float32) / 255
    bits = complexity.complexity_bits(images)
    assert bits.tolist() == [8.0 * len(zlib.compress(image.tobytes(), 9)) for image in (noise, blank)]
    # Noise does not compress (784 bytes and then some); a blank image is a few bytes.
    assert bits[0] > 8 * 784 and bits[1] < 8 * 20
    # Float rounding a hair off the 8-bit levels does not change them.
    np.testing.assert_array_equal(complexity.complexity_bits(images + 1e-7), bits)


def test_the_corrected_score_is_the_models_bits_less_the_complexity():
    nats = np.array([1000.0, 0.0])
    np.testing.assert_allclose(complexity.corrected_score(nats, np.array([100.0, 8.0])), [1000 / math.log(2) - 100, -8])


def model_of(**changes):
    from vae.model.autoencoder import VAE

    model = VAE(tiny(**changes))
    model.build()
    return model


@pytest.mark.parametrize(
    "changes, corrected",
    [({}, False), ({"binarize": True}, True), ({"likelihood": "logistic"}, True)],
    ids=["gray-bernoulli", "binarized", "logistic"],
)
def test_runs_with_an_exact_likelihood_score_with_the_correction(subset, changes, corrected):
    from vae.evaluation.estimators import importance_weighted_metric_name
    from vae.evaluation.scores import score_images, score_table, scored_images

    model = model_of(**changes)
    images = (subset.test_images[:6, ..., None] / 255).astype(np.float32)
    scores = score_images(model, images, 3)
    assert (complexity.CORRECTED in scores) == corrected == model.vae_config.exact_likelihood
    header, rows = score_table(model, [f"{index}.png" for index in range(6)], images, 3)
    assert (complexity.CORRECTED in header) == corrected and len(rows[0]) == len(header)
    if not corrected:
        return
    # L(x) of the images as the model scores them (binarized, under --binarize), and S(x) from the bound.
    np.testing.assert_array_equal(
        scores[complexity.COMPLEXITY], complexity.complexity_bits(scored_images(model, images)[0])
    )
    bound = scores[importance_weighted_metric_name(model.vae_config)]
    np.testing.assert_allclose(scores[complexity.CORRECTED], bound / math.log(2) - scores[complexity.COMPLEXITY])
    assert rows[2][header.index(complexity.CORRECTED)] == pytest.approx(scores[complexity.CORRECTED][2])


def test_the_exported_score_function_corrects_as_the_package_does(subset):
    from vae.evaluation.estimators import importance_weighted_metric_name
    from vae.evaluation.scores import scores_at_noise

    model = model_of(likelihood="logistic")
    images = (subset.test_images[:5, ..., None] / 255).astype(np.float32)
    noise = np.random.default_rng(1).standard_normal((4, 5, model.latent.noise_width)).astype(np.float32)
    bits = complexity.complexity_bits(images)
    scores = {key: np.asarray(value) for key, value in scores_at_noise(model, images, noise, None, bits).items()}
    bound = scores[importance_weighted_metric_name(model.vae_config)]
    np.testing.assert_allclose(scores[complexity.CORRECTED], bound / math.log(2) - bits, rtol=1e-6)
    assert complexity.CORRECTED not in scores_at_noise(model, images, noise)


def test_the_complexity_alone_is_no_outlier_score_in_the_summary():
    inliers = {"negative_elbo": np.arange(5.0), complexity.COMPLEXITY: np.ones(5), complexity.CORRECTED: np.zeros(5)}
    outliers = {name: values + 10 for name, values in inliers.items()}
    assert set(summary(inliers, outliers)) == {"negative_elbo", complexity.CORRECTED}


def test_an_empty_batch_scores_to_empty_columns_of_every_score():
    import vae
    from vae.serving.api import Run

    model = model_of(likelihood="logistic")
    run = Run(model, model.vae_config, {}, vae.run.directory.RunDir("."))
    scores = run.score(np.zeros((0, 28, 28, 1), np.float32))
    assert set(scores) == {
        "z_mean", "z_log_var", "negative_elbo", "importance_weighted_nll", complexity.COMPLEXITY, complexity.CORRECTED,
    }  # fmt: skip
    assert all(len(values) == 0 for values in scores.values())
