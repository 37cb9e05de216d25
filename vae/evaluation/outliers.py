"""The model as an outlier detector: how well its per-image scores tell its own test split from other images.

The run's test images are the inliers, the images of a folder the outliers, each prepared as `vae-encode` prepares
it and scored as `vae-encode` scores it (`vae.evaluation.scores.score_images`): the negative ELBO and the
importance-weighted -log p(x), higher meaning less like the training data, and on a run with an exact likelihood the
score corrected for the image's complexity (`vae.evaluation.complexity`). For each score:

- the AUROC, the probability that an outlier scores higher than an inlier, ties counting one half: the
  Mann-Whitney U statistic over both sets of scores, from their ranks (1 is a perfect detector, 0.5 chance);
- the thresholds at 1 % and 5 % false alarms: the scores above which 1 % and 5 % of the inliers lie, with the share
  of the outliers each flags, so that a threshold can be set once and kept.

This is the image-level protocol of anomalib's `Folder` data module, with the run's test split as its normal test
images.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from vae import files
from vae.data.images import find_images
from vae.data.sources import load_images
from vae.evaluation import complexity
from vae.evaluation.scores import image_labels, score_images
from vae.evaluation.thresholds import f1_optimal
from vae.run.directory import RunDir

# The false-alarm rates on the inliers whose thresholds are reported.
FALSE_ALARM_RATES = (0.01, 0.05)
# Every image's scores of the last `vae-eval --outliers`, beside eval.json, for the ROC curve and the histograms.
OUTLIER_SCORES_FILE = "outlier_scores.npz"


def auroc(inliers: np.ndarray, outliers: np.ndarray) -> float:
    """P(score of an outlier > score of an inlier) + 1/2 P(equal), from the ranks of all scores together."""
    inliers, outliers = np.asarray(inliers, np.float64), np.asarray(outliers, np.float64)
    if not len(inliers) or not len(outliers):
        raise ValueError("the AUROC needs at least one inlier and one outlier")
    scores = np.concatenate([inliers, outliers])
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    # Ties share the average of the ranks they span.
    unique, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    if len(unique) < len(scores):
        sums = np.bincount(inverse, weights=ranks)
        ranks = (sums / counts)[inverse]
    count_out, count_in = len(outliers), len(inliers)
    u = ranks[count_in:].sum() - count_out * (count_out + 1) / 2
    return float(u / (count_out * count_in))


def thresholds(inliers: np.ndarray, outliers: np.ndarray) -> dict[str, dict[str, float]]:
    """For each false-alarm rate r, the score that a share r of the inliers exceed (their 1 - r quantile, by linear
    interpolation) and the share of the outliers above it; and the F1-optimal threshold, with the outliers as the
    positive class (`vae.evaluation.thresholds.f1_optimal`), its F1 and the shares of both above it."""
    inliers, outliers = np.asarray(inliers, np.float64), np.asarray(outliers, np.float64)
    result = {}
    for rate in FALSE_ALARM_RATES:
        threshold = float(np.quantile(inliers, 1.0 - rate))
        result[f"{100 * rate:g} %"] = {
            "threshold": threshold,
            "inliers_above": float(np.mean(inliers > threshold)),
            "outliers_above": float(np.mean(outliers > threshold)),
        }
    threshold, f1 = f1_optimal(inliers, outliers)
    result["F1-optimal"] = {
        "threshold": threshold,
        "f1": f1,
        "inliers_above": float(np.mean(inliers > threshold)),
        "outliers_above": float(np.mean(outliers > threshold)),
    }
    return result


def summary(inlier_scores: dict[str, np.ndarray], outlier_scores: dict[str, np.ndarray]) -> dict:
    """The AUROC and the thresholds of every score the two have in common (the latent means and the images'
    complexity are no scores)."""
    names = [
        name
        for name in inlier_scores
        if name in outlier_scores and not name.startswith("z_") and name != complexity.COMPLEXITY
    ]
    return {
        name: {
            "auroc": auroc(inlier_scores[name], outlier_scores[name]),
            "thresholds": thresholds(inlier_scores[name], outlier_scores[name]),
        }
        for name in names
    }


def scored_as_vae_encode_scores(model, images: np.ndarray, k: int, seed: int) -> dict[str, np.ndarray]:
    """The scores of `images` as `vae-encode` gives them (a conditional run: each as its most likely label)."""
    return score_images(model, images, k, labels=image_labels(model, images, None, k, seed=seed), seed=seed)


def score_as_outliers(model, inlier_images: np.ndarray, paths, k: int, *, seed: int = 0) -> tuple[dict, dict, dict]:
    """Score the run's test images `inlier_images` and the images among `paths` (files or folders), prepared as
    `vae-encode` prepares them, as `vae-encode` does; return what eval.json records of them (see the module's
    docstring), and the scores of the inliers and of the outliers."""
    files = find_images(paths)
    _, outlier_images = load_images(files, model.vae_config)
    inliers = scored_as_vae_encode_scores(model, inlier_images, k, seed)
    outliers = scored_as_vae_encode_scores(model, outlier_images, k, seed)
    record = {
        "outliers": [str(path) for path in paths],
        "inlier_images": len(inlier_images),
        "outlier_images": len(outlier_images),
        "k": k,
        "seed": seed,
        "scores": summary(inliers, outliers),
    }
    return record, inliers, outliers


def save_outlier_scores(run_dir: RunDir, inliers: dict, outliers: dict) -> Path:
    """Write the scores of the inliers and the outliers (`inliers/<score>`, `outliers/<score>`), atomically."""
    arrays = {f"{side}/{name}": values for side, scores in (("inliers", inliers), ("outliers", outliers))
              for name, values in scores.items() if not name.startswith("z_")}  # fmt: skip
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path = run_dir.output_dir() / OUTLIER_SCORES_FILE
    files.write_bytes(path, buffer.getvalue())
    return path


def load_outlier_scores(run_dir: RunDir, score: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The inliers' and outliers' values of `score` from the last `vae-eval --outliers`, or None."""
    path = run_dir.output_dir() / OUTLIER_SCORES_FILE
    if not path.is_file():
        return None
    with np.load(path) as arrays:
        if f"inliers/{score}" not in arrays:
            return None
        return arrays[f"inliers/{score}"], arrays[f"outliers/{score}"]
