"""vae-reconstruct and vae-plot on a tiny trained run: real PNGs, the right layouts, one-line errors."""

import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.image import imread

from vae import load_run
from vae.plots import decode_latent_grid, grid_axis, project_two_dimensions
from vae_scripts.plot import main as plot_command
from vae_scripts.reconstruct import main as reconstruct_command

from .conftest import SUBSET_DIR


@pytest.fixture(scope="module")
def run_copy(tmp_path_factory, tiny_run):
    run_dir = tmp_path_factory.mktemp("plots") / "run"
    shutil.copytree(tiny_run, run_dir)
    return run_dir


def invoke(command, *arguments):
    return CliRunner().invoke(command, [str(argument) for argument in arguments])


def png_size(path):
    image = imread(path)
    assert image.ndim == 3 and image.dtype == np.float32 and image.std() > 0.01  # decodes and is not blank
    return image.shape[1], image.shape[0]


@pytest.mark.parametrize(
    ("command", "arguments", "view", "size"),
    [
        ("reconstruct", ["--n", 10], "reconstruction", (1100, 300)),
        ("reconstruct", ["--n", 25], "reconstruction", (1100, 780)),
        ("plot", ["latent-grid"], "latent-grid", (900, 900)),
        ("plot", ["clusters"], "clusters", (900, 800)),
        ("plot", ["samples", "--n", 64], "samples", (740, 740)),
        ("plot", ["interpolate", "--from", 0, "--to", 1, "--steps", 10], "interpolate", (1100, 190)),
        ("plot", ["history"], "history", (1400, 400)),
    ],
)
def test_each_view_writes_a_png_of_the_expected_size(run_copy, command, arguments, view, size):
    target = reconstruct_command if command == "reconstruct" else plot_command
    data = [] if view in ("samples", "history") else ["--data-dir", SUBSET_DIR]
    result = invoke(target, *arguments, "--run-dir", run_copy, *data)
    assert result.exit_code == 0, result.output + result.stderr
    path = run_copy / f"{view}.png"
    assert result.output.strip() == str(path)
    assert png_size(path) == size
    assert not list(run_copy.glob(".tmp-*"))


def test_output_option_names_another_file(tmp_path, run_copy):
    target = tmp_path / "pictures" / "three.png"
    result = invoke(reconstruct_command, "--n", 3, "--run-dir", run_copy, "--data-dir", SUBSET_DIR, "--output", target)
    assert result.exit_code == 0, result.stderr
    # Three digit columns: 1.1 inches each at 100 dpi.
    assert png_size(target) == (330, 300)


def test_same_seed_same_picture(tmp_path, run_copy):
    for name in ("a.png", "b.png"):
        invoke(plot_command, "samples", "--seed", 5, "--run-dir", run_copy, "--output", tmp_path / name)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_latent_grid_varies_across_cells_and_is_one_batch(monkeypatch, run_copy):
    model, _, _ = load_run(run_copy)
    calls = []
    decode = model.decode
    monkeypatch.setattr(model, "decode", lambda z: calls.append(len(z)) or decode(z))
    images, axis = decode_latent_grid(model, 30, span=3.0)
    assert calls == [900]
    assert images.shape == (30, 30, 28, 28) and axis[0] == -3.0 and axis[-1] == 3.0
    corners = [images[0, 0], images[0, -1], images[-1, 0], images[-1, -1]]
    assert min(np.abs(a - b).mean() for i, a in enumerate(corners) for b in corners[i + 1 :]) > 1e-3
    assert images.std(axis=(0, 1)).mean() > 1e-3


def test_quantile_axis_is_symmetric_gaussian_quantiles():
    # Probabilities 0.05, 0.275, 0.5, 0.725, 0.95 of N(0, 1).
    axis = grid_axis(5, None, quantiles=True)
    np.testing.assert_allclose(axis, [-1.6449, -0.5978, 0.0, 0.5978, 1.6449], atol=1e-4)


def test_pca_projection_for_larger_latents():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(500, 5)) * [5.0, 1.0, 0.1, 0.1, 0.1]
    projected, used_pca = project_two_dimensions(points)
    assert used_pca and projected.shape == (500, 2)
    assert projected[:, 0].std() > 4 and projected[:, 1].std() > 0.8
    assert project_two_dimensions(points[:, :2])[1] is False


@pytest.mark.parametrize(
    ("command", "arguments", "code", "fragment"),
    [
        (reconstruct_command, ["--n", 0], 2, "Invalid value for '--n'"),
        (reconstruct_command, ["--n", 101], 2, "Invalid value for '--n'"),
        (reconstruct_command, ["--indices", "3,99999"], 1, "test digit index 99999 is out of range"),
        (reconstruct_command, ["--indices", "a,b"], 2, "expected comma-separated integers"),
        (plot_command, ["latent-grid", "--dims", "0,5"], 1, "dims must be two different latent axes in 0..1"),
        (plot_command, ["interpolate", "--from", 0, "--to", 500], 1, "test digit index 500 is out of range"),
    ],
)
def test_bad_inputs_give_one_line(run_copy, command, arguments, code, fragment):
    result = invoke(command, *arguments, "--run-dir", run_copy, "--data-dir", SUBSET_DIR)
    assert result.exit_code == code, result.output + result.stderr
    assert fragment in result.stderr and "Traceback" not in result.stderr
    if code == 1:
        assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("arguments", [["latent-grid"], ["clusters"], ["samples"], ["history"]])
def test_missing_run(tmp_path, arguments):
    result = invoke(plot_command, *arguments, "--run-dir", tmp_path / "nothing")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "no trained run in" in result.stderr and "run vae-train first" in result.stderr
