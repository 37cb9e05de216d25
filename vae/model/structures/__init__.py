"""Latent structures: how a VAE's latent variables h sit between the images and the prior.

Each structure is one class in its own module, behind one interface that training, `vae-eval` and `vae-encode` use:

    networks                  its Keras networks by name (the model tracks them under these names)
    noise_width               standard normal numbers per digit and sample that draw h
    posterior(images, labels) the parameters of the part of q(h|x) that depends on the images alone
    terms(inputs, posterior, noise)
                              log p(x|h), log p(h) and log q(h|x), each (samples, digits), at the h that the noise
                              draws (Burda et al. 2015, equation 8)
    closed_form_kl(posterior) KL(q(h|x) || p(h)) per digit where it has a closed form, else None
    encode(images, labels)    the (mean, log-variance) of the top layer, where the pictures put the images
    decoder_outputs(z, labels)
                              the parameters of p(x|z) for a point z of the top layer
    likelihood                p(x|z) (`vae.model.likelihoods`)
    prior                     p over the top layer (`vae.model.prior`)

A new structure is one new module and a name in `vae.config.ARCHITECTURE_PARTS`.
"""

from __future__ import annotations

import contextlib

import keras

from vae.model.conditioning import labels_of
from vae.model.prior import prior_of
from vae.model.structures.gaussian_layer import GaussianLayer
from vae.model.structures.two_layers import TwoStochasticLayers

# The structure of each number of stochastic layers an architecture can have.
STRUCTURES = {1: GaussianLayer, 2: TwoStochasticLayers}


def structure_of(config, dtype_policy="float32"):
    """The latent structure a run's config describes, with its label adapter and its prior, its networks built
    under `dtype_policy` (the prior's pseudo-inputs, images, stay float32)."""
    prior = prior_of(config)
    with global_dtype_policy(dtype_policy):
        return STRUCTURES[config.stochastic_layers](config, labels_of(config), prior)


@contextlib.contextmanager
def global_dtype_policy(policy):
    """Make `policy` Keras' default dtype policy for the layers created inside the block, then restore the old one.

    Functional models do not hand their own policy down to their layers; the layers take the default one.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
