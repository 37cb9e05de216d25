"""Thresholds you can ship: F1-optimal and false-alarm thresholds, saved in the run, used by vae-encode and export."""

from __future__ import annotations

import csv
import io
import json
import warnings

import numpy as np
import pytest

from tests.conftest import SUBSET_DIR, copy_run, files_of, invoke
from vae.errors import UsageError
from vae.evaluation.thresholds import THRESHOLD_FILE, Threshold, choose_threshold, f1_optimal, parse_rule


def test_the_f1_optimal_threshold_separates_what_can_be_separated():
    threshold, f1 = f1_optimal(np.array([0.0, 1.0, 2.0, 3.0]), np.array([5.0, 6.0]))
    assert 3.0 < threshold < 5.0 and f1 == 1.0
    # One outlier among the inliers: flagging both outliers costs one false alarm (F1 0.8), flagging only the clear
    # one misses the other (F1 2/3).
    threshold, f1 = f1_optimal(np.array([0.0, 1.0, 4.0]), np.array([3.0, 6.0]))
    assert 1.0 < threshold < 3.0 and f1 == pytest.approx(0.8)


def test_a_false_alarm_threshold_flags_its_share_of_normal_images_and_normalises_around_it():
    inliers = np.arange(1000.0)
    threshold = choose_threshold("fpr=0.05", "score", "digest", inliers)
    assert np.mean(threshold.labels(inliers)) == pytest.approx(0.05, abs=0.002)
    assert (threshold.low, threshold.high, threshold.outliers) == (0.0, 999.0, 0)
    normalised = threshold.normalised(np.array([threshold.value, -1e9, 1e9, threshold.value + 99.9]))
    np.testing.assert_allclose(normalised, [0.5, 0.0, 1.0, 0.6])
    assert Threshold.from_dict(json.loads(json.dumps(threshold.to_dict()))) == threshold


@pytest.mark.parametrize("rule", ["fpr", "fpr=0", "fpr=1", "fpr=nan", "f2", "quantile=0.9", "fpr=-0.1"])
def test_a_rule_that_is_not_one_is_refused_naming_the_rules(rule):
    with pytest.raises(UsageError, match="must be fpr=R or f1"):
        parse_rule(rule)


def test_f1_without_outliers_is_refused():
    with pytest.raises(UsageError, match="needs labelled outliers"):
        choose_threshold("f1", "score", "digest", np.arange(10.0))


def test_a_damaged_threshold_is_refused_in_one_line():
    with pytest.raises(UsageError, match="does not describe a threshold"):
        Threshold.from_dict({"value": 1.0})
    values = choose_threshold("fpr=0.1", "s", "d", np.arange(10.0)).to_dict() | {"value": float("nan")}
    with pytest.raises(UsageError, match="not a finite number"):
        Threshold.from_dict(values)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"value": int("1" + "0" * 400)}, "not a finite number"),  # an integer no float holds
        ({"value": True}, "not a finite number"),
        ({"low": 9.0, "high": 1.0}, "low end is above its high end"),
        ({"k": 0}, "not a whole number of samples"),
        ({"k": 2.5}, "not a whole number of samples"),
    ],
)
def test_a_threshold_out_of_its_range_is_refused_in_one_line(changes, message):
    values = choose_threshold("fpr=0.1", "s", "d", np.arange(10.0), k=5).to_dict() | changes
    with pytest.raises(UsageError, match=message):
        Threshold.from_dict(values)


def test_scores_that_are_not_finite_choose_no_threshold():
    with pytest.raises(UsageError, match="not finite"):
        choose_threshold("fpr=0.5", "s", "d", np.array([np.inf, 1.0, 2.0]))


def test_scores_from_another_k_than_the_thresholds_are_labelled_with_a_warning():
    from vae.errors import ThresholdWarning
    from vae.evaluation.thresholds import with_threshold

    threshold = choose_threshold("fpr=0.1", "s", "d", np.arange(10.0), k=100)
    assert threshold.k == 100 and Threshold.from_dict(threshold.to_dict()) == threshold
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        labelled = with_threshold({"s": np.array([0.0, 9.5])}, threshold, k=100)
    np.testing.assert_array_equal(labelled["outlier"], [0, 1])
    with pytest.warns(ThresholdWarning, match="k = 100 importance samples, these are from k = 5"):
        with_threshold({"s": np.array([0.0])}, threshold, k=5)
    # A threshold saved before k was recorded labels without a word.
    older = {key: value for key, value in threshold.to_dict().items() if key != "k"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with_threshold({"s": np.array([0.0])}, Threshold.from_dict(older), k=5)


def rows_of(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_a_saved_threshold_labels_vae_encode_run_score_and_the_export_alike(tiny_run, subset, tmp_path):
    import tensorflow as tf

    import vae
    from vae.evaluation.outliers import OUTLIER_SCORES_FILE
    from vae.views.outliers import OUTLIERS_PICTURE
    from vae_scripts.encode import main as encode_command
    from vae_scripts.evaluate import main as evaluate_command
    from vae_scripts.export import main as export_command

    run_dir = copy_run(tiny_run, tmp_path / "run")
    outliers = tmp_path / "outliers"
    outliers.mkdir()
    from PIL import Image

    for index, image in enumerate(np.random.default_rng(0).integers(0, 256, (20, 28, 28), dtype=np.uint8)):
        Image.fromarray(image).save(outliers / f"noise-{index}.png")
    result = invoke(evaluate_command, "--run-dir", run_dir, "--data-dir", SUBSET_DIR, "--k", 2, "--limit", 200,
                    "--outliers", outliers, "--set-threshold", "fpr=0.05")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "F1-optimal" in result.output and "threshold: importance_weighted_bce_bound >" in result.output
    assert "chosen on 200 test images and 20 labelled outliers" in result.output
    assert (run_dir / OUTLIERS_PICTURE).is_file() and (run_dir / OUTLIER_SCORES_FILE).is_file()
    saved = json.loads((run_dir / THRESHOLD_FILE).read_text())
    assert saved["rule"] == "fpr=0.05" and saved["inliers"] == 200 and saved["k"] == 2
    # The report shows the outliers' table, the saved threshold and the ROC curve.
    from vae.views.report import build_report

    page = build_report(run_dir, data_dir=SUBSET_DIR).read_text()
    assert 'alt="ROC curve and score histograms"' in page and "saved threshold" in page
    # vae-encode adds the label and the normalised score; noise is flagged, and scores the top of the scale.
    encoded = invoke(encode_command, outliers, "--k", 2, "--run-dir", run_dir, "--no-preprocess")
    assert encoded.exit_code == 0, encoded.output
    rows = rows_of(encoded.output)
    assert all(row["outlier"] == "1" and float(row["normalised_score"]) > 0.5 for row in rows)
    run = vae.open_run(run_dir)
    digits = subset.test_images[:200].astype(np.float32) / 255
    scores = run.score(digits, k=2)
    assert 0.0 < np.mean(scores["outlier"]) <= 0.1
    np.testing.assert_array_equal(scores["outlier"], scores["normalised_score"] > 0.5)
    # The exported model carries the threshold and decides as the package does, at the same noise.
    folder = tmp_path / "model"
    assert invoke(export_command, "--run-dir", run_dir, "--output", folder).exit_code == 0
    contract = json.loads((folder / "model.json").read_text())
    assert contract["threshold"] == saved
    from vae.evaluation.scores import scores_at_noise

    noise = np.random.default_rng(0).standard_normal((2, 200, run.config.latent_dim)).astype(np.float32)
    exported = tf.saved_model.load(str(folder / "saved_model")).signatures["score"](
        images=tf.constant(digits[..., None]), noise=tf.constant(noise)
    )
    package = scores_at_noise(run.model, digits[..., None], noise)
    expected = Threshold.from_dict(saved)
    bound = np.asarray(package["importance_weighted_bce_bound"])
    np.testing.assert_array_equal(exported["outlier"].numpy(), expected.labels(bound))
    np.testing.assert_allclose(exported["normalised_score"].numpy(), expected.normalised(bound), atol=1e-5)


def test_set_threshold_f1_without_outliers_and_a_bad_rule_are_refused_before_scoring(tiny_run, tmp_path):
    from vae_scripts.evaluate import main as evaluate_command

    run_dir = copy_run(tiny_run, tmp_path / "run")
    before = files_of(run_dir)
    for rule, fragment in (("f1", "needs labelled outliers"), ("fpr=2", "must be fpr=R or f1")):
        result = invoke(evaluate_command, "--run-dir", run_dir, "--data-dir", SUBSET_DIR, "--set-threshold", rule)
        assert result.exit_code != 0 and fragment in result.output and "Traceback" not in result.output
    assert files_of(run_dir) == before


def test_a_threshold_of_other_weights_is_refused_until_set_again(tiny_run, tmp_path):
    import vae

    run_dir = copy_run(tiny_run, tmp_path / "run")
    threshold = choose_threshold("fpr=0.1", "importance_weighted_bce_bound", "0" * 64, np.arange(10.0))
    (run_dir / THRESHOLD_FILE).write_text(json.dumps(threshold.to_dict()))
    with pytest.raises(UsageError, match="weights the run no longer has"):
        vae.open_run(run_dir).score(np.zeros((1, 28, 28), np.float32), k=2)


def test_the_roc_curves_area_is_the_auroc_with_ties_counted_half():
    from vae.evaluation.outliers import auroc
    from vae.views.outliers import roc_curve

    rng = np.random.default_rng(0)
    inliers, outliers = rng.integers(0, 5, 50).astype(float), rng.integers(2, 8, 40).astype(float)
    for normal, odd in ((inliers, outliers), (np.ones(5), np.ones(4))):
        false_alarms, found = roc_curve(normal, odd)
        area = np.sum(np.diff(false_alarms) * (found[1:] + found[:-1]) / 2)
        assert area == pytest.approx(auroc(normal, odd))
