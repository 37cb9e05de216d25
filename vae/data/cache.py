"""The decode cache: a folder's images, once decoded at a run's shape, kept on disk, so that the next read of the same
files loads them instead of decoding every file again.

Where: `$VAE_CACHE_DIR/folders/`; without it `$XDG_CACHE_HOME/vae/folders/` (the XDG Base Directory convention),
and without that `~/.cache/vae/folders/`. `VAE_CACHE_DIR=off` turns the cache off. Nothing else is written there, so
deleting the folder at any time only costs the next read its decoding.

One file per folder, list of files and shape: `<slot>.npz`, the slot a digest of the folder's path, its files' paths,
the side, the channels and the fitting rule. A file that changes replaces its folder's entry rather than adding one.
Inside are the decoded pixels and a record of what they were decoded from: the cache format's version, Pillow's
version, the shape and fitting rule, every file's content digest (SHA-256 of its bytes, as the run's manifest records
it), one key over all of them (`content_key`), the damaged files and their reasons, the warnings, and a digest of the
pixels themselves. A read hits only when all of these match what it finds and asks for; anything else (another
version, a changed file, a damaged or cut-short cache file, another shape or dtype) is a miss, decoded afresh, and
its entry is replaced. The key needs every file's bytes read and hashed, and no file decoded.

Files are written under a temporary name and renamed, so a crash leaves the old entry or the new one; they are not
flushed to disk before the rename, as the run's own files are (`vae.files.atomic_path`): an entry a power cut left
damaged is a miss like any other. A cache that cannot be written (a read-only home, a full disk) costs a warning,
never the read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL

from vae import files
from vae.data.decode import Header
from vae.errors import VAEError, VAEWarning

# The format of a cache file; a file of another version is a miss, and is replaced.
CACHE_VERSION = 1
CACHE_ENV = "VAE_CACHE_DIR"
# The value of VAE_CACHE_DIR that turns the cache off.
OFF = "off"
# The subfolder of the cache directory that holds decoded folders.
FOLDERS = "folders"
# A cache file is not written where it would leave less than this free on its file system; a warning says so.
FREE_SPACE_KEPT = 2**30


@dataclass(frozen=True)
class Decoded:
    """What reading the files found, in their order: the pixels and headers of the images read (the damaged left
    out), every file's digest ("" for one that could not be read), the damaged files (index, reason), the warnings."""

    pixels: np.ndarray
    headers: tuple[Header, ...]
    digests: tuple[str, ...]
    damaged: tuple[tuple[int, str], ...]
    warnings: tuple[str, ...]
    from_cache: bool = False


def cache_dir() -> Path | None:
    """The cache directory: `$VAE_CACHE_DIR`, else `$XDG_CACHE_HOME/vae`, else `~/.cache/vae`; None when
    VAE_CACHE_DIR is "off" or no home directory is known."""
    value = os.environ.get(CACHE_ENV, "")
    if value.strip().lower() == OFF:
        return None
    if value:
        return Path(value).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):  # the XDG convention: a relative path is invalid and is ignored
        return Path(xdg) / "vae"
    try:
        return Path.home() / ".cache" / "vae"
    except (RuntimeError, KeyError):
        return None


def slot_path(root: Path, paths, side: int, channels: int, fit: str) -> Path | None:
    """The cache file of the files `paths` of the folder `root` read at (side, channels, fit); None when the cache
    is off."""
    directory = cache_dir()
    if directory is None:
        return None
    listing = hashlib.sha256("\0".join(paths).encode("utf-8", "surrogateescape")).hexdigest()
    name = json.dumps([str(root), listing, side, channels, fit])
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return directory / FOLDERS / f"{digest}.npz"


def content_key(paths, digests) -> str:
    """One digest of the files read: every file's path and content digest, in order."""
    whole = hashlib.sha256()
    for path, digest in zip(paths, digests, strict=True):
        whole.update(f"{path}\0{digest}\n".encode("utf-8", "surrogateescape"))
    return whole.hexdigest()


def _record(key: str, side: int, channels: int, fit: str, count: int) -> dict:
    """What a cache file must say of itself to be a hit for this read."""
    return {
        "version": CACHE_VERSION,
        "pillow": PIL.__version__,
        "side": side,
        "channels": channels,
        "fit": fit,
        "count": count,
        "key": key,
    }


def load(path: Path, key: str, side: int, channels: int, fit: str, count: int) -> Decoded | None:
    """The decoded files in the cache file `path`, when it holds them for this key and shape; None otherwise, and
    for a file that cannot be read or does not check out."""
    expected = _record(key, side, channels, fit, count)
    try:
        with np.load(path, allow_pickle=False) as archive:
            record = json.loads(archive["record"].tobytes().decode("utf-8", "surrogateescape"))
            if {name: record.get(name) for name in expected} != expected:
                return None
            pixels, headers = archive["pixels"], archive["headers"]
        damaged = tuple((int(index), str(reason)) for index, reason in record["damaged"])
        kept = count - len(damaged)
        digests = tuple(str(digest) for digest in record["digests"])
        if (
            pixels.dtype != np.uint8
            or pixels.shape != (kept, side, side, channels)
            or headers.shape != (kept, 3)
            or len(digests) != count
            or record["pixels_sha256"] != hashlib.sha256(pixels.data).hexdigest()
        ):
            return None
        return Decoded(
            pixels,
            tuple(Header(int(width), int(height), bool(gray)) for width, height, gray in headers),
            digests,
            damaged,
            tuple(str(message) for message in record["warnings"]),
            from_cache=True,
        )
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001  (a damaged or foreign cache file of any kind is a miss, never a failed read)
        return None


def store(path: Path, key: str, side: int, channels: int, fit: str, decoded: Decoded) -> None:
    """Write `decoded` to the cache file `path`, atomically; a warning, not an error, when it cannot be."""
    record = {
        **_record(key, side, channels, fit, len(decoded.digests)),
        "digests": list(decoded.digests),
        "damaged": [list(item) for item in decoded.damaged],
        "warnings": list(decoded.warnings),
        "pixels_sha256": hashlib.sha256(np.ascontiguousarray(decoded.pixels).data).hexdigest(),
    }
    headers = np.array([[header.width, header.height, header.gray] for header in decoded.headers], np.int64)
    headers = headers.reshape(-1, 3)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        files.sweep_stale_temporaries(path.parent)
        needed = decoded.pixels.nbytes + headers.nbytes + 2**20
        free = shutil.disk_usage(path.parent).free
        if free - needed < FREE_SPACE_KEPT:
            _warn(path, f"{needed / 2**20:,.0f} MiB would leave less than 1 GiB free")
            return
        # Written under a temporary name and renamed, but not flushed to disk first (`vae.files.atomic_path` does):
        # after a power cut the entry may hold anything, and its digests make that a miss.
        temporary = files.temporary_path(path)
        try:
            with open(temporary, "wb") as stream:
                np.savez(
                    stream,
                    pixels=decoded.pixels,
                    headers=headers,
                    record=np.frombuffer(json.dumps(record).encode("utf-8", "surrogateescape"), np.uint8),
                )
            os.replace(temporary, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
    except (OSError, VAEError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        _warn(path, reason)


def _warn(path: Path, reason: str) -> None:
    warnings.warn(
        f"the decoded images were not cached in {path} ({reason}): the next read decodes them again "
        f"({CACHE_ENV}=off turns the cache off, {CACHE_ENV}=DIR moves it)",
        VAEWarning,
        stacklevel=3,
    )
