"""The Python API (`vae.open_run`) and the pretrained runs the package ships."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

import vae
from tests.conftest import invoke
from vae import storage
from vae.errors import RunError, UsageError

ROOT = Path(__file__).resolve().parents[1]
HAND_DRAWN = ROOT / "tests" / "data" / "hand-drawn"


def test_a_run_encodes_decodes_scores_samples_and_reconstructs(tiny_run, subset):
    run = vae.open_run(tiny_run)
    assert run.classes == tuple(str(digit) for digit in range(10))
    as_uint8 = subset.test_images[:5]
    z = run.encode(as_uint8)
    assert z.shape == (5, 2) and z.dtype == np.float32
    np.testing.assert_array_equal(z, run.encode(as_uint8.astype(np.float32) / 255))
    assert run.decode(z).shape == (5, 28, 28) and run.reconstruct(as_uint8).shape == (5, 28, 28)
    assert run.sample(7, seed=1).shape == (7, 28, 28)
    np.testing.assert_array_equal(run.sample(7, seed=1), run.sample(7, seed=1))
    scores = run.score(as_uint8, k=4)
    assert set(scores) == {"z_mean", "z_log_var", "negative_elbo", "importance_weighted_bce_bound"}
    with pytest.raises(UsageError, match=r"images must be \(N, 28, 28, 1\)"):
        run.encode(np.zeros((2, 32, 32)))
    with pytest.raises(UsageError, match="z must be finite numbers"):
        run.decode(np.array([[np.nan, 0.0]]))
    with pytest.raises(UsageError, match="label 3 needs a conditional run"):
        run.sample(2, label=3)


def test_paths_score_as_vae_encode_scores_them(tiny_run):
    from vae_scripts.encode import main as encode_command

    run = vae.open_run(tiny_run)
    scores = run.score(HAND_DRAWN, k=10)
    result = invoke(encode_command, HAND_DRAWN, "--k", 10, "--run-dir", tiny_run)
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [float(row["negative_elbo"]) for row in rows] == scores["negative_elbo"].tolist()
    assert [float(row["z_mean_0"]) for row in rows] == scores["z_mean"][:, 0].tolist()


def test_a_conditional_run_takes_labels_by_name_or_index(conditional_run):
    run = vae.open_run(conditional_run)
    np.testing.assert_array_equal(run.sample(4, label="7", seed=2), run.sample(4, label=7, seed=2))
    assert run.sample(20, seed=0).shape == (10, 2, 28, 28)  # a row per class
    with pytest.raises(UsageError, match="label sneaker names no class of this run"):
        run.decode(np.zeros((1, 2)), label="sneaker")


@pytest.mark.parametrize("name", storage.PRETRAINED_NAMES)
def test_the_shipped_pretrained_runs_are_the_files_recorded_and_evaluate_as_recorded(name, tmp_path):
    from vae.evaluation import evaluate_run

    record = json.loads((storage.pretrained_root() / storage.PRETRAINED_MANIFEST).read_text())[name]
    folder = storage.resolve_run_dir(f"pretrained:{name}")
    for file, digest in record["files"].items():
        assert hashlib.sha256((folder / file).read_bytes()).hexdigest() == digest, file
    # The weights alone, no optimizer state: well under a megabyte.
    assert (folder / storage.WEIGHTS_FILE).stat().st_size < 1_000_000
    copy = tmp_path / name
    copy.mkdir()
    for file in record["files"]:
        (copy / file).write_bytes((folder / file).read_bytes())
    subset = record["subset_evaluation"]
    measured = evaluate_run(copy, ROOT / subset["data"], k=subset["k"], limit=subset["limit"], seed=subset["seed"])
    assert measured["metrics"] == pytest.approx(subset["metrics"], rel=1e-5)
    shipped = json.loads((folder / storage.EVAL_FILE).read_text())
    assert shipped["digits"] == 10_000 and shipped["weights"]["sha256"] == record["files"][storage.WEIGHTS_FILE]


def test_pretrained_runs_are_read_only_and_named(tmp_path, monkeypatch):
    from vae_scripts.plot import main as plot_command
    from vae_scripts.train import main as train_command

    monkeypatch.chdir(tmp_path)
    result = invoke(plot_command, "samples", "--n", 4, "--run-dir", "pretrained:mnist")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(Path("outputs") / "pretrained-mnist" / "samples.png")
    before = {path: path.read_bytes() for path in storage.pretrained_root().rglob("*") if path.is_file()}
    for arguments in (["--resume"], ["--overwrite"], []):
        result = invoke(train_command, *arguments, "--run-dir", "pretrained:mnist", "--epochs", 1)
        assert (
            result.exit_code == 1 and "pretrained:mnist is a pretrained run shipped with the package" in result.output
        )
    result = invoke(plot_command, "samples", "--run-dir", "pretrained:cifar")
    assert result.exit_code == 1
    assert result.output == (
        "error: no pretrained run named 'cifar': the package ships pretrained:mnist, pretrained:mnist-conditional, "
        "pretrained:fashion-mnist\n"
    )
    with pytest.raises(RunError, match="no pretrained run named 'cifar'"):
        vae.open_run("pretrained:cifar")
    assert {path: path.read_bytes() for path in storage.pretrained_root().rglob("*") if path.is_file()} == before


def test_the_quickstart_notebook_runs(tmp_path):
    import nbclient
    import nbformat

    notebook = nbformat.read(ROOT / "examples" / "quickstart.ipynb", as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")  # shipped cleared
    nbclient.NotebookClient(notebook, timeout=60, resources={"metadata": {"path": str(ROOT / "examples")}}).execute()
    printed = "".join(output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", []))
    assert "hand-drawn 3:" in printed
