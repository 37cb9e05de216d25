"""What a model takes besides its images: nothing, or a label for each (a conditional VAE, Sohn, Lee & Yan 2015).

One object, chosen from the config (`labels_of`), answers every question the label raises, so that no other code
asks whether a run is conditional: how to split what the model is given into images and labels, what the encoder
and decoder take and which label inputs they are built with; which labels a batch, a drawing or an image gets; and
how the commands, tables, pages and exports name and lay out what a label changes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vae.errors import UsageError

# What the commands say to a user who asks an unconditional run for what only a conditional one does.
TRAIN_CONDITIONAL = "train one with vae-train --conditional"


class Unconditional:
    """Images alone: the networks take no label, and a label given anyway is refused."""

    classes = 0
    # The names of what a label changes, in the words of the commands and files (`Conditional` says what they are).
    negative_elbo = "negative ELBO"
    title = ""
    each_class = ""
    contract_labels = None
    card_labels = ""
    columns: list[str] = []

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

    def label_inputs(self) -> list:
        """The shapes of the label inputs the networks are built with: none."""
        return []

    def signature_inputs(self) -> list:
        """The label inputs of an exported endpoint's signature: none."""
        return []

    def require(self, need: str) -> None:
        """Refuse what only a conditional run does: a UsageError saying `need` and how to train such a run."""
        raise UsageError(f"{need}: {TRAIN_CONDITIONAL}")

    def require_label(self, label: int | None, refusal: str) -> None:
        """Refuse a drawing without a label where the run needs one: never, as it takes none."""

    def model_labels(self, labels) -> None:
        """The labels a call of the model takes for `labels`, those of its images or points: none."""
        return None

    def first_label(self, labels) -> None:
        """The label a drawing in the style of the first of `labels` is decoded as: none."""
        return None

    def image_labels(self, count: int, label: int | None, most_likely: Callable[[], np.ndarray]) -> None:
        """The labels `count` images are scored or encoded with: none."""
        return None

    def every_class(self, label: int | None) -> bool:
        """Whether a drawing of prior samples asked for `label` draws a row of each class: never."""
        return False

    def drawn_labels(self, count: int, rng: np.random.Generator) -> None:
        """The classes `count` drawings from the prior are asked to be of: none."""
        return None

    def grid_labels(self) -> list:
        """The label of each latent grid a page draws: one grid, of no label."""
        return [None]

    def grid_size(self, alone: int, per_class: Callable[[int], int]) -> int:
        """Cells a side of each grid of `grid_labels`: `alone`, that of the one grid."""
        return alone

    def class_choices(self) -> list[tuple[int, str]]:
        """The (label, name) of each class a reader of a page may choose to draw: none."""
        return []

    def cells(self, labels, index: int) -> list:
        """The cells of `columns` in the row of image `index`, whose labels are `labels`: none."""
        return []

    def caption(self, labels, index: int) -> str:
        """What an image's caption adds for the label it was drawn with: nothing."""
        return ""

    def likelihood(self, before: str = "") -> str:
        """What the numbers are of besides the images: nothing."""
        return ""


class Conditional:
    """Images with a label each, one of the classes `names`, which the encoder and decoder take one-hot beside their
    input."""

    negative_elbo = "negative conditional ELBO"
    title = "Conditional "
    each_class = " for each class"
    contract_labels = "int32, one per image, the index of its class"
    card_labels = " Every endpoint also takes `labels`, int32, one per image."
    columns = ["label", "class"]

    def __init__(self, names):
        self.names = tuple(names)
        self.classes = len(self.names)

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
        # Keras only here, so that the questions above and below cost no TensorFlow: `vae.model.latent` and the
        # views ask them without building a network.
        from keras import ops

        if labels is None:
            raise UsageError("this run is conditional: every image and latent point needs a label (--digit)")
        # Keras refuses a call whose inputs mix NumPy arrays and tensors.
        return [ops.convert_to_tensor(tensor), ops.one_hot(ops.cast(labels, "int32"), self.classes, dtype="float32")]

    def label_inputs(self) -> list:
        """The one-hot label beside each network's input: (batch, classes)."""
        return [(None, self.classes)]

    def signature_inputs(self) -> list:
        """`labels`, int32, one per image or latent vector, after an exported endpoint's other inputs."""
        import tensorflow as tf

        return [tf.TensorSpec((None,), tf.int32, name="labels")]

    def require(self, need: str) -> None:
        """Nothing to refuse: this run is conditional."""

    def require_label(self, label: int | None, refusal: str) -> None:
        """A UsageError saying `refusal` where no `label` was given: the decoder draws a class, and none was asked."""
        if label is None:
            raise UsageError(refusal)

    def model_labels(self, labels) -> np.ndarray:
        """`labels` as int32, as a call of the model takes them."""
        return np.asarray(labels, dtype="int32")

    def first_label(self, labels) -> int:
        """The first of `labels`."""
        return int(self.model_labels(labels)[0])

    def image_labels(self, count: int, label: int | None, most_likely: Callable[[], np.ndarray]) -> np.ndarray:
        """`label` for all `count` images, or with no label each image's most likely one (`most_likely()`)."""
        if label is not None:
            return np.full(count, label, np.int32)
        return most_likely().astype(np.int32)

    def every_class(self, label: int | None) -> bool:
        """Whether a drawing of prior samples asked for `label` draws a row of each class: when no label is asked."""
        return label is None

    def drawn_labels(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """The classes `count` drawings from the prior are asked to be of: uniform over the classes, from `rng`."""
        return rng.integers(0, self.classes, count).astype("int32")

    def grid_labels(self) -> list:
        """A grid for each class, in label order."""
        return list(range(self.classes))

    def grid_size(self, alone: int, per_class: Callable[[int], int]) -> int:
        """`per_class(classes)`: the grids of all the classes share what one grid would hold."""
        return per_class(self.classes)

    def class_choices(self) -> list[tuple[int, str]]:
        return list(enumerate(self.names))

    def cells(self, labels, index: int) -> list:
        """The label of image `index` and its class's name."""
        label = int(labels[index])
        return [label, self.names[label]]

    def caption(self, labels, index: int) -> str:
        """ ": " and the name of image `index`'s class."""
        return f": {self.name(int(labels[index]))}"

    def name(self, label: int) -> str:
        return self.names[label] if 0 <= label < self.classes else str(label)

    def likelihood(self, before: str = "") -> str:
        """The likelihood of x given its label y, after the words `before`."""
        return f"{before} -log p(x|y), conditional"


def labels_of(config) -> Unconditional | Conditional:
    """The conditioning a run's config asks for."""
    return Conditional(config.classes) if config.conditional else Unconditional()
