"""File safety: atomic writes, their temporary names, and the files of a command written all or none."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vae import files as storage


def test_an_atomic_write_creates_the_missing_folder(tmp_path):
    path = tmp_path / "new" / "deeper" / "table.csv"
    storage.write_text(path, "a,b\n")
    assert path.read_text() == "a,b\n"
    assert sorted(entry.name for entry in path.parent.iterdir()) == ["table.csv"]


def test_a_name_at_the_file_system_limit_can_be_written(tmp_path):
    limit = storage.name_limit(tmp_path)
    path = tmp_path / ("x" * (limit - len(".csv")) + ".csv")
    storage.write_text(path, "written\n")
    assert path.read_text() == "written\n"
    assert [entry.name for entry in tmp_path.iterdir()] == [path.name]  # no temporary left behind
    temporary = storage.temporary_path(path)
    assert len(os.fsencode(temporary.name)) <= limit
    assert temporary.name.startswith(f"{storage.TEMPORARY_PREFIX}{os.getpid()}-") and temporary.suffix == ".csv"
    # A long name keeps every suffix Keras checks, and a stale temporary of it is still swept.
    long_keras = storage.temporary_path(tmp_path / ("y" * (limit - 11) + ".weights.h5"))
    assert long_keras.name.endswith(".weights.h5") and len(os.fsencode(long_keras.name)) <= limit


def test_an_error_names_the_users_path_not_the_temporary_one(tmp_path):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(IsADirectoryError) as raised:
        storage.write_text(folder, "a\n")  # the rename onto a folder fails
    assert raised.value.filename == str(folder)
    assert list(tmp_path.iterdir()) == [folder] and not any(folder.iterdir())


def test_a_non_utf8_file_name_in_a_table_is_written_as_its_bytes(tmp_path):
    name = os.fsdecode(b"bad-\xff\xfe.png")  # as Python holds a name that is not UTF-8
    storage.write_text(tmp_path / "table.csv", storage.csv_text(["path"], [[name]]))
    assert (tmp_path / "table.csv").read_bytes() == b"path\nbad-\xff\xfe.png\n"


def test_write_files_checks_every_folder_before_writing_any(tmp_path):
    mine = tmp_path / "prepared" / "0000-ref.png"
    mine.parent.mkdir()
    mine.write_text("mine")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(NotADirectoryError):
        storage.write_files({mine: b"new", blocker / "x.csv": "a\n"})
    assert mine.read_text() == "mine"
    storage.write_files({mine: b"new", tmp_path / "out" / "x.csv": "a\n"})
    assert mine.read_bytes() == b"new" and Path(tmp_path / "out" / "x.csv").read_text() == "a\n"


def test_a_write_through_a_symbolic_link_replaces_what_it_leads_to_and_keeps_the_link(tmp_path):
    import errno

    target = tmp_path / "real" / "table.csv"
    target.parent.mkdir()
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    storage.write_text(link, "new\n")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == "new\n"
    # A dangling link: the file it names is made. write_files checks the folder the link leads to.
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "real" / "new.csv")
    storage.write_files({dangling: "made\n"})
    assert dangling.is_symlink() and (tmp_path / "real" / "new.csv").read_text() == "made\n"
    # Links that lead round in a loop are refused, as opening one is, and nothing is written.
    (tmp_path / "loop-a").symlink_to(tmp_path / "loop-b")
    (tmp_path / "loop-b").symlink_to(tmp_path / "loop-a")
    with pytest.raises(OSError) as raised:
        storage.write_text(tmp_path / "loop-a", "x\n")
    assert raised.value.errno == errno.ELOOP and raised.value.filename == str(tmp_path / "loop-a")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["dangling.csv", "link.csv", "loop-a", "loop-b", "real"]
    assert sorted(path.name for path in target.parent.iterdir()) == ["new.csv", "table.csv"]
