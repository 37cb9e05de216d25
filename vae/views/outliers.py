"""`vae-eval --outliers`: the ROC curve of the run's detector score and the two histograms of it, with the thresholds
marked, in one PNG (`outliers.png` beside eval.json)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vae.views.figures import pyplot, save_figure

OUTLIERS_PICTURE = "outliers.png"
HISTOGRAM_BINS = 60


def roc_curve(inliers: np.ndarray, outliers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The false- and true-positive rates of "score > t" at every threshold t, from the highest score down. Tied
    scores are flagged together, one point for all of them, so that the curve's area is the AUROC, ties counted
    half."""
    scores = np.concatenate([inliers, outliers])
    positive = np.concatenate([np.zeros(len(inliers)), np.ones(len(outliers))])
    order = np.argsort(-scores, kind="mergesort")
    scores = scores[order]
    # The last of each run of equal scores: the cuts a threshold can make.
    cuts = np.flatnonzero(np.append(scores[1:] != scores[:-1], True))
    true_positives = np.concatenate([[0], np.cumsum(positive[order])[cuts]])
    false_positives = np.concatenate([[0], cuts + 1]) - true_positives
    return false_positives / len(inliers), true_positives / len(outliers)


def plot_outlier_scores(
    inliers: np.ndarray, outliers: np.ndarray, score: str, auroc: float, thresholds: dict[str, float], path
) -> Path:
    """The ROC curve of `score` (its AUROC in the title) and the histograms of the inliers' and the outliers' values,
    each threshold of `thresholds` (name: value) a vertical line."""
    plt = pyplot()
    figure, (roc, histogram) = plt.subplots(1, 2, figsize=(10, 4))
    false_positive_rate, true_positive_rate = roc_curve(inliers, outliers)
    roc.plot(false_positive_rate, true_positive_rate, color="tab:red")
    roc.plot([0, 1], [0, 1], color="0.7", linestyle=":")
    roc.set(xlabel="false alarms (share of test images flagged)", ylabel="share of outliers flagged",
            title=f"ROC of {score}: AUROC {auroc:.4f}", xlim=(0, 1), ylim=(0, 1.01))  # fmt: skip
    edges = np.histogram_bin_edges(np.concatenate([inliers, outliers]), bins=HISTOGRAM_BINS)
    histogram.hist(inliers, bins=edges, alpha=0.6, density=True, label=f"test images ({len(inliers):,})")
    histogram.hist(outliers, bins=edges, alpha=0.6, density=True, label=f"outliers ({len(outliers):,})")
    for (name, value), colour in zip(thresholds.items(), ("black", "0.4", "tab:green", "tab:purple"), strict=False):
        histogram.axvline(value, color=colour, linestyle="--", label=f"{name}: {value:.4g}")
    histogram.set(xlabel=score, ylabel="density", title="scores and thresholds")
    histogram.legend(fontsize=8)
    figure.tight_layout()
    return save_figure(figure, path)
