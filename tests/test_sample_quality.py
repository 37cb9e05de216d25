"""Sample quality: the metrics against their closed forms, the shipped judges against their recorded accuracy, and
`vae-eval --sample-quality`, `Run.sample_quality` and the report's table."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import vae
from tests.conftest import SUBSET_DIR, copy_run
from vae.config import VAEConfig
from vae.data.datasets import DEBIAN_FASHION_MNIST_DIR, read_data_dir
from vae.errors import UsageError
from vae.evaluation import generation, judges, sample_quality
from vae.evaluation.sample_quality import (
    class_accuracy,
    classifier_score,
    frechet_distance,
    frechet_distance_of,
    neighbour_radii,
    precision_recall,
)
from vae.model.prior import StandardNormal  # imports Keras while the tests are collected, before the fast loop's guard
from vae.run.directory import EVAL_FILE, RunDir
from vae.run.records import read_evaluation, weights_digest

ROOT = Path(__file__).resolve().parents[1]
SUBSETS = {"mnist": SUBSET_DIR, "fashion-mnist": ROOT / "tests" / "data" / "fashion-mnist-subset"}
REQUIRED_ACCURACY = {"mnist": 0.99, "fashion-mnist": 0.90}


# The metrics. --------------------------------------------------------------------------------------------------


def test_identical_feature_sets_are_at_frechet_distance_zero():
    features = np.random.default_rng(0).normal(size=(500, 16)) @ np.random.default_rng(1).normal(size=(16, 16))
    assert frechet_distance(features, features) == pytest.approx(0, abs=1e-8)


def test_frechet_distance_of_two_known_gaussians():
    # Diagonal covariances: |mean difference|^2 + sum (sqrt a - sqrt b)^2.
    distance = frechet_distance_of([0, 0], np.diag([1.0, 4.0]), [3, 4], np.diag([4.0, 9.0]))
    assert distance == pytest.approx(25 + (1 - 2) ** 2 + (2 - 3) ** 2)
    # I against B^2, B symmetric positive definite and not diagonal: tr(I + B^2 - 2B), as (B^2)^1/2 = B.
    b = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.3], [0.0, 0.3, 1.5]])
    expected = np.trace(np.eye(3) + b @ b - 2 * b)
    assert frechet_distance_of(np.zeros(3), np.eye(3), np.zeros(3), b @ b) == pytest.approx(expected)
    # Symmetric in its two Gaussians, though the computation is not.
    assert frechet_distance_of(np.zeros(3), b @ b, np.ones(3), np.eye(3)) == pytest.approx(expected + 3)


def test_frechet_distance_of_samples_approaches_the_gaussians():
    rng = np.random.default_rng(2)
    first = rng.normal(0, 1, size=(20_000, 2))
    second = rng.normal(1, 2, size=(20_000, 2))
    assert frechet_distance(first, second) == pytest.approx(2 * 1 + 2 * (2 - 1) ** 2, rel=0.05)


def test_precision_and_recall_of_identical_and_of_far_apart_sets():
    points = np.random.default_rng(3).normal(size=(200, 8))
    assert precision_recall(points, points) == (1.0, 1.0)
    assert precision_recall(points, points + 1000) == (0.0, 0.0)


def test_precision_and_recall_count_each_side_of_a_half_overlap():
    rng = np.random.default_rng(4)
    real = rng.normal(size=(400, 2))
    # Half the generated points lie among the real ones, half far away: precision near 1/2; they cover all of the
    # real manifold's region, so recall stays high.
    generated = np.concatenate([rng.normal(size=(400, 2)), rng.normal(size=(400, 2)) + 100])
    precision, recall = precision_recall(real, generated)
    assert 0.45 < precision < 0.55 and recall > 0.9


def test_the_radii_do_not_depend_on_the_chunks(monkeypatch):
    points = np.random.default_rng(5).normal(size=(257, 5))
    whole = neighbour_radii(points)
    monkeypatch.setattr(sample_quality, "DISTANCE_CHUNK", 10)
    np.testing.assert_array_equal(neighbour_radii(points), whole)
    assert np.all(whole > 0)


def test_classifier_score_of_one_hot_predictions():
    uniform = np.tile(np.eye(10), (30, 1))
    assert classifier_score(uniform) == pytest.approx(10)
    one_class = np.zeros((50, 10))
    one_class[:, 3] = 1
    assert classifier_score(one_class) == pytest.approx(1)
    assert classifier_score(np.full((50, 10), 0.1)) == pytest.approx(1)


def test_class_accuracy_by_asked_class():
    probabilities = np.eye(3)[[0, 0, 1, 2, 2, 2]]
    asked = np.array([0, 1, 1, 2, 2, 0])
    assert class_accuracy(probabilities, asked, ("a", "b", "c")) == {"a": 0.5, "b": 0.5, "c": 1.0}
    assert class_accuracy(probabilities, np.zeros(6, int), ("a", "b", "c")) == {"a": 2 / 6}


def test_the_metrics_refuse_what_they_cannot_measure():
    with pytest.raises(UsageError, match="NaN"):
        frechet_distance(np.full((5, 2), np.nan), np.zeros((5, 2)))
    with pytest.raises(UsageError, match="differ in width"):
        precision_recall(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(UsageError, match="more than 3 points"):
        precision_recall(np.zeros((3, 2)), np.zeros((5, 2)))
    with pytest.raises(UsageError, match="sum to 1"):
        classifier_score(np.full((4, 10), 0.5))


@pytest.mark.parametrize(
    ("samples", "temperature", "seed", "message"),
    [
        (-5, 1.0, 0, "samples must be a whole number from 4 to 50,000, got -5"),
        (3, 1.0, 0, "samples"),
        (50_001, 1.0, 0, "samples"),
        (2.5, 1.0, 0, "samples"),
        (True, 1.0, 0, "samples"),
        (100, 0, 0, "temperature must be a number above 0 and at most 4, got 0"),
        (100, -1.0, 0, "temperature"),
        (100, math.nan, 0, "temperature"),
        (100, math.inf, 0, "temperature"),
        (100, 4.5, 0, "temperature"),
        (100, "1", 0, "temperature"),
        (100, 1.0, -1, "seed"),
    ],
)
def test_settings_out_of_range_are_refused(samples, temperature, seed, message):
    with pytest.raises(UsageError, match=message):
        generation.check_settings(samples, temperature, seed)


def test_the_prior_at_temperature_one_draws_as_before():
    prior = StandardNormal(4)
    before = np.random.default_rng(7).standard_normal((6, 4)).astype("float32")
    np.testing.assert_array_equal(prior.sample(6, np.random.default_rng(7)), before)
    np.testing.assert_allclose(prior.sample(6, np.random.default_rng(7), 0.5), 0.5 * before, rtol=1e-6)


# The judges. ---------------------------------------------------------------------------------------------------


def test_the_judges_ship_small_and_recorded():
    manifest = judges.read_manifest()
    assert set(manifest) == set(judges.JUDGE_DATASETS)
    # Installed as package data, so that a wheel ships them.
    assert '"vae.evaluation" = ["judges/*.weights.h5", "judges/*.json"]' in (ROOT / "pyproject.toml").read_text()
    for dataset, record in manifest.items():
        weights = judges.judges_folder().joinpath(judges.weights_name(dataset)).read_bytes()
        assert len(weights) < 1_000_000 and judges.digest(weights) == record["sha256"]
        assert record["test_accuracy"] >= REQUIRED_ACCURACY[dataset] and record["test_images"] == 10_000
        assert record["command"].startswith("python benchmarks/train_judges.py") and record["seed"] == 0


@pytest.mark.parametrize("dataset", judges.JUDGE_DATASETS)
def test_each_judge_scores_its_committed_subset_as_recorded(dataset):
    record = judges.read_manifest()[dataset]
    subset = read_data_dir(SUBSETS[dataset], dataset, test_only=True)
    measured = judges.accuracy(judges.load_judge(dataset), subset.test_images, subset.test_labels)
    assert len(subset.test_labels) == record["subset_images"]
    # The same weights on the same images; a digit on the boundary may go either way on another CPU's kernels.
    assert abs(measured - record["subset_accuracy"]) <= 1 / len(subset.test_labels)
    assert measured >= REQUIRED_ACCURACY[dataset] - 0.02


def test_the_recorded_accuracy_is_the_full_test_splits(full_mnist_dir):
    directories = {"mnist": full_mnist_dir, "fashion-mnist": DEBIAN_FASHION_MNIST_DIR}
    for dataset, directory in directories.items():
        if not directory.is_dir():
            continue  # Debian's dataset-fashion-mnist is not installed
        data = read_data_dir(directory, dataset, test_only=True)
        measured = judges.accuracy(judges.load_judge(dataset), data.test_images, data.test_labels)
        assert abs(measured - judges.read_manifest()[dataset]["test_accuracy"]) <= 1 / len(data.test_labels)


def test_no_judge_for_a_folder_of_images():
    with pytest.raises(UsageError, match="no judge exists for 'folder' runs"):
        judges.check_judged("folder")


# A run's samples. ----------------------------------------------------------------------------------------------


def test_sample_quality_of_a_run_is_reproducible(tiny_run):
    first = generation.sample_quality(tiny_run, SUBSET_DIR, samples=60, seed=1)
    assert first == generation.sample_quality(tiny_run, SUBSET_DIR, samples=60, seed=1)
    other = generation.sample_quality(tiny_run, SUBSET_DIR, samples=60, seed=2)
    assert other["metrics"] != first["metrics"] and other["floor"] != first["floor"]
    assert set(first["metrics"]) == {"frechet_distance", "classifier_score", "precision", "recall"}
    assert first["floor"]["images"] == 60 and first["test_images"] == 500
    assert first["weights"]["sha256"] == weights_digest(RunDir(tiny_run))
    # Real digits are closer to the test split than two epochs' samples.
    assert first["floor"]["metrics"]["frechet_distance"] < first["metrics"]["frechet_distance"]
    colder = generation.sample_quality(tiny_run, SUBSET_DIR, samples=60, seed=1, temperature=0.5)
    assert colder["metrics"] != first["metrics"] and colder["floor"] == first["floor"]


def test_a_conditional_run_reports_its_accuracy_per_asked_class(conditional_run):
    record = generation.sample_quality(conditional_run, SUBSET_DIR, samples=200, seed=0)
    per_class = record["metrics"]["per_class_accuracy"]
    assert set(per_class) <= set(VAEConfig().classes) and len(per_class) == 10
    assert all(0 <= share <= 1 for share in per_class.values())
    assert 0 <= record["metrics"]["class_accuracy"] <= 1
    # The floor: the judge's accuracy on real training digits with their labels.
    assert record["floor"]["metrics"]["class_accuracy"] > 0.9


def test_cli_sample_quality_keeps_the_rest_of_eval_json(tiny_run, tmp_path):
    from vae.evaluation.workflow import evaluate_run
    from vae_scripts.evaluate import main

    run_dir = copy_run(tiny_run, tmp_path)
    arguments = ["--run-dir", str(run_dir), "--data-dir", str(SUBSET_DIR)]
    # Without an eval.json: the sample quality alone, which the report and the next vae-eval read.
    result = CliRunner().invoke(main, [*arguments, "--sample-quality", "--samples", "40", "--temperature", "0.8"])
    assert result.exit_code == 0, result.output
    alone = json.loads((run_dir / EVAL_FILE).read_text())
    assert set(alone) == {"weights", "sample_quality"} and alone["sample_quality"]["temperature"] == 0.8
    assert read_evaluation(RunDir(run_dir))["metrics"] == {}
    for line in ("Fréchet distance", "classifier score", "precision", "recall", "temperature 0.8"):
        assert line in result.stdout
    # vae-eval adds the test bound and keeps the sample quality of the same weights.
    evaluated = evaluate_run(run_dir, SUBSET_DIR, k=2, limit=10)
    assert evaluated["sample_quality"] == alone["sample_quality"]
    # --sample-quality again replaces its own part and keeps the rest as it is.
    result = CliRunner().invoke(main, [*arguments, "--sample-quality", "--samples", "20", "--seed", "3"])
    assert result.exit_code == 0, result.output
    again = json.loads((run_dir / EVAL_FILE).read_text())
    assert {key: value for key, value in again.items() if key != "sample_quality"} == {
        key: value for key, value in evaluated.items() if key != "sample_quality"
    }
    assert (again["sample_quality"]["samples"], again["sample_quality"]["seed"]) == (20, 3)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (["--sample-quality", "--samples", "-5"], "--samples"),
        (["--sample-quality", "--samples", "50001"], "--samples"),
        (["--sample-quality", "--temperature", "0"], "--temperature"),
        (["--sample-quality", "--temperature", "nan"], "--temperature"),
        (["--samples", "100"], "--samples need --sample-quality"),
        (["--temperature", "0.5"], "--temperature need --sample-quality"),
        (["--sample-quality", "--k", "5"], "--k set the test bound"),
    ],
)
def test_cli_refuses_bad_sample_quality_options(options, fragment, tmp_path):
    from vae_scripts.evaluate import main

    result = CliRunner().invoke(main, ["--run-dir", str(tmp_path), "--data-dir", str(SUBSET_DIR), *options])
    assert result.exit_code == 2 and fragment in result.stderr


def test_the_api_refuses_bad_sample_quality_arguments():
    run = vae.open_run("pretrained:mnist")
    with pytest.raises(UsageError, match="temperature"):
        run.sample_quality(temperature=0)
    with pytest.raises(UsageError, match="samples"):
        run.sample_quality(samples=-1)


def test_the_report_shows_the_sample_quality():
    from vae.views.report import evaluation_table

    record = {
        "judge": {"dataset": "mnist"},
        "samples": 100,
        "temperature": 0.8,
        "seed": 0,
        "test_images": 10_000,
        "metrics": {"frechet_distance": 12.5, "classifier_score": 8.25, "precision": 0.5, "recall": 0.25},
        "floor": {"images": 100, "metrics": {"frechet_distance": 1.5, "classifier_score": 9.5, "precision": 0.75,
                                             "recall": 0.75}},
    }  # fmt: skip
    table = evaluation_table({"weights": {}, "metrics": {}, "sample_quality": record})
    assert "No eval.json" in table and "Fréchet distance</th><td>12.500</td><td>1.500" in table
    assert "temperature 0.8" in table
    conditional = {**record, "metrics": {**record["metrics"], "class_accuracy": 0.9, "per_class_accuracy": {"7": 0.5}}}
    full = evaluation_table({"metrics": {"kl_loss": 3.0}, "k": 2, "sample_quality": conditional})
    assert "KL" in full and "drawn as 7</th><td>50.0 %" in full
