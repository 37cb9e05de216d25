"""The guarded bad inputs, end to end through the commands: each gives one line on stderr and a non-zero exit
(2 for usage errors), no traceback, and leaves the existing run exactly as it was.

Library-level checks of the same problems live beside their modules (test_data, test_training); this table is
what a user sees.
"""

import errno
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from vae.run.checkpoints import read_checkpoint
from vae.run.directory import CHECKPOINT_DIR, CHECKPOINT_STATE_FILE, CONFIG_FILE, WEIGHTS_FILE, RunDir
from vae.run.loading import load_run
from vae.run.records import read_config
from vae_scripts.evaluate import main as evaluate_command
from vae_scripts.plot import main as plot_command
from vae_scripts.reconstruct import main as reconstruct_command
from vae_scripts.train import main as train_command

from .conftest import SUBSET_DIR, files_of, invoke


@pytest.fixture
def run_dir(run_copy):
    return run_copy


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


def damage_weights_missing(run, data):
    (run / WEIGHTS_FILE).unlink()
    return "vae.weights.h5 is missing"


def damage_weights_truncated(run, data):
    weights = run / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:3000])
    return "vae.weights.h5 cannot be read"


def damage_weights_corrupted(run, data):
    weights = run / WEIGHTS_FILE
    raw = bytearray(weights.read_bytes())
    raw[0:8] = b"NOTHDF5!"
    weights.write_bytes(bytes(raw))
    return "vae.weights.h5 cannot be read"


def damage_config_not_json(run, data):
    (run / CONFIG_FILE).write_text("{latent_dim: 2,")
    return "config.json is not a valid run config: not valid JSON"


def damage_config_wrong_field(run, data):
    values = read_config(RunDir(run)).to_dict()
    values["latent_dim"] = "two"
    (run / CONFIG_FILE).write_text(json.dumps(values))
    return "latent_dim must be an integer"


def damage_latent_size(run, data):
    (run / CONFIG_FILE).write_text(read_config(RunDir(run)).replace(latent_dim=3).to_json())
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
    return "missing key(s) x_test, y_test"


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
        (train_command, ["--learning-rate", "nan"], "'nan' is not a finite number"),
        (train_command, ["--learning-rate", "inf"], "'inf' is not a finite number"),
        (train_command, ["--beta", "nan"], "'nan' is not a finite number"),
        (train_command, ["--beta", "inf"], "'inf' is not a finite number"),
        (plot_command, ["latent-grid", "--span", "inf"], "Invalid value for '--span'"),
        (plot_command, ["latent-grid", "--span", "1e308"], "Invalid value for '--span'"),
        (plot_command, ["progress", "--fps", "0.005"], "Invalid value for '--fps'"),
        (plot_command, ["progress", "--fps", "inf"], "Invalid value for '--fps'"),
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
    check(result, 1, "no space left on the file system at")
    assert files_of(run_dir) == before


def mount_small_tmpfs(path, size="3m") -> bool:
    """A real, small file system, where the test runs as root and may mount one."""
    path.mkdir()
    if os.geteuid() != 0:
        return False
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "none", str(path)], capture_output=True)
    return mount.returncode == 0


@pytest.mark.slow
def test_a_really_full_disk_during_the_final_save(tmp_path):
    """On a 3 MB file system the first checkpoint fits and the final save does not. The command says which disk is
    full in one line, keeps the checkpoint, and --resume finishes the run once there is room: no HDF5 library writes
    to the disk, so nothing fails inside C code, which would take the process down with it."""
    disk = tmp_path / "disk"
    if not mount_small_tmpfs(disk):
        pytest.skip("needs root and tmpfs to mount a small file system")
    try:
        run_dir = disk / "run"
        command = [
            sys.executable,
            "-m",
            "vae_scripts.train",
            "--epochs",
            "1",
            "--limit",
            "512",
            "--batch-size",
            "64",
            "--data-dir",
            str(SUBSET_DIR),
            "--run-dir",
            str(run_dir),
            "--verbose",
            "0",
        ]
        full = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert full.returncode == 1, (full.returncode, full.stderr)
        lines = full.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in full.stderr, full.stderr
        assert f"no space left on the file system at {disk}: could not write {run_dir}/" in lines[0]
        assert "the last good checkpoint (epoch 1) stays" in lines[0] and "vae-train --resume" in lines[0]
        assert read_checkpoint(RunDir(run_dir)).epochs_done == 1
        assert not list(run_dir.rglob(".tmp-*"))
        subprocess.run(["mount", "-o", "remount,size=16m", str(disk)], check=True)
        finished = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=600)
        assert finished.returncode == 0, finished.stderr
        assert "wrote the finished run from its last checkpoint" in finished.stdout
        load_run(RunDir(run_dir))
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


@pytest.mark.slow
def test_sigterm_stops_like_ctrl_c(tmp_path):
    run_dir = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "vae_scripts.train",
        "--epochs",
        "200",
        "--limit",
        "256",
        "--batch-size",
        "64",
        "--data-dir",
        str(SUBSET_DIR),
        "--run-dir",
        str(run_dir),
        "--verbose",
        "0",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    state = run_dir / CHECKPOINT_DIR / CHECKPOINT_STATE_FILE
    deadline = time.monotonic() + 300
    while not state.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert "Traceback" not in stderr
    assert re.search(r"terminated: epoch \d+/200 is saved; continue with: vae-train --resume --run-dir", stderr)
    assert read_checkpoint(RunDir(run_dir)).epochs_done >= 1


@pytest.mark.slow
def test_beta_other_than_one_prints_the_objective_and_the_negative_elbo(tmp_path):
    result = invoke(
        train_command,
        "--beta",
        0,
        "--epochs",
        1,
        "--limit",
        256,
        "--data-dir",
        SUBSET_DIR,
        "--run-dir",
        tmp_path / "run",
        "--verbose",
        0,
    )
    assert result.exit_code == 0, result.stderr
    _, _, history = load_run(RunDir(tmp_path / "run"))
    reconstruction, kl = history["test_reconstruction_loss"][-1], history["test_kl_loss"][-1]
    assert f"negative ELBO (grayscale BCE) {reconstruction + kl:.2f} nats per image" in result.output
    assert f"training objective, reconstruction + beta 0 x KL: {history['test_loss'][-1]:.2f}" in result.output


def test_resume_without_checkpoint(tmp_path):
    result = invoke(train_command, "--resume", "--data-dir", SUBSET_DIR, "--run-dir", tmp_path / "nothing")
    check(result, 1, "no checkpoint in")


def test_missing_run_for_evaluation(tmp_path):
    result = invoke(evaluate_command, "--run-dir", tmp_path / "nothing", "--data-dir", SUBSET_DIR)
    check(result, 1, "no trained run in")


def test_an_output_below_a_file_names_the_file(run_dir, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    output = blocker / "reconstruction.png"
    result = invoke(reconstruct_command, "--n", 3, "--run-dir", run_dir, "--data-dir", SUBSET_DIR, "--output", output)
    check(result, 1, f"Not a directory: {blocker}")
    assert blocker.read_text() == ""
