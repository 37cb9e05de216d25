"""The outlier detector's numbers: the rank-statistic AUROC, the thresholds at given false alarms, and
`vae-eval --outliers`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.conftest import SUBSET_DIR, copy_run, invoke
from vae.evaluation.outliers import auroc, thresholds
from vae.run.directory import EVAL_FILE


def test_the_auroc_is_the_pairwise_probability_with_ties_counted_half():
    rng = np.random.default_rng(0)
    inliers, outliers = rng.integers(0, 20, 300).astype(float), rng.integers(5, 25, 200).astype(float)  # many ties
    pairs = outliers[:, None] - inliers[None, :]
    expected = ((pairs > 0).sum() + 0.5 * (pairs == 0).sum()) / pairs.size
    assert auroc(inliers, outliers) == pytest.approx(expected, abs=1e-12)
    assert auroc(np.arange(5.0), np.arange(5.0) + 10) == 1.0
    assert auroc(np.arange(5.0) + 10, np.arange(5.0)) == 0.0
    assert auroc(np.ones(4), np.ones(3)) == 0.5
    with pytest.raises(ValueError, match="at least one inlier and one outlier"):
        auroc(np.ones(3), np.ones(0))


def test_thresholds_leave_the_asked_share_of_inliers_above_them():
    inliers = np.arange(1000.0)
    outliers = np.arange(500.0, 1500.0)
    result = thresholds(inliers, outliers)
    assert set(result) == {"1 %", "5 %", "F1-optimal"}
    assert result["1 %"]["inliers_above"] == pytest.approx(0.01, abs=0.001)
    assert result["5 %"]["inliers_above"] == pytest.approx(0.05, abs=0.001)
    assert result["5 %"]["threshold"] < result["1 %"]["threshold"]
    assert result["1 %"]["outliers_above"] == pytest.approx(np.mean(outliers > result["1 %"]["threshold"]))
    # The overlap is 500..999: F1 is best flagging from the overlap's start, all outliers and half the inliers.
    best = result["F1-optimal"]
    assert best["outliers_above"] == 1.0 and best["inliers_above"] == pytest.approx(0.5, abs=0.001)
    assert best["f1"] == pytest.approx(2 * 1000 / (1500 + 1000))


def test_vae_eval_scores_a_folder_as_outliers(tiny_run, tmp_path, subset):
    from vae_scripts.evaluate import main as evaluate_command

    run_dir = copy_run(tiny_run, tmp_path)
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    for index in range(12):  # filled squares and disks of ink: nothing like a pen stroke
        drawing = Image.new("L", (60, 60), 255)
        shape = ImageDraw.Draw(drawing).ellipse if index % 2 else ImageDraw.Draw(drawing).rectangle
        shape((10 + index, 8, 50, 52 - index), fill=0)
        drawing.save(blobs / f"{index}.png")
    result = invoke(evaluate_command, "--run-dir", run_dir, "--data-dir", SUBSET_DIR, "--limit", 60, "--k", 4,
                    "--outliers", blobs)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "outliers: 12 images against 60 test images" in result.output
    found = json.loads((run_dir / EVAL_FILE).read_text())["outliers"]
    assert found["inlier_images"] == 60 and found["outlier_images"] == 12
    for name in ("negative_elbo", "importance_weighted_bce_bound"):
        # Blobs are nothing like a digit, even to a model trained for two epochs.
        assert found["scores"][name]["auroc"] > 0.9
        assert found["scores"][name]["thresholds"]["5 %"]["outliers_above"] > 0.5
    missing = invoke(evaluate_command, "--run-dir", run_dir, "--data-dir", SUBSET_DIR, "--outliers", tmp_path / "no")
    assert missing.exit_code == 1 and "no such file or folder" in missing.output


def test_vae_eval_outliers_of_a_conditional_run_prints_no_retracing_warning(conditional_run, tmp_path):
    # A few test digits and one outlier: few calls per traced function, where TensorFlow's count of retracings
    # (5 of the last 10 calls) catches functions traced anew on every call of the estimators.
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    run_dir = copy_run(conditional_run, tmp_path)
    outliers = tmp_path / "outliers"
    outliers.mkdir()
    shutil.copy(Path(__file__).parent / "data" / "hand-drawn" / "digit-3.jpg", outliers)
    arguments = ["--run-dir", run_dir, "--data-dir", SUBSET_DIR, "--limit", "5", "--k", "5", "--outliers", outliers]
    completed = subprocess.run(
        [sys.executable, "-m", "vae_scripts.evaluate", *map(str, arguments)], capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "outliers: 1 images against 5 test images" in completed.stdout
    assert "retracing" not in completed.stderr, completed.stderr
