import errno
import json
import os
import re
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from vae import files
from vae.data.datasets import load_dataset
from vae.errors import DiskFullError, RunError, UsageError
from vae.run.checkpoints import read_checkpoint
from vae.run.directory import (
    CHECKPOINT_DIR,
    CHECKPOINT_STATE_FILE,
    CONFIG_FILE,
    HISTORY_FILE,
    LOCK_FILE,
    MODEL_FILE,
    RUN_FILES,
    WEIGHTS_FILE,
    RunDir,
)
from vae.run.loading import load_model, load_run
from vae.run.records import read_history, save_run
from vae.training.loop import TrainingDivergedError, resumed_config, train

from .conftest import SUBSET_DIR, copy_run, files_of, train_stopped_after_first_epoch


def weights_of(run_dir):
    model, _, _ = load_run(RunDir(run_dir))
    return [np.asarray(v) for v in model.weights]


def test_train_writes_a_complete_reloadable_run(tiny_run, tiny_config, subset):
    for name in RUN_FILES:
        assert (tiny_run / name).is_file(), name
    model, config, history = load_run(RunDir(tiny_run))
    assert config == tiny_config
    assert len(history["test_loss"]) == 2 and len(history["wall_seconds"]) == 2
    assert history["test_loss"][1] < history["test_loss"][0]
    whole = keras.saving.load_model(tiny_run / MODEL_FILE, safe_mode=True)
    images = subset.test_images[:16, ..., None].astype("float32") / 255
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(whole(images)), keras.ops.convert_to_numpy(model(images)))
    checkpoint = read_checkpoint(RunDir(tiny_run))
    assert checkpoint.epochs_done == 2 and checkpoint.history == history


def test_same_seed_gives_identical_weights(tmp_path, tiny_run, tiny_config, subset):
    train(tiny_config, subset, RunDir(tmp_path / "again"), verbose=0)
    for first, second in zip(weights_of(tiny_run), weights_of(tmp_path / "again"), strict=True):
        np.testing.assert_array_equal(first, second)


def test_resumed_run_ends_with_the_same_weights(monkeypatch, tmp_path, tiny_run, tiny_config, subset):
    run_dir = train_stopped_after_first_epoch(monkeypatch, tiny_config, subset, tmp_path / "stopped")
    assert read_checkpoint(RunDir(run_dir)).epochs_done == 1
    assert not RunDir(run_dir).has_finished_run()
    with pytest.raises(RunError, match="unfinished run \\(1/2 epochs\\)"):
        train(tiny_config, subset, RunDir(run_dir), verbose=0)
    result = train(tiny_config, subset, RunDir(run_dir), resume=True, verbose=0)
    for resumed, uninterrupted in zip(weights_of(run_dir), weights_of(tiny_run), strict=True):
        np.testing.assert_array_equal(resumed, uninterrupted)
    _, _, history = load_run(RunDir(tiny_run))
    assert result.history["test_loss"] == history["test_loss"]


def test_resume_refuses_contradicting_options_and_missing_checkpoints(tmp_path, tiny_config, subset):
    with pytest.raises(UsageError, match="--latent-dim 8 contradicts the run being resumed \\(latent_dim = 2\\)"):
        resumed_config(tiny_config, {"latent_dim": 8})
    assert resumed_config(tiny_config, {"epochs": 9, "seed": tiny_config.seed}).epochs == 9
    with pytest.raises(RunError, match="no checkpoint in .* to resume"):
        train(tiny_config, subset, RunDir(tmp_path / "empty"), resume=True, verbose=0)


def test_refuses_to_overwrite_a_trained_run(tiny_run, tiny_config, subset):
    before = (tiny_run / WEIGHTS_FILE).read_bytes()
    with pytest.raises(RunError, match="already holds a trained run: pass --overwrite"):
        train(tiny_config, subset, RunDir(tiny_run), verbose=0)
    assert (tiny_run / WEIGHTS_FILE).read_bytes() == before


@pytest.mark.slow
def test_divergence_stops_with_epoch_and_step_and_keeps_the_last_good_run(tmp_path, tiny_config, subset):
    run_dir = tmp_path / "diverged"
    train(tiny_config.replace(epochs=1), subset, RunDir(run_dir), verbose=0)
    before = files_of(run_dir)
    config = tiny_config.replace(learning_rate=1e9, schedule="constant")
    with pytest.raises(TrainingDivergedError, match=r"loss became (nan|inf) at epoch 1, step \d+; the last good"):
        train(config, subset, RunDir(run_dir), overwrite=True, verbose=0)
    assert files_of(run_dir) == before
    load_run(RunDir(run_dir))


def test_full_disk_while_saving_leaves_the_old_run(monkeypatch, tmp_path, tiny_run, tiny_config, subset):
    run_dir = copy_run(tiny_run, tmp_path)
    before = {name: (run_dir / name).read_bytes() for name in RUN_FILES}

    def disk_full(self, path, *args, **kwargs):
        with open(path, "wb") as stream:
            stream.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(keras.Model, "save", disk_full)
    message = rf"no space left on the file system at /: could not write {run_dir}"
    with pytest.raises(DiskFullError, match=message):
        save_run(RunDir(run_dir), load_run(RunDir(run_dir))[0], tiny_config, {"loss": [1.0]})
    assert {name: (run_dir / name).read_bytes() for name in RUN_FILES} == before
    assert not list(run_dir.glob(".tmp-*"))


def test_load_run_without_a_run(tmp_path):
    with pytest.raises(RunError, match="no trained run in .*: run vae-train first"):
        load_run(RunDir(tmp_path / "nothing"))


@pytest.mark.parametrize("damage", ["missing", "truncated", "garbage"])
def test_load_run_with_damaged_weights(run_copy, damage):
    weights = run_copy / WEIGHTS_FILE
    if damage == "missing":
        weights.unlink()
        pattern = "vae.weights.h5 is missing"
    elif damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:4000])
        pattern = "vae.weights.h5 cannot be read"
    else:
        weights.write_bytes(b"\x89HDF\r\n" + b"not really" * 100)
        pattern = "vae.weights.h5 cannot be read"
    with pytest.raises(RunError, match=pattern):
        load_run(RunDir(run_copy))


@pytest.mark.parametrize(
    ("text", "pattern"),
    [("{not json", "not valid JSON"), ('{"latent_dim": 2}', "missing config field"), ("[]", "JSON object")],
)
def test_load_run_with_a_bad_config(run_copy, text, pattern):
    (run_copy / CONFIG_FILE).write_text(text)
    with pytest.raises(RunError, match=pattern):
        load_run(RunDir(run_copy))


def test_load_run_with_weights_of_another_latent_size(run_copy, tiny_config):
    (run_copy / CONFIG_FILE).write_text(tiny_config.replace(latent_dim=5).to_json())
    message = r"does not fit the model described by config.json \(architecture conv, latent size 5\): it holds"
    with pytest.raises(RunError, match=message):
        load_run(RunDir(run_copy))


def test_atomic_path_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with files.atomic_path(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old" and not list(tmp_path.glob(".tmp-*"))
    files.write_text(target, "new")
    assert target.read_text() == "new"


def test_resume_of_a_complete_checkpoint_writes_the_finished_run(run_copy, tiny_run):
    """A kill, or a full disk, during the final save leaves the last checkpoint complete and the run unfinished:
    --resume then only writes the finished run, and sweeps the temporary files of the dead process."""
    for name in RUN_FILES:
        (run_copy / name).unlink()
    orphan = run_copy / ".tmp-999999-vae.weights.h5"  # no such process
    orphan.write_bytes(b"half a file")
    live = run_copy / f".tmp-{os.getpid()}-other.png"  # a live process's: left alone
    live.write_bytes(b"")
    checkpoint_files = files_of(run_copy / CHECKPOINT_DIR)
    config = read_checkpoint(RunDir(run_copy)).config
    result = train(config, load_dataset("mnist", SUBSET_DIR), RunDir(run_copy), resume=True, verbose=0)
    assert result.finished_from_checkpoint and not orphan.exists() and live.exists()
    assert files_of(run_copy / CHECKPOINT_DIR) == checkpoint_files
    for resumed, uninterrupted in zip(weights_of(run_copy), weights_of(tiny_run), strict=True):
        np.testing.assert_array_equal(resumed, uninterrupted)
    with pytest.raises(RunError, match="has already trained 2 epochs: pass a larger --epochs"):
        train(config, load_dataset("mnist", SUBSET_DIR), RunDir(run_copy), resume=True, verbose=0)


def test_weights_file_is_the_whole_models_weights(tiny_run):
    """vae.weights.h5 is copied out of vae.keras, so h5py never writes to the disk; both load the same weights."""
    model, _, _ = load_run(RunDir(tiny_run))
    whole = load_model(tiny_run / MODEL_FILE)
    for from_weights, from_model in zip(model.weights, whole.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(from_weights), np.asarray(from_model))


def test_a_second_training_in_the_same_run_dir_is_refused(tmp_path, tiny_config, subset):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with RunDir(run_dir).lock():
        with pytest.raises(RunError, match=rf"in use by another vae-train \(process {os.getpid()}\)"):
            train(tiny_config, subset, RunDir(run_dir), verbose=0)
    assert sorted(path.name for path in run_dir.iterdir()) == [LOCK_FILE]


@pytest.mark.slow
def test_the_lock_dies_with_its_process(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from vae.run.directory import RunDir\nwith RunDir({str(run_dir)!r}).lock():\n    input()",
        ],
        stdin=subprocess.PIPE,
    )
    try:
        for _ in range(200):  # until the child holds the lock
            if (run_dir / LOCK_FILE).is_file() and (run_dir / LOCK_FILE).read_text().strip():
                break
            time.sleep(0.05)
        with pytest.raises(RunError, match=rf"process {holder.pid}\)"):
            with RunDir(run_dir).lock():
                pass
    finally:
        holder.kill()
        holder.wait()
    with RunDir(run_dir).lock():
        pass


@pytest.mark.slow
def test_a_failed_first_epoch_leaves_no_run_directory(tmp_path, tiny_config, subset):
    config = tiny_config.replace(learning_rate=1e9, schedule="constant")
    with pytest.raises(TrainingDivergedError, match="no epoch had finished"):
        train(config, subset, RunDir(tmp_path / "new"), verbose=0)
    assert not (tmp_path / "new").exists()


def test_non_finite_weights_are_refused(run_copy):
    import h5py

    with h5py.File(run_copy / WEIGHTS_FILE, "r+") as weights:
        kernels = []
        weights.visititems(lambda name, item: kernels.append(name) if getattr(item, "ndim", 0) == 4 else None)
        weights[kernels[0]][0, 0, 0, 0] = np.nan
    with pytest.raises(RunError, match=r"vae.weights.h5 holds non-finite values in .*: the file is damaged"):
        load_run(RunDir(run_copy))


def retarget_model(state):
    state["model"] = "/tmp/elsewhere/evil.keras"


def climb_out(state):
    state["model"] = "../vae.keras"


def negative_epochs(state):
    state["epochs_done"] = -1


def more_epochs_than_history(state):
    state["epochs_done"] = 1
    state["model"] = "epoch-0001.keras"


def more_epochs_than_the_config(state):
    state["epochs_done"] = state["config"]["epochs"] + 1


def non_finite_history(state):
    state["history"]["test_loss"][0] = float("nan")


def folder_manifest_without_files(state):
    state["data"] = {"root": "/images", "layout": "flat", "class_names": [], "image_shape": [28, 28, 1]}


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (retarget_model, "model must be epoch-0002.keras"),
        (climb_out, "model must be epoch-0002.keras"),
        (negative_epochs, "epochs_done must be a whole number of epochs, at least 1"),
        (more_epochs_than_history, "the history holds 2 epochs, not epochs_done = 1"),
        (more_epochs_than_the_config, "is more than the config's 2 epochs"),
        (non_finite_history, "test_loss holds a non-finite value"),
        (folder_manifest_without_files, "'files'"),
    ],
)
def test_checkpoint_state_is_checked_not_trusted(run_copy, tamper, message):
    path = run_copy / CHECKPOINT_DIR / CHECKPOINT_STATE_FILE
    state = json.loads(path.read_text())
    tamper(state)
    path.write_text(json.dumps(state))
    with pytest.raises(RunError, match=rf"state.json is damaged \(.*{re.escape(message)}"):
        read_checkpoint(RunDir(run_copy))


@pytest.mark.parametrize(
    ("history", "message"),
    [
        ({}, "no loss, reconstruction_loss"),
        ("[]", "a history must be a JSON object"),
        (None, "test_loss holds a non-finite value"),
    ],
)
def test_damaged_histories_are_named(run_copy, history, message):
    path = run_copy / HISTORY_FILE
    if history is None:
        values = json.loads(path.read_text())
        values["test_loss"][0] = float("nan")
        path.write_text(json.dumps(values))  # JSON's NaN, which Python's json reads back
    else:
        path.write_text(history if isinstance(history, str) else json.dumps(history))
    with pytest.raises(RunError, match=rf"history.json is damaged \({re.escape(message)}"):
        read_history(RunDir(run_copy))


@pytest.mark.slow
def test_eval_every_scores_every_nth_epoch_and_the_last_and_resumes(monkeypatch, tmp_path, tiny_config, subset):
    """--eval-every 2 over 3 epochs scores the test split after epochs 2 and 3; epoch 1 holds null. A run stopped
    after its unscored first epoch resumes to the same weights and history, and the history plot leaves the gap."""
    from vae.views.learning import plot_history

    config = tiny_config.replace(epochs=3, eval_every=2, limit=128)
    assert config.scored_epochs() == [2, 3]
    whole = train(config, subset, RunDir(tmp_path / "whole"), verbose=0)
    history = whole.history
    assert len(history["loss"]) == 3 and history["test_loss"][0] is None
    assert all(isinstance(value, float) for value in history["test_loss"][1:])
    assert whole.test_metrics["loss"] == history["test_loss"][-1]
    _, _, saved = load_run(RunDir(tmp_path / "whole"))
    assert saved["test_loss"] == history["test_loss"]
    plot_history(saved, config, tmp_path / "history.png")

    run_dir = train_stopped_after_first_epoch(monkeypatch, config, subset, tmp_path / "stopped")
    assert read_checkpoint(RunDir(run_dir)).history["test_kl_loss"] == [None]
    resumed = train(config, subset, RunDir(run_dir), resume=True, verbose=0)
    assert resumed.history["test_loss"] == history["test_loss"]
    for first, second in zip(weights_of(run_dir), weights_of(tmp_path / "whole"), strict=True):
        np.testing.assert_array_equal(first, second)
    with pytest.raises(UsageError, match="--snapshots needs --eval-every 1"):
        train(config, subset, RunDir(tmp_path / "snapshots"), snapshots=True, verbose=0)
