"""Anomaly maps: -log p(x_ij|z) per pixel at the posterior mean, from `run.anomaly_map` and `vae-encode --maps`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import files_of, invoke, tiny
from vae.evaluation.anomaly_maps import anomaly_map_at, anomaly_maps
from vae_scripts.encode import main as encode_command

HAND_DRAWN = Path(__file__).parent / "data" / "hand-drawn"


def model_of(**changes):
    from vae.model.autoencoder import VAE

    model = VAE(tiny(**changes))
    model.build()
    return model


@pytest.mark.parametrize("changes", [{}, {"likelihood": "logistic"}, {"conditional": True}], ids=str)
def test_a_map_sums_to_the_reconstruction_term_at_the_posterior_mean(subset, changes):
    model = model_of(**changes)
    images = (subset.test_images[:5, ..., None] / 255).astype(np.float32)
    labels = subset.test_labels[:5].astype(np.int32) if changes.get("conditional") else None
    maps = np.asarray(anomaly_map_at(model, images, labels))
    assert maps.shape == (5, 28, 28) and np.all(maps >= 0)
    z_mean, _ = model.encode(images, labels)
    outputs = model.latent.decoder_outputs(z_mean, labels)
    per_image = np.asarray(model.latent.likelihood.negative_log_likelihood(images, outputs))
    np.testing.assert_allclose(maps.sum(axis=(1, 2)), per_image, rtol=1e-5)
    # Batched as vae-encode batches them, the same maps.
    np.testing.assert_allclose(anomaly_maps(model, images, labels), maps, rtol=1e-5, atol=1e-5)


def test_a_blot_pasted_into_a_digit_lights_up_where_it_is(tiny_run, subset):
    import vae

    run = vae.open_run(tiny_run)
    digits = subset.test_images[:20].astype(np.float32) / 255
    blotted = digits.copy()
    blotted[:, 2:8, 2:8] = 1.0  # a white square in a corner, where no digit has ink
    maps = run.anomaly_map(blotted)
    assert maps.shape == (20, 28, 28)
    inside = maps[:, 2:8, 2:8].mean(axis=(1, 2))
    outside = np.delete(maps.reshape(20, -1), [r * 28 + c for r in range(2, 8) for c in range(2, 8)], axis=1)
    assert np.all(inside > 5 * outside.mean(axis=1))
    clean = run.anomaly_map(digits)
    assert np.all(clean[:, 2:8, 2:8].mean(axis=(1, 2)) < inside)
    assert run.anomaly_map(np.zeros((0, 28, 28), np.float32)).shape == (0, 28, 28)


def test_vae_encode_draws_every_images_map_on_one_scale(tiny_run, tmp_path):
    maps = tmp_path / "maps"
    result = invoke(encode_command, HAND_DRAWN, "--k", 2, "--run-dir", tiny_run, "--maps", maps,
                    "--output", tmp_path / "scores.csv")  # fmt: skip
    assert result.exit_code == 0, result.output
    drawn = sorted(path.name for path in maps.iterdir())
    assert len(drawn) == len(list(HAND_DRAWN.iterdir())) and drawn[0].startswith("0000-digit-0")
    assert "anomaly maps to" in result.output and "on one scale from 0 to" in result.output
    with Image.open(maps / drawn[0]) as picture:
        assert picture.format == "PNG" and picture.mode == "RGBA" and min(picture.size) > 100


def test_maps_into_a_file_are_refused_and_nothing_is_written(tiny_run, tmp_path):
    (tmp_path / "a-file").write_text("mine")
    before = files_of(tmp_path)
    result = invoke(encode_command, HAND_DRAWN, "--k", 2, "--run-dir", tiny_run, "--maps", tmp_path / "a-file",
                    "--output", tmp_path / "scores.csv")  # fmt: skip
    assert result.exit_code == 2 and "--maps" in result.output and "Traceback" not in result.output
    assert files_of(tmp_path) == before
