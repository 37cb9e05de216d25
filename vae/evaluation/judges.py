"""The judges: small convolutional classifiers, one for MNIST and one for Fashion-MNIST, shipped with the package to
look at generated images.

A judge gives two things of an image: its class probabilities p(y|x), which the classifier score and the per-class
accuracy of a conditional run use, and its `FEATURES`-dimensional penultimate activations, the feature space in
which the Fréchet distance, precision and recall compare two sets of images (`vae.evaluation.sample_quality`).

The judges are our own, trained by `benchmarks/train_judges.py` with a fixed seed on the training split: numbers
measured with them compare with each other, not with the Inception-network FIDs of papers. `judges/judges.json`
records each judge's test accuracy, parameter count, the SHA-256 of its weights and the command that trained it;
loading a judge checks its weights against that digest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources

import numpy as np

from vae.config import DATASET_CLASSES, IMAGE_SIDE
from vae.errors import RunError, UsageError

JUDGE_DATASETS = ("mnist", "fashion-mnist")
JUDGES_FOLDER = "judges"
JUDGES_MANIFEST = "judges.json"
FEATURES = 128
# Images per call of the judge: bounds the memory of its activations (about 40 KB an image) whatever the count.
JUDGE_BATCH_SIZE = 1000
FEATURES_LAYER = "features"


def weights_name(dataset: str) -> str:
    return f"{dataset}.weights.h5"


def check_judged(dataset: str) -> None:
    """Refuse a data set no judge has seen: the classifiers know MNIST's and Fashion-MNIST's 28x28 gray images."""
    if dataset not in JUDGE_DATASETS:
        raise UsageError(
            f"no judge exists for {dataset!r} runs: sample quality is measured for {' and '.join(JUDGE_DATASETS)} "
            "runs only, by the classifiers shipped for them"
        )


def build_classifier():
    """The judge's network, untrained: three 3x3 convolutions (32, 64, 64 channels), each followed by 2x2 max
    pooling, then a dense layer of `FEATURES` units (named `FEATURES_LAYER`), dropout, and the logits of the 10
    classes. About 131,000 parameters, half a megabyte of float32."""
    import keras

    inputs = keras.Input((IMAGE_SIDE, IMAGE_SIDE, 1), name="images")
    hidden = inputs
    for channels in (32, 64, 64):
        hidden = keras.layers.Conv2D(channels, 3, padding="same", activation="relu")(hidden)
        hidden = keras.layers.MaxPooling2D(2)(hidden)
    hidden = keras.layers.Flatten()(hidden)
    hidden = keras.layers.Dropout(0.25)(hidden)
    features = keras.layers.Dense(FEATURES, activation="relu", name=FEATURES_LAYER)(hidden)
    hidden = keras.layers.Dropout(0.4)(features)
    logits = keras.layers.Dense(len(DATASET_CLASSES["mnist"]), name="logits")(hidden)
    return keras.Model(inputs, logits, name="judge")


def judges_folder():
    """The folder of the shipped judges, as an importlib.resources traversable."""
    return resources.files("vae.evaluation").joinpath(JUDGES_FOLDER)


def read_manifest() -> dict:
    """judges.json: per data set, its judge's weights file, digest, parameters, accuracy and training command."""
    return json.loads(judges_folder().joinpath(JUDGES_MANIFEST).read_text(encoding="utf-8"))


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@dataclass(frozen=True)
class Judgement:
    """What a judge makes of a set of images: `features` (N, FEATURES) and `probabilities` (N, classes), float64."""

    features: np.ndarray
    probabilities: np.ndarray


class Judge:
    """A shipped classifier, loaded once: `judge(images)` gives the `Judgement` of float images (N, 28, 28, 1) in
    [0, 1], in batches of `JUDGE_BATCH_SIZE`."""

    def __init__(self, dataset: str, classifier):
        import keras

        self.dataset = dataset
        self.classifier = classifier
        self.both = keras.Model(
            classifier.input, [classifier.get_layer(FEATURES_LAYER).output, classifier.output], name="judgement"
        )

    def __call__(self, images: np.ndarray) -> Judgement:
        import tensorflow as tf

        images = np.asarray(images, np.float32)
        if images.ndim == 3:
            images = images[..., None]
        if images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE, 1):
            raise UsageError(f"a judge takes gray images of {IMAGE_SIDE}x{IMAGE_SIDE}, got shape {images.shape}")
        features, probabilities = [], []
        for start in range(0, len(images), JUDGE_BATCH_SIZE):
            batch_features, logits = self.both(images[start : start + JUDGE_BATCH_SIZE], training=False)
            features.append(np.asarray(batch_features, np.float64))
            probabilities.append(np.asarray(tf.nn.softmax(tf.cast(logits, tf.float64)), np.float64))
        return Judgement(np.concatenate(features), np.concatenate(probabilities))


_LOADED: dict[str, Judge] = {}


def load_judge(dataset: str) -> Judge:
    """The shipped judge of `dataset`, its weights checked against judges.json; loaded once per process."""
    check_judged(dataset)
    if dataset not in _LOADED:
        record = read_manifest().get(dataset)
        path = judges_folder().joinpath(weights_name(dataset))
        if record is None or not path.is_file():
            raise RunError(f"the judge of {dataset} is missing from the package: reinstall vae")
        if digest(path.read_bytes()) != record["sha256"]:
            raise RunError(f"the judge of {dataset}, {path}, is damaged (its SHA-256 differs): reinstall vae")
        classifier = build_classifier()
        with resources.as_file(path) as weights:
            classifier.load_weights(weights)
        _LOADED[dataset] = Judge(dataset, classifier)
    return _LOADED[dataset]


def accuracy(judge: Judge, images: np.ndarray, labels: np.ndarray) -> float:
    """The share of `images` (uint8 or float in [0, 1]) that `judge` gives their `labels`."""
    pixels = np.asarray(images)
    if pixels.dtype == np.uint8:
        pixels = pixels.astype(np.float32) / 255.0
    predicted = judge(pixels).probabilities.argmax(axis=1)
    return float(np.mean(predicted == np.asarray(labels)))
