"""What a run records of the folder of images it trained on, its manifest (`data.json`), and the checks of a folder
against it.

The manifest holds the folder, its layout, the class names, the shape, the fitting rule, and every file with its
label, its split and a digest of its bytes. A resumed run and every command that reads its test split check the
folder against it, naming what changed; the damaged files it skipped are no part of it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from vae.data.layouts import ImageFile, Scan, named


def files_digest(files, digests) -> str:
    """One digest of the file list: every file's path, label, split and content digest, in order."""
    whole = hashlib.sha256()
    for file, digest in zip(files, digests, strict=True):
        whole.update(f"{file.path}\0{file.label}\0{file.split}\0{digest}\n".encode())
    return whole.hexdigest()


def manifest(scan: Scan, read, side: int, channels: int, fit: str) -> dict:
    """What a run records of the folder it trained on (`data.json`)."""
    return {
        "root": str(scan.root),
        "layout": scan.layout,
        "class_names": list(scan.class_names),
        "image_shape": [side, side, channels],
        "fit": fit,
        "files": [
            [file.path, file.label, file.split, digest] for file, digest in zip(read.files, read.digests, strict=True)
        ],
        "skipped": [[path, reason] for path, reason in read.damaged],
        "digest": files_digest(read.files, read.digests),
    }


def manifest_files(record: dict, split: str | None = None) -> list[tuple[ImageFile, str]]:
    """The files a manifest lists, of `split` or all, with their digests."""
    return [
        (ImageFile(path, int(label), file_split), digest)
        for path, label, file_split, digest in record["files"]
        if split is None or file_split == split
    ]


def changes(record: dict, scan: Scan) -> list[str]:
    """What differs between the files a manifest lists and those a new scan of the folder finds, by name. The
    damaged files the run skipped are no part of its data: one removed, repaired or still there changes nothing."""
    recorded = {path for path, *_ in record["files"]}
    skipped = {path for path, _ in record.get("skipped", [])}
    found = {file.path for file in scan.files} - skipped
    added, removed = sorted(found - recorded), sorted(recorded - found)
    return [described(paths, what) for what, paths in (("added", added), ("removed", removed)) if paths]


def missing(root: Path, record_files: list[tuple[ImageFile, str]]) -> list[str]:
    """The files a manifest lists that are no longer in `root`, as `changes` describes them."""
    gone = [file.path for file, _ in record_files if not (root / file.path).is_file()]
    return [described(gone, "removed")] if gone else []


def described(paths: list[str], what: str) -> str:
    """ "2 files removed (a.png, b.png)", naming the first few."""
    return f"{len(paths)} file{'s' * (len(paths) != 1)} {what} ({named(paths)})"


def changed_contents(record_files: list[tuple[ImageFile, str]], digests) -> list[str]:
    """The paths whose content digest differs from the one the manifest records."""
    return [file.path for (file, recorded), digest in zip(record_files, digests, strict=True) if recorded != digest]
