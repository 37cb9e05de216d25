"""The guarded bad inputs, end to end through the commands: each gives one line on stderr and a non-zero exit
(2 for usage errors), no traceback, and leaves the existing run exactly as it was.

Library-level checks of the same problems live beside their modules (test_data, test_training); this table is
what a user sees.
"""

import errno
import gzip
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from vae import storage
from vae_scripts.evaluate import main as evaluate_command
from vae_scripts.plot import main as plot_command
from vae_scripts.reconstruct import main as reconstruct_command
from vae_scripts.train import main as train_command

from .conftest import SUBSET_DIR


def files_of(directory):
    return {str(path.relative_to(directory)): path.read_bytes() for path in directory.rglob("*") if path.is_file()}


@pytest.fixture
def run_dir(tmp_path, tiny_run):
    copy = tmp_path / "run"
    shutil.copytree(tiny_run, copy)
    return copy


@pytest.fixture
def data_dir(tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(SUBSET_DIR, copy)
    return copy


def check(result, code, fragment):
    assert result.exit_code == code, (result.exit_code, result.output, result.stderr)
    assert "Traceback" not in result.stderr
    assert fragment in result.stderr, result.stderr
    if code == 1:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def invoke(command, *arguments):
    return CliRunner().invoke(command, [str(argument) for argument in arguments])


def damage_weights_missing(run, data):
    (run / storage.WEIGHTS_FILE).unlink()
    return "vae.weights.h5 is missing"


def damage_weights_truncated(run, data):
    weights = run / storage.WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:3000])
    return "vae.weights.h5 cannot be read"


def damage_weights_corrupted(run, data):
    weights = run / storage.WEIGHTS_FILE
    raw = bytearray(weights.read_bytes())
    raw[0:8] = b"NOTHDF5!"
    weights.write_bytes(bytes(raw))
    return "vae.weights.h5 cannot be read"


def damage_config_not_json(run, data):
    (run / storage.CONFIG_FILE).write_text("{latent_dim: 2,")
    return "config.json is not a valid run config: not valid JSON"


def damage_config_wrong_field(run, data):
    values = storage.read_config(run).to_dict()
    values["latent_dim"] = "two"
    (run / storage.CONFIG_FILE).write_text(json.dumps(values))
    return "latent_dim must be an integer"


def damage_latent_size(run, data):
    (run / storage.CONFIG_FILE).write_text(storage.read_config(run).replace(latent_dim=3).to_json())
    return "does not fit the model described by config.json"


def damage_data_empty(run, data):
    for path in data.iterdir():
        path.unlink()
    return "holds no mnist data"


def damage_data_magic(run, data):
    path = data / "t10k-images-idx3-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[3] = 1
    path.write_bytes(gzip.compress(bytes(raw)))
    return "bad IDX magic number 2049, expected 2051"


def damage_data_truncated_gzip(run, data):
    path = data / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:40])
    return "truncated or corrupted gzip"


def damage_npz_keys(run, data):
    for path in data.iterdir():
        path.unlink()
    np.savez(data / "mnist.npz", x_train=np.zeros((2, 28, 28), np.uint8))
    return "missing key(s) y_train, x_test, y_test"


def damage_npz_pickled(run, data):
    for path in data.iterdir():
        path.unlink()
    objects = np.array([{"not": "data"}], dtype=object)
    np.savez(data / "mnist.npz", x_train=objects, y_train=objects, x_test=objects, y_test=objects)
    return "holds pickled objects, which are refused"


@pytest.mark.parametrize(
    "damage",
    [
        damage_weights_missing,
        damage_weights_truncated,
        damage_weights_corrupted,
        damage_config_not_json,
        damage_config_wrong_field,
        damage_latent_size,
        damage_data_empty,
        damage_data_magic,
        damage_data_truncated_gzip,
        damage_npz_keys,
        damage_npz_pickled,
    ],
)
def test_damaged_runs_and_data_give_one_line_and_leave_the_run(run_dir, data_dir, damage):
    fragment = damage(run_dir, data_dir)
    before = files_of(run_dir)
    result = invoke(reconstruct_command, "--run-dir", run_dir, "--data-dir", data_dir, "--n", 3)
    check(result, 1, fragment)
    assert files_of(run_dir) == before


@pytest.mark.parametrize(
    ("command", "arguments", "fragment"),
    [
        (train_command, ["--epochs", 0], "Invalid value for '--epochs'"),
        (train_command, ["--batch-size", 0], "Invalid value for '--batch-size'"),
        (train_command, ["--learning-rate", -1], "Invalid value for '--learning-rate'"),
        (reconstruct_command, ["--n", 0], "Invalid value for '--n'"),
        (evaluate_command, ["--k", 0], "Invalid value for '--k'"),
        (plot_command, ["samples", "--n", 0], "Invalid value for '--n'"),
    ],
)
def test_bad_option_values_are_usage_errors(run_dir, command, arguments, fragment):
    before = files_of(run_dir)
    check(invoke(command, *arguments, "--run-dir", run_dir), 2, fragment)
    assert files_of(run_dir) == before


def test_training_over_an_existing_run_is_refused(run_dir):
    before = files_of(run_dir)
    result = invoke(train_command, "--epochs", 1, "--limit", 256, "--data-dir", SUBSET_DIR, "--run-dir", run_dir)
    check(result, 1, "already holds a trained run: pass --overwrite")
    assert files_of(run_dir) == before


def test_unwritable_run_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = invoke(train_command, "--epochs", 1, "--data-dir", SUBSET_DIR, "--run-dir", blocker / "run")
    check(result, 1, "Not a directory")


def test_full_disk_while_saving_keeps_the_old_run(monkeypatch, run_dir):
    import keras

    def disk_full(self, path, *args, **kwargs):
        with open(path, "wb") as stream:
            stream.write(b"half a file")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(keras.Model, "save", disk_full)
    before = files_of(run_dir)
    arguments = ["--epochs", 1, "--limit", 256, "--data-dir", SUBSET_DIR, "--run-dir", run_dir, "--overwrite"]
    result = invoke(train_command, *arguments, "--verbose", 0)
    check(result, 1, "No space left on device")
    assert files_of(run_dir) == before


def test_resume_without_checkpoint(tmp_path):
    result = invoke(train_command, "--resume", "--data-dir", SUBSET_DIR, "--run-dir", tmp_path / "nothing")
    check(result, 1, "no checkpoint in")


def test_missing_run_for_evaluation(tmp_path):
    result = invoke(evaluate_command, "--run-dir", tmp_path / "nothing", "--data-dir", SUBSET_DIR)
    check(result, 1, "no trained run in")
