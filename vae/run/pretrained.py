"""The pretrained runs shipped in the package: their names, their folder, and the check of their files against
MANIFEST.json.

A pretrained run is named `pretrained:NAME` wherever a run folder is asked for; it is read-only, and what commands
write of it goes to outputs/pretrained-NAME/ (`vae.run.directory.RunDir` decides which run a folder is).
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

from vae.errors import RunError

PRETRAINED_PREFIX = "pretrained:"
PRETRAINED_NAMES = ("mnist", "mnist-conditional", "fashion-mnist")
PRETRAINED_MANIFEST = "MANIFEST.json"

# The files of the shipped runs whose digests matched MANIFEST.json in this process, with their size and time of
# last change: each is read and hashed once per process, and again only if it changes.
_VERIFIED_FILES: set[tuple[str, int, int, str]] = set()


def pretrained_root() -> Path:
    """The folder of the pretrained runs shipped in the package."""
    return Path(str(resources.files("vae").joinpath("pretrained")))


def unknown_pretrained(name: str) -> RunError:
    """The error for a `pretrained:NAME` the package does not ship, listing the names it does."""
    known = ", ".join(PRETRAINED_PREFIX + known_name for known_name in PRETRAINED_NAMES)
    return RunError(f"no pretrained run named {name!r}: the package ships {known}")


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
