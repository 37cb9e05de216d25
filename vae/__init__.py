"""A convolutional variational autoencoder for MNIST, Fashion-MNIST or a folder of your own images, in
TensorFlow/Keras 3.

`import vae` is cheap: it loads neither TensorFlow nor Keras. The public names below are imported on first use
(PEP 562), so `vae.VAEConfig` and `vae.run.storage` stay free of TensorFlow, while `vae.VAE`, `vae.Sampling`,
`vae.load_run` and `vae.load_model` bring in Keras when they are first touched.

The modules, one job each: `config` (the run's `VAEConfig`), `data` (MNIST-style files and the input pipeline),
`encoder`, `decoder` and `sampling` (the networks and the reparameterisation layer), `structures` (how the latent
variables sit between images and prior), `prior`, `conditioning` (the label of a conditional run), `gaussian` (the
diagonal Gaussian's formulas), `objectives`, `model` (the Keras trainer), `training`, `distribution` (several
devices, mixed precision), `evaluation` and `scoring` (test-split and per-image scores), `latent` and `plots`
(the latent space as arrays and pictures), `images` (your own digits), `folders` (a folder of images as a data
set), `outliers` (AUROC against other images), `export` (SavedModel, LiteRT, ONNX), `api` (`open_run`, for
notebooks), `train` (`vae.train`, training from Python), `snapshots`, `report`, `profiling`, `storage` (the run
directory) and `files` (atomic writes).

A whole-model file (`vae.keras`) needs the `VAE` and `Sampling` classes registered with Keras before it loads:
`vae.load_model(path)` does that, or `import vae.model.autoencoder` before `keras.saving.load_model(path)`.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vae")
except PackageNotFoundError:  # a checkout used without installing it
    __version__ = "unknown"

# Each public name and the module that defines it.
_PUBLIC = {
    "VAE": "vae.model.autoencoder",
    "Sampling": "vae.model.sampling",
    "VAEConfig": "vae.config",
    "VAEError": "vae.errors",
    "UsageError": "vae.errors",
    "DataError": "vae.errors",
    "RunError": "vae.errors",
    "load_run": "vae.run.storage",
    "load_model": "vae.run.storage",
    "load_dataset": "vae.data.datasets",
    "open_run": "vae.serving.api",
    "Run": "vae.serving.api",
    "train": "vae.serving.train",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'vae' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
