"""How well a conditional run does what it is asked: draw a chosen digit, and name the digit of an image.

    python benchmarks/conditional.py --run-dir RUN --data-dir ../shared/datasets/mnist --k 10

1. **Samples show the asked digit.** For each digit 0-9, `--samples` latent vectors z ~ N(0, I) (seeded) are decoded
   with that label, as `vae-plot samples --digit d` draws them, and an independent judge names what it sees: a small
   convolutional classifier trained here on MNIST's 60,000 training digits (its own test accuracy is reported too).
   The share it names as the asked digit is the samples' accuracy.
2. **The conditional VAE as a classifier.** Each test digit's label is argmax_y p(x|y), with the importance-weighted
   estimate of log p(x|y) from k samples: what `vae-encode` reports without `--digit`. Its accuracy over the test
   split.

The results go to benchmarks/conditional.json.
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

JUDGE_EPOCHS = 3


def train_judge(dataset, seed: int):
    """A small convolutional MNIST classifier (two convolutions, dropout, a dense layer): about 99 % on the test split
    after 3 epochs."""
    import keras

    from vae.config import CLASSES, IMAGE_SHAPE
    from vae.data import to_float

    keras.utils.set_random_seed(seed)
    judge = keras.Sequential(
        [
            keras.Input(IMAGE_SHAPE),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(CLASSES),
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
@click.option("--data-dir", type=click.Path(), default=os.environ.get("VAE_DATA_DIR"))
@click.option("--samples", type=click.IntRange(min=1), default=1000, show_default=True, help="Per digit.")
@click.option("--k", type=click.IntRange(min=1), default=10, show_default=True, help="For the classifier.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Classify only the first N test digits.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path(__file__).with_name("conditional.json"), show_default=True)  # fmt: skip
def main(run_dir, data_dir, samples, k, limit, seed, output):
    from vae import storage
    from vae.config import CLASSES
    from vae.data import load_dataset, test_inputs
    from vae.plots import prior_samples
    from vae.scoring import classify

    model, config, history = storage.load_run(run_dir)
    if not config.conditional or config.dataset != "mnist":
        raise click.UsageError("this measures a conditional run trained on MNIST")
    dataset = load_dataset("mnist", data_dir)

    started = time.perf_counter()
    judge, judge_accuracy = train_judge(dataset, seed)
    click.echo(f"judge: {judge_accuracy:.4f} on the test split, trained in {time.perf_counter() - started:.0f} s",
               err=True)  # fmt: skip

    per_digit = {}
    for digit in range(CLASSES):
        images, _ = prior_samples(model, samples, seed + digit, digit)
        named = np.argmax(judge.predict(images[..., None], batch_size=500, verbose=0), axis=1)
        per_digit[digit] = float(np.mean(named == digit))
    sample_accuracy = float(np.mean(list(per_digit.values())))
    click.echo(f"samples: {sample_accuracy:.4f} named as the asked digit", err=True)

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
        "epochs": len(history["loss"]),
        "test_negative_elbo": history["test_loss"][-1],
        "judge": {"epochs": JUDGE_EPOCHS, "test_accuracy": round(judge_accuracy, 4)},
        "samples": {
            "per_digit": samples,
            "accuracy": round(sample_accuracy, 4),
            "accuracy_by_digit": {str(d): round(a, 4) for d, a in per_digit.items()},
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
