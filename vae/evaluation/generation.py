"""Sample quality of a run: new images drawn from its prior, looked at by the judge of its data set
(`vae.evaluation.judges`) beside the test split, and the same numbers for real images, the floor.

The run draws `samples` latent vectors from its prior, with every spread scaled by `temperature`: z ~ N(0, τ²I) for
the standard normal, each component's spread scaled for the VampPrior, and for two stochastic layers the top layer
z2 so drawn and decoded through the mean of p(z1|z2), as `vae-plot samples` decodes. A conditional run asks for a
class drawn uniformly for each image, and the judge's accuracy per asked class says how often it drew what it was
asked. The decoder's pixel means are judged: the pictures the run shows, not binary draws from them.

The floor is what real images score against the same test split: `samples` images of the training split (or all of
them where it has fewer), chosen with the same seed. No model of these data sets should beat it by much; a number far
from it is how far the samples are from real ones.
"""

from __future__ import annotations

import math
import os

import numpy as np

from vae import files
from vae.data.datasets import to_float
from vae.errors import RunError, UsageError
from vae.evaluation import (
    MAX_SAMPLE_QUALITY_SAMPLES,
    MAX_TEMPERATURE,
    MIN_SAMPLE_QUALITY_SAMPLES,
    SAMPLE_QUALITY_SAMPLES,
    judges,
)
from vae.evaluation.sample_quality import measure
from vae.model import INFERENCE_BATCH_SIZE
from vae.model.latent import decode
from vae.run.dataset import run_dataset
from vae.run.directory import EVAL_FILE, RunDir
from vae.run.loading import load_run
from vae.run.records import SAMPLE_QUALITY_KEY, read_config, read_evaluation, weights_digest


def check_settings(samples, temperature, seed) -> None:
    """Refuse a count, temperature or seed the measurement cannot take, naming it."""
    low, high = MIN_SAMPLE_QUALITY_SAMPLES, MAX_SAMPLE_QUALITY_SAMPLES
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or not low <= samples <= high:
        raise UsageError(f"samples must be a whole number from {low} to {high:,}, got {samples!r}")
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float, np.floating, np.integer))
        or not math.isfinite(temperature)
        or not 0 < temperature <= MAX_TEMPERATURE
    ):
        raise UsageError(f"temperature must be a number above 0 and at most {MAX_TEMPERATURE:g}, got {temperature!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise UsageError(f"seed must be an integer >= 0, got {seed!r}")


def draw_samples(model, samples: int, temperature: float, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """`samples` images decoded from the run's prior at `temperature`, float32 (N, 28, 28, 1) pixel means, and on a
    conditional model the class each was asked to be of (uniform over the classes, from the same seed), else None."""
    rng = np.random.default_rng(seed)
    z = model.latent.prior.sample(samples, rng, temperature)
    labels = model.latent.labels.drawn_labels(samples, rng)
    pictures = decode(model, z, labels, INFERENCE_BATCH_SIZE)
    return pictures.reshape(samples, *model.vae_config.image_shape).astype(np.float32), labels


def floor(dataset, judge, test, samples: int, seed: int, classes=None) -> dict:
    """The numbers of `samples` training images (all of them where there are fewer), chosen with `seed`, against
    the test split's `Judgement` `test`; with the `classes`' names, the judge's accuracy on them too, for a
    conditional run's class accuracy to be read against."""
    count = min(samples, len(dataset.train_images))
    chosen = np.sort(np.random.default_rng(seed).choice(len(dataset.train_images), count, replace=False))
    real = judge(to_float(dataset.train_images[chosen]))
    labels = None if classes is None else dataset.train_labels[chosen]
    return {"images": int(count), "metrics": measure(test, real, labels, classes)}


def measure_samples(
    model, dataset, *, samples: int = SAMPLE_QUALITY_SAMPLES, temperature: float = 1.0, seed: int = 0
) -> dict:
    """The sample quality of `model` against the test split of `dataset` (both splits read), and the floor of real
    images; see the module's docstring. Returns the record `vae-eval --sample-quality` keeps in eval.json."""
    check_settings(samples, temperature, seed)
    config = model.vae_config
    judges.check_judged(config.dataset)
    images, labels = draw_samples(model, int(samples), float(temperature), int(seed))
    record = judge_samples(images, dataset, config.dataset, labels, config.classes, seed)
    return {**record, "temperature": float(temperature), "prior": model.latent.prior.title}


def judge_samples(images, dataset, name: str, labels=None, classes=None, seed: int = 0) -> dict:
    """The numbers of generated `images` (float (N, 28, 28, 1) in [0, 1]) of the data set `name`, against the test
    split of `dataset`, and the floor: as many of its training images, chosen with `seed`. With `labels`, the class
    each image was asked to be of, the judge's accuracy too, per class by the `classes`' names. For a generator that
    is no run of this package (the keras.io example's decoder); `measure_samples` says the rest of a run's."""
    judges.check_judged(name)
    judge = judges.load_judge(name)
    if len(dataset.train_images) < MIN_SAMPLE_QUALITY_SAMPLES:
        raise UsageError(
            f"the floor needs at least {MIN_SAMPLE_QUALITY_SAMPLES} training images, got {len(dataset.train_images)}"
        )
    test = judge(to_float(dataset.test_images))
    judged = None if labels is None else classes
    metrics = measure(test, judge(images), labels, judged)
    floor_metrics = floor(dataset, judge, test, len(images), int(seed), judged)
    manifest = judges.read_manifest()[name]
    return {
        "judge": {"dataset": name, "sha256": manifest["sha256"], "test_accuracy": manifest["test_accuracy"]},
        "samples": len(images),
        "seed": int(seed),
        "test_images": len(dataset.test_images),
        "metrics": metrics,
        "floor": floor_metrics,
    }


def sample_quality(
    run_dir: RunDir | str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    *,
    samples: int = SAMPLE_QUALITY_SAMPLES,
    temperature: float = 1.0,
    seed: int = 0,
    loaded: tuple | None = None,
) -> dict:
    """The sample quality of the run in `run_dir` (a folder, `pretrained:NAME` or a `RunDir`), measured on its data
    set read from `data_dir` (see `vae.data.datasets.load_dataset`), with the weights it scored; nothing is written.
    `loaded` is the run's (model, config, history) where it is open already.

    Raises:
        UsageError: a count, temperature or seed out of range, or a run of data no judge knows (a folder of images).
    """
    run_dir = RunDir(run_dir)
    check_settings(samples, temperature, seed)
    config = loaded[1] if loaded else read_config(run_dir)
    judges.check_judged(config.dataset)  # before the model and the data are loaded
    model, config, history = loaded or load_run(run_dir)
    dataset = run_dataset(run_dir, config, data_dir)
    record = measure_samples(model, dataset, samples=samples, temperature=temperature, seed=seed)
    return {**record, "weights": {"epochs": len(history["loss"]), "sha256": weights_digest(run_dir)}}


def save_sample_quality(run_dir: RunDir, record: dict) -> dict:
    """Put `record` into the run's eval.json under `SAMPLE_QUALITY_KEY`, the rest of it kept as it is where it
    scored the same weights; otherwise eval.json holds the weights and the sample quality alone, until `vae-eval`
    adds the test bound. Returns what eval.json holds."""
    try:
        evaluation = read_evaluation(run_dir)
    except RunError:
        evaluation = None  # a damaged eval.json is replaced, as vae-eval replaces it
    if evaluation is None or evaluation.get("weights", {}).get("sha256") != record["weights"]["sha256"]:
        evaluation = {"weights": record["weights"]}
    elif not evaluation["metrics"]:  # one of the sample quality alone: it holds no metrics to keep
        evaluation = {key: value for key, value in evaluation.items() if key != "metrics"}
    written = {**evaluation, SAMPLE_QUALITY_KEY: record}
    files.write_json(run_dir.output_dir() / EVAL_FILE, written)
    return written


def kept_sample_quality(run_dir: RunDir, weights_sha256: str) -> dict:
    """{SAMPLE_QUALITY_KEY: ...} of the run's eval.json where it measured the weights `weights_sha256`, else {}:
    what `vae-eval` keeps when it rewrites eval.json."""
    try:
        evaluation = read_evaluation(run_dir)
    except RunError:
        return {}
    kept = (evaluation or {}).get(SAMPLE_QUALITY_KEY)
    if not isinstance(kept, dict) or kept.get("weights", {}).get("sha256") != weights_sha256:
        return {}
    return {SAMPLE_QUALITY_KEY: kept}
