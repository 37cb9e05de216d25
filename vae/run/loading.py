"""Opening a finished run: its model rebuilt from config.json with the weights of vae.weights.h5 (`load_run`), and a
whole-model `.keras` file of this package (`load_model`); weights that do not fit or are damaged are refused."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from vae.errors import RunError, first_line
from vae.run.checkpoints import read_checkpoint_safe
from vae.run.directory import CONFIG_FILE, RunDir
from vae.run.records import read_config, read_history


def load_run(run_dir: RunDir):
    """Open the finished run in `run_dir`: its model, rebuilt from config.json with the weights of vae.weights.h5.

    Args:
        run_dir: a run folder that `vae-train` finished, or a pretrained run, `pretrained:NAME`.

    Returns:
        (model, config, history): the `VAE`, built and in float32 whatever precision it trained in; its
        `VAEConfig`; and the per-epoch history, a dict of lists (`loss`, `test_loss`, ..., `wall_seconds`).

    Raises:
        RunError: the run is missing, unfinished, or damaged: a weights file that does not fit the config (another
            latent size, say), that cannot be read, or that holds non-finite values.
    """
    from vae.model.autoencoder import VAE

    # The run by its folder, as its messages name it.
    run_dir = RunDir(run_dir.folder())
    folder = run_dir.path
    if not folder.is_dir() or not (folder / CONFIG_FILE).exists():
        hint = (
            " (an unfinished run is there: continue it with vae-train --resume)"
            if read_checkpoint_safe(run_dir)
            else ""
        )
        raise RunError(f"no trained run in {folder}/: run vae-train first{hint}")
    config = read_config(run_dir)
    history = read_history(run_dir)
    weights = run_dir.weights_file
    if not weights.is_file():
        raise RunError(f"{weights} is missing: the run in {folder}/ is incomplete; train it again with vae-train")
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
