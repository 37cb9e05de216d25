"""Train the judge of one data set, the classifier that `vae-eval --sample-quality` looks at samples with, into
vae/evaluation/judges/, and record it in judges.json there.

    python benchmarks/train_judges.py --dataset mnist --data-dir /work/shared/datasets/mnist
    python benchmarks/train_judges.py --dataset fashion-mnist --data-dir /usr/share/datasets/fashion-mnist

Seeded (0) and deterministic: the last 5,000 training images are held out for validation, training stops when
their accuracy has not improved for --patience epochs and keeps the best epoch's weights, and the test split is
scored once at the end. The record holds that test accuracy (the package requires at least `REQUIRED_ACCURACY`),
the accuracy on the committed test subset (tests/data), the parameter count, the weights' SHA-256 and the command.
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import click

from vae import files
from vae.config import IDX_DATASETS

SEED = 0
VALIDATION_IMAGES = 5000
BATCH_SIZE = 128
LEARNING_RATE = 1e-3
REQUIRED_ACCURACY = {"mnist": 0.99, "fashion-mnist": 0.90}
SUBSETS = {"mnist": "mnist-subset", "fashion-mnist": "fashion-mnist-subset"}
ROOT = Path(__file__).resolve().parent.parent


def save_shipped(classifier, path: Path) -> None:
    """The classifier's weights alone: a compiled model's weights file also holds the optimizer's state, Adam's two
    moments of every weight, three times the size."""
    from vae.evaluation import judges

    shipped = judges.build_classifier()
    shipped.set_weights(classifier.get_weights())
    shipped.save_weights(path)


@click.command()
@click.option("--dataset", type=click.Choice(IDX_DATASETS), required=True)
@click.option(
    "--data-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="The data set's four IDX files.",
)
@click.option("--epochs", type=click.IntRange(min=1), default=12, show_default=True, help="At most this many.")
@click.option("--patience", type=click.IntRange(min=1), default=2, show_default=True)
def main(dataset: str, data_dir: Path, epochs: int, patience: int) -> None:
    import keras
    import numpy as np
    import tensorflow as tf

    from vae.data.datasets import read_data_dir, to_float
    from vae.evaluation import judges

    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    data = read_data_dir(data_dir, dataset)
    images, labels = to_float(data.train_images), data.train_labels.astype("int32")
    train_images, train_labels = images[:-VALIDATION_IMAGES], labels[:-VALIDATION_IMAGES]
    validation = (images[-VALIDATION_IMAGES:], labels[-VALIDATION_IMAGES:])

    classifier = judges.build_classifier()
    classifier.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    stop = keras.callbacks.EarlyStopping(
        monitor="val_accuracy", patience=patience, restore_best_weights=True, verbose=1
    )
    started = time.monotonic()
    history = classifier.fit(
        train_images,
        train_labels,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        validation_data=validation,
        callbacks=[stop],
        verbose=2,
    )
    seconds = time.monotonic() - started

    folder = ROOT / "vae" / "evaluation" / judges.JUDGES_FOLDER
    path = folder / judges.weights_name(dataset)
    files.make_directory(folder)
    save_shipped(classifier, path)
    judge = judges.Judge(dataset, classifier)
    test_accuracy = judges.accuracy(judge, data.test_images, data.test_labels)
    subset = read_data_dir(ROOT / "tests" / "data" / SUBSETS[dataset], dataset, test_only=True)
    validation_accuracy = history.history["val_accuracy"]
    record = {
        "weights": path.name,
        "sha256": judges.digest(path.read_bytes()),
        "parameters": int(classifier.count_params()),
        "features": judges.FEATURES,
        "test_accuracy": round(test_accuracy, 6),
        "test_images": int(len(data.test_labels)),
        "subset_accuracy": round(judges.accuracy(judge, subset.test_images, subset.test_labels), 6),
        "subset_images": int(len(subset.test_labels)),
        "validation_accuracy": round(float(np.max(validation_accuracy)), 6),
        "epochs_trained": len(validation_accuracy),
        "best_epoch": int(np.argmax(validation_accuracy)) + 1,
        "seed": SEED,
        "training_seconds": round(seconds, 1),
        "command": "python benchmarks/train_judges.py " + shlex.join(sys.argv[1:]),
    }
    manifest_path = folder / judges.JUDGES_MANIFEST
    manifest = judges.read_manifest() if manifest_path.is_file() else {}
    files.write_json(manifest_path, {**manifest, dataset: record})
    click.echo(f"{dataset}: test accuracy {100 * test_accuracy:.2f} %, {record['parameters']:,} parameters, {path}")
    if test_accuracy < REQUIRED_ACCURACY[dataset]:
        raise click.ClickException(
            f"the {dataset} judge reached {100 * test_accuracy:.2f} %, under the {100 * REQUIRED_ACCURACY[dataset]:.0f}"
            " % it must: train it longer"
        )


if __name__ == "__main__":
    main()
