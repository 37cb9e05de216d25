import errno
import shutil

import keras
import numpy as np
import pytest

from vae import storage
from vae.config import VAEConfig
from vae.training import TrainingDivergedError, resumed_config, train


def weights_of(run_dir):
    model, _, _ = storage.load_run(run_dir)
    return [np.asarray(v) for v in model.weights]


def files_of(directory):
    return {str(path.relative_to(directory)): path.read_bytes() for path in directory.rglob("*") if path.is_file()}


def test_train_writes_a_complete_reloadable_run(tiny_run, tiny_config, subset):
    for name in storage.RUN_FILES:
        assert (tiny_run / name).is_file(), name
    model, config, history = storage.load_run(tiny_run)
    assert config == tiny_config
    assert len(history["test_loss"]) == 2 and len(history["wall_seconds"]) == 2
    for split in ("", "test_"):
        for loss, reconstruction, kl in zip(
            history[f"{split}loss"], history[f"{split}reconstruction_loss"], history[f"{split}kl_loss"]
        ):
            assert loss == pytest.approx(reconstruction + kl, abs=1e-3)
    assert history["test_loss"][1] < history["test_loss"][0]
    whole = keras.saving.load_model(tiny_run / storage.MODEL_FILE, safe_mode=True)
    images = subset.test_images[:16, ..., None].astype("float32") / 255
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(whole(images)), keras.ops.convert_to_numpy(model(images)))
    checkpoint = storage.read_checkpoint(tiny_run)
    assert checkpoint.epochs_done == 2 and checkpoint.history == history


def test_same_seed_gives_identical_weights(tmp_path, tiny_run, tiny_config, subset):
    train(tiny_config, subset, tmp_path / "again", verbose=0)
    for first, second in zip(weights_of(tiny_run), weights_of(tmp_path / "again")):
        np.testing.assert_array_equal(first, second)


def test_resumed_run_ends_with_the_same_weights(monkeypatch, tmp_path, tiny_run, tiny_config, subset):
    # Interrupt the run right after its first checkpoint, as a kill at the epoch boundary would, then resume.
    from vae.training import EpochCheckpoint

    save_checkpoint = EpochCheckpoint.on_epoch_end

    def stop_after_first_epoch(self, epoch, logs=None):
        save_checkpoint(self, epoch, logs)
        raise KeyboardInterrupt

    run_dir = tmp_path / "stopped"
    monkeypatch.setattr(EpochCheckpoint, "on_epoch_end", stop_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config, subset, run_dir, verbose=0)
    monkeypatch.undo()
    assert storage.read_checkpoint(run_dir).epochs_done == 1
    assert not storage.has_finished_run(run_dir)
    with pytest.raises(storage.RunError, match="unfinished run \\(1/2 epochs\\)"):
        train(tiny_config, subset, run_dir, verbose=0)
    result = train(tiny_config, subset, run_dir, resume=True, verbose=0)
    for resumed, uninterrupted in zip(weights_of(run_dir), weights_of(tiny_run)):
        np.testing.assert_array_equal(resumed, uninterrupted)
    _, _, history = storage.load_run(tiny_run)
    assert result.history["test_loss"] == history["test_loss"]


def test_resume_refuses_contradicting_options_and_missing_checkpoints(tmp_path, tiny_config, subset):
    with pytest.raises(ValueError, match="--latent-dim 8 contradicts the run being resumed \\(latent_dim = 2\\)"):
        resumed_config(tiny_config, {"latent_dim": 8})
    assert resumed_config(tiny_config, {"epochs": 9, "seed": tiny_config.seed}).epochs == 9
    with pytest.raises(storage.RunError, match="no checkpoint in .* to resume"):
        train(tiny_config, subset, tmp_path / "empty", resume=True, verbose=0)


def test_refuses_to_overwrite_a_trained_run(tiny_run, tiny_config, subset):
    before = (tiny_run / storage.WEIGHTS_FILE).read_bytes()
    with pytest.raises(storage.RunError, match="already holds a trained run: pass --overwrite"):
        train(tiny_config, subset, tiny_run, verbose=0)
    assert (tiny_run / storage.WEIGHTS_FILE).read_bytes() == before


def test_divergence_stops_with_epoch_and_step_and_keeps_the_last_good_run(tmp_path, tiny_config, subset):
    run_dir = tmp_path / "diverged"
    train(tiny_config.replace(epochs=1), subset, run_dir, verbose=0)
    before = files_of(run_dir)
    config = tiny_config.replace(learning_rate=1e9, schedule="constant")
    with pytest.raises(TrainingDivergedError, match=r"loss became (nan|inf) at epoch 1, step \d+; the last good"):
        train(config, subset, run_dir, overwrite=True, verbose=0)
    assert files_of(run_dir) == before
    storage.load_run(run_dir)


def test_full_disk_while_saving_leaves_the_old_run(monkeypatch, tmp_path, tiny_run, tiny_config, subset):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    before = {name: (run_dir / name).read_bytes() for name in storage.RUN_FILES}

    def disk_full(self, path, *args, **kwargs):
        with open(path, "wb") as stream:
            stream.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(keras.Model, "save", disk_full)
    with pytest.raises(OSError, match="No space left on device"):
        storage.save_run(run_dir, storage.load_run(run_dir)[0], tiny_config, {"loss": [1.0]})
    assert {name: (run_dir / name).read_bytes() for name in storage.RUN_FILES} == before
    assert not list(run_dir.glob(".tmp-*"))


@pytest.fixture
def run_copy(tmp_path, tiny_run):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    return run_dir


def test_load_run_without_a_run(tmp_path):
    with pytest.raises(storage.RunError, match="no trained run in .*: run vae-train first"):
        storage.load_run(tmp_path / "nothing")


@pytest.mark.parametrize("damage", ["missing", "truncated", "garbage"])
def test_load_run_with_damaged_weights(run_copy, damage):
    weights = run_copy / storage.WEIGHTS_FILE
    if damage == "missing":
        weights.unlink()
        pattern = "vae.weights.h5 is missing"
    elif damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:4000])
        pattern = "vae.weights.h5 cannot be read"
    else:
        weights.write_bytes(b"\x89HDF\r\n" + b"not really" * 100)
        pattern = "vae.weights.h5 cannot be read"
    with pytest.raises(storage.RunError, match=pattern):
        storage.load_run(run_copy)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [("{not json", "not valid JSON"), ('{"latent_dim": 2}', "missing config field"), ("[]", "JSON object")],
)
def test_load_run_with_a_bad_config(run_copy, text, pattern):
    (run_copy / storage.CONFIG_FILE).write_text(text)
    with pytest.raises(storage.RunError, match=pattern):
        storage.load_run(run_copy)


def test_load_run_with_weights_of_another_latent_size(run_copy, tiny_config):
    (run_copy / storage.CONFIG_FILE).write_text(tiny_config.replace(latent_dim=5).to_json())
    with pytest.raises(storage.RunError, match="does not fit the model described by config.json"):
        storage.load_run(run_copy)


def test_atomic_path_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with storage.atomic_path(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old" and not list(tmp_path.glob(".tmp-*"))
    storage.write_text(target, "new")
    assert target.read_text() == "new"
