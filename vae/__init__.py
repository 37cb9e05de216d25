"""A convolutional variational autoencoder for MNIST-style digits, in TensorFlow/Keras 3.

Importing `vae` imports Keras, which registers the `VAE` and `Sampling` classes so that
`keras.saving.load_model("outputs/vae.keras")` can rebuild them. The command-line scripts import it only inside
their commands, which keeps `--help` instant.
"""

from vae.config import VAEConfig
from vae.data import load_dataset
from vae.model import VAE
from vae.sampling import Sampling
from vae.storage import RunError, load_run

__all__ = ["VAE", "RunError", "Sampling", "VAEConfig", "load_dataset", "load_run"]
