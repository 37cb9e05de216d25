"""The checkpoint of a run folder: the last finished epoch, with the optimizer state, that `vae-train --resume`
continues from (`checkpoint/state.json` and `checkpoint/epoch-NNNN.keras`)."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

from vae.config import VAEConfig
from vae.errors import RunError
from vae.files import atomic_path, make_directory, write_json
from vae.run.directory import CHECKPOINT_STATE_FILE, RUN_FILES, RunDir
from vae.run.records import check_history, checked_manifest, read_config, read_history


@dataclass(frozen=True)
class Checkpoint:
    """The last finished epoch of a run: its config, how many epochs are done, the history and the model file, and
    for a run on a folder of images its manifest."""

    config: VAEConfig
    epochs_done: int
    history: dict[str, list[float]]
    model_path: Path
    manifest: dict | None = None


def checkpoint_name(epochs_done: int) -> str:
    return f"epoch-{epochs_done:04d}.keras"


def save_checkpoint(
    run_dir: RunDir, model, config: VAEConfig, epochs_done: int, history: dict, manifest: dict | None = None
) -> None:
    """Save the model with its optimizer state, then commit it by rewriting state.json, then drop older ones.

    state.json is the commit point: until it names the new file, a crash leaves the previous checkpoint in force. It
    holds the manifest of a run on a folder, so that a checkpoint never goes without the list of its images.
    """
    directory = run_dir.checkpoint_dir
    make_directory(directory)
    model_name = checkpoint_name(epochs_done)
    with atomic_path(directory / model_name) as temporary:
        model.save(temporary)
    state = {"config": config.to_dict(), "epochs_done": epochs_done, "model": model_name, "history": history}
    if manifest is not None:
        state["data"] = manifest
    write_json(directory / CHECKPOINT_STATE_FILE, state)
    for old in directory.glob("epoch-*.keras"):
        if old.name != model_name:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()


def read_checkpoint(run_dir: RunDir) -> Checkpoint | None:
    """The committed checkpoint of `run_dir`, or None when there is none.

    state.json is checked, not trusted: the model it names must be the plain `epoch-NNNN.keras` of its own epoch
    count inside `checkpoint/`, and that count must agree with the history and the config.
    """
    directory = run_dir.checkpoint_dir
    state_path = directory / CHECKPOINT_STATE_FILE
    if not state_path.is_file():
        return None
    try:
        state = json.loads(state_path.read_text())
        config = VAEConfig.from_dict(state["config"])
        epochs_done = state["epochs_done"]
        history = check_history(state["history"])
        model_name = state["model"]
        if isinstance(epochs_done, bool) or not isinstance(epochs_done, int) or not 1 <= epochs_done:
            raise ValueError(f"epochs_done must be a whole number of epochs, at least 1, got {epochs_done!r}")
        if epochs_done > config.epochs:
            raise ValueError(f"epochs_done = {epochs_done} is more than the config's {config.epochs} epochs")
        if len(history["loss"]) != epochs_done:
            raise ValueError(f"the history holds {len(history['loss'])} epochs, not epochs_done = {epochs_done}")
        if model_name != checkpoint_name(epochs_done):
            raise ValueError(
                f"model must be {checkpoint_name(epochs_done)}, the file of epoch {epochs_done}, got {model_name!r}"
            )
        manifest = checked_manifest(state["data"]) if state.get("data") is not None else None
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise RunError(f"{state_path} is damaged ({error}); start again with --overwrite") from None
    model_path = directory / model_name
    if not model_path.is_file():
        raise RunError(f"{state_path} names {model_name}, which is missing; start again with --overwrite")
    return Checkpoint(config, epochs_done, history, model_path, manifest)


def read_checkpoint_safe(run_dir: RunDir) -> Checkpoint | None:
    """The committed checkpoint of `run_dir`, or None when there is none or it is damaged."""
    try:
        return read_checkpoint(run_dir)
    except RunError:
        return None


def finished_run_matches(run_dir: RunDir, checkpoint: Checkpoint) -> bool:
    """Whether `run_dir` holds all four files of the finished run that `checkpoint` ends, as opposed to none, some,
    or those of an earlier, shorter run; a kill during the final save leaves one of the latter."""
    if not all((run_dir.path / name).is_file() for name in RUN_FILES):
        return False
    try:
        return read_config(run_dir) == checkpoint.config and read_history(run_dir) == checkpoint.history
    except RunError:
        return False
