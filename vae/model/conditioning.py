"""What a model takes besides its images: nothing, or a label for each (a conditional VAE, Sohn, Lee & Yan 2015).

One adapter, chosen from the config, answers every question the label raises, so that no other code asks whether
a model is conditional: how to split what the model is given into images and labels, what the encoder and decoder
take, and which label inputs the networks are built with.
"""

from __future__ import annotations

from keras import ops

from vae.errors import UsageError


class Unconditional:
    """Images alone: the networks take no label, and a label given anyway is refused."""

    classes = 0

    def split(self, inputs):
        """(images, None) from what the model is given."""
        return inputs, None

    def join(self, images, labels=None):
        """What the model and the estimators take for `images` (and their `labels`): the images alone."""
        return images

    def attach(self, tensor, labels):
        """What a network takes: `tensor` itself."""
        if labels is not None:
            raise UsageError("this run is not conditional: labels (--digit) need a run trained with --conditional")
        return tensor


class Conditional:
    """Images with a label each, one of `classes`, which the encoder and decoder take one-hot beside their input."""

    def __init__(self, classes: int):
        self.classes = classes

    def split(self, inputs):
        """(images, labels) from `(images, labels)`, or from the `{"images": ..., "labels": ...}` of the input
        pipelines: Keras reads a 2-tuple from a dataset as (inputs, targets) and, under a distribution strategy,
        builds the model by calling it on the first part alone, so the pipelines hand over a dict."""
        if isinstance(inputs, dict) and set(inputs) == {"images", "labels"}:
            return inputs["images"], inputs["labels"]
        if not isinstance(inputs, (tuple, list)) or len(inputs) != 2:
            raise UsageError("a conditional model needs (images, labels): every image needs its label (--digit)")
        return inputs[0], inputs[1]

    def join(self, images, labels=None):
        return images, labels

    def attach(self, tensor, labels):
        """[tensor, one-hot labels]: what a network of a conditional model takes."""
        if labels is None:
            raise UsageError("this run is conditional: every image and latent point needs a label (--digit)")
        # Keras refuses a call whose inputs mix NumPy arrays and tensors.
        return [ops.convert_to_tensor(tensor), ops.one_hot(ops.cast(labels, "int32"), self.classes, dtype="float32")]


def labels_of(config) -> Unconditional | Conditional:
    """The adapter a run's config asks for."""
    return Conditional(len(config.classes)) if config.conditional else Unconditional()
