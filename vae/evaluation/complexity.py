"""The input-complexity correction of an outlier score (Serrà et al. 2020, "Input complexity and out-of-distribution
detection with likelihood-based generative models", ICLR).

A likelihood model gives simple images high likelihood whatever it was trained on: a Fashion-MNIST model finds MNIST
digits, with their black ground, more likely than its own clothes (Nalisnick et al. 2019). Serrà et al. subtract the
image's complexity, the length in bits of its code under a general-purpose lossless compressor L(x), from the model's
code length -log2 p(x) (their equation 2):

    S(x) = -log2 p(x) - L(x)

which approximates the log-ratio of a universal model's likelihood to the model's: high where the model describes an
image worse than a compressor that knows nothing of the training data. S is a difference of two code lengths of the
same 8-bit data, so it needs a likelihood that is one (`VAEConfig.exact_likelihood`): the discretised logistic, or
the Bernoulli of binarized images. A Bernoulli cross-entropy of gray levels is on another scale, and S built from it
ranks digits as outliers of an MNIST model (docs/own-images.md, "Detector runs", measures this).

L(x) is DEFLATE at level 9 (zlib, RFC 1950) of the image's 8-bit pixels, rows of (side, channels) in C order, times
8: the lossless coder that PNG uses, here without PNG's filters and headers, so that a client with zlib itself
computes the same number (`complexity_step` states it for an exported model, with the zlib version the package ran).
DEFLATE leaves the encoder free to choose its matches, so other coders (zlib-ng, miniz, Go's compress/flate) give
other lengths for the same pixels, and a threshold on S moves with them.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

# The two columns a run with an exact likelihood adds to its scores: L(x), and S(x), the corrected outlier score.
COMPLEXITY = "complexity_bits"
CORRECTED = "complexity_corrected_score"
# DEFLATE's compression level: its best, as the compressor of Serrà et al. is meant to approximate a universal code.
ZLIB_LEVEL = 9


def eight_bit(images: np.ndarray) -> np.ndarray:
    """Images in [0, 1] as 8-bit levels (x * 255, rounded): the levels they were read from, for images read from
    8-bit files and for digits prepared by `vae.data.images.preprocess`, which rounds to them."""
    return np.round(np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)


def complexity_bits(images: np.ndarray) -> np.ndarray:
    """L(x) per image: the bits of zlib's level-9 code of its 8-bit pixels, float64 (N,)."""
    levels = eight_bit(images)
    return np.array(
        [8.0 * len(zlib.compress(np.ascontiguousarray(image).tobytes(), ZLIB_LEVEL)) for image in levels],
        dtype=np.float64,
    )


def corrected_score(negative_log_likelihood_nats, bits):
    """S(x) = -log2 p(x) - L(x), in bits per image, from -log p(x) in nats (Serrà et al. 2020, equation 2). Works on
    numpy arrays and on tensors alike, as the exported `score` endpoint computes it."""
    return negative_log_likelihood_nats / math.log(2.0) - bits


def corrects(config) -> bool:
    """Whether a run's scores carry the correction: where its likelihood is a code length of the data it scores."""
    return config.exact_likelihood


def corrected_columns(scores: dict, images: np.ndarray, negative_log_likelihood_nats: np.ndarray) -> dict:
    """`scores` with L(x) and S(x) of `images`, as the model scored them, added."""
    bits = complexity_bits(images)
    return scores | {COMPLEXITY: bits, CORRECTED: corrected_score(negative_log_likelihood_nats, bits)}


def complexity_step() -> dict:
    """How a client computes the `complexity_bits` input of an exported model's `score` endpoint, in words and code
    it can follow without this package."""
    return {
        "step": "complexity",
        "bits": f"8 * len(zlib.compress(levels.tobytes(), {ZLIB_LEVEL}))",
        # Other DEFLATE coders give other lengths; this is the zlib whose lengths the package computed.
        "zlib_version": zlib.ZLIB_RUNTIME_VERSION,
        "levels": "numpy.round(numpy.clip(images, 0, 1) * 255).astype(numpy.uint8), one image (side, side, channels) "
        "in C order, after every step of the preparation",
    }
