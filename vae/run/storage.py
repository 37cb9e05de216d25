"""The run directory: what it holds, the checkpoint's schema, and `load_run`.

A finished run directory holds:

    config.json       the VAEConfig (JSON)
    vae.weights.h5    the weights (HDF5, no code)
    vae.keras         the whole model (Keras' zip of a JSON config and HDF5 weights), loaded with safe_mode
    history.json      per-epoch train and test losses
    checkpoint/       state.json and epoch-NNNN.keras: the last finished epoch, with optimizer state, for --resume
    logs/             TensorBoard event files: per-epoch losses and reconstructions (`tensorboard --logdir`)
    snapshots/        with --snapshots: epoch-NNNN.npz, a small latent grid and reconstructions per epoch
    eval.json         after vae-eval: the test negative ELBO and importance-weighted bound, and the weights scored
    data.json         a run on a folder of images: the folder, its classes, the shape, every file with its split

Every file is written atomically (`vae.files`). HDF5 (h5py) never writes a file itself: Keras builds the weights of a
`.keras` archive in memory, and `vae.weights.h5` is copied out of that archive, so a full disk is an ordinary
`OSError` of a plain Python write, never a failure inside h5py's C library.

One training at a time holds a run directory, through an advisory lock on `.lock` (`run_lock`) that the operating
system releases when the process ends, however it ends.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from vae.config import VAEConfig
from vae.errors import RunError, first_line
from vae.files import atomic_path, exclusive_lock, make_directory, write_json

# Where a run goes when the user names no directory (`--run-dir`, `VAE_RUN_DIR`).
DEFAULT_RUN_DIR = "outputs"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "vae.weights.h5"
MODEL_FILE = "vae.keras"
HISTORY_FILE = "history.json"
CHECKPOINT_DIR = "checkpoint"
CHECKPOINT_STATE_FILE = "state.json"
LOGS_DIR = "logs"
EVAL_FILE = "eval.json"
DATA_FILE = "data.json"
REPORT_FILE = "report.html"
PROGRESS_FILE = "progress.gif"
SNAPSHOTS_DIR = "snapshots"
LOCK_FILE = ".lock"
RUN_FILES = (CONFIG_FILE, WEIGHTS_FILE, MODEL_FILE, HISTORY_FILE)
# A pretrained run shipped in the package is named `pretrained:NAME` wherever a run directory is asked for; it is
# read-only, and what commands write of it goes to outputs/pretrained-NAME/.
PRETRAINED_PREFIX = "pretrained:"
PRETRAINED_NAMES = ("mnist", "mnist-conditional", "fashion-mnist")
PRETRAINED_MANIFEST = "MANIFEST.json"
# Keras' name for the weights inside a `.keras` archive; the same HDF5 layout as `model.save_weights` writes.
ARCHIVE_WEIGHTS_MEMBER = "model.weights.h5"
# What every finished history holds, one value per epoch; `wall_seconds` is there for runs of this version on.
HISTORY_KEYS = tuple(f"{split}{name}" for split in ("", "test_") for name in ("loss", "reconstruction_loss", "kl_loss"))


def archived_weights(path: Path) -> bytes:
    """The HDF5 weights inside the `.keras` archive `path`: what `model.save_weights` would write, got without h5py
    writing to the disk (Keras builds them in memory and Python's zipfile writes the archive)."""
    with zipfile.ZipFile(path) as archive:
        return archive.read(ARCHIVE_WEIGHTS_MEMBER)


@dataclass(frozen=True)
class Checkpoint:
    """The last finished epoch of a run: its config, how many epochs are done, the history and the model file, and
    for a run on a folder of images its manifest."""

    config: VAEConfig
    epochs_done: int
    history: dict[str, list[float]]
    model_path: Path
    manifest: dict | None = None


def has_finished_run(run_dir: str | os.PathLike) -> bool:
    return any((Path(run_dir) / name).exists() for name in RUN_FILES)


def save_checkpoint(
    run_dir: Path, model, config: VAEConfig, epochs_done: int, history: dict, manifest: dict | None = None
) -> None:
    """Save the model with its optimizer state, then commit it by rewriting state.json, then drop older ones.

    state.json is the commit point: until it names the new file, a crash leaves the previous checkpoint in force. It
    holds the manifest of a run on a folder, so that a checkpoint never goes without the list of its images.
    """
    directory = Path(run_dir) / CHECKPOINT_DIR
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


def checkpoint_name(epochs_done: int) -> str:
    return f"epoch-{epochs_done:04d}.keras"


def read_checkpoint(run_dir: str | os.PathLike) -> Checkpoint | None:
    """The committed checkpoint of `run_dir`, or None when there is none.

    state.json is checked, not trusted: the model it names must be the plain `epoch-NNNN.keras` of its own epoch
    count inside `checkpoint/`, and that count must agree with the history and the config.
    """
    directory = Path(run_dir) / CHECKPOINT_DIR
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


def save_run(run_dir: str | os.PathLike, model, config: VAEConfig, history: dict, manifest: dict | None = None) -> None:
    """Write the four files of a finished run, and the manifest of a run on a folder (data.json). Each is written to
    a temporary name first and all are renamed at the end, so the window in which old and new files could mix is a
    few renames long."""
    run_dir = Path(run_dir)
    make_directory(run_dir)
    with contextlib.ExitStack() as stack:
        if manifest is not None:
            data_path = stack.enter_context(atomic_path(run_dir / DATA_FILE))
            data_path.write_text(json.dumps(manifest) + "\n")
        whole = stack.enter_context(atomic_path(run_dir / MODEL_FILE))
        model.save(whole)
        weights = stack.enter_context(atomic_path(run_dir / WEIGHTS_FILE))
        weights.write_bytes(archived_weights(whole))
        history_path = stack.enter_context(atomic_path(run_dir / HISTORY_FILE))
        history_path.write_text(json.dumps(history, indent=2) + "\n")
        # config.json is renamed first on exit (last in, first out), the whole model last.
        config_path = stack.enter_context(atomic_path(run_dir / CONFIG_FILE))
        config_path.write_text(config.to_json())


def finished_run_matches(run_dir: str | os.PathLike, checkpoint: Checkpoint) -> bool:
    """Whether `run_dir` holds all four files of the finished run that `checkpoint` ends, as opposed to none, some,
    or those of an earlier, shorter run; a kill during the final save leaves one of the latter."""
    run_dir = Path(run_dir)
    if not all((run_dir / name).is_file() for name in RUN_FILES):
        return False
    try:
        return read_config(run_dir) == checkpoint.config and read_history(run_dir) == checkpoint.history
    except RunError:
        return False


def read_config(run_dir: str | os.PathLike) -> VAEConfig:
    path = resolve_run_dir(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise RunError(f"no trained run in {run_dir}/ (no {CONFIG_FILE}): run vae-train first")
    try:
        return VAEConfig.from_json(path.read_text())
    except ValueError as error:
        raise RunError(f"{path} is not a valid run config: {error}") from None


def read_history(run_dir: str | os.PathLike) -> dict[str, list[float]]:
    path = resolve_run_dir(run_dir) / HISTORY_FILE
    if not path.is_file():
        raise RunError(f"{path} is missing: the run in {run_dir}/ is incomplete; train it again with vae-train")
    try:
        return check_history(json.loads(path.read_text()))
    except (ValueError, TypeError, AttributeError) as error:
        raise RunError(f"{path} is damaged ({error}); train the run again with vae-train --overwrite") from None


def check_history(values: Any) -> dict[str, list[float]]:
    """A history as training writes it: the train and test losses (`HISTORY_KEYS`) and any other per-epoch series,
    all finite and all as long as each other, at least one epoch; a ValueError says what is wrong. A test series holds
    null (None) for the epochs whose test split was not scored (`VAEConfig.eval_every`)."""
    if not isinstance(values, dict):
        raise ValueError(f"a history must be a JSON object, got {type(values).__name__}")
    missing = [key for key in HISTORY_KEYS if key not in values]
    if missing:
        raise ValueError(f"no {', '.join(missing)}")
    history = {
        str(key): [None if value is None and str(key).startswith("test_") else float(value) for value in series]
        for key, series in values.items()
    }
    lengths = {len(series) for series in history.values()}
    if len(lengths) != 1 or lengths == {0}:
        raise ValueError(f"the series must hold one value per epoch, at least one, got lengths {sorted(lengths)}")
    for key, series in history.items():
        if not all(value is None or math.isfinite(value) for value in series):
            raise ValueError(f"{key} holds a non-finite value")
    return history


def read_manifest(run_dir: str | os.PathLike) -> dict:
    """The manifest of a run on a folder of images (`data.json`, see `vae.data.manifests`), checked."""
    path = resolve_run_dir(run_dir) / DATA_FILE
    if not path.is_file():
        raise RunError(f"{path} is missing: the run in {run_dir}/ does not say which images it was trained on")
    try:
        return checked_manifest(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as error:
        raise RunError(f"{path} is damaged ({error}); train the run again with vae-train --overwrite") from None


def checked_manifest(record: dict) -> dict:
    """`record` if it has every part of a folder's manifest, else ValueError, KeyError or TypeError."""
    for key in ("root", "layout", "class_names", "image_shape", "files", "digest"):
        record[key]  # noqa: B018  (each must be there)
    side, width, channels = record["image_shape"]
    if side != width or channels not in (1, 3):
        raise ValueError(f"image_shape {record['image_shape']} is not square, gray or RGB")
    for entry in record["files"]:
        path_name, label, split, digest = entry
        if not isinstance(path_name, str) or split not in ("train", "test") or not isinstance(label, int):
            raise ValueError(f"a file entry {entry!r} is not [path, label, split, digest]")
    return record


def load_test_results(run_dir: str | os.PathLike, history: dict) -> dict:
    """The run's test results as an export records them, with what they were computed on: eval.json's metrics where
    it scored the present weights, else the last scored epoch's test losses from the history. A shipped pretrained
    run's are those of the eval.json shipped with it (its whole test split), never those of an eval.json that
    `vae-eval` wrote of it in outputs/, which may have scored a part of it (`--limit`)."""
    shipped = is_pretrained(run_dir)
    evaluation = read_evaluation(run_dir, shipped=shipped)
    if evaluation is not None and evaluation_is_current(evaluation, run_dir) is not False:
        digits, k = evaluation.get("digits"), evaluation.get("k")
        images = f"{digits:,} test images" if isinstance(digits, int) else "test images not recorded"
        name = f"the {EVAL_FILE} shipped with the run" if shipped else EVAL_FILE
        source = f"{name}: " + ", ".join(part for part in (images, f"k = {k}", evaluation.get("protocol")) if part)
        return {"source": source, **evaluation}
    scored = [index for index, value in enumerate(history["test_loss"]) if value is not None]
    last = scored[-1]
    metrics = {
        "negative_elbo": history["test_reconstruction_loss"][last] + history["test_kl_loss"][last],
        "reconstruction_loss": history["test_reconstruction_loss"][last],
        "kl_loss": history["test_kl_loss"][last],
    }
    source = f"training's own scoring after epoch {last + 1}: the whole test split, one sample of z per image"
    return {"source": source, "metrics": metrics}


def weights_digest(run_dir: str | os.PathLike) -> str:
    """The SHA-256 of the run's weights file: which weights an `eval.json` scored."""
    return hashlib.sha256((resolve_run_dir(run_dir) / WEIGHTS_FILE).read_bytes()).hexdigest()


def evaluation_path(run_dir: str | os.PathLike, *, shipped: bool = False) -> Path:
    """The run's eval.json; for a pretrained run, the one `vae-eval` wrote of it in outputs/ if there is one (unless
    `shipped`), else the one shipped with it."""
    written = output_dir(run_dir) / EVAL_FILE
    if not is_pretrained(run_dir):
        return written
    return written if written.is_file() and not shipped else resolve_run_dir(run_dir) / EVAL_FILE


def read_evaluation(run_dir: str | os.PathLike, *, shipped: bool = False) -> dict | None:
    """The run's eval.json (`evaluation_path`), or None when it has none. A damaged one (not JSON, no metrics, a
    metric that is not a finite number) is a RunError, never trusted."""
    path = evaluation_path(run_dir, shipped=shipped)
    if not path.is_file():
        return None

    def refuse_constant(name: str):
        raise ValueError(f"it holds {name}, which is no number of nats")

    try:
        record = json.loads(path.read_text(), parse_constant=refuse_constant)
        metrics = {str(key): float(value) for key, value in record["metrics"].items()}
        if not metrics or not all(math.isfinite(value) for value in metrics.values()):
            raise ValueError("its metrics must be finite numbers")
        return {**record, "metrics": metrics}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise RunError(f"{path} is damaged ({error}); run vae-eval again or delete it") from None


def evaluation_is_current(record: dict, run_dir: str | os.PathLike) -> bool | None:
    """Whether eval.json's `record` scored the run's present weights: None when it does not say which it scored."""
    weights = record.get("weights")
    if not isinstance(weights, dict) or "sha256" not in weights:
        return None
    return weights["sha256"] == weights_digest(run_dir)


def drop_stale_evaluation(run_dir: str | os.PathLike) -> bool:
    """Delete an eval.json that did not score the run's present weights (or does not say); True if one was deleted.
    A training that replaces the weights calls this, so that no page or table shows the old weights' scores beside
    the new run."""
    path = Path(run_dir) / EVAL_FILE
    if not path.is_file():
        return False
    try:
        current = evaluation_is_current(read_evaluation(run_dir), run_dir)
    except RunError:
        current = False
    if current:
        return False
    path.unlink(missing_ok=True)
    return True


def is_pretrained(run_dir: str | os.PathLike) -> bool:
    """Whether `run_dir` is a pretrained run shipped with the package, named `pretrained:NAME` or by its folder."""
    return str(run_dir).startswith(PRETRAINED_PREFIX) or pretrained_name(run_dir) is not None


def pretrained_root() -> Path:
    """The folder of the pretrained runs shipped in the package."""
    return Path(str(resources.files("vae").joinpath("pretrained")))


def resolved(path: str | os.PathLike) -> Path | None:
    """`path` made absolute with every symbolic link followed; None when it cannot be (a loop of links)."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):  # RuntimeError: a loop of symbolic links, before Python 3.13
        return None


def within_pretrained_root(run_dir: str | os.PathLike) -> bool:
    """Whether the folder `run_dir` is the package's folder of pretrained runs or lies inside it, however it is
    named (a relative path, `..`, a symbolic link): a place no command may write."""
    if str(run_dir).startswith(PRETRAINED_PREFIX):
        return True
    folder, root = resolved(run_dir), resolved(pretrained_root())
    return folder is not None and root is not None and (folder == root or root in folder.parents)


def pretrained_name(run_dir: str | os.PathLike) -> str | None:
    """The name of the shipped pretrained run that `run_dir` is, or None for a run of the user's own.

    A shipped run is recognised by where it is, not by how it is named: `pretrained:NAME`, the path of its folder in
    the package and a symbolic link to that folder are the same run. An unknown `pretrained:NAME` is a RunError that
    lists the known ones.
    """
    text = str(run_dir)
    if text.startswith(PRETRAINED_PREFIX):
        name = text[len(PRETRAINED_PREFIX) :]
        if name not in PRETRAINED_NAMES:
            known = ", ".join(PRETRAINED_PREFIX + known_name for known_name in PRETRAINED_NAMES)
            raise RunError(f"no pretrained run named {name!r}: the package ships {known}")
        return name
    folder, root = resolved(run_dir), resolved(pretrained_root())
    if folder is None or root is None or folder.parent != root or folder.name not in PRETRAINED_NAMES:
        return None
    return folder.name


# The files of the shipped runs whose digests matched MANIFEST.json in this process, with their size and time of
# last change: each is read and hashed once per process, and again only if it changes.
_VERIFIED_FILES: set[tuple[str, int, int, str]] = set()


def check_pretrained(name: str) -> None:
    """Refuse the shipped run `name` when a file of it differs from what MANIFEST.json records: a RunError that names
    the file and says how to get the package's own back."""
    root = pretrained_root()
    manifest_path = root / PRETRAINED_MANIFEST
    reinstall = (
        "the installed package is damaged; reinstall it (pip install --force-reinstall vae, or in a checkout git "
        "checkout -- vae/pretrained)"
    )
    try:
        recorded = json.loads(manifest_path.read_text())[name]["files"]
        recorded = {str(file): str(digest) for file, digest in recorded.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise RunError(f"{manifest_path} is missing or does not describe {name}: {reinstall}") from None
    for file, digest in recorded.items():
        path = root / name / file
        try:
            status = path.stat()
        except OSError:
            raise RunError(
                f"{path} is missing from the pretrained run {PRETRAINED_PREFIX}{name}: {reinstall}"
            ) from None
        key = (str(path), status.st_size, status.st_mtime_ns, digest)
        if key in _VERIFIED_FILES:
            continue
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise RunError(
                f"{path} is not the file shipped with the pretrained run {PRETRAINED_PREFIX}{name} (its SHA-256 "
                f"differs from {PRETRAINED_MANIFEST}'s): {reinstall}"
            )
        _VERIFIED_FILES.add(key)


def resolve_run_dir(run_dir: str | os.PathLike) -> Path:
    """The folder of a run: `run_dir` itself, or for a shipped pretrained run (by name or by its folder, see
    `pretrained_name`) the package's folder of that run, once its files are checked against MANIFEST.json
    (`check_pretrained`). An unknown `pretrained:NAME` is a RunError listing the known ones."""
    name = pretrained_name(run_dir)
    if name is None:
        return Path(run_dir)
    check_pretrained(name)
    return pretrained_root() / name


def output_dir(run_dir: str | os.PathLike) -> Path:
    """Where the commands write what they make of a run (pictures, eval.json, the report): the run directory, or for
    a shipped pretrained run, which is read-only, outputs/pretrained-NAME, however the run is named."""
    name = pretrained_name(run_dir)
    if name is not None:
        return Path(DEFAULT_RUN_DIR) / f"pretrained-{name}"
    return Path(run_dir)


def refuse_pretrained(run_dir: str | os.PathLike) -> None:
    """Refuse to train into, resume or overwrite a pretrained run, named `pretrained:NAME` or by its folder, or to
    train anywhere in the package's folder of pretrained runs."""
    name = pretrained_name(run_dir)  # an unknown pretrained:NAME says so first
    if name is not None:
        also = "" if str(run_dir) == PRETRAINED_PREFIX + name else f" ({PRETRAINED_PREFIX}{name})"
        raise RunError(
            f"{run_dir} is a pretrained run shipped with the package{also} and cannot be trained, resumed or "
            "overwritten: train into a --run-dir of your own"
        )
    if within_pretrained_root(run_dir):
        raise RunError(
            f"{run_dir} is inside the package's folder of pretrained runs, which is read-only: train into a "
            "--run-dir of your own"
        )


def load_run(run_dir: str | os.PathLike = DEFAULT_RUN_DIR):
    """Open the finished run in `run_dir`: its model, rebuilt from config.json with the weights of vae.weights.h5.

    Args:
        run_dir: a run directory that `vae-train` finished, or a pretrained run, `pretrained:NAME`.

    Returns:
        (model, config, history): the `VAE`, built and in float32 whatever precision it trained in; its
        `VAEConfig`; and the per-epoch history, a dict of lists (`loss`, `test_loss`, ..., `wall_seconds`).

    Raises:
        RunError: the run is missing, unfinished, or damaged: a weights file that does not fit the config (another
            latent size, say), that cannot be read, or that holds non-finite values.
    """
    from vae.model.autoencoder import VAE

    run_dir = resolve_run_dir(run_dir)
    if not run_dir.is_dir() or not (run_dir / CONFIG_FILE).exists():
        hint = (
            " (an unfinished run is there: continue it with vae-train --resume)"
            if read_checkpoint_safe(run_dir)
            else ""
        )
        raise RunError(f"no trained run in {run_dir}/: run vae-train first{hint}")
    config = read_config(run_dir)
    history = read_history(run_dir)
    weights = run_dir / WEIGHTS_FILE
    if not weights.is_file():
        raise RunError(f"{weights} is missing: the run in {run_dir}/ is incomplete; train it again with vae-train")
    model = VAE(config)
    model.build()
    load_weights(model, weights)
    check_finite(model, weights)
    return model, config, history


def check_finite(model, path: Path) -> None:
    """Refuse weights with NaN or infinite values, which damage in place leaves and which no training writes (the
    divergence guard stops a run before its checkpoint)."""
    import numpy as np

    for variable in model.weights:
        values = np.asarray(variable)
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            raise RunError(
                f"{path} holds non-finite values in {variable.path}: the file is damaged; "
                "train the run again with vae-train --overwrite"
            )


def load_model(path: str | os.PathLike):
    """Load a whole-model `.keras` file of this package (a run's `vae.keras` or a checkpoint) with Keras' safe mode,
    after registering the package's classes with Keras.

    Args:
        path: the `.keras` file.

    Returns:
        The `VAE`, with its optimizer state and its own dtype policy.
    """
    import keras

    import vae.model.autoencoder  # noqa: F401  (registers VAE and Sampling)

    return keras.saving.load_model(path, safe_mode=True)


def load_weights(model, path: Path) -> None:
    """Load `path` into `model` strictly, turning the many ways an HDF5 file can be wrong into one RunError.

    A file h5py cannot open is damaged. One that opens but that Keras cannot load into this model does not fit it:
    Keras raises for a variable of another shape, and only warns when the file lacks some of the model's variables,
    leaving those freshly initialised; here that warning is an error, so weights of another architecture are never
    half-loaded.
    """
    import h5py

    try:
        with h5py.File(path, "r"):
            pass
    except Exception as error:  # h5py raises OSError for most damage, and other types for the rest
        raise RunError(
            f"{path} cannot be read: truncated or corrupted? ({first_line(error)}); "
            "train the run again with vae-train --overwrite"
        ) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            model.load_weights(path)
    except Exception:  # the warning above, or Keras' and h5py's errors for variables that do not fit
        # Keras' own words name its internals ("nested container ... _operations_by_depth"), not the cause.
        config = model.vae_config
        raise RunError(
            f"{path} does not fit the model described by {CONFIG_FILE} (architecture {config.architecture}, latent "
            f"size {config.latent_dim}): it holds the weights of another model; train the run again with vae-train "
            "--overwrite"
        ) from None


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike) -> Iterator[Path]:
    """Hold `run_dir` for one training: an exclusive lock on `run_dir/.lock` (see `vae.files.exclusive_lock`). A
    second training refused here names the process holding the lock."""
    refusal = (
        f"{run_dir}/ is in use by another vae-train (process {{holder}}): wait for it to end, or choose another "
        "--run-dir"
    )
    with exclusive_lock(Path(run_dir) / LOCK_FILE, refusal) as path:
        yield path


def read_checkpoint_safe(run_dir: Path) -> Checkpoint | None:
    try:
        return read_checkpoint(run_dir)
    except RunError:
        return None
