"""Anomaly maps: where in an image the model finds it unlike its training data.

An image's map is -log p(x_ij | z) at each pixel, summed over its channels, in nats, with z the mean of q(z|x) (of the
top latent layer, and given the label on a conditional run): the run's likelihood of each pixel under the model's
reconstruction, the per-pixel part of the reconstruction term of the negative ELBO. A pixel the model cannot draw (a
scratch across a digit, a blot, a stroke that is missing) costs many nats; one it draws well costs few. The same
function, in `keras.ops`, is what an exported model's `score` endpoint returns as `anomaly_map`, and `vae-encode
--maps` draws it (`vae.views.anomaly_maps`).
"""

from __future__ import annotations

import numpy as np
from keras import ops

from vae.evaluation import SCORING_BATCH_SIZE
from vae.evaluation.estimators import model_inputs, padded, rows_of
from vae.evaluation.scores import scored_images


def anomaly_map_at(model, images, labels=None):
    """The maps of a batch of images (N, side, side), nats per pixel: a pure function of the model, the images and
    the labels, in `keras.ops`."""
    latent = model.latent
    z_mean, _ = model.encode(images, labels)
    outputs = latent.decoder_outputs(z_mean, labels)
    return ops.sum(latent.likelihood.per_value(ops.cast(images, "float32"), outputs), axis=-1)


def anomaly_maps(model, images: np.ndarray, labels=None) -> np.ndarray:
    """The maps of `images` as the model scores them (binarized once under --binarize, as `vae-encode` does),
    float32 (N, side, side), in batches of a fixed size so that no image's map depends on its neighbours."""
    images, _ = scored_images(model, images)
    inputs = model_inputs(model, images, labels)
    maps = []
    for start in range(0, len(images), SCORING_BATCH_SIZE):
        rows = min(SCORING_BATCH_SIZE, len(images) - start)
        batch = padded(rows_of(inputs, start, start + SCORING_BATCH_SIZE), SCORING_BATCH_SIZE)
        maps.append(np.asarray(anomaly_map_at(model, *model.latent.labels.split(batch)))[:rows])
    side = model.vae_config.image_size
    return np.concatenate(maps) if maps else np.zeros((0, side, side), np.float32)
