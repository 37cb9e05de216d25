"""A convolutional variational autoencoder for MNIST, Fashion-MNIST or a folder of your own images, in
TensorFlow/Keras 3.

`import vae` is cheap: it loads neither TensorFlow nor Keras. The public names below are imported on first use
(PEP 562), so `vae.VAEConfig` and `vae.run.directory` stay free of TensorFlow, while `vae.VAE` and `vae.Sampling`
bring in Keras when they are first touched, and `vae.open_run` and `vae.load_model` when they are called.

The subpackages, bottom layer first (docs/development.md, "The layers"; nothing imports from a layer above it):
`config`, `errors` and `files` (the run's `VAEConfig`, the error types, atomic writes); `data` (data sources and
the input pipeline); `model` (networks, latent structures, priors, objectives, conditioning, the Keras model);
`run` (the run folder, checkpoints, records, the shipped pretrained runs); `evaluation` (held-out estimators,
per-image scores, outliers); `training`; `views` (figures, the report); `serving` (export, `open_run` and `train`).

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
    "load_model": "vae.run.loading",
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
