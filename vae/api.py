"""The Python API: one object for a trained run, from a path or a pretrained name, that fits in a notebook cell.

    run = vae.open_run("pretrained:mnist")
    z = run.encode("my-digit.png")            # latent means, (N, latent_dim)
    scores = run.score(images)                # per-image outlier scores, in nats

Images are numpy arrays, float in [0, 1] or uint8, (N, side, side[, channels]) as the run's, or image paths (files
or folders), which are prepared as `vae-encode` prepares them. What comes back is numpy: latent vectors, and
pictures, (N, side, side) for a gray run or (N, side, side, 3) for an RGB one. Every method calls the functions the
commands call, so a notebook and the command line give the same numbers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from vae.config import IMPORTANCE_SAMPLES
from vae.storage import DEFAULT_RUN_DIR


@dataclass(frozen=True)
class Run:
    """A trained run: its model, config and history. Open one with `open_run`."""

    model: object
    config: object
    history: dict
    run_dir: str

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names, in label order (none for a folder of images without classes)."""
        return self.config.classes

    def images(self, images) -> np.ndarray:
        """`images` as the model takes them, float32 (N, side, side, channels): arrays as they are (uint8 scaled to
        [0, 1], a channel axis added to gray ones), paths prepared as `vae-encode` prepares them."""
        from vae.errors import UsageError
        from vae.images import load_images

        if isinstance(images, (str, os.PathLike)) or (
            isinstance(images, (list, tuple)) and images and isinstance(images[0], (str, os.PathLike))
        ):
            paths = [images] if isinstance(images, (str, os.PathLike)) else list(images)
            return load_images(paths, self.config)[1]
        array = np.asarray(images)
        if array.dtype == np.uint8:
            array = array.astype(np.float32) / 255.0
        array = array.astype(np.float32)
        if array.ndim == 3 and self.config.channels == 1:
            array = array[..., None]
        if array.shape[1:] != self.config.image_shape:
            raise UsageError(f"images must be (N, {', '.join(map(str, self.config.image_shape))}), got {array.shape}")
        return array

    def label(self, label) -> int | None:
        """A label given by a class's name or index, checked against the run (None for none)."""
        from vae.latent import LabelRequest, label_index

        return label_index(self.config, None if label is None else LabelRequest(str(label), "label"))

    def _labels_for(self, images: np.ndarray, label, k: int, seed: int) -> np.ndarray | None:
        from vae.scoring import image_labels

        return image_labels(self.model, images, self.label(label), k, seed=seed)

    def encode(self, images, label=None) -> np.ndarray:
        """The latent means of the images, (N, latent_dim); a conditional run takes `label` for all of them, or
        finds each one's most likely label."""
        from vae.latent import encode_means

        images = self.images(images)
        return encode_means(self.model, images, self._labels_for(images, label, IMPORTANCE_SAMPLES, 0))

    def decode(self, z, label=None) -> np.ndarray:
        """The decoder's mean images at the latent vectors z, (N, latent_dim): pictures."""
        from vae.config import MAX_GRID_SPAN
        from vae.errors import UsageError
        from vae.latent import decode, repeated_label

        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.config.latent_dim:
            raise UsageError(f"z must be (N, {self.config.latent_dim}), this run's latent size; got {z.shape}")
        if not np.all(np.isfinite(z)) or np.abs(z).max(initial=0) > MAX_GRID_SPAN:
            raise UsageError(f"z must be finite numbers in [-{MAX_GRID_SPAN:g}, {MAX_GRID_SPAN:g}]")
        return decode(self.model, z, repeated_label(self.label(label), len(z)))

    def reconstruct(self, images, label=None) -> np.ndarray:
        """The images' reconstructions from their latent means: pictures."""
        from vae.latent import reconstruct

        images = self.images(images)
        return reconstruct(self.model, images, self._labels_for(images, label, IMPORTANCE_SAMPLES, 0))

    def score(self, images, k: int = IMPORTANCE_SAMPLES, label=None, seed: int = 0) -> dict[str, np.ndarray]:
        """Per-image outlier scores, in nats (higher: less like the training data), as `vae-encode` writes them:
        `negative_elbo` and the importance-weighted bound from k samples, with `z_mean` and `z_log_var`."""
        from vae.scoring import score_images

        images = self.images(images)
        return score_images(self.model, images, k, labels=self._labels_for(images, label, k, seed), seed=seed)

    def sample(self, n: int = 16, label=None, seed: int = 0) -> np.ndarray:
        """n new images decoded from z ~ p(z), as the class `label` on a conditional run (one row per class without
        it): pictures."""
        from vae.plots import prior_samples

        return prior_samples(self.model, n, seed, self.label(label))[0]


def open_run(run_dir: str | os.PathLike = DEFAULT_RUN_DIR) -> Run:
    """Open a finished run, from its folder or by a pretrained name (`pretrained:mnist`, `pretrained:mnist-conditional`,
    `pretrained:fashion-mnist`).

    Args:
        run_dir: the run's folder, or a pretrained run's name.

    Returns:
        The `Run`, whose methods encode, decode, score, sample and reconstruct.
    """
    from vae.storage import load_run

    model, config, history = load_run(run_dir)
    return Run(model, config, history, str(run_dir))
