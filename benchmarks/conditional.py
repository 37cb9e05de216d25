"""How well a conditional run does what it is asked: draw a chosen class, and name the class of an image.

    python benchmarks/conditional.py --run-dir RUN --data-dir ../shared/datasets/mnist --k 10
    python benchmarks/conditional.py --run-dir RUN --data-dir /tmp/fashion-tree --limit 1000   # a folder run

1. **Samples show the asked class.** For each class, `--samples` latent vectors z ~ N(0, I) (seeded) are decoded
   with that label, as `vae-plot samples --label NAME` draws them, and an independent judge names what it sees: a
   small convolutional classifier trained here on the run's own training split (its test accuracy is reported too).
   The share it names as the asked class is the samples' accuracy, reported for each class.
2. **The conditional VAE as a classifier.** Each test image's label is argmax_y p(x|y), with the importance-weighted
   estimate of log p(x|y) from k samples: what `vae-encode` reports without `--label`. Its accuracy over the test
   split.

The results go to --output (benchmarks/conditional.json).
"""

from __future__ import annotations

import json
import os
import platform
import time
from datetime import date
from pathlib import Path

import click
import numpy as np
from common import data_folder_option

JUDGE_EPOCHS = 3


def train_judge(dataset, config, seed: int):
    """A small convolutional classifier of the run's images and classes (two convolutions, dropout, a dense layer),
    trained on the run's training split: about 99 % on MNIST's test split after 3 epochs."""
    import keras

    from vae.data.datasets import to_float

    keras.utils.set_random_seed(seed)
    judge = keras.Sequential(
        [
            keras.Input(config.image_shape),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(len(config.classes)),
        ]
    )
    judge.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    judge.fit(to_float(dataset.train_images), dataset.train_labels, batch_size=128, epochs=JUDGE_EPOCHS, verbose=0)
    _, accuracy = judge.evaluate(to_float(dataset.test_images), dataset.test_labels, batch_size=500, verbose=0)
    return judge, float(accuracy)


@click.command()
@click.option("--run-dir", type=click.Path(file_okay=False, exists=True), required=True)
@data_folder_option("--data-dir", help="The run's data: IDX files or its folder (env VAE_DATA_DIR).", required=False)
@click.option("--samples", type=click.IntRange(min=1), default=1000, show_default=True, help="Per class.")
@click.option("--k", type=click.IntRange(min=1), default=10, show_default=True, help="For the classifier.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Classify only the first N test digits.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path(__file__).with_name("conditional.json"), show_default=True)  # fmt: skip
def main(run_dir, data_dir, samples, k, limit, seed, output):
    from vae.data.datasets import test_inputs, with_channels
    from vae.evaluation.scores import classify
    from vae.model.latent import prior_samples
    from vae.run.dataset import run_dataset
    from vae.run.directory import RunDir
    from vae.run.loading import load_run

    model, config, history = load_run(RunDir(run_dir))
    if not config.conditional:
        raise click.UsageError("this measures a conditional run")
    dataset = run_dataset(RunDir(run_dir), config, data_dir)

    started = time.perf_counter()
    judge, judge_accuracy = train_judge(dataset, config, seed)
    click.echo(f"judge: {judge_accuracy:.4f} on the test split, trained in {time.perf_counter() - started:.0f} s",
               err=True)  # fmt: skip

    per_class = {}
    for label, name in enumerate(config.classes):
        images, _ = prior_samples(model, samples, seed + label, label)
        named = np.argmax(judge.predict(with_channels(images), batch_size=500, verbose=0), axis=1)
        per_class[name] = float(np.mean(named == label))
    sample_accuracy = float(np.mean(list(per_class.values())))
    click.echo(f"samples: {sample_accuracy:.4f} named as the asked class", err=True)

    started = time.perf_counter()
    images = test_inputs(dataset, config.binarize)[:limit]
    labels = dataset.test_labels[:limit]
    predicted, _ = classify(model, images, k, seed=seed)
    classifier_accuracy = float(np.mean(predicted == labels))
    seconds = time.perf_counter() - started
    click.echo(
        f"classifier: {classifier_accuracy:.4f} on {len(images)} test digits, k = {k}, {seconds:.0f} s", err=True
    )

    record = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "run": str(run_dir),
        "dataset": config.dataset if config.dataset != "folder" else f"folder {dataset.source}",
        "epochs": len(history["loss"]),
        "test_negative_elbo": history["test_loss"][-1],
        "judge": {"epochs": JUDGE_EPOCHS, "test_accuracy": round(judge_accuracy, 4)},
        "samples": {
            "per_class": samples,
            "accuracy": round(sample_accuracy, 4),
            "accuracy_by_class": {name: round(accuracy, 4) for name, accuracy in per_class.items()},
        },
        "classifier": {
            "k": k,
            "test_digits": len(images),
            "accuracy": round(classifier_accuracy, 4),
            "seconds": round(seconds, 1),
        },
    }
    output.write_text(json.dumps(record, indent=2) + "\n")
    click.echo(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
