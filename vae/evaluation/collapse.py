"""Posterior collapse, measured: how many latent units the encoder uses, and whether its reconstructions beat two
baselines that never look at a latent space, PCA with as many components and the mean training image.

A VAE whose KL term wins too early learns a posterior q(z|x) that is the prior for every x: the decoder then draws the
average digit whatever it is shown, and the negative ELBO alone does not say so plainly. Three numbers do:

- Active units (Burda, Grosse & Salakhutdinov 2015, "Importance Weighted Autoencoders", section 5): a latent unit u
  is active when A_u = Cov_x(E_{u ~ q(u|x)}[u]) > 10^-2, the variance over the test images of that dimension's
  posterior mean. An inactive unit puts every image at the same place, so the decoder can learn nothing from it.
- The PCA baseline: the best linear code of the same size. PCA with k = latent_dim components, fitted on the run's
  training images, reconstructs the test images with the least squared error any rank-k affine map can reach
  (Eckart & Young 1936), so a VAE whose reconstructions from the posterior mean are worse than it wastes its latent
  space on something other than the pixels.
- The mean image: PCA with no component. Reconstructions no better than the mean training image carry nothing of
  their input.

Reconstruction errors are the mean squared error per pixel of images in [0, 1], and the PSNR of that mean,
10 log10(1 / MSE) dB (peak 1), over the whole test split. Both sides are the images as the model scores them: the
test images binarized once with a fixed seed under --binarize, and the training images binarized once too
(`training_inputs`), so that PCA and the mean image are fitted to the same kind of images they reconstruct.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from vae.data.datasets import to_float
from vae.errors import CollapseWarning, UsageError
from vae.model import INFERENCE_BATCH_SIZE
from vae.model.latent import decode, encode_means, model_labels, pictures

# Burda et al. 2015, section 5: a unit whose posterior mean varies over the data by more than this is active.
ACTIVE_UNIT_THRESHOLD = 0.01
# Up to this many pixels (a 64 x 64 gray image, or 36 x 36 in colour) the PCA is exact: the eigendecomposition of
# the D x D covariance of all the training images, accumulated in chunks (MNIST's 60,000 x 784: about 3 s on 2 cores,
# 25 s when they are busy with another job). Above it the covariance would take D^2 numbers (128 x 128 RGB: 18 GiB)
# and its eigendecomposition D^3 steps, so the components come from a random subsample instead.
EXACT_PCA_MAX_PIXELS = 4096
# Above EXACT_PCA_MAX_PIXELS, the subsample holds as many training images as fit in this many numbers (64 MiB of
# float64): 2,047 images of 4,097 pixels, 682 of 64 x 64 RGB, 170 of 128 x 128 RGB. Its cost grows with the square
# of the images it holds (an SVD of 1,600 x 5,000 took over 5 minutes on 2 busy cores), and a rank-k subspace for a
# small k is estimated well from a few hundred images.
PCA_SUBSAMPLE_NUMBERS = 2**23
# The seed of that subsample, and of the one binarization of the training images under --binarize.
PCA_SEED = 0
TRAINING_BINARIZATION_SEED = 4321
# Rows per chunk when images are flattened to float64, to bound the memory whatever the split's size.
CHUNK_NUMBERS = 2**22


def active_units(means: np.ndarray, threshold: float = ACTIVE_UNIT_THRESHOLD) -> tuple[int, np.ndarray]:
    """The number of active latent units, and each unit's activity A_u.

    A_u = Cov_x(E_q[z_u | x]) (Burda et al. 2015, section 5): the variance over the images of the posterior mean of
    dimension u, taken over the images as a population (ddof 0); u is active when A_u > `threshold`.

    Args:
        means: the posterior means, (images, latent units).
        threshold: the activity above which a unit counts as active.
    """
    means = np.asarray(means, dtype=np.float64)
    if means.ndim != 2 or len(means) == 0:
        raise UsageError(f"active units need the posterior means of at least one image, (N, units); got {means.shape}")
    variances = np.var(means, axis=0)
    return int(np.count_nonzero(variances > threshold)), variances


def psnr(mse: float, peak: float = 1.0) -> float | None:
    """The peak signal-to-noise ratio of a mean squared error, 10 log10(peak^2 / MSE) dB; None for no error at all,
    whose ratio is infinite (JSON holds no infinity)."""
    return None if mse <= 0 else 10 * math.log10(peak**2 / mse)


def error_record(mse: float) -> dict:
    """{"mse", "psnr_db"} of a mean squared error per pixel."""
    return {"mse": float(mse), "psnr_db": psnr(mse)}


def mean_squared_error(images: np.ndarray, reconstructions: np.ndarray) -> float:
    """The mean over images and pixels of the squared difference, in float64."""
    images, reconstructions = _flat(images), _flat(reconstructions)
    if images.shape != reconstructions.shape:
        raise UsageError(f"images {images.shape} and reconstructions {reconstructions.shape} differ in shape")
    total = 0.0
    for start in range(0, len(images), _chunk_rows(images)):
        stop = start + _chunk_rows(images)
        difference = images[start:stop].astype(np.float64) - reconstructions[start:stop].astype(np.float64)
        total += float(np.sum(difference**2))
    return total / images.size


@dataclass(frozen=True)
class PCA:
    """A principal component analysis of images: their mean (D,), the first components (k, D) as orthonormal rows,
    how they were found (`method`), and from how many training images."""

    mean: np.ndarray
    components: np.ndarray
    method: str
    training_images: int

    def reconstruct(self, images: np.ndarray) -> np.ndarray:
        """Each image projected onto the mean plus the span of the components, (N, D) in float64."""
        centred = _flat(images).astype(np.float64) - self.mean
        return self.mean + (centred @ self.components.T) @ self.components

    def mean_squared_error(self, images: np.ndarray) -> float:
        """The mean squared error per pixel of the reconstructions of `images`, in chunks."""
        flat = _flat(images)
        total = 0.0
        for start in range(0, len(flat), _chunk_rows(flat)):
            chunk = flat[start : start + _chunk_rows(flat)].astype(np.float64)
            total += float(np.sum((chunk - self.reconstruct(chunk)) ** 2))
        return total / flat.size


def fit_pca(images: np.ndarray, components: int, seed: int = PCA_SEED) -> PCA:
    """The PCA of `images` (N, ...) with `components` components (at most the number of pixels D).

    Exact up to `EXACT_PCA_MAX_PIXELS` pixels: the eigenvectors of the largest eigenvalues of the covariance of all
    the images, centred on their mean (two passes, so that no large sums cancel). Above it, the first right singular
    vectors of the centred images of a seeded random subsample of at most `PCA_SUBSAMPLE_NUMBERS` / D images (the
    mean is still that of all of them): exact for the subsample, and for all the images where they fit. They are
    found from the n x n Gram matrix of the n images, X X^T = U S^2 U^T, as X^T U S^-1, which costs a matrix product
    and an n x n eigendecomposition instead of a full SVD of X; directions of no variance in the subsample are
    dropped, so fewer than `components` may be returned.
    """
    flat = _flat(images)
    rows, pixels = flat.shape
    if rows == 0:
        raise UsageError("the PCA baseline needs at least one training image")
    if components < 0:
        raise UsageError(f"the PCA baseline needs a number of components >= 0, got {components}")
    components = min(components, pixels)
    step = _chunk_rows(flat)
    mean = sum(np.sum(flat[start : start + step], axis=0, dtype=np.float64) for start in range(0, rows, step)) / rows
    if components == 0:
        return PCA(mean, np.zeros((0, pixels)), "the mean image alone", rows)
    if pixels <= EXACT_PCA_MAX_PIXELS:
        scatter = np.zeros((pixels, pixels))
        for start in range(0, rows, step):
            centred = flat[start : start + step].astype(np.float64) - mean
            scatter += centred.T @ centred
        # eigh returns the eigenvalues of the symmetric scatter matrix in ascending order: the last are the largest.
        _, vectors = np.linalg.eigh(scatter)
        basis = vectors[:, ::-1][:, :components].T
        method = f"exact: eigendecomposition of the {pixels} x {pixels} pixel covariance of all the training images"
    else:
        sample = min(rows, max(components, PCA_SUBSAMPLE_NUMBERS // pixels))
        chosen = np.sort(np.random.default_rng(seed).choice(rows, size=sample, replace=False))
        centred = flat[chosen].astype(np.float64) - mean
        values, vectors = np.linalg.eigh(centred @ centred.T)
        order = np.argsort(values)[::-1][:components]
        # An eigenvalue at rounding level is a direction the subsample does not vary in: no component to normalise.
        order = order[values[order] > values.max() * 1e-10] if values.max() > 0 else order[:0]
        basis = (centred.T @ vectors[:, order] / np.sqrt(values[order])).T
        method = (
            f"exact: SVD of all {rows} centred training images"
            if sample == rows
            else f"SVD of {sample} of the centred training images, chosen at random (seed {seed})"
        )
    return PCA(mean, np.ascontiguousarray(basis), method, rows)


def pca_baseline(training_images: np.ndarray, test_images: np.ndarray, components: int) -> dict:
    """The PCA with `components` components fitted on the training images: its reconstruction error of the test
    images, {"components", "mse", "psnr_db", "method", "training_images"}."""
    pca = fit_pca(training_images, components)
    return {
        "components": int(pca.components.shape[0]),
        **error_record(pca.mean_squared_error(test_images)),
        "method": pca.method,
        "training_images": pca.training_images,
    }


def mean_image_baseline(training_images: np.ndarray, test_images: np.ndarray) -> dict:
    """The error of drawing the mean training image for every test image, {"mse", "psnr_db"}."""
    return error_record(fit_pca(training_images, 0).mean_squared_error(test_images))


def training_inputs(train_images: np.ndarray, binarize: bool) -> np.ndarray:
    """The training images (uint8) as float32 in [0, 1], with a channel axis; under --binarize one Bernoulli sample
    of each, from the fixed seed `TRAINING_BINARIZATION_SEED`, of the kind of the test images the model scores."""
    gray = to_float(train_images)
    if not binarize:
        return gray
    generator = np.random.default_rng(TRAINING_BINARIZATION_SEED)
    return (generator.random(gray.shape, dtype=np.float32) < gray).astype(np.float32)


def measure_collapse(
    model, training_images: np.ndarray, test_images: np.ndarray, test_labels=None, *, pca: bool = True
) -> dict:
    """The run's active units and its reconstruction error beside the baselines', on the test images.

    Args:
        model: a `VAE`; its `encode` gives the top latent layer's posterior (q(z2|z1) at the mean of q(z1|x) for two
            stochastic layers), whose means are counted.
        training_images: float images in [0, 1] (`training_inputs`): what the mean image, and the PCA, are fitted on.
        test_images: float images in [0, 1], as the model scores them.
        test_labels: a conditional model's labels of the test images.
        pca: whether to fit the PCA baseline too (a few seconds on MNIST).

    Returns:
        {"active_units", "latent_dim", "active_unit_threshold", "posterior_mean_variances", "reconstruction":
        {"vae", "mean_image", and with `pca` "pca"}}: every reconstruction error as `error_record` gives it; the VAE
        reconstructs from the posterior mean, as `model(images)` does.
    """
    labels = model_labels(model, test_labels)
    means = encode_means(model, test_images, labels)
    count, variances = active_units(means)
    reconstructions = decode(model, means, labels, batch_size=INFERENCE_BATCH_SIZE)
    reconstruction = {
        "vae": error_record(mean_squared_error(pictures(test_images), reconstructions)),
        "mean_image": mean_image_baseline(training_images, test_images),
    }
    if pca:
        reconstruction["pca"] = pca_baseline(training_images, test_images, means.shape[1])
    return {
        "active_units": count,
        "latent_dim": int(means.shape[1]),
        "active_unit_threshold": ACTIVE_UNIT_THRESHOLD,
        "posterior_mean_variances": [round(float(value), 6) for value in variances],
        "reconstruction": reconstruction,
    }


def collapse_warning(record: dict) -> str | None:
    """The one line that says a run has collapsed, and what to try; None for a run that has not. A run has collapsed
    when no latent unit is active, or when its reconstructions are no better than the mean image (MSE at least as
    large), in the `record` of `measure_collapse`."""
    reasons = []
    if record["active_units"] == 0:
        reasons.append(f"0 of {record['latent_dim']} latent units active")
    errors = record["reconstruction"]
    ours, mean_image = errors["vae"]["mse"], errors["mean_image"]["mse"]
    if ours >= mean_image:
        reasons.append(
            f"reconstructions no better than the mean image, MSE {ours:.4f} per pixel against {mean_image:.4f}"
        )
    if not reasons:
        return None
    return (
        f"the model ignores its input ({'; '.join(reasons)}): train longer, or keep the defaults --free-nats and "
        "--min-warmup-steps, or lower --learning-rate"
    )


def warn_if_collapsed(record: dict) -> str | None:
    """Give the `CollapseWarning` of `collapse_warning(record)` where there is one; returns its message."""
    message = collapse_warning(record)
    if message is not None:
        warnings.warn(message, CollapseWarning, stacklevel=2)
    return message


def reconstruction_line(record: dict) -> str:
    """One line that sets the VAE's reconstruction error beside PCA's and the mean image's, so that a VAE that loses
    to PCA shows it: "reconstruction PSNR 18.2 dB (MSE 0.0151 per pixel), PCA with 2 components 15.1 dB (...)"."""
    errors = record["reconstruction"]
    parts = [f"reconstruction PSNR {describe(errors['vae'])}"]
    if "pca" in errors:
        pca = errors["pca"]
        parts.append(f"PCA with {pca['components']} component{'s' * (pca['components'] != 1)} {describe(pca)}")
    parts.append(f"the mean image {describe(errors['mean_image'])}")
    line = ", ".join(parts)
    if "pca" in errors:
        ours, theirs = errors["vae"]["mse"], errors["pca"]["mse"]
        line += ": the VAE beats PCA" if ours < theirs else ": PCA beats the VAE"
    return line


def active_units_line(record: dict) -> str:
    """The line of the active units, their count and each unit's activity, at most the first 16."""
    variances = ", ".join(f"{value:.3g}" for value in record["posterior_mean_variances"][:16])
    more = len(record["posterior_mean_variances"]) - 16
    variances += f" and {more} more" if more > 0 else ""
    return (
        f"active latent units: {record['active_units']} of {record['latent_dim']} (variance of the posterior mean over "
        f"the test images above {record['active_unit_threshold']:g}; per unit: {variances})"
    )


def describe(errors: dict) -> str:
    """An error record in words: `18.2 dB (MSE 0.0151 per pixel)`, or `exact (MSE 0)` where there is no error."""
    if errors["psnr_db"] is None:
        return "exact (MSE 0)"
    return f"{errors['psnr_db']:.1f} dB (MSE {errors['mse']:.4f} per pixel)"


def _flat(images: np.ndarray) -> np.ndarray:
    """Images (N, ...) as rows (N, D), without copying where they are contiguous."""
    images = np.asarray(images)
    return images.reshape(len(images), -1)


def _chunk_rows(flat: np.ndarray) -> int:
    return max(1, CHUNK_NUMBERS // max(1, flat.shape[1]))


def count_active_units(model, images: np.ndarray, labels=None) -> int:
    """The active units (`active_units`) of the model's top latent layer over `images`, given their `labels` on a
    conditional model: what training records after every scored epoch, as `test_active_units`."""
    return active_units(encode_means(model, images, model_labels(model, labels)))[0]
