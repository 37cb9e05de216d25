"""The records of a run folder: config.json, history.json, the manifest of a run on a folder of images (data.json)
and eval.json, read and checked, and the files of a finished run written together (`save_run`).

Every file is written atomically (`vae.files`). HDF5 (h5py) never writes a file itself: Keras builds the weights of a
`.keras` archive in memory, and `vae.weights.h5` is copied out of that archive, so a full disk is an ordinary
`OSError` of a plain Python write, never a failure inside h5py's C library.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import zipfile
from pathlib import Path
from typing import Any

from vae.config import VAEConfig
from vae.errors import RunError
from vae.files import atomic_path, make_directory
from vae.run.directory import CONFIG_FILE, DATA_FILE, EVAL_FILE, HISTORY_FILE, MODEL_FILE, WEIGHTS_FILE, RunDir

# Keras' name for the weights inside a `.keras` archive; the same HDF5 layout as `model.save_weights` writes.
ARCHIVE_WEIGHTS_MEMBER = "model.weights.h5"
# The part of eval.json that `vae-eval --sample-quality` writes (`vae.evaluation.generation`).
SAMPLE_QUALITY_KEY = "sample_quality"
# What every finished history holds, one value per epoch; `wall_seconds` is there for runs of this version on.
HISTORY_KEYS = tuple(f"{split}{name}" for split in ("", "test_") for name in ("loss", "reconstruction_loss", "kl_loss"))


def archived_weights(path: Path) -> bytes:
    """The HDF5 weights inside the `.keras` archive `path`: what `model.save_weights` would write, got without h5py
    writing to the disk (Keras builds them in memory and Python's zipfile writes the archive)."""
    with zipfile.ZipFile(path) as archive:
        return archive.read(ARCHIVE_WEIGHTS_MEMBER)


def save_run(run_dir: RunDir, model, config: VAEConfig, history: dict, manifest: dict | None = None) -> None:
    """Write the four files of a finished run, and the manifest of a run on a folder (data.json). Each is written to
    a temporary name first and all are renamed at the end, so the window in which old and new files could mix is a
    few renames long."""
    folder = run_dir.path
    make_directory(folder)
    with contextlib.ExitStack() as stack:
        if manifest is not None:
            data_path = stack.enter_context(atomic_path(folder / DATA_FILE))
            data_path.write_text(json.dumps(manifest) + "\n")
        whole = stack.enter_context(atomic_path(folder / MODEL_FILE))
        model.save(whole)
        weights = stack.enter_context(atomic_path(folder / WEIGHTS_FILE))
        weights.write_bytes(archived_weights(whole))
        history_path = stack.enter_context(atomic_path(folder / HISTORY_FILE))
        history_path.write_text(json.dumps(history, indent=2) + "\n")
        # config.json is renamed first on exit (last in, first out), the whole model last.
        config_path = stack.enter_context(atomic_path(folder / CONFIG_FILE))
        config_path.write_text(config.to_json())


def read_config(run_dir: RunDir) -> VAEConfig:
    path = run_dir.config_file
    if not path.is_file():
        raise RunError(f"no trained run in {run_dir}/ (no {CONFIG_FILE}): run vae-train first")
    try:
        return VAEConfig.from_json(path.read_text())
    except ValueError as error:
        raise RunError(f"{path} is not a valid run config: {error}") from None


def read_history(run_dir: RunDir) -> dict[str, list[float]]:
    return read_record(
        run_dir.history_file, f"the run in {run_dir}/ is incomplete; train it again with vae-train", check_history
    )


def read_record(path, missing: str, check):
    """The JSON record at `path`, passed through `check`; a RunError says it is `missing`, or that it is damaged."""
    if not path.is_file():
        raise RunError(f"{path} is missing: {missing}")
    try:
        return check(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
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


def read_manifest(run_dir: RunDir) -> dict:
    """The manifest of a run on a folder of images (`data.json`, see `vae.data.manifests`), checked."""
    return read_record(
        run_dir.manifest_file,
        f"the run in {run_dir}/ does not say which images it was trained on",
        checked_manifest,
    )


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


def load_test_results(run_dir: RunDir, history: dict) -> dict:
    """The run's test results as an export records them, with what they were computed on: eval.json's metrics where
    it scored the present weights, else the last scored epoch's test losses from the history. A shipped pretrained
    run's are those of the eval.json shipped with it (its whole test split), never those of an eval.json that
    `vae-eval` wrote of it in outputs/, which may have scored a part of it (`--limit`)."""
    shipped = run_dir.is_pretrained()
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


def weights_digest(run_dir: RunDir) -> str:
    """The SHA-256 of the run's weights file: which weights an `eval.json` scored."""
    return hashlib.sha256(run_dir.weights_file.read_bytes()).hexdigest()


def evaluation_path(run_dir: RunDir, *, shipped: bool = False) -> Path:
    """The run's eval.json; for a pretrained run, the one `vae-eval` wrote of it in outputs/ if there is one (unless
    `shipped`), else the one shipped with it."""
    written = run_dir.output_dir() / EVAL_FILE
    if not run_dir.is_pretrained():
        return written
    return written if written.is_file() and not shipped else run_dir.eval_file


def read_evaluation(run_dir: RunDir, *, shipped: bool = False) -> dict | None:
    """The run's eval.json (`evaluation_path`), or None when it has none. A damaged one (not JSON, no metrics, a
    metric that is not a finite number) is a RunError, never trusted. One that `vae-eval --sample-quality` wrote
    before any `vae-eval` may hold the sample quality alone: its metrics are then empty."""
    path = evaluation_path(run_dir, shipped=shipped)
    if not path.is_file():
        return None

    def refuse_constant(name: str):
        raise ValueError(f"it holds {name}, which is no number of nats")

    try:
        record = json.loads(path.read_text(), parse_constant=refuse_constant)
        if "metrics" not in record and isinstance(record.get(SAMPLE_QUALITY_KEY), dict):
            return {**record, "metrics": {}}
        metrics = {str(key): float(value) for key, value in record["metrics"].items()}
        if not metrics or not all(math.isfinite(value) for value in metrics.values()):
            raise ValueError("its metrics must be finite numbers")
        return {**record, "metrics": metrics}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise RunError(f"{path} is damaged ({error}); run vae-eval again or delete it") from None


def evaluation_is_current(record: dict, run_dir: RunDir) -> bool | None:
    """Whether eval.json's `record` scored the run's present weights: None when it does not say which it scored."""
    weights = record.get("weights")
    if not isinstance(weights, dict) or "sha256" not in weights:
        return None
    return weights["sha256"] == weights_digest(run_dir)


def drop_stale_evaluation(run_dir: RunDir) -> bool:
    """Delete an eval.json that did not score the run's present weights (or does not say); True if one was deleted.
    A training that replaces the weights calls this, so that no page or table shows the old weights' scores beside
    the new run."""
    path = run_dir.path / EVAL_FILE
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
