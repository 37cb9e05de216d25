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
from vae.errors import RunError, UsageError
from vae.run.directory import EVAL_FILE, WEIGHTS_FILE, RunDir
from vae.run.pretrained import PRETRAINED_MANIFEST, PRETRAINED_NAMES, pretrained_root

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


@pytest.mark.slow
@pytest.mark.parametrize("name", PRETRAINED_NAMES)
def test_the_shipped_pretrained_runs_are_the_files_recorded_and_evaluate_as_recorded(name, tmp_path):
    from vae.evaluation.workflow import evaluate_run

    record = json.loads((pretrained_root() / PRETRAINED_MANIFEST).read_text())[name]
    folder = RunDir(f"pretrained:{name}").folder()
    for file, digest in record["files"].items():
        assert hashlib.sha256((folder / file).read_bytes()).hexdigest() == digest, file
    # The weights alone, no optimizer state: well under a megabyte.
    assert (folder / WEIGHTS_FILE).stat().st_size < 1_000_000
    copy = tmp_path / name
    copy.mkdir()
    for file in record["files"]:
        (copy / file).write_bytes((folder / file).read_bytes())
    subset = record["subset_evaluation"]
    measured = evaluate_run(
        RunDir(copy), ROOT / subset["data"], k=subset["k"], limit=subset["limit"], seed=subset["seed"]
    )
    assert measured["metrics"] == pytest.approx(subset["metrics"], rel=1e-5)
    shipped = json.loads((folder / EVAL_FILE).read_text())
    assert shipped["digits"] == 10_000 and shipped["weights"]["sha256"] == record["files"][WEIGHTS_FILE]


def test_pretrained_runs_are_read_only_and_named(tmp_path, monkeypatch):
    from vae_scripts.plot import main as plot_command
    from vae_scripts.train import main as train_command

    monkeypatch.chdir(tmp_path)
    result = invoke(plot_command, "samples", "--n", 4, "--run-dir", "pretrained:mnist")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(Path("outputs") / "pretrained-mnist" / "samples.png")
    before = {path: path.read_bytes() for path in pretrained_root().rglob("*") if path.is_file()}
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
    assert {path: path.read_bytes() for path in pretrained_root().rglob("*") if path.is_file()} == before


@pytest.mark.slow
def test_the_quickstart_notebook_runs(tmp_path):
    import nbclient
    import nbformat

    notebook = nbformat.read(ROOT / "examples" / "quickstart.ipynb", as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")  # shipped cleared
    nbclient.NotebookClient(notebook, timeout=60, resources={"metadata": {"path": str(ROOT / "examples")}}).execute()
    printed = "".join(output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", []))
    assert "hand-drawn 3:" in printed
    # The last cell trains a model of its own from arrays, with vae.train.
    assert "trained 2 epochs on classes 0, 1, 2, 3, 4, 5, 6, 7, 8, 9: test negative ELBO" in printed


# Arguments the API cannot take. The shipped runs open without training, so these tests stay fast.


@pytest.fixture(scope="module")
def shipped():
    return vae.open_run("pretrained:mnist")


@pytest.fixture(scope="module")
def shipped_conditional():
    return vae.open_run("pretrained:mnist-conditional")


def a_pillow_digit():
    from PIL import Image

    return Image.open(HAND_DRAWN / "digit-3.jpg").convert("L").resize((28, 28))


def test_images_on_another_scale_are_refused_naming_the_cause(shipped):
    # As a notebook gets them from Pillow: floats on the 0-255 scale.
    image = np.asarray(a_pillow_digit()).astype(float)
    for method in (shipped.score, shipped.encode, shipped.reconstruct):
        with pytest.raises(UsageError, match=rf"values up to {image.max():g}: images on the 0-255 scale\? divide them"):
            method(image[None])
    unit = (image[None] - image.min()) / (image.max() - image.min())  # from exactly 0 to exactly 1
    with pytest.raises(UsageError, match=r"values up to 1\.5: clip them to \[0, 1\]"):
        shipped.encode(unit * 1.5)
    with pytest.raises(UsageError, match=r"values down to -1: images on the \[-1, 1\] scale"):
        shipped.score(unit * 2 - 1, k=2)
    with pytest.raises(UsageError, match="values down to -3"):
        shipped.encode(unit - 3)
    # Rounding within 1e-6 of [0, 1] is taken as it is; 1e-5 is not rounding.
    assert shipped.encode(np.clip(unit, 1e-7, None) * (1 + 1e-7)).shape == (1, 2)
    with pytest.raises(UsageError, match="in \\[0, 1\\]"):
        shipped.encode(unit + 1e-5)
    # Integers of any type are read on uint8's scale, as uint8 is.
    as_uint8 = np.asarray(a_pillow_digit())[None]
    expected = shipped.encode(as_uint8)
    for dtype in (np.int64, np.int32, np.uint16):
        np.testing.assert_array_equal(shipped.encode(as_uint8.astype(dtype)), expected)
    np.testing.assert_array_equal(
        shipped.score(as_uint8.astype(np.int64), k=2)["negative_elbo"], shipped.score(as_uint8, k=2)["negative_elbo"]
    )
    with pytest.raises(
        UsageError, match=rf"read on uint8's scale, 0 to 255, but these hold values from {int(as_uint8.min()) * 4} to "
    ):
        shipped.encode(as_uint8.astype(np.int64) * 4)
    with pytest.raises(UsageError, match="from -1 to"):
        shipped.encode(as_uint8.astype(np.int64) - int(as_uint8.min()) - 1)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_images_that_are_not_finite_are_refused(shipped, value):
    images = np.zeros((3, 28, 28), np.float32)
    images[1, 4, 5] = value
    for method in (shipped.encode, shipped.score, shipped.reconstruct):
        with pytest.raises(UsageError, match=r"NaN or infinite values, in 1 of 3 \(the first is images\[1\]\)"):
            method(images)


def test_empty_batches_give_empty_results_of_the_usual_shapes(shipped, shipped_conditional):
    for run in (shipped, shipped_conditional):
        for empty in (np.zeros((0, 28, 28)), np.zeros((0, 28, 28, 1), np.uint8), []):
            z = run.encode(empty)
            assert z.shape == (0, 2) and z.dtype == np.float32
            pictures = run.reconstruct(empty)
            assert pictures.shape == (0, 28, 28) and pictures.dtype == np.float32
            scores = run.score(empty, k=2)
            usual = run.score(np.zeros((1, 28, 28)), k=2)
            assert list(scores) == list(usual)
            for key, values in scores.items():
                assert values.shape == (0, *usual[key].shape[1:]) and values.dtype == usual[key].dtype, key
    assert (
        shipped.decode(np.zeros((0, 2))).shape == shipped_conditional.decode(np.zeros((0, 2)), 7).shape == (0, 28, 28)
    )
    assert shipped.sample(0).shape == (0, 28, 28)
    # An empty batch still has to have the run's shape, and its label still has to be the run's.
    with pytest.raises(UsageError, match=r"got \(0, 32, 32\)"):
        shipped.encode(np.zeros((0, 32, 32)))
    with pytest.raises(UsageError, match="label sneaker names no class"):
        shipped_conditional.score(np.zeros((0, 28, 28)), label="sneaker")


@pytest.mark.parametrize("n", [-1, 2.5, True, "3", None])
def test_a_sample_count_that_is_not_a_whole_number_is_refused(shipped, n):
    with pytest.raises(UsageError, match=r"n must be an integer >= 0, got"):
        shipped.sample(n)


def test_seeds_and_sample_sizes_are_refused_alike_by_every_method(shipped):
    images = np.zeros((1, 28, 28))
    with pytest.raises(UsageError, match="seed must be an integer >= 0, got -1"):
        shipped.sample(2, seed=-1)
    with pytest.raises(UsageError, match="seed must be an integer >= 0, got 0.5"):
        shipped.score(images, seed=0.5)
    with pytest.raises(UsageError, match="k must be an integer >= 1, got 0"):
        shipped.score(np.zeros((0, 28, 28)), k=0)
    assert shipped.sample(np.int64(3), seed=np.int64(1)).shape == (3, 28, 28)


class DecodeCounter:
    """A model whose decoder calls are counted: the rows of each call."""

    def __init__(self, model):
        self.model = model
        self.rows = []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def decode(self, z, labels=None):
        self.rows.append(len(z))
        return self.model.decode(z, labels)


def test_large_samples_are_decoded_in_batches_and_bounded_by_their_pictures(shipped):
    import dataclasses

    from vae.model import INFERENCE_BATCH_SIZE

    counted = dataclasses.replace(shipped, model=DecodeCounter(shipped.model))
    samples = counted.sample(1_200, seed=4)
    assert samples.shape == (1_200, 28, 28)
    assert counted.model.rows == [500, 500, 200] and max(counted.model.rows) <= INFERENCE_BATCH_SIZE
    np.testing.assert_array_equal(samples[:500], shipped.sample(500, seed=4))
    assert counted.decode(np.zeros((1_001, 2))).shape == (1_001, 28, 28) and counted.model.rows[3:] == [500, 500, 1]
    counted.model.rows.clear()
    with pytest.raises(
        UsageError, match=r"n=10,000,000 would make 10,000,000 pictures, 29\.2 GiB: one call returns at most 342,392"
    ):
        counted.sample(10**7)
    with pytest.raises(UsageError, match="1,000,000 latent vectors would make 1,000,000 pictures"):
        counted.decode(np.zeros((10**6, 2)))
    assert counted.model.rows == []  # refused before the decoder ran


def test_a_conditional_sample_counts_a_row_per_class_against_the_bound(shipped_conditional):
    with pytest.raises(UsageError, match="n=342,392 would make 342,400 pictures"):
        shipped_conditional.sample(342_392)
    with pytest.raises(UsageError, match="label 10 names no class"):
        shipped_conditional.sample(2, label=10)


def test_the_shape_message_shows_the_array_as_given(shipped):
    for shape in [(28, 28, 1), (28, 28)]:
        with pytest.raises(UsageError) as raised:
            shipped.encode(np.zeros(shape))
        assert str(raised.value) == (
            f"images must be (N, 28, 28, 1) or (N, 28, 28), got {shape}: one image? pass a batch of one, images[None]"
        )
    with pytest.raises(UsageError, match=r"got \(2, 28, 28, 3\)$"):
        shipped.encode(np.zeros((2, 28, 28, 3)))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda run: run.encode(np.array([["a"]])), "images must be an array of numbers, got text"),
        (lambda run: run.encode(None), "images must be an array of numbers, got None"),
        (lambda run: run.score(np.zeros((1, 28, 28), complex)), "got complex numbers"),
        (lambda run: run.encode([np.zeros((28, 28)), np.zeros((27, 28))]), "images must be an array of numbers"),
        (lambda run: run.encode([str(HAND_DRAWN), np.zeros((28, 28))]), "not a mix of both"),
        (lambda run: run.decode([["left", "right"]]), "z must be an array of numbers, got text"),
        (lambda run: run.decode(np.zeros((1, 2)), label=3), "label 3 needs a conditional run"),
    ],
)
def test_values_that_are_not_numbers_are_refused(shipped, call, message):
    with pytest.raises(UsageError, match=message):
        call(shipped)


def test_a_conditional_run_decodes_only_as_a_class(shipped_conditional):
    with pytest.raises(UsageError, match=r"decode needs label=, a class's name or index, on a conditional run"):
        shipped_conditional.decode(np.zeros((0, 2)))
    for label in (-1, 2.5, "ten", True):
        with pytest.raises(UsageError, match="names no class of this run"):
            shipped_conditional.decode(np.zeros((1, 2)), label=label)


@pytest.mark.parametrize(
    "low, high, cause",
    [
        (-0.4, 2.8, r"values from -0\.4 to 2\.8: normalised images\?"),
        (0, 4095, r"values up to 4095: 16-bit images, 0-65535\? divide them by 65535"),
        (-5, 0, r"values down to -5: normalised images\?"),
    ],
)
def test_the_scale_message_names_the_likely_cause(shipped, low, high, cause):
    images = np.zeros((2, 28, 28))
    images[0, 0, 0], images[1, 0, 0] = low, high
    with pytest.raises(UsageError, match=r"images must be in \[0, 1\] \(or uint8\), but hold " + cause):
        shipped.encode(images)
