"""The run folder (`RunDir`): the files it holds, and whether it is one of the read-only pretrained runs.

A finished run folder holds:

    config.json       the VAEConfig (JSON)
    vae.weights.h5    the weights (HDF5, no code)
    vae.keras         the whole model (Keras' zip of a JSON config and HDF5 weights), loaded with safe_mode
    history.json      per-epoch train and test losses
    checkpoint/       state.json and epoch-NNNN.keras: the last finished epoch, with optimizer state, for --resume
    logs/             TensorBoard event files: per-epoch losses and reconstructions (`tensorboard --logdir`)
    snapshots/        with --snapshots: epoch-NNNN.npz, a small latent grid and reconstructions per epoch
    eval.json         after vae-eval: the test negative ELBO and importance-weighted bound, and the weights scored;
                      after vae-eval --sample-quality, also the samples' quality in a judge's eyes
    data.json         a run on a folder of images: the folder, its classes, the shape, every file with its split

Every file is written atomically (`vae.files`). One training at a time holds a run folder, through an advisory lock
on `.lock` (`RunDir.lock`) that the operating system releases when the process ends, however it ends.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vae.errors import RunError
from vae.files import exclusive_lock
from vae.run import pretrained
from vae.run.pretrained import PRETRAINED_NAMES, PRETRAINED_PREFIX

# Where a run goes when the user names no folder (`--run-dir`, `VAE_RUN_DIR`).
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


def resolved(path: str | os.PathLike) -> Path | None:
    """`path` made absolute with every symbolic link followed; None when it cannot be (a loop of links)."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):  # RuntimeError: a loop of symbolic links, before Python 3.13
        return None


class InRun:
    """A file or folder of a run, by name: `run_dir.config_file` is `run_dir.folder() / "config.json"`."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, run_dir: RunDir | None, owner: type | None = None) -> Path:
        if run_dir is None:
            return self  # looked up on the class, as documentation tools do
        return run_dir.folder() / self.name


@dataclass(frozen=True)
class RunDir:
    """A run folder, as the user named it: a path, or `pretrained:NAME` for a run shipped with the package.

    A shipped run is recognised by where it is, not by how it is named: `pretrained:NAME`, the path of its folder in
    the package and a symbolic link to that folder are the same run, read-only, whose files are checked against
    MANIFEST.json before they are read (`folder`, and the files named after it). Nothing is looked up when a `RunDir`
    is made, so that a misnamed run is reported by the command that uses it, as one line.

    Args:
        given: the folder's path (a string or path-like), `pretrained:NAME`, or another `RunDir`; kept as given,
            for messages.
    """

    given: str

    def __post_init__(self) -> None:
        given = self.given.given if isinstance(self.given, RunDir) else os.fspath(self.given)
        object.__setattr__(self, "given", given)

    def __str__(self) -> str:
        return self.given

    @property
    def path(self) -> Path:
        """The folder as named, where a training writes."""
        return Path(self.given)

    def pretrained_name(self) -> str | None:
        """The name of the shipped pretrained run this is, or None for a run of the user's own. An unknown
        `pretrained:NAME` is a RunError that lists the known ones."""
        if self.given.startswith(PRETRAINED_PREFIX):
            name = self.given[len(PRETRAINED_PREFIX) :]
            if name not in PRETRAINED_NAMES:
                raise pretrained.unknown_pretrained(name)
            return name
        folder, root = resolved(self.given), resolved(pretrained.pretrained_root())
        if folder is None or root is None or folder.parent != root or folder.name not in PRETRAINED_NAMES:
            return None
        return folder.name

    def is_pretrained(self) -> bool:
        """Whether this is a pretrained run shipped with the package, named `pretrained:NAME` or by its folder."""
        return self.given.startswith(PRETRAINED_PREFIX) or self.pretrained_name() is not None

    def within_pretrained_root(self) -> bool:
        """Whether this is the package's folder of pretrained runs or lies inside it, however it is named (a relative
        path, `..`, a symbolic link): a place no command may write."""
        if self.given.startswith(PRETRAINED_PREFIX):
            return True
        folder, root = resolved(self.given), resolved(pretrained.pretrained_root())
        return folder is not None and root is not None and (folder == root or root in folder.parents)

    def refuse_pretrained(self) -> None:
        """Refuse to train into, resume or overwrite a pretrained run, named `pretrained:NAME` or by its folder, or
        to train anywhere in the package's folder of pretrained runs."""
        name = self.pretrained_name()  # an unknown pretrained:NAME says so first
        if name is not None:
            also = "" if self.given == PRETRAINED_PREFIX + name else f" ({PRETRAINED_PREFIX}{name})"
            raise RunError(
                f"{self.given} is a pretrained run shipped with the package{also} and cannot be trained, resumed or "
                "overwritten: train into a --run-dir of your own"
            )
        if self.within_pretrained_root():
            raise RunError(
                f"{self.given} is inside the package's folder of pretrained runs, which is read-only: train into a "
                "--run-dir of your own"
            )

    def folder(self) -> Path:
        """The folder the run's files are in: the folder as named, or for a shipped pretrained run the package's
        folder of that run, once its files are checked against MANIFEST.json (`vae.run.pretrained.check_pretrained`).
        """
        name = self.pretrained_name()
        if name is None:
            return self.path
        pretrained.check_pretrained(name)
        return pretrained.pretrained_root() / name

    def output_dir(self) -> Path:
        """Where the commands write what they make of the run (pictures, eval.json, the report): its folder, or for a
        shipped pretrained run, which is read-only, outputs/pretrained-NAME, however the run is named."""
        name = self.pretrained_name()
        if name is not None:
            return Path(DEFAULT_RUN_DIR) / f"pretrained-{name}"
        return self.path

    # The run's files, in `folder()`; `eval_file` is, for a pretrained run, the eval.json shipped with it, and
    # `manifest_file` (data.json) the manifest of a run on a folder of images.
    config_file = InRun(CONFIG_FILE)
    weights_file = InRun(WEIGHTS_FILE)
    model_file = InRun(MODEL_FILE)
    history_file = InRun(HISTORY_FILE)
    eval_file = InRun(EVAL_FILE)
    manifest_file = InRun(DATA_FILE)
    checkpoint_dir = InRun(CHECKPOINT_DIR)
    logs_dir = InRun(LOGS_DIR)
    snapshots_dir = InRun(SNAPSHOTS_DIR)

    def has_finished_run(self) -> bool:
        """Whether any of the four files of a finished run is there."""
        return any((self.path / name).exists() for name in RUN_FILES)

    @contextlib.contextmanager
    def lock(self) -> Iterator[Path]:
        """Hold the folder for one training: an exclusive lock on its `.lock` (see `vae.files.exclusive_lock`). A
        second training refused here names the process holding the lock."""
        refusal = (
            f"{self.path}/ is in use by another vae-train (process {{holder}}): wait for it to end, or choose "
            "another --run-dir"
        )
        with exclusive_lock(self.path / LOCK_FILE, refusal) as path:
            yield path


# The run folder of a function given none.
DEFAULT_RUN = RunDir(DEFAULT_RUN_DIR)
