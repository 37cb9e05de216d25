"""Run storage: what a run directory holds, atomic writes, checkpoints, and `load_run`.

A finished run directory holds:

    config.json       the VAEConfig (JSON)
    vae.weights.h5    the weights (HDF5, no code)
    vae.keras         the whole model (Keras' zip of a JSON config and HDF5 weights), loaded with safe_mode
    history.json      per-epoch train and test losses
    checkpoint/       state.json and epoch-NNNN.keras: the last finished epoch, with optimizer state, for --resume
    logs/             TensorBoard event files: per-epoch losses and reconstructions (`tensorboard --logdir`)
    snapshots/        with --snapshots: epoch-NNNN.npz, a small latent grid and reconstructions per epoch
    eval.json         after vae-eval: the test negative ELBO and importance-weighted bound

Every file but the TensorBoard logs, which TensorFlow appends to, is written under a temporary name in the same
directory, flushed to disk, then renamed over its target, so a crash at any moment leaves either the old file or the
new one, never half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vae.config import VAEConfig

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "vae.weights.h5"
MODEL_FILE = "vae.keras"
HISTORY_FILE = "history.json"
CHECKPOINT_DIR = "checkpoint"
CHECKPOINT_STATE_FILE = "state.json"
LOGS_DIR = "logs"
EVAL_FILE = "eval.json"
RUN_FILES = (CONFIG_FILE, WEIGHTS_FILE, MODEL_FILE, HISTORY_FILE)


class RunError(ValueError):
    """A run directory that is missing, incomplete, or whose files disagree; the message says what to do."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename, on failure it is removed.

    The temporary name keeps the target's suffixes, because Keras checks them (`.weights.h5`, `.keras`).
    """
    path = Path(path)
    temporary = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        yield temporary
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text)


def write_json(path: str | os.PathLike, value: Any) -> None:
    write_text(path, json.dumps(value, indent=2) + "\n")


@dataclass(frozen=True)
class Checkpoint:
    """The last finished epoch of a run: its config, how many epochs are done, the history and the model file."""

    config: VAEConfig
    epochs_done: int
    history: dict[str, list[float]]
    model_path: Path


def check_writable(run_dir: str | os.PathLike) -> None:
    """Create `run_dir` if needed and prove that a file can be written there; raises OSError otherwise."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    probe = run_dir / f".tmp-{os.getpid()}-write-check"
    probe.write_bytes(b"")
    probe.unlink()


def has_finished_run(run_dir: str | os.PathLike) -> bool:
    return any((Path(run_dir) / name).exists() for name in RUN_FILES)


def save_checkpoint(run_dir: Path, model, config: VAEConfig, epochs_done: int, history: dict) -> None:
    """Save the model with its optimizer state, then commit it by rewriting state.json, then drop older ones.

    state.json is the commit point: until it names the new file, a crash leaves the previous checkpoint in force.
    """
    directory = Path(run_dir) / CHECKPOINT_DIR
    directory.mkdir(parents=True, exist_ok=True)
    model_name = f"epoch-{epochs_done:04d}.keras"
    with atomic_path(directory / model_name) as temporary:
        model.save(temporary)
    state = {"config": config.to_dict(), "epochs_done": epochs_done, "model": model_name, "history": history}
    write_json(directory / CHECKPOINT_STATE_FILE, state)
    for old in directory.glob("epoch-*.keras"):
        if old.name != model_name:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()


def read_checkpoint(run_dir: str | os.PathLike) -> Checkpoint | None:
    """The committed checkpoint of `run_dir`, or None when there is none."""
    directory = Path(run_dir) / CHECKPOINT_DIR
    state_path = directory / CHECKPOINT_STATE_FILE
    if not state_path.is_file():
        return None
    try:
        state = json.loads(state_path.read_text())
        config = VAEConfig.from_dict(state["config"])
        epochs_done = int(state["epochs_done"])
        history = {key: [float(value) for value in values] for key, values in state["history"].items()}
        model_path = directory / str(state["model"])
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise RunError(f"{state_path} is damaged ({error}); start again with --overwrite") from None
    if not model_path.is_file():
        raise RunError(f"{state_path} names {model_path.name}, which is missing; start again with --overwrite")
    return Checkpoint(config, epochs_done, history, model_path)


def save_run(run_dir: str | os.PathLike, model, config: VAEConfig, history: dict) -> None:
    """Write the four files of a finished run. Each is written to a temporary name first and all are renamed at
    the end, so the window in which old and new files could mix is a few renames long."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        weights = stack.enter_context(atomic_path(run_dir / WEIGHTS_FILE))
        model.save_weights(weights)
        whole = stack.enter_context(atomic_path(run_dir / MODEL_FILE))
        model.save(whole)
        history_path = stack.enter_context(atomic_path(run_dir / HISTORY_FILE))
        history_path.write_text(json.dumps(history, indent=2) + "\n")
        # config.json is renamed first on exit (last in, first out), the weights last.
        config_path = stack.enter_context(atomic_path(run_dir / CONFIG_FILE))
        config_path.write_text(config.to_json())


def read_config(run_dir: str | os.PathLike) -> VAEConfig:
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise RunError(f"no trained run in {run_dir}/ (no {CONFIG_FILE}): run vae-train first")
    try:
        return VAEConfig.from_json(path.read_text())
    except ValueError as error:
        raise RunError(f"{path} is not a valid run config: {error}") from None


def read_history(run_dir: str | os.PathLike) -> dict[str, list[float]]:
    path = Path(run_dir) / HISTORY_FILE
    if not path.is_file():
        raise RunError(f"{path} is missing: the run in {run_dir}/ is incomplete; train it again with vae-train")
    try:
        history = json.loads(path.read_text())
        return {str(key): [float(value) for value in values] for key, values in history.items()}
    except (ValueError, TypeError, AttributeError) as error:
        raise RunError(f"{path} is damaged ({error})") from None


def load_run(run_dir: str | os.PathLike = "outputs"):
    """Return (model, config, history) of the finished run in `run_dir`.

    The model is rebuilt from config.json and its weights loaded from vae.weights.h5, so a weights file that does
    not fit the config (another latent size, say) is reported as such.
    """
    from vae.model import VAE

    run_dir = Path(run_dir)
    if not run_dir.is_dir() or not (run_dir / CONFIG_FILE).exists():
        hint = " (an unfinished run is there: continue it with vae-train --resume)" if read_checkpoint_safe(run_dir) else ""
        raise RunError(f"no trained run in {run_dir}/: run vae-train first{hint}")
    config = read_config(run_dir)
    history = read_history(run_dir)
    weights = run_dir / WEIGHTS_FILE
    if not weights.is_file():
        raise RunError(f"{weights} is missing: the run in {run_dir}/ is incomplete; train it again with vae-train")
    model = VAE(config)
    model.build()
    load_weights(model, weights)
    return model, config, history


def load_weights(model, path: Path) -> None:
    """Load `path` into `model` strictly, turning the many ways an HDF5 file can be wrong into one RunError.

    Keras only warns when a weights file lacks some of the model's variables and leaves those freshly
    initialised; here such a warning is an error, so weights of another architecture are never half-loaded.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            model.load_weights(path)
    except UserWarning as warning:
        raise RunError(
            f"{path} does not fit the model described by {CONFIG_FILE} ({first_line(warning)}); "
            "train the run again with vae-train --overwrite"
        ) from None
    except Exception as error:  # h5py and Keras raise OSError, ValueError, KeyError... for damaged files.
        reason = first_line(error)
        if "shape" in reason.lower() or "expected" in reason.lower():
            problem = f"does not fit the model described by {CONFIG_FILE} ({reason})"
        else:
            problem = f"cannot be read: truncated or corrupted? ({reason})"
        raise RunError(f"{path} {problem}; train the run again with vae-train --overwrite") from None


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


def read_checkpoint_safe(run_dir: Path) -> Checkpoint | None:
    try:
        return read_checkpoint(run_dir)
    except RunError:
        return None
