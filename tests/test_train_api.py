"""`vae.train`: training from Python on a folder of images or on arrays, making the run `vae-train` makes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import vae
from tests.conftest import LOCK_FILE, SUBSET_DIR, invoke
from vae.errors import DataError, RunError, UsageError
from vae.run.directory import CONFIG_FILE, DATA_FILE, HISTORY_FILE, LOGS_DIR

# The smallest training that still holds out a test split: 160 digits, one epoch.
OPTIONS = {"epochs": 1, "batch_size": 32, "seed": 1}
DIGITS = 160


@pytest.fixture(scope="module")
def digits():
    """The first `DIGITS` training digits of the committed subset and their labels."""
    dataset = vae.load_dataset("mnist", SUBSET_DIR)
    return dataset.train_images[:DIGITS], dataset.train_labels[:DIGITS]


def run_files(run_dir: Path) -> set[str]:
    """The files and folders of a run, but the lock, the images it was trained on and TensorBoard's event files
    (whose names hold the host and the time)."""
    return {
        str(path.relative_to(run_dir))
        for path in run_dir.rglob("*")
        if path.name != LOCK_FILE and path.relative_to(run_dir).parts[0] not in ("images", LOGS_DIR)
    }


def weights(run) -> list[np.ndarray]:
    return run.model.get_weights()


@pytest.mark.slow
def test_arrays_and_a_folder_train_the_run_vae_train_makes(digits, tmp_path):
    from vae_scripts.train import main as train_command

    images, labels = digits
    from_arrays = vae.train(OPTIONS, data=(images, labels), run_dir=tmp_path / "arrays", verbose=0)
    folder = tmp_path / "arrays" / "images"
    assert sorted(path.name for path in folder.iterdir()) == [str(digit) for digit in range(10)]
    assert len(list(folder.rglob("*.png"))) == DIGITS
    assert from_arrays.config.dataset == "folder" and from_arrays.classes == tuple(map(str, range(10)))

    from_folder = vae.train(vae.VAEConfig(**OPTIONS), data=str(folder), run_dir=tmp_path / "folder", verbose=0)
    arguments = ["--epochs", 1, "--batch-size", 32, "--seed", 1, "--verbose", 0]
    result = invoke(train_command, "--data-dir", folder, "--run-dir", tmp_path / "command", *arguments)
    assert result.exit_code == 0, result.output
    by_command = vae.open_run(tmp_path / "command")

    for run in (from_arrays, from_folder):
        run_dir = run.run_dir.path
        assert run_files(run_dir) == run_files(tmp_path / "command")
        for name in (CONFIG_FILE, DATA_FILE):
            assert (run_dir / name).read_text() == (tmp_path / "command" / name).read_text(), name
        history = json.loads((run_dir / HISTORY_FILE).read_text())
        expected = json.loads((tmp_path / "command" / HISTORY_FILE).read_text())
        del history["wall_seconds"], expected["wall_seconds"]
        assert history == expected
        for mine, theirs in zip(weights(run), weights(by_command), strict=True):
            np.testing.assert_array_equal(mine, theirs)

    reopened = vae.open_run(tmp_path / "arrays")
    assert reopened.config == from_arrays.config and reopened.history == from_arrays.history
    np.testing.assert_array_equal(reopened.reconstruct(images[:4]), from_arrays.reconstruct(images[:4]))
    with pytest.raises(RunError, match="already holds a trained run"):
        vae.train(OPTIONS, data=images, run_dir=tmp_path / "arrays")


@pytest.mark.slow
def test_arrays_without_labels_make_a_folder_run_without_classes_that_the_commands_reopen(digits, tmp_path):
    from vae_scripts.evaluate import main as evaluate_command

    images = digits[0][:64].astype(np.float32) / 255
    run = vae.train({**OPTIONS, "latent_dim": 3}, data=images, run_dir=tmp_path / "run", verbose=0)
    assert run.classes == () and run.config.latent_dim == 3
    written = sorted((tmp_path / "run" / "images").iterdir())
    assert [path.name for path in written[:2]] == ["00.png", "01.png"] and len(written) == 64
    result = invoke(evaluate_command, "--run-dir", tmp_path / "run", "--k", 2)
    assert result.exit_code == 0, result.output


def test_arrays_become_png_images_a_folder_reads_back_exactly(tmp_path):
    from vae.data import folders, layouts
    from vae.serving.train import checked_arrays, write_images

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    labels = np.array([12, 3, 3, 12, 0, 0])
    arrays = checked_arrays((images.astype(np.float64) / 255, labels))
    write_images(arrays, tmp_path / "images")
    # Zero-padded, the class names sort as the labels do.
    scan = layouts.scan_folder(tmp_path / "images")
    assert arrays.class_names == scan.class_names == ("00", "03", "12")
    read = folders.read_folder(scan, None, None)
    order = [int(Path(file.path).stem) for file in read.read.files]
    np.testing.assert_array_equal(read.read.pixels, images[order])
    assert [file.label for file in read.read.files] == [{0: 0, 3: 1, 12: 2}[labels[index]] for index in order]


def started(config, data=None, **options):
    """`vae.train` on arguments it refuses before it reads or trains anything."""
    return vae.train(config, data, **options)


@pytest.mark.parametrize(
    "config, data, error, message",
    [
        ({"epoch": 1}, None, UsageError, "unknown config field 'epoch': the fields are architecture, "),
        ([("epochs", 1)], None, UsageError, "config must be a VAEConfig or a dict of its fields, got list"),
        ({"dataset": "folder"}, None, UsageError, "dataset folder needs data=, a folder of images or arrays"),
        ({}, "no-such-folder", DataError, "no-such-folder does not exist or is not a folder"),
        ({}, np.full((4, 28, 28), "x"), UsageError, "images must be an array of numbers, got text"),
        ({}, np.zeros((4, 28, 28), complex), UsageError, "images must be an array of numbers, got complex"),
        ({}, np.full((4, 28, 28), 255.0), UsageError, r"images on the 0-255 scale\? divide them by 255, or pass uint8"),
        ({}, np.full((4, 28, 28), np.nan), UsageError, "images hold NaN or infinite values, in 4 of 4"),
        ({}, np.full((4, 28, 28), 256), UsageError, "integer images are read on uint8's scale, 0 to 255"),
        ({}, np.zeros((28, 28)), UsageError, r"images must be \(N, side, side\) .* got \(28, 28\)"),
        ({}, np.zeros((4, 28, 27)), UsageError, r"got \(4, 28, 27\)"),
        ({}, np.zeros((4, 28, 28, 2)), UsageError, r"with 1 or 3 channels, got \(4, 28, 28, 2\)"),
        ({}, np.zeros((4, 4, 4)), UsageError, "images must have a side from 8 to 256, got 4"),
        ({}, np.zeros((1, 28, 28)), UsageError, "images must be at least two, to train on and to test on; got 1"),
        ({}, (np.zeros((4, 28, 28)), [0, 1, 2]), UsageError, r"labels must be one per image, \(4,\), got \(3,\)"),
        ({}, (np.zeros((4, 28, 28)), [0.0, 1, 2, 3]), UsageError, "labels must be whole numbers .* got float64"),
        ({}, (np.zeros((4, 28, 28)), [0, -1, 2, 3]), UsageError, "labels must be >= 0, got -1"),
        ({"conditional": True}, np.zeros((4, 28, 28)), UsageError, "a conditional run needs at least two classes"),
        ({"latent_dim": 0}, np.zeros((4, 28, 28)), UsageError, "latent_dim must be at least 1, got 0"),
        ({"dataset": "mnist"}, np.zeros((4, 28, 28)), UsageError, "dataset mnist contradicts data=, arrays"),
    ],
)
def test_what_training_cannot_take_is_refused_before_it_starts(tmp_path, config, data, error, message):
    with pytest.raises(error, match=message):
        started(config, data, run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_pretrained_run_is_never_trained_over(tmp_path):
    with pytest.raises(RunError, match="pretrained:mnist is a pretrained run shipped with the package"):
        started(OPTIONS, np.zeros((4, 28, 28)), run_dir="pretrained:mnist", overwrite=True)
