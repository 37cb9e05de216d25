"""The latent space as arrays: the test images a run is shown, their latent means, decoded latent points and grids,
and new images sampled from the prior.

No pictures here: `vae.views.figures`, `vae.views.report` and `vae.run.snapshots` draw or store what these
functions return, the Python API (`vae.serving.api`) returns it, and tests and benchmarks check the arrays
directly. Every call that runs the model does so in batches of `INFERENCE_BATCH_SIZE` or in one batched call.

Images the model takes are float32 (N, side, side, channels). Images these functions return to be drawn are
"pictures": (..., side, side) for a gray run, (..., side, side, 3) for an RGB one, values in [0, 1].

A label of a conditional run is asked for by name or by index (`--label sneaker`, `--label 7`, or `--digit 7` on a
run of digits): `label_index` turns the request into the run's label.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from vae.errors import UsageError
from vae.model import GAUSSIAN_QUANTILES, INFERENCE_BATCH_SIZE, MAX_GRID_SPAN
from vae.model.conditioning import labels_of


def pictures(images: np.ndarray) -> np.ndarray:
    """Images (..., side, side, channels) as pictures: the channel axis dropped for gray ones."""
    images = np.asarray(images)
    return images[..., 0] if images.shape[-1] == 1 else images


@dataclass(frozen=True)
class LabelRequest:
    """A label asked for on the command line: the text given, and the option it was given with."""

    text: str
    option: str = "--label"


def label_index(config, request: LabelRequest | None) -> int | None:
    """The label a request names, by a class's name (its exact case first, then any case) or by its index; None for
    no request. Refused for an unconditional run, whose decoder takes no label, for a name that matches several
    classes in any case but none exactly, and for a name or index the run does not have."""
    if request is None:
        return None
    asked = f"{request.option} {request.text}"
    labels_of(config).require(f"{asked} needs a conditional run")
    text = request.text.strip()
    if text in config.classes:  # an exact name first: classes may differ only in case
        return list(config.classes).index(text)
    names = [name.lower() for name in config.classes]
    matches = [name for name in config.classes if name.lower() == text.lower()]
    if len(matches) > 1:
        raise UsageError(
            f"{asked} names {len(matches)} classes of this run, which differ only in case: {', '.join(matches)}; "
            "give one of them exactly, or its index"
        )
    if matches:
        return names.index(text.lower())
    if text.isascii() and text.isdecimal() and int(text) < len(names):
        return int(text)
    shown = ", ".join(config.classes[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")
    raise UsageError(
        f"{asked} names no class of this run: its classes are {shown} (or their indices 0-{len(names) - 1})"
    )


def class_name(config, label: int) -> str:
    """The name of a label, for captions: the class's name, or its index for a run without names."""
    return config.classes[label] if 0 <= label < len(config.classes) else str(label)


def choose_test_digits(count: int, n: int, seed: int) -> list[int]:
    """n distinct test digit indices out of `count` (all of them if fewer), chosen by `seed`, in ascending order."""
    return sorted(np.random.default_rng(seed).choice(count, size=min(n, count), replace=False).tolist())


def check_indices(indices, count: int) -> list[int]:
    """The indices as a list, or a UsageError naming the first one outside the test set."""
    outside = [index for index in indices if not 0 <= index < count]
    if outside:
        raise UsageError(
            f"test digit index {outside[0]} is out of range: the test set has {count} digits (0..{count - 1})"
        )
    return list(indices)


def model_labels(model, labels) -> np.ndarray | None:
    """The labels a call of `model` takes: `labels` as int32 for a conditional model, None for another."""
    return model.latent.labels.model_labels(labels)


def encode_means(model, images: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """The latent means of `images` (float32, N x side x side x channels), given their `labels` on a conditional
    model, encoded in batches to bound the memory used."""
    batches = range(0, len(images), INFERENCE_BATCH_SIZE)
    return np.concatenate(
        [
            np.asarray(model.encode(*_rows((images, labels), start, start + INFERENCE_BATCH_SIZE))[0])
            for start in batches
        ]
    )


def reconstruct(
    model, images: np.ndarray, labels: np.ndarray | None = None, batch_size: int | None = None
) -> np.ndarray:
    """Reconstructions of `images` from their latent means, as pictures, given their `labels` on a conditional
    model; decoded as `decode` decodes, in one call or in batches of `batch_size`."""
    means = encode_means(model, images, labels)
    return decode(model, means, labels, batch_size)


def decode(model, z: np.ndarray, labels: np.ndarray | None = None, batch_size: int | None = None) -> np.ndarray:
    """Decoder mean images for latent vectors z (N x latent_dim), as pictures, with a label for each on a
    conditional model, in one batched call, or in batches of `batch_size` where there can be too many for one."""
    z = np.asarray(z, dtype="float32")
    if batch_size is None or len(z) <= batch_size:
        return pictures(np.asarray(model.decode(z, labels)))
    return np.concatenate(
        [
            pictures(np.asarray(model.decode(*_rows((z, labels), start, start + batch_size))))
            for start in range(0, len(z), batch_size)
        ]
    )


def prior_samples(
    model, n: int, seed: int, label: int | None = None, batch_size: int | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """n pictures decoded from seeded z ~ p(z) (N(0, I), or the VampPrior's mixture), as the class `label` on a
    conditional model, and the labels the decoder was given. A conditional model with no label draws every class
    from the same ceil(n / classes) latent vectors: (classes, ceil(n / classes), ...), one row per class; otherwise
    (n, ...). The pictures are decoded as `decode` decodes, in one call or in batches of `batch_size`."""
    if model.latent.labels.every_class(label):
        classes = model.latent.labels.classes
        per_class = math.ceil(n / classes)
        z = model.latent.prior.sample(per_class, np.random.default_rng(seed))
        labels = np.repeat(np.arange(classes, dtype="int32"), per_class)
        images = decode(model, np.tile(z, (classes, 1)), labels, batch_size)
        return images.reshape(classes, per_class, *images.shape[1:]), labels
    z = model.latent.prior.sample(n, np.random.default_rng(seed))
    labels = model_labels(model, repeated_label(label, n))
    return decode(model, z, labels, batch_size), labels


def analogies(model, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N, classes, ...) pictures: each image's latent mean, encoded with its label by a conditional model, decoded
    as every class in one batched call."""
    check_conditional(model, "analogies")
    classes = len(model.vae_config.classes)
    means = encode_means(model, images, labels)
    every = np.tile(np.arange(classes, dtype="int32"), len(images))
    decoded = decode(model, np.repeat(means, classes, axis=0), every)
    return decoded.reshape(len(images), classes, *decoded.shape[1:])


def check_conditional(model, what: str) -> None:
    """Refuse `what`, which only a conditional run draws, on another."""
    model.latent.labels.require(f"{what} need a conditional run")


PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
NON_FINITE_WORDS = ("nan", "inf", "infinity")


def parse_latent_vectors(vectors, latent_dim: int) -> np.ndarray:
    """Comma-separated latent vectors ("0.5,-1.2") as a float32 (N, latent_dim) array; a UsageError names the first
    one with the wrong number of values or a value that is not a finite number."""
    rows = []
    for text in vectors:
        parts = [part.strip() for part in text.split(",")]
        # Python's float() also takes "1_0", "١" and "infinity"; a latent value is written in plain decimal or
        # exponent notation only, and "nan" or "inf" is refused below as not finite.
        if not all(PLAIN_NUMBER.fullmatch(part) or part.lower().lstrip("+-") in NON_FINITE_WORDS for part in parts):
            raise UsageError(f"--z {text!r} is not a comma-separated list of numbers")
        values = [float(part) for part in parts]
        if len(values) != latent_dim:
            raise UsageError(
                f"--z {text!r} has {len(values)} value{'s' * (len(values) != 1)}: this run's latent size is "
                f"{latent_dim}"
            )
        if not all(math.isfinite(value) and abs(value) <= MAX_GRID_SPAN for value in values):
            raise UsageError(
                f"--z {text!r}: every value must be a finite number in [-{MAX_GRID_SPAN:g}, {MAX_GRID_SPAN:g}]"
            )
        rows.append(values)
    return np.asarray(rows, dtype="float32")


def repeated_label(label: int | None, count: int) -> np.ndarray | None:
    """`count` copies of `label`, or None for no label."""
    return None if label is None else np.full(count, label, dtype="int32")


def _rows(arrays, start: int, end: int):
    return tuple(None if array is None else array[start:end] for array in arrays)


def check_dims(dims: tuple[int, int], latent_dim: int) -> tuple[int, int]:
    """The two latent axes a grid varies, or a ValueError saying which axes this run has."""
    if latent_dim < 2:
        raise UsageError(f"the latent grid needs a latent size of at least 2; this run's is {latent_dim}")
    if len(dims) != 2 or dims[0] == dims[1] or not all(0 <= dim < latent_dim for dim in dims):
        given = ",".join(map(str, dims))
        raise UsageError(f"dims must be two different latent axes in 0..{latent_dim - 1}, got {given}")
    return dims


def default_span(model, images: np.ndarray, labels: np.ndarray | None, dims: tuple[int, int] = (0, 1)) -> float:
    """Half-width of a grid that covers where the test digits' latent means lie: their 99th percentile of |z| on
    the two axes, rounded up to 0.5. A fixed span would show mostly empty prior for a weakly trained model and cut
    off digits for a model whose codes spread wider than N(0, I)."""
    return span_covering(encode_means(model, images, model_labels(model, labels))[:, list(dims)])


def span_covering(points: np.ndarray) -> float:
    """The 99th percentile of |z| over `points`, rounded up to 0.5 (see `default_span`)."""
    return max(0.5, math.ceil(float(np.percentile(np.abs(points), 99)) * 2) / 2)


def grid_axis(n: int, span: float | None, quantiles: bool) -> np.ndarray:
    """The n values along one grid axis: evenly spaced in [-span, span], or evenly spaced `GAUSSIAN_QUANTILES` of
    N(0, 1) (0.05 to 0.95)."""
    if quantiles:
        return np.array([NormalDist().inv_cdf(p) for p in np.linspace(*GAUSSIAN_QUANTILES, n)], dtype="float32")
    if span is None or not 0 < span <= MAX_GRID_SPAN:
        raise UsageError(f"span must be a number in (0, {MAX_GRID_SPAN:g}], got {span}")
    return np.linspace(-span, span, n, dtype="float32")


def decode_latent_grid(
    model, n: int, span: float | None = None, quantiles: bool = False, dims=(0, 1), label: int | None = None
):
    """Decode an n x n grid of latent points in one batched call, as `label` on a conditional model.

    The two axes `dims` vary (x along columns, y up the rows) and every other latent coordinate stays at 0, the
    prior's mean. Returns the pictures (n, n, ...), row 0 at the top (largest y), and the axis values.
    """
    latent_dim = model.vae_config.latent_dim
    dims = check_dims(tuple(dims), latent_dim)
    axis = grid_axis(n, span, quantiles)
    x, y = np.meshgrid(axis, axis[::-1])
    z = np.zeros((n * n, latent_dim), dtype="float32")
    z[:, dims[0]] = x.ravel()
    z[:, dims[1]] = y.ravel()
    decoded = decode(model, z, repeated_label(label, n * n))
    return decoded.reshape(n, n, *decoded.shape[1:]), axis
