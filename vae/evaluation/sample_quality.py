"""How good generated images are, measured in a judge's eyes: plain numpy on the judge's features and class
probabilities (`vae.evaluation.judges`), so that each number can be checked against its closed form.

    Fréchet distance   between Gaussians fitted to two sets of features (Heusel et al. 2017, the "FID" when the
                       features are Inception's): 0 for the same statistics, larger as they part
    classifier score   exp E_x[KL(p(y|x) || p(y))] (Salimans et al. 2016; TF-GAN's `mnist_score`): between 1 and the
                       number of classes, high when each image is of one clear class and all classes occur
    precision, recall  (Kynkäänniemi et al. 2019) the share of generated images inside the real images' manifold,
                       and of real images inside the generated ones', each manifold the union of balls around its
                       points reaching their k-th nearest neighbour
    class accuracy     for a conditional run, the share of images drawn as each class that the judge names so
"""

from __future__ import annotations

import numpy as np

from vae.errors import UsageError

# The numbers `measure` gives, by their names in tables and pages.
METRIC_NAMES = {
    "frechet_distance": "Fréchet distance",
    "classifier_score": "classifier score",
    "precision": "precision",
    "recall": "recall",
    "class_accuracy": "class accuracy",
}
# k of the k-nearest-neighbour balls (Kynkäänniemi et al. 2019 use k = 3).
NEIGHBOURS = 3
# Rows of a pairwise distance block: 1,000 against 50,000 points is 400 MB of float64 at most, whatever the counts.
DISTANCE_CHUNK = 1000


def _features(features, name: str, minimum: int = 2) -> np.ndarray:
    array = np.asarray(features, dtype=np.float64)
    if array.ndim != 2 or len(array) < minimum:
        raise UsageError(f"{name} must be (N, features) with N >= {minimum}, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise UsageError(f"{name} hold NaN or infinite values")
    return array


def _symmetric_square_root(matrix: np.ndarray) -> np.ndarray:
    """The square root of a symmetric positive semi-definite matrix, from its eigendecomposition; eigenvalues a
    rounding error below zero are taken as zero."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance_of(mean_1, covariance_1, mean_2, covariance_2) -> float:
    """The Fréchet (2-Wasserstein) distance, squared, between N(mean_1, covariance_1) and N(mean_2, covariance_2):

        |mean_1 - mean_2|^2 + tr(C1 + C2 - 2 (C1^1/2 C2 C1^1/2)^1/2)

    C1^1/2 C2 C1^1/2 is symmetric positive semi-definite with the eigenvalues of C1 C2, so the trace of its square
    root is the sum of the square roots of its eigenvalues: no general matrix square root is needed."""
    mean_1, mean_2 = np.asarray(mean_1, np.float64), np.asarray(mean_2, np.float64)
    covariance_1, covariance_2 = np.asarray(covariance_1, np.float64), np.asarray(covariance_2, np.float64)
    root_1 = _symmetric_square_root(covariance_1)
    product = root_1 @ covariance_2 @ root_1
    eigenvalues = np.linalg.eigvalsh((product + product.T) / 2)
    trace_of_root = np.sum(np.sqrt(np.clip(eigenvalues, 0, None)))
    difference = mean_1 - mean_2
    distance = difference @ difference + np.trace(covariance_1) + np.trace(covariance_2) - 2 * trace_of_root
    return float(max(distance, 0.0))  # rounding can leave -1e-12 for identical statistics


def frechet_distance(features_1, features_2) -> float:
    """The Fréchet distance between Gaussians fitted to two feature sets, (N1, d) and (N2, d): their means and
    unbiased covariances (Heusel et al. 2017)."""
    first, second = _features(features_1, "features_1"), _features(features_2, "features_2")
    if first.shape[1] != second.shape[1]:
        raise UsageError(f"the feature sets differ in width: {first.shape[1]} and {second.shape[1]}")
    return frechet_distance_of(
        first.mean(axis=0), np.cov(first, rowvar=False), second.mean(axis=0), np.cov(second, rowvar=False)
    )


def classifier_score(probabilities) -> float:
    """exp of the mean over images of KL(p(y|x) || p(y)), p(y) the mean of p(y|x) over the images (Salimans et al.
    2016, TF-GAN's `classifier_score`); 0 log 0 counts as 0."""
    p = _features(probabilities, "probabilities", minimum=1)
    if np.any(p < 0) or not np.allclose(p.sum(axis=1), 1, atol=1e-6):
        raise UsageError("probabilities must be non-negative rows that sum to 1")
    marginal = p.mean(axis=0)
    ratio = np.divide(p, marginal, out=np.ones_like(p), where=p > 0)
    kl = np.sum(np.where(p > 0, p * np.log(ratio), 0.0), axis=1)
    return float(np.exp(kl.mean()))


def _squared_norms(points: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", points, points)


def _squared_distances(rows: np.ndarray, points: np.ndarray, points_norms: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (len(rows), len(points)), clipped at 0 against rounding."""
    distances = _squared_norms(rows)[:, None] + points_norms[None, :] - 2 * rows @ points.T
    return np.maximum(distances, 0.0)


def neighbour_radii(points: np.ndarray, k: int = NEIGHBOURS) -> np.ndarray:
    """Each point's squared distance to its k-th nearest other point, computed `DISTANCE_CHUNK` rows at a time."""
    if len(points) <= k:
        raise UsageError(f"k-nearest-neighbour radii with k = {k} need more than {k} points, got {len(points)}")
    norms = _squared_norms(points)
    radii = np.empty(len(points))
    for start in range(0, len(points), DISTANCE_CHUNK):
        distances = _squared_distances(points[start : start + DISTANCE_CHUNK], points, norms)
        # The point itself is at distance 0 and comes first: the k-th other point is at index k.
        radii[start : start + DISTANCE_CHUNK] = np.partition(distances, k, axis=1)[:, k]
    return radii


def _covered(queries: np.ndarray, points: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Whether each query lies in the ball of some point (its distance to it at most that point's radius)."""
    norms = _squared_norms(points)
    inside = np.empty(len(queries), dtype=bool)
    for start in range(0, len(queries), DISTANCE_CHUNK):
        distances = _squared_distances(queries[start : start + DISTANCE_CHUNK], points, norms)
        inside[start : start + DISTANCE_CHUNK] = np.any(distances <= radii[None, :], axis=1)
    return inside


def precision_recall(real_features, generated_features, k: int = NEIGHBOURS) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019): the share of generated images within the real
    manifold, and of real images within the generated manifold, each manifold the union of each of its points'
    ball out to its k-th nearest neighbour."""
    real, generated = _features(real_features, "real_features"), _features(generated_features, "generated_features")
    if real.shape[1] != generated.shape[1]:
        raise UsageError(f"the feature sets differ in width: {real.shape[1]} and {generated.shape[1]}")
    precision = _covered(generated, real, neighbour_radii(real, k)).mean()
    recall = _covered(real, generated, neighbour_radii(generated, k)).mean()
    return float(precision), float(recall)


def class_accuracy(probabilities, asked_labels, class_names) -> dict[str, float]:
    """Per class, the share of the images drawn as that class that the judge names so (its most likely class),
    keyed by the class's name; a class never asked for is left out."""
    predicted = _features(probabilities, "probabilities", minimum=1).argmax(axis=1)
    asked = np.asarray(asked_labels)
    return {
        name: float(np.mean(predicted[asked == label] == label))
        for label, name in enumerate(class_names)
        if np.any(asked == label)
    }


def measure(real, generated, asked_labels=None, class_names=None) -> dict:
    """Every number of a set of generated images against real ones, both `Judgement`s of the same judge: the
    Fréchet distance, the generated images' classifier score, precision and recall, and with `asked_labels` (the
    class each generated image was drawn as) the judge's accuracy over all and per class."""
    precision, recall = precision_recall(real.features, generated.features)
    metrics = {
        "frechet_distance": frechet_distance(real.features, generated.features),
        "classifier_score": classifier_score(generated.probabilities),
        "precision": precision,
        "recall": recall,
    }
    if asked_labels is not None:
        predicted = generated.probabilities.argmax(axis=1)
        metrics["class_accuracy"] = float(np.mean(predicted == np.asarray(asked_labels)))
        metrics["per_class_accuracy"] = class_accuracy(generated.probabilities, asked_labels, class_names)
    return metrics
