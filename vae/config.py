"""The one object that describes a run.

`VAEConfig` is frozen, validated on construction, and saved as `config.json` beside the weights; loading a run
rebuilds the model from it. This module holds the config, the choices and limits it checks its fields against, and
the data sources' limits; those of one other layer alone sit in that layer's package (`vae.model`, `vae.evaluation`,
`vae.views`, `vae.serving`). It imports neither TensorFlow nor Keras, so the command-line scripts read every default
and every choice of an option from it (`DEFAULTS` and the constants below) and still answer `--help` instantly.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from vae.errors import UsageError

# The data sets of 28x28 gray IDX files, and "folder": a folder of your own images (`vae.data.folders`).
IDX_DATASETS = ("mnist", "fashion-mnist")
DATASETS = (*IDX_DATASETS, "folder")
# The classes of the IDX data sets, in the order of their labels: digits, and Zalando's names of Fashion-MNIST's.
DATASET_CLASSES = {
    "mnist": tuple(str(digit) for digit in range(10)),
    "fashion-mnist": (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
}  # fmt: skip
# Each architecture names its network and its number of stochastic layers, which chooses the latent structure
# (`vae.model.structures`). "hierarchical" is two stochastic layers, x -> z1 -> z2 (Burda et al. 2015, section 5):
# z1 has `vae.model.HIERARCHICAL_LOWER_LATENT_DIM` dimensions, as in that paper, and z2, the top, has `latent_dim`.
# "resnet" is a residual convolutional network whose depth follows the image's side (`resnet_sides`).
ARCHITECTURE_PARTS = {"conv": ("conv", 1), "mlp": ("mlp", 1), "hierarchical": ("mlp", 2), "resnet": ("resnet", 1)}
ARCHITECTURES = tuple(ARCHITECTURE_PARTS)
# Adam's peak learning rate when none is given, by architecture (benchmarks/schedule_search.py). The conv model's
# 6e-3 at batches of 64 was chosen by the worst of three seeds over 30 epochs (docs/models.md, "The default
# schedule"): 1e-2 at 128 gave the best single seed but rode the edge of stability, and its seeds spread over 5 nats.
# mlp did better at 3e-3 in 10 epochs and keeps it; two stochastic layers diverge at 1e-2 within three epochs, and
# keep 3e-3. resnet: see docs/models.md, "The residual network".
LEARNING_RATES = {"conv": 6e-3, "mlp": 3e-3, "hierarchical": 3e-3, "resnet": 1e-3}
SCHEDULES = ("cosine", "constant")
# What training maximises: the ELBO (Kingma & Welling 2013), or the importance-weighted bound with `samples` draws
# per digit (Burda et al. 2015).
OBJECTIVES = ("elbo", "iwae")
# p(z): the standard normal, or the VampPrior, a mixture of the encoder's posteriors at learned pseudo-inputs
# (Tomczak & Welling 2018).
PRIORS = ("gaussian", "vamp")
# p(x|z) (`vae.model.likelihoods`): independent Bernoulli pixels, or the discretised logistic of 8-bit levels
# (Salimans et al. 2017), which colour runs take unless told otherwise.
LIKELIHOODS = ("bernoulli", "logistic")
# The side of the IDX data sets' images, and of the digits that `vae-encode` prepares for their runs.
IMAGE_SIDE = 28
# The images a run is made of: square, gray or RGB. The convolutional network halves the side twice, so it needs a
# multiple of 4 in its range; dense layers take any side up to MAX_DENSE_IMAGE_SIZE (a dense layer on 256x256x3
# pixels would hold 100 million weights); the residual network, sides that halve down to a grid of 4 to 8.
CHANNELS = (1, 3)
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 8, 256
MAX_DENSE_IMAGE_SIZE = 128
MIN_CONV_IMAGE_SIZE, MAX_CONV_IMAGE_SIZE = 16, 64
# The residual network halves the side until it is at most RESNET_GRID, and its width at a side s is about
# RESNET_WIDTH_AREA / s (a power of two, from 16 to 128): the width grows as the side shrinks, and every resolution
# costs about as much arithmetic as the next.
RESNET_GRID = 8
MIN_RESNET_IMAGE_SIZE = 16
RESNET_WIDTH_AREA = 1024
MIN_RESNET_WIDTH, MAX_RESNET_WIDTH = 16, 128
# The activations one training step may keep for the gradient, estimated from the network's shape before anything is
# allocated: a third of this machine's memory.
MAX_ACTIVATION_BYTES = 8 * 2**30
# A conditional run's labels: at least two classes, and at most this many (its one-hot label is an input).
MAX_CLASSES = 1000
# How a folder's image of another size or shape becomes the run's: "crop" scales its shorter side to the run's
# side, keeping its aspect ratio, and cuts the middle square out of it.
FITS = ("crop",)
# Limits checked before anything is allocated, so that a hostile config.json or option fails in one line instead of
# filling the memory. A latent of 1,024 is far beyond what 784 pixels need; a batch of 8,192 digits takes about
# 1.2 GB of activations in the convolutional model.
MAX_LATENT_DIM = 1024
MAX_BATCH_SIZE = 8192
# The VampPrior: at most this many pseudo-inputs (each one is an image of weights), and at most this many numbers in
# its density per training step, 2 GB of float32 with its gradient.
MAX_PSEUDO_INPUTS = 5000
MAX_PRIOR_TERMS = 2**28
# Free bits above a few nats per dimension would hold every posterior far from the prior: a typo, not a choice.
MAX_FREE_NATS = 10.0


@dataclass(frozen=True)
class VAEConfig:
    """Everything needed to rebuild and retrain a model: architecture, objective, data and optimisation.

    Frozen and validated on construction: a value that is not allowed raises `UsageError` naming the field. Saved as
    `config.json` beside the weights (`to_json`) and read back with `from_json`, which fills in the fields a run
    saved before them lacks (`ADDED_FIELDS`). `replace` gives a validated copy with some fields changed.

    The fields: the model (`architecture`, `latent_dim`, `conditional`, `prior`, `pseudo_inputs`), what it
    maximises (`objective`, `samples`, `beta`), the data (`dataset`, `binarize`, `limit`), and the optimisation
    (`seed`, `epochs`, `batch_size`, `learning_rate`, `schedule`, `warmup_epochs`, `min_warmup_steps`, `free_nats`,
    `eval_every`); the comments
    beside them and `vae-train --help` say what each means.
    """

    # None: chosen from the data (`default_architecture`, `default_latent_dim`), then saved as chosen.
    architecture: str | None = None
    latent_dim: int | None = None
    beta: float = 1.0
    binarize: bool = False
    # q(z|x,y) and p(x|z,y) with the one-hot label y (Sohn, Lee & Yan 2015): a conditional VAE.
    conditional: bool = False
    objective: str = "elbo"
    samples: int = 1  # importance samples per digit and step of the "iwae" objective
    prior: str = "gaussian"
    pseudo_inputs: int = 0  # the VampPrior's learned pseudo-inputs, its mixture components (500 in the paper)
    likelihood: str | None = None  # p(x|z), LIKELIHOODS; None: chosen from the images (`default_likelihood`)
    # An outlier detector: a likelihood that is a code length of the data it scores (`exact_likelihood`), so that
    # its scores carry the input-complexity correction (`vae.evaluation.complexity`), and a latent sized by the
    # folder rule on the IDX data sets too (`default_latent_dim`).
    detector: bool = False
    dataset: str = "mnist"
    # The images' shape, side x side x channels: 28 x 28 x 1 for the IDX data sets, any within the limits for a
    # folder of images.
    image_size: int = 28
    channels: int = 1
    # The classes in label order: None for an IDX data set's own (DATASET_CLASSES); a folder's class names, or no
    # classes for a folder of images without labels.
    class_names: tuple[str, ...] | None = None
    # A folder with no test split of its own: the share of each class held out for testing, drawn with the seed.
    test_fraction: float = 0.1
    fit: str = "crop"
    limit: int | None = None
    seed: int = 0
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float | None = None  # None: the architecture's own, LEARNING_RATES
    schedule: str = "cosine"
    warmup_epochs: float = 1.0  # the cosine schedule's linear warm-up, in epochs (fractions allowed)
    # ... and in steps at least this many (at most half the run), so that a small folder warms up as long as a large
    # one: 32 steps of warm-up let a 2,048-image run collapse to the mean image (docs/models.md, "Against collapse").
    min_warmup_steps: int = 500
    # Free bits (Kingma et al. 2016, "Improved Variational Inference with Inverse Autoregressive Flow", equation 15),
    # over the whole latent as one group: the ELBO objective's KL term counts as at least free_nats x latent_dim
    # nats per image, averaged over the batch, so that nothing is gained by pushing q(z|x) onto the prior below that.
    # The reported ELBO is always the true one.
    free_nats: float = 0.5
    # The test split is scored after every eval_every-th epoch and after the last. Scoring draws sampling noise from
    # the run's stream, so it is part of what a seed's numbers depend on, and a field of the config.
    eval_every: int = 1

    def __post_init__(self) -> None:
        # Frozen: the fields filled in on construction, so that config.json always holds what the run used.
        if self.architecture is None:
            object.__setattr__(self, "architecture", default_architecture(self.dataset, self.image_size, self.channels))
        if self.latent_dim is None:
            latent_dim = default_latent_dim(self.dataset, self.image_size, self.channels, self.detector)
            object.__setattr__(self, "latent_dim", latent_dim)
        if self.likelihood is None:
            object.__setattr__(self, "likelihood", default_likelihood(self.channels, self.binarize, self.detector))
        if self.learning_rate is None:
            object.__setattr__(self, "learning_rate", LEARNING_RATES.get(self.architecture, LEARNING_RATES["conv"]))
        _check_type(self)
        if self.architecture not in ARCHITECTURES:
            raise UsageError(f"architecture must be one of {', '.join(ARCHITECTURES)}, got {self.architecture!r}")
        if self.conditional and self.stochastic_layers != 1:
            # The label enters q(z|x,y) and p(x|z,y) of one stochastic layer; a second layer would need it too.
            one_layer = " or ".join(name for name, (_, layers) in ARCHITECTURE_PARTS.items() if layers == 1)
            raise UsageError(
                f"architecture {self.architecture} is not for conditional runs; use {one_layer} with --conditional"
            )
        if self.schedule not in SCHEDULES:
            raise UsageError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.dataset not in DATASETS:
            raise UsageError(f"dataset must be one of {', '.join(DATASETS)}, got {self.dataset!r}")
        self._check_images()
        if self.latent_dim < 1:
            raise UsageError(f"latent_dim must be at least 1, got {self.latent_dim}")
        if self.latent_dim > MAX_LATENT_DIM:
            raise UsageError(f"latent_dim must be at most {MAX_LATENT_DIM}, got {self.latent_dim}")
        if not (math.isfinite(self.beta) and self.beta >= 0):
            raise UsageError(f"beta must be a finite number >= 0, got {self.beta}")
        if self.limit is not None and self.limit < 1:
            raise UsageError(f"limit must be at least 1, got {self.limit}")
        if self.seed < 0:
            raise UsageError(f"seed must be >= 0, got {self.seed}")
        if self.epochs < 1:
            raise UsageError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise UsageError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.batch_size > MAX_BATCH_SIZE:
            raise UsageError(f"batch_size must be at most {MAX_BATCH_SIZE}, got {self.batch_size}")
        if self.objective not in OBJECTIVES:
            raise UsageError(f"objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        if self.samples < 1:
            raise UsageError(f"samples must be at least 1, got {self.samples}")
        if self.objective == "elbo" and self.samples != 1:
            raise UsageError(f"samples {self.samples} needs objective iwae: the ELBO draws one sample per digit")
        if self.batch_size * self.samples > MAX_BATCH_SIZE:
            raise UsageError(
                f"batch_size x samples must be at most {MAX_BATCH_SIZE} (the digits the decoder sees per step), "
                f"got {self.batch_size} x {self.samples}"
            )
        if self.likelihood not in LIKELIHOODS:
            raise UsageError(f"likelihood must be one of {', '.join(LIKELIHOODS)}, got {self.likelihood!r}")
        if self.binarize and self.likelihood != "bernoulli":
            raise UsageError(
                f"likelihood {self.likelihood} is of 8-bit levels, and --binarize makes the pixels 0 or 1: "
                "use likelihood bernoulli with it"
            )
        if self.detector and not self.exact_likelihood:
            raise UsageError(
                f"a detector run needs a likelihood of its data, and {self.likelihood} of gray levels is not one: "
                "leave --likelihood out (logistic), or add --binarize"
            )
        if self.prior not in PRIORS:
            raise UsageError(f"prior must be one of {', '.join(PRIORS)}, got {self.prior!r}")
        if self.prior == "vamp":
            if not 1 <= self.pseudo_inputs <= MAX_PSEUDO_INPUTS:
                raise UsageError(
                    f"prior vamp needs pseudo_inputs from 1 to {MAX_PSEUDO_INPUTS} (the paper uses 500), "
                    f"got {self.pseudo_inputs}"
                )
            if self.conditional:
                raise UsageError("prior vamp is not for conditional runs: its pseudo-inputs carry no label")
            terms = self.batch_size * self.samples * self.pseudo_inputs * self.latent_dim
            if terms > MAX_PRIOR_TERMS:
                raise UsageError(
                    f"batch_size x samples x pseudo_inputs x latent_dim must be at most {MAX_PRIOR_TERMS:,} (the "
                    f"VampPrior's density is that many numbers per step), got {terms:,}"
                )
        elif self.pseudo_inputs != 0:
            raise UsageError(f"pseudo_inputs {self.pseudo_inputs} needs prior vamp")
        if self.eval_every < 1:
            raise UsageError(f"eval_every must be at least 1, got {self.eval_every}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise UsageError(f"learning_rate must be a finite number > 0, got {self.learning_rate}")
        if self.min_warmup_steps < 0:
            raise UsageError(f"min_warmup_steps must be >= 0, got {self.min_warmup_steps}")
        if not (math.isfinite(self.free_nats) and 0 <= self.free_nats <= MAX_FREE_NATS):
            raise UsageError(f"free_nats must be a number from 0 to {MAX_FREE_NATS:g}, got {self.free_nats}")
        if not (math.isfinite(self.warmup_epochs) and 0 <= self.warmup_epochs <= self.epochs):
            raise UsageError(
                f"warmup_epochs must be a number from 0 to epochs ({self.epochs}), got {self.warmup_epochs}"
            )

    def _check_images(self) -> None:
        if self.channels not in CHANNELS:
            raise UsageError(f"channels must be 1 (gray) or 3 (RGB), got {self.channels}")
        if not MIN_IMAGE_SIZE <= self.image_size <= MAX_IMAGE_SIZE:
            raise UsageError(f"image_size must be from {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE}, got {self.image_size}")
        if self.network == "conv" and not (
            MIN_CONV_IMAGE_SIZE <= self.image_size <= MAX_CONV_IMAGE_SIZE and self.image_size % 4 == 0
        ):
            raise UsageError(
                f"the conv network needs an image_size that is a multiple of 4 from {MIN_CONV_IMAGE_SIZE} to "
                f"{MAX_CONV_IMAGE_SIZE}, got {self.image_size}; choose one, or --arch resnet"
            )
        if self.network == "mlp" and self.image_size > MAX_DENSE_IMAGE_SIZE:
            raise UsageError(
                f"the mlp network takes an image_size up to {MAX_DENSE_IMAGE_SIZE}, got {self.image_size}; "
                "use --arch resnet"
            )
        if self.network == "resnet":
            if resnet_sides(self.image_size) is None:
                raise UsageError(
                    f"the resnet network needs an image_size that halves to a grid of 4 to {RESNET_GRID} (16, 20, "
                    f"24, 28, 32, 48, 64, 96, 128, 256, ...), got {self.image_size}"
                )
            needed = self.batch_size * resnet_activation_bytes(self.image_size, self.channels)
            if needed > MAX_ACTIVATION_BYTES:
                raise UsageError(
                    f"batch_size {self.batch_size} of {self.image_size}x{self.image_size} images needs about "
                    f"{needed / 2**30:.1f} GiB of activations, more than {MAX_ACTIVATION_BYTES / 2**30:.0f} GiB: "
                    "use a smaller --batch-size or --image-size"
                )
        if self.dataset in IDX_DATASETS:
            if (self.image_size, self.channels) != (IMAGE_SIDE, 1):
                raise UsageError(f"{self.dataset} is {IMAGE_SIDE}x{IMAGE_SIDE} gray: image_size and channels are fixed")
            if self.class_names is not None and tuple(self.class_names) != DATASET_CLASSES[self.dataset]:
                raise UsageError(f"{self.dataset}'s classes are its own: class_names must be null")
        if self.fit not in FITS:
            raise UsageError(f"fit must be one of {', '.join(FITS)}, got {self.fit!r}")
        if not (math.isfinite(self.test_fraction) and 0 < self.test_fraction < 1):
            raise UsageError(f"test_fraction must be a number between 0 and 1, got {self.test_fraction}")
        names = self.classes
        if len(set(names)) != len(names) or not all(names):
            raise UsageError("class_names must be distinct and not empty")
        if len(names) > MAX_CLASSES:
            raise UsageError(f"at most {MAX_CLASSES:,} classes, got {len(names):,}")
        if self.conditional and len(names) < 2:
            raise UsageError(
                f"a conditional run needs at least two classes of images, got {len(names)}: train it on a folder "
                "with a subfolder per class"
            )

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(side, side, channels) of the run's images."""
        return (self.image_size, self.image_size, self.channels)

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names in label order: the IDX data set's, the folder's, or none."""
        if self.class_names is None:
            return DATASET_CLASSES.get(self.dataset, ())
        return tuple(self.class_names)

    @property
    def network(self) -> str:
        """The network of the architecture: "conv", "mlp" or "resnet"."""
        return ARCHITECTURE_PARTS[self.architecture][0]

    @property
    def exact_likelihood(self) -> bool:
        """Whether the run's nats are a log-likelihood of its data: always under the discretised logistic, a
        probability of 8-bit levels; under Bernoulli pixels only when the pixels are binary (--binarize), for the
        cross-entropy of gray levels is not normalised over [0, 1]."""
        return self.likelihood == "logistic" or self.binarize

    @property
    def stochastic_layers(self) -> int:
        """How many stochastic layers the architecture has: 1, or 2 for "hierarchical"."""
        return ARCHITECTURE_PARTS[self.architecture][1]

    def scored_epochs(self) -> list[int]:
        """The epochs, counted from 1, after which the test split is scored: every `eval_every`-th and the last."""
        return [epoch for epoch in range(1, self.epochs + 1) if epoch % self.eval_every == 0 or epoch == self.epochs]

    def replace(self, **changes: Any) -> VAEConfig:
        """A copy with some fields changed, validated like a new config. The others keep their values, the learning
        rate too: `replace(architecture=...)` does not take the new architecture's default (`LEARNING_RATES`) unless
        `learning_rate=None` is among the changes."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        if values["class_names"] is not None:
            values["class_names"] = list(values["class_names"])
        return values

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, values: Any) -> VAEConfig:
        if not isinstance(values, dict):
            raise UsageError(f"a config must be a JSON object, got {type(values).__name__}")
        names = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise UsageError(f"unknown config field(s): {', '.join(unknown)}")
        # Fields added since the first release take their default when a run saved before them lacks them.
        values = {**ADDED_FIELDS, **values}
        missing = [name for name in names if name not in values]
        if missing:
            raise UsageError(f"missing config field(s): {', '.join(missing)}")
        if isinstance(values["class_names"], list):
            values["class_names"] = tuple(values["class_names"])
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> VAEConfig:
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise UsageError(f"not valid JSON ({error})") from None
        return cls.from_dict(values)


def _check_type(config: VAEConfig) -> None:
    """Reject values of the wrong type, which JSON files can carry (`"latent_dim": "2"`, `"beta": true`)."""
    expected = {
        "architecture": (str,),
        "dataset": (str,),
        "schedule": (str,),
        "latent_dim": (int,),
        "likelihood": (str,),
        "limit": (int, type(None)),
        "seed": (int,),
        "epochs": (int,),
        "batch_size": (int,),
        "beta": (int, float),
        "learning_rate": (int, float),
        "warmup_epochs": (int, float),
        "min_warmup_steps": (int,),
        "free_nats": (int, float),
        "binarize": (bool,),
        "conditional": (bool,),
        "detector": (bool,),
        "objective": (str,),
        "samples": (int,),
        "prior": (str,),
        "pseudo_inputs": (int,),
        "eval_every": (int,),
        "image_size": (int,),
        "channels": (int,),
        "class_names": (tuple, type(None)),
        "test_fraction": (int, float),
        "fit": (str,),
    }
    for name, types in expected.items():
        value = getattr(config, name)
        # bool is a subclass of int; a flag where a number belongs is a mistake.
        if isinstance(value, bool) and bool not in types:
            raise UsageError(f"{name} must be {_describe(types)}, got {value!r}")
        if not isinstance(value, types):
            raise UsageError(f"{name} must be {_describe(types)}, got {value!r}")
    if config.class_names is not None and not all(isinstance(name, str) for name in config.class_names):
        raise UsageError(f"class_names must be a list of strings, got {list(config.class_names)!r}")


def _describe(types: tuple[type, ...]) -> str:
    names = {
        int: "an integer", float: "a number", str: "a string", bool: "true or false", type(None): "null",
        tuple: "a list",
    }  # fmt: skip
    return " or ".join(names[t] for t in types)


# Fields added after the first release, with the value a run saved without them had: it loads as what it was.
ADDED_FIELDS = {
    "conditional": False,
    "objective": "elbo",
    "samples": 1,
    "prior": "gaussian",
    "pseudo_inputs": 0,
    "eval_every": 1,
    "warmup_epochs": 1.0,
    "image_size": 28,
    "channels": 1,
    "class_names": None,
    "test_fraction": 0.1,
    "fit": "crop",
    "min_warmup_steps": 0,
    "free_nats": 0.0,
    "likelihood": "bernoulli",
    "detector": False,
}


def default_architecture(dataset: str, image_size: int, channels: int) -> str:
    """The architecture of a run that names none: the residual network for a folder of images larger than the IDX
    data sets' 28x28 or in colour, the keras.io conv network otherwise."""
    return "resnet" if dataset == "folder" and (image_size > IMAGE_SIDE or channels != 1) else "conv"


def default_latent_dim(dataset: str, image_size: int, channels: int, detector: bool = False) -> int:
    """The latent size of a run that names none: 2 for the IDX data sets, whose pictures need a plane; for a folder,
    and for a detector run of any data, the power of two nearest to half the square root of the pixels and channels,
    from 2 to 256 (28x28 gray: 16; 32x32 RGB: 32; 64x64 RGB: 64; 128x128 RGB: 128).

    A rule of thumb, not a search: the latent grows with the side, as the detail an image can hold does, and the
    square root keeps it far below the pixel count. `--latent-dim` overrides it."""
    if dataset in IDX_DATASETS and not detector:
        return 2
    target = math.sqrt(image_size * image_size * channels) / 2
    return int(min(max(2 ** round(math.log2(target)), 2), 256))


def default_likelihood(channels: int, binarize: bool, detector: bool = False) -> str:
    """The likelihood of a run that names none: the discretised logistic for colour images and for a detector run's
    gray ones, Bernoulli pixels for other gray ones (MNIST's usual protocol) and for binarized ones."""
    return "logistic" if (channels == 3 or detector) and not binarize else "bernoulli"


def resnet_sides(image_size: int) -> list[int] | None:
    """The sides of the residual network's resolutions, halving from `image_size` to a grid of 4 to RESNET_GRID, or
    None when the side does not halve evenly down to one."""
    sides = [image_size]
    while sides[-1] > RESNET_GRID:
        if sides[-1] % 2:
            return None
        sides.append(sides[-1] // 2)
    return sides if image_size >= MIN_RESNET_IMAGE_SIZE and sides[-1] >= 4 else None


def resnet_width(side: int) -> int:
    """The residual network's channels at a resolution of `side`."""
    width = 2 ** round(math.log2(RESNET_WIDTH_AREA / side))
    return min(max(width, MIN_RESNET_WIDTH), MAX_RESNET_WIDTH)


def resnet_activation_bytes(image_size: int, channels: int) -> int:
    """About how many bytes of float32 activations a training step keeps per image in the residual network: six maps
    per resolution (a block's two convolutions, their activations, the sum and the resampling), in the encoder and
    again in the decoder. An estimate from the shape alone, checked before anything is allocated."""
    sides = resnet_sides(image_size) or [image_size]
    values = sum(6 * side * side * resnet_width(side) for side in sides) + image_size * image_size * channels
    return 2 * 4 * values


# Every field at its default: what the commands show and use when an option is not given.
DEFAULTS = VAEConfig()
# The shortest schedule that benchmarks/schedule_search.py found to reach the keras.io example's 30-epoch test
# negative ELBO, as fields that differ from DEFAULTS; benchmarks/run.py times it beside that example's loop.
FAST_RECIPE = {"epochs": 8}


def command_options(fields: dict[str, Any]) -> list[str]:
    """The `vae-train` options that set config `fields`: {"learning_rate": 6e-3} -> ["--learning-rate", "6e-3"]."""

    def spelled(value: Any) -> str:
        if isinstance(value, float) and value < 0.1:
            mantissa, exponent = f"{value:e}".split("e")
            return f"{float(mantissa):g}e{int(exponent)}"
        return f"{value:g}" if isinstance(value, float) else str(value)

    return [item for field, value in fields.items() for item in (f"--{field.replace('_', '-')}", spelled(value))]
