"""File safety: atomic writes, their temporary names, the folders they go to, an exclusive lock, a full disk.

Every file the package writes, but the TensorBoard logs that TensorFlow appends to, is written under a temporary
name in the same folder, flushed to disk, then renamed over its target, so a crash at any moment leaves either the
old file or the new one, never half of one. Temporary names carry the writer's process id (`.tmp-PID-name`), so
that those of a killed process can be told from those of a live one and swept away (`sweep_stale_temporaries`).

A write to a symbolic link is a write to what it leads to (`followed`): the file or folder there is replaced, in
its own folder, and the link is left as it was.

Only plain Python file writes touch the disk: a full disk then raises an ordinary `OSError`, which becomes a
`DiskFullError` naming the file system and the file.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import hashlib
import io
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vae.errors import DiskFullError, RunError

TEMPORARY_PREFIX = ".tmp-"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename, on failure it is removed.

    The folder of `path` is created when it is missing, as every command does for its `--output`. The temporary
    name keeps the target's suffixes, because Keras checks them (`.weights.h5`, `.keras`), and stays within the
    file system's limit on a name's length however long the target's is. An error names `path`, never the temporary
    name, which the user did not choose. Where `path` is a symbolic link, the file it leads to is replaced and the
    link kept (`followed`).
    """
    path = Path(path)
    target = followed(path)
    make_directory(target.parent)
    temporary = temporary_path(target)
    try:
        yield temporary
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise DiskFullError(
                f"no space left on the file system at {mount_point(target.parent)}: could not write {path}"
            ) from None
        if error.filename is not None and Path(error.filename) == temporary:
            raise type(error)(error.errno, error.strerror, str(path)) from None
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def followed(path: str | os.PathLike) -> Path:
    """`path`, or, where it is a symbolic link, the path it leads to (its links resolved, a dangling one's included).

    A rename onto a link replaces the link itself, so an atomic write to `path` would leave a file or folder where
    the link was and the link's target as it was; writing to the target instead updates what the link leads to, as
    a plain write through the link would, and keeps the link. A link that leads round in a loop is refused, as the
    operating system refuses to open one.
    """
    path = Path(path)
    if not path.is_symlink():
        return path
    target = Path(os.path.realpath(path))
    if target.is_symlink():  # realpath stops resolving where the links go round in a loop
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path))
    return target


def temporary_path(path: Path) -> Path:
    """`.tmp-PID-<name>` beside `path`; for a name too long to take the prefix, `.tmp-PID-<digest><suffixes>`."""
    prefix = f"{TEMPORARY_PREFIX}{os.getpid()}-"
    name = prefix + path.name
    if len(os.fsencode(name)) <= name_limit(path.parent):
        return path.with_name(name)
    digest = hashlib.sha256(os.fsencode(path.name)).hexdigest()[:16]
    suffixes = "".join(path.suffixes)
    if len(os.fsencode(prefix + digest + suffixes)) > name_limit(path.parent):
        suffixes = path.suffix
    return path.with_name(prefix + digest + suffixes)


def name_limit(directory: Path) -> int:
    """The longest file name, in bytes, that the file system holding `directory` takes (255 on most)."""
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def mount_point(path: Path) -> Path:
    """The mount point of the file system that holds `path`, which names the full disk for the user."""
    path = Path(os.path.abspath(path))
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return path


def make_directory(path: str | os.PathLike) -> None:
    """Create the folder `path` and its parents. A file in the way is named, as the operating system would name it
    for a file opened below it ("Not a directory: <the file>"), not as Python's "File exists"."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((parent for parent in [path, *path.parents] if parent.exists() and not parent.is_dir()), path)
        raise NotADirectoryError(errno.ENOTDIR, "Not a directory", str(blocker)) from None


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` as UTF-8. File names that are not UTF-8 (held by Python as lone surrogates) go out as the bytes
    they were read from, as they do on standard output."""
    write_bytes(path, text.encode("utf-8", "surrogateescape"))


def write_bytes(path: str | os.PathLike, content: bytes) -> None:
    with atomic_path(path) as temporary:
        temporary.write_bytes(content)


def write_files(contents: dict[Path, bytes | str]) -> None:
    """Write several files of one command, each atomically (text as `write_text` does), after checking that every
    folder they go to can be written, so that a command that cannot write all of them fails before changing any."""
    for folder in dict.fromkeys(followed(path).parent for path in contents):
        check_writable(folder)
    for path, content in contents.items():
        if isinstance(content, str):
            write_text(path, content)
        else:
            write_bytes(path, content)


def write_json(path: str | os.PathLike, value: Any) -> None:
    write_text(path, json.dumps(value, indent=2) + "\n")


def csv_text(header: list[str], rows: list[list]) -> str:
    """A CSV table as text, numbers written in full (repr) so nothing is lost to rounding."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def check_writable(folder: str | os.PathLike) -> None:
    """Create `folder` if needed and prove that a file can be written there; raises OSError otherwise."""
    folder = Path(folder)
    make_directory(folder)
    probe = folder / f"{TEMPORARY_PREFIX}{os.getpid()}-write-check"
    probe.write_bytes(b"")
    probe.unlink()


def sweep_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that killed processes left in `folder` and its subfolders; return them.

    A temporary file's name holds the id of the process writing it; one whose process is gone is an orphan.
    """
    removed = []
    for path in Path(folder).rglob(f"{TEMPORARY_PREFIX}*"):
        match = re.match(rf"{re.escape(TEMPORARY_PREFIX)}(\d+)-", path.name)
        if match and path.is_file() and not process_alive(int(match.group(1))):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # alive, but another user's
        return True
    return True


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike, refusal: str) -> Iterator[Path]:
    """Hold an exclusive advisory lock (`fcntl.flock`) on the file `path`, which then holds this process's id.

    A second holder is refused with `refusal`, a RunError message in which "{holder}" names the process that holds
    the lock. The operating system drops the lock when the holder exits, even by `kill -9`, so a lock never outlives
    its process; the file itself may stay, empty of meaning.
    """
    path = Path(path)
    with open(path, "a+") as stream:
        try:
            fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            stream.seek(0)
            raise RunError(refusal.format(holder=stream.read().strip() or "unknown")) from None
        stream.seek(0)
        stream.truncate()
        stream.write(f"{os.getpid()}\n")
        stream.flush()
        try:
            yield path
        finally:
            fcntl.flock(stream.fileno(), fcntl.LOCK_UN)
