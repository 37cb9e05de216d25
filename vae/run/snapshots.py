"""Training snapshots: after each epoch of `vae-train --snapshots`, a small picture of what the model has learned so
far, saved so that `vae-plot progress` can animate the run and `vae-report` can show it.

A snapshot is `snapshots/epoch-NNNN.npz` in the run directory, a few tens of KB: the decoded latent grid over the
Gaussian quantiles 0.05-0.95 (a frame that does not move from epoch to epoch, unlike a span fitted to the test
digits), a fixed set of test digits with their reconstructions, and the epoch's test loss. Images are stored as
uint8 and read back with `allow_pickle=False`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vae.errors import RunError, UsageError
from vae.files import atomic_path
from vae.model.latent import decode_latent_grid, model_labels, pictures, reconstruct
from vae.run.directory import RunDir

SNAPSHOT_GRID_SIZE = 12
SNAPSHOT_DIGITS = 8
FIELDS = ("epoch", "test_loss", "grid_axis", "latent_grid", "originals", "reconstructions")


@dataclass(frozen=True)
class Snapshot:
    """What the model drew after one epoch: pictures (side x side, and x 3 for RGB), float32 in [0, 1]."""

    epoch: int
    test_loss: float
    grid_axis: np.ndarray  # (n,) the z values along each grid axis
    latent_grid: np.ndarray  # (n, n, side, side[, 3]), row 0 at the top (largest y)
    originals: np.ndarray  # (images, side, side[, 3])
    reconstructions: np.ndarray  # (images, side, side[, 3])


def check_latent_dim(latent_dim: int) -> None:
    if latent_dim < 2:
        raise UsageError(f"--snapshots draws a 2-D latent grid and needs a latent size of at least 2, got {latent_dim}")


def take_snapshot(model, originals: tuple[np.ndarray, np.ndarray], epoch: int, test_loss: float) -> Snapshot:
    """Decode the snapshot grid (latent axes 0 and 1, the others at 0) and reconstruct the original images (N x side x
    side x channels) of `originals`, (images, labels). A conditional model draws its grid as the first original's
    label."""
    images, labels = originals
    label = model.latent.labels.first_label(labels)
    labels = model_labels(model, labels)
    grid, axis = decode_latent_grid(model, SNAPSHOT_GRID_SIZE, quantiles=True, label=label)
    reconstructions = reconstruct(model, images, labels)
    return Snapshot(epoch, float(test_loss), axis, grid, pictures(images), reconstructions)


def snapshot_path(run_dir: RunDir, epoch: int) -> Path:
    return run_dir.snapshots_dir / f"epoch-{epoch:04d}.npz"


def save_snapshot(run_dir: RunDir, snapshot: Snapshot) -> Path:
    path = snapshot_path(run_dir, snapshot.epoch)
    with atomic_path(path) as temporary, open(temporary, "wb") as stream:
        np.savez_compressed(
            stream,
            epoch=np.int64(snapshot.epoch),
            test_loss=np.float64(snapshot.test_loss),
            grid_axis=snapshot.grid_axis.astype("float32"),
            latent_grid=to_bytes(snapshot.latent_grid),
            originals=to_bytes(snapshot.originals),
            reconstructions=to_bytes(snapshot.reconstructions),
        )
    return path


def to_bytes(images: np.ndarray) -> np.ndarray:
    return np.round(np.clip(images, 0.0, 1.0) * 255).astype("uint8")


def read_snapshot(path: Path) -> Snapshot:
    """One snapshot file, checked; a RunError names the file and what is wrong with it."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = [name for name in FIELDS if name not in arrays.files]
            if missing:
                raise UsageError(f"missing {', '.join(missing)}")
            values = {name: arrays[name] for name in FIELDS}
    except Exception as error:  # zipfile, zlib and numpy raise many kinds of error for damaged files
        raise RunError(f"{path} is not a readable snapshot ({error}); train with --snapshots again") from None
    grid, originals, reconstructions = values["latent_grid"], values["originals"], values["reconstructions"]
    n = len(values["grid_axis"])
    shapes_fit = (
        originals.ndim in (3, 4)
        and originals.shape[1] == originals.shape[2]
        and originals.shape[3:] in ((), (3,))
        and grid.shape == (n, n, *originals.shape[1:])
        and reconstructions.shape == originals.shape
        and all(array.dtype == np.uint8 for array in (grid, originals, reconstructions))
        and values["epoch"].shape == ()
        and math.isfinite(float(values["test_loss"]))
    )
    if not shapes_fit:
        raise RunError(f"{path} is not a readable snapshot (unexpected shapes or types); train with --snapshots again")
    return Snapshot(
        epoch=int(values["epoch"]),
        test_loss=float(values["test_loss"]),
        grid_axis=values["grid_axis"].astype("float32"),
        latent_grid=grid.astype("float32") / 255,
        originals=originals.astype("float32") / 255,
        reconstructions=reconstructions.astype("float32") / 255,
    )


def read_snapshots(run_dir: RunDir) -> list[Snapshot]:
    """All snapshots of a run, in epoch order, or a RunError saying how to make them."""
    directory = run_dir.snapshots_dir
    paths = sorted(directory.glob("epoch-*.npz"))
    if not paths:
        raise RunError(f"no training snapshots in {directory}/: train with vae-train --snapshots")
    return [read_snapshot(path) for path in paths]
