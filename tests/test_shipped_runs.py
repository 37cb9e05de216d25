"""The pretrained runs shipped in the package: read-only however they are named (`pretrained:NAME`, the path of their
folder, a symbolic link to it), checked against MANIFEST.json when opened, and, at the end of every session, as
shipped.

The tests that write or damage work on a copy of the package's folder of pretrained runs, which stands in for it
(`shipped`), so that a failure never touches the package itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pytest

import vae
from tests.conftest import SUBSET_DIR, copy_run, files_of, invoke
from vae.errors import RunError
from vae.run import pretrained
from vae.run.directory import DEFAULT_RUN_DIR, EVAL_FILE, HISTORY_FILE, WEIGHTS_FILE, RunDir
from vae.run.pretrained import PRETRAINED_MANIFEST, PRETRAINED_NAMES, pretrained_root
from vae.run.records import read_config, read_evaluation

WRITTEN = Path(DEFAULT_RUN_DIR) / "pretrained-mnist"


@pytest.fixture
def shipped(tmp_path, monkeypatch) -> Path:
    """A copy of the package's folder of pretrained runs, where an installed package has it, that the package takes
    for its own for the length of the test."""
    root = tmp_path / "site-packages" / "vae" / "pretrained"
    shutil.copytree(pretrained_root(), root)
    monkeypatch.setattr(pretrained, "pretrained_root", lambda: root)
    return root


def every_path(root: Path) -> list[str]:
    """Every file and folder below `root`, the lock file included (`files_of` leaves it out)."""
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def test_a_shipped_run_is_known_by_where_it_is_not_by_how_it_is_named(shipped, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "link").symlink_to(shipped / "mnist")
    (tmp_path / "root-link").symlink_to(shipped)
    names = [
        "pretrained:mnist",
        shipped / "mnist",
        f"{shipped / 'mnist'}/",
        shipped / "fashion-mnist" / ".." / "mnist",
        os.path.relpath(shipped / "mnist"),
        "link",
        tmp_path / "root-link" / "mnist",
    ]
    for name in names:
        run_dir = RunDir(name)
        assert run_dir.pretrained_name() == "mnist", name
        assert run_dir.is_pretrained(), name
        assert run_dir.output_dir() == WRITTEN, name
        assert run_dir.folder() == shipped / "mnist", name
        with pytest.raises(RunError, match="is a pretrained run shipped with the package"):
            run_dir.refuse_pretrained()
    # A copy of a shipped run elsewhere is a run of the user's own, which commands write beside.
    mine = copy_run(shipped / "mnist", tmp_path / "mine")
    mine = RunDir(mine)
    assert mine.pretrained_name() is None and mine.output_dir() == mine.path
    mine.refuse_pretrained()
    # Nothing may be trained anywhere in the package's folder of pretrained runs.
    for inside in (shipped, shipped / "new-run", tmp_path / "root-link" / "mnist" / "checkpoint"):
        assert RunDir(inside).pretrained_name() is None
        with pytest.raises(RunError, match="inside the package's folder of pretrained runs, which is read-only"):
            RunDir(inside).refuse_pretrained()


def test_vae_eval_and_vae_plot_of_a_shipped_run_by_path_or_symlink_write_to_outputs(shipped, tmp_path, monkeypatch):
    from vae_scripts.evaluate import main as evaluate_command
    from vae_scripts.plot import main as plot_command

    monkeypatch.chdir(tmp_path)
    (tmp_path / "link").symlink_to(shipped / "mnist")
    before = files_of(shipped), every_path(shipped)
    for run_dir in (shipped / "mnist", "link"):
        result = invoke(evaluate_command, "--run-dir", run_dir, "--data-dir", SUBSET_DIR, "--limit", 20, "--k", 2)
        assert result.exit_code == 0, result.output
        assert result.output.endswith(f"saved {WRITTEN / EVAL_FILE}\n")
        result = invoke(plot_command, "samples", "--n", 4, "--run-dir", run_dir)
        assert result.exit_code == 0, result.output
        assert result.output == f"{WRITTEN / 'samples.png'}\n"
        assert (files_of(shipped), every_path(shipped)) == before
    assert json.loads((WRITTEN / EVAL_FILE).read_text())["digits"] == 20
    # The report reads the user's evaluation of the run; the shipped one is still there, of the whole test split.
    assert read_evaluation(RunDir(shipped / "mnist"))["digits"] == 20
    assert read_evaluation(RunDir("link"), shipped=True)["digits"] == 10_000


def test_training_into_a_shipped_run_by_path_or_symlink_is_refused_and_writes_nothing(
    shipped, tmp_path, monkeypatch, subset
):
    from vae.config import VAEConfig
    from vae.training.loop import train
    from vae_scripts.train import main as train_command

    monkeypatch.chdir(tmp_path)
    (tmp_path / "link").symlink_to(shipped / "mnist")
    before = files_of(shipped), every_path(shipped)
    quick = ["--data-dir", SUBSET_DIR, "--epochs", 1, "--limit", 256, "--verbose", 0]
    for run_dir, refusal in [
        (shipped / "mnist", f"{shipped / 'mnist'} is a pretrained run shipped with the package (pretrained:mnist)"),
        ("link", "link is a pretrained run shipped with the package (pretrained:mnist)"),
        (shipped / "new-run", f"{shipped / 'new-run'} is inside the package's folder of pretrained runs"),
    ]:
        for arguments in (["--overwrite"], ["--resume"], []):
            result = invoke(train_command, *arguments, "--run-dir", run_dir, *quick)
            assert result.exit_code == 1, (run_dir, arguments, result.output)
            assert result.output.startswith(f"error: {refusal}") and len(result.output.splitlines()) == 1
        with pytest.raises(RunError, match="read-only|cannot be trained, resumed or overwritten"):
            train(VAEConfig(epochs=1, limit=256), subset, RunDir(run_dir), overwrite=True, verbose=0)
    assert (files_of(shipped), every_path(shipped)) == before
    assert not (tmp_path / "outputs").exists()


def test_a_shipped_run_whose_files_differ_from_its_manifest_is_refused_naming_the_file(shipped, tmp_path, monkeypatch):
    from vae_scripts.plot import main as plot_command

    monkeypatch.chdir(tmp_path)
    vae.open_run("pretrained:mnist")  # checked once, and again when a file changes
    weights = shipped / "mnist" / WEIGHTS_FILE
    damaged = bytearray(weights.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF  # one byte in the middle: same size, other weights
    weights.write_bytes(bytes(damaged))
    for run_dir in ("pretrained:mnist", shipped / "mnist"):
        with pytest.raises(RunError) as raised:
            vae.open_run(run_dir)
        assert str(raised.value) == (
            f"{weights} is not the file shipped with the pretrained run pretrained:mnist (its SHA-256 differs from "
            "MANIFEST.json's): the installed package is damaged; reinstall it (pip install --force-reinstall vae, or "
            "in a checkout git checkout -- vae/pretrained)"
        )
    result = invoke(plot_command, "history", "--run-dir", "pretrained:mnist")
    assert result.exit_code == 1 and result.output.startswith(f"error: {weights} is not the file shipped")
    assert not (tmp_path / "outputs").exists()
    # A missing file and a manifest that cannot be read are refused as well; the other runs still open.
    (shipped / "fashion-mnist" / HISTORY_FILE).unlink()
    missing = re.escape(f"{shipped / 'fashion-mnist' / HISTORY_FILE} is missing from the pretrained run")
    with pytest.raises(RunError, match=missing):
        read_config(RunDir("pretrained:fashion-mnist"))
    assert read_config(RunDir("pretrained:mnist-conditional")).conditional
    (shipped / PRETRAINED_MANIFEST).write_text("{")
    with pytest.raises(RunError, match="MANIFEST.json is missing or does not describe mnist-conditional: .* reinstall"):
        read_config(RunDir(shipped / "mnist-conditional"))


# tests/conftest.py runs this test after every other of the session, so that it covers them all.
def test_the_shipped_runs_are_as_shipped_after_every_other_test():
    root = pretrained_root()
    manifest = json.loads((root / PRETRAINED_MANIFEST).read_text())
    assert sorted(manifest) == sorted(PRETRAINED_NAMES)
    shipped = {
        f"{name}/{file}": digest for name, record in manifest.items() for file, digest in record["files"].items()
    }
    assert every_path(root) == sorted([PRETRAINED_MANIFEST, *manifest, *shipped])
    for path, digest in shipped.items():
        assert hashlib.sha256((root / path).read_bytes()).hexdigest() == digest, f"vae/pretrained/{path} was changed"
