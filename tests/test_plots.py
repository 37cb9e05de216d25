"""vae-reconstruct and vae-plot on a tiny trained run: real PNGs, the right layouts, one-line errors."""

import numpy as np
import pytest
from matplotlib.image import imread

from vae.config import VAEConfig
from vae.errors import UsageError
from vae.model.latent import check_dims, decode_latent_grid, grid_axis
from vae.run.directory import RunDir
from vae.run.loading import load_run
from vae.views.figures import GRID_MARGINS, plot_latent_grid, project_two_dimensions, reconstruction_layout, tile
from vae.views.learning import history_panels
from vae_scripts.plot import main as plot_command
from vae_scripts.reconstruct import main as reconstruct_command

from .conftest import SUBSET_DIR, copy_run, invoke

DATA = ["--data-dir", SUBSET_DIR]
# Every command with the arguments it needs besides --run-dir, and the view (file name) it writes.
COMMANDS = [
    (reconstruct_command, DATA, "reconstruction"),
    (plot_command, ["latent-grid", *DATA], "latent-grid"),
    (plot_command, ["clusters", *DATA], "clusters"),
    (plot_command, ["samples"], "samples"),
    (plot_command, ["interpolate", *DATA], "interpolate"),
    (plot_command, ["history"], "history"),
]


@pytest.fixture(scope="module")
def run_copy(tmp_path_factory, tiny_run):
    """A copy of the shared tiny run, so that pictures written to their default place leave it untouched."""
    return copy_run(tiny_run, tmp_path_factory.mktemp("plots"))


@pytest.fixture(scope="module")
def model(run_copy):
    return load_run(RunDir(run_copy))[0]


def read_png(path):
    image = imread(path)
    assert image.ndim == 3 and image.dtype == np.float32 and image.std() > 0.01  # decodes and is not blank
    return image


def png_size(path):
    height, width = read_png(path).shape[:2]
    return width, height


def dark_column_runs(path):
    """How many separate bands of columns are mostly dark: the digit cells of a reconstruction picture, which sit on
    a white figure. Titles are too thin to count."""
    gray = read_png(path)[..., :3].mean(axis=2)
    dark = (gray < 0.6).mean(axis=0) > 0.3
    return int(dark[0]) + int(np.count_nonzero(dark[1:] & ~dark[:-1]))


@pytest.mark.parametrize(
    ("command", "arguments", "view", "size"),
    [
        (reconstruct_command, ["--n", 10], "reconstruction", (1100, 300)),
        (reconstruct_command, ["--n", 25], "reconstruction", (1100, 780)),
        (plot_command, ["latent-grid"], "latent-grid", (935, 935)),
        (plot_command, ["clusters"], "clusters", (900, 800)),
        (plot_command, ["samples", "--n", 64], "samples", (740, 740)),
        (plot_command, ["interpolate", "--from", 0, "--to", 1, "--steps", 10], "interpolate", (1100, 190)),
        (plot_command, ["history"], "history", (1400, 400)),
    ],
)
def test_each_view_writes_a_png_of_the_expected_size_in_the_run_dir(run_copy, command, arguments, view, size):
    data = [] if view in ("samples", "history") else DATA
    result = invoke(command, *arguments, "--run-dir", run_copy, *data)
    assert result.exit_code == 0, result.output + result.stderr
    path = run_copy / f"{view}.png"
    assert result.output.strip() == str(path)
    assert png_size(path) == size
    assert not list(run_copy.glob(".tmp-*"))


def test_three_digits_make_three_columns_in_the_named_output(tmp_path, run_copy):
    target = tmp_path / "pictures" / "three.png"
    result = invoke(reconstruct_command, "--n", 3, "--run-dir", run_copy, *DATA, "--output", target)
    assert result.exit_code == 0, result.stderr
    assert result.output.strip() == str(target)
    assert dark_column_runs(target) == 3
    assert png_size(target) == (400, 300)  # at least 4 inches wide for the title, at 100 dpi; one row pair


@pytest.mark.parametrize(("count", "layout"), [(1, (1, 1)), (3, (1, 3)), (10, (1, 10)), (11, (2, 10)), (100, (10, 10))])
def test_reconstructions_wrap_at_ten_columns(count, layout):
    assert reconstruction_layout(count) == layout


def test_given_indices_are_drawn(tmp_path, run_copy):
    target = tmp_path / "chosen.png"
    result = invoke(reconstruct_command, "--indices", "3,17,42,7", "--run-dir", run_copy, *DATA, "--output", target)
    assert result.exit_code == 0, result.stderr
    assert dark_column_runs(target) == 4


def test_same_seed_same_picture(tmp_path, run_copy):
    for name in ("a.png", "b.png"):
        invoke(plot_command, "samples", "--seed", 5, "--run-dir", run_copy, "--output", tmp_path / name)
    invoke(plot_command, "samples", "--seed", 6, "--run-dir", run_copy, "--output", tmp_path / "c.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert (tmp_path / "a.png").read_bytes() != (tmp_path / "c.png").read_bytes()


def test_latent_grid_varies_across_cells_and_is_one_batch(monkeypatch, model):
    calls = []
    decode = model.decode
    monkeypatch.setattr(model, "decode", lambda z, labels=None: calls.append(len(z)) or decode(z, labels))
    images, axis = decode_latent_grid(model, 30, span=3.0)
    assert calls == [900]
    assert images.shape == (30, 30, 28, 28) and axis[0] == -3.0 and axis[-1] == 3.0
    corners = [images[0, 0], images[0, -1], images[-1, 0], images[-1, -1]]
    assert min(np.abs(a - b).mean() for i, a in enumerate(corners) for b in corners[i + 1 :]) > 1e-3
    assert images.std(axis=(0, 1)).mean() > 1e-3


@pytest.mark.parametrize(("n", "scale"), [(30, 1), (10, 2)])
def test_latent_grid_is_drawn_pixel_for_pixel(tmp_path, model, n, scale):
    # Nearest-neighbour drawing at a whole number of screen pixels per digit pixel: no row dropped or smoothed.
    path = plot_latent_grid(model, tmp_path / "grid.png", n, 2.0, quantiles=False)
    expected = np.kron(tile(decode_latent_grid(model, n, span=2.0)[0], padding=0), np.ones((scale, scale)))
    side = len(expected)
    drawn = read_png(path)[GRID_MARGINS["top"] : GRID_MARGINS["top"] + side, GRID_MARGINS["left"] :][:, :side, 0]
    # The axes' frame covers the outermost pixel on each side; the PNG stores 8 bits.
    np.testing.assert_allclose(drawn[2:-2, 2:-2], expected[2:-2, 2:-2], atol=3 / 255)


def test_quantile_axis_is_symmetric_gaussian_quantiles():
    # Probabilities 0.05, 0.275, 0.5, 0.725, 0.95 of N(0, 1).
    axis = grid_axis(5, None, quantiles=True)
    np.testing.assert_allclose(axis, [-1.6449, -0.5978, 0.0, 0.5978, 1.6449], atol=1e-4)


def test_grid_dims_are_checked():
    assert check_dims((2, 0), 3) == (2, 0)
    for dims in [(0, 5), (1, 1), (0,), (0, 1, 2), (-1, 0)]:
        with pytest.raises(UsageError, match="dims must be two different latent axes in 0..2"):
            check_dims(dims, 3)
    with pytest.raises(UsageError, match="needs a latent size of at least 2"):
        check_dims((0, 1), 1)


def test_pca_projection_for_larger_latents():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(500, 5)) * [5.0, 1.0, 0.1, 0.1, 0.1]
    projected, used_pca = project_two_dimensions(points)
    assert used_pca and projected.shape == (500, 2)
    assert projected[:, 0].std() > 4 and projected[:, 1].std() > 0.8
    assert project_two_dimensions(points[:, :2])[1] is False


def test_history_labels_say_what_the_numbers_are():
    grayscale = history_panels(VAEConfig())
    assert [key for key, _, _ in grayscale] == ["loss", "reconstruction_loss", "kl_loss"]
    assert grayscale[0][1] == "negative ELBO (grayscale BCE)" and "grayscale BCE" in grayscale[1][2]
    binarized = history_panels(VAEConfig(binarize=True, beta=4.0))
    assert binarized[0][1] == "loss: reconstruction + 4 x KL" and binarized[1][1] == "reconstruction: -log p(x|z)"
    assert all("BCE" not in label for _, _, label in binarized)


@pytest.mark.parametrize(
    ("command", "arguments", "code", "fragment"),
    [
        (reconstruct_command, ["--n", 0, *DATA], 2, "Invalid value for '--n'"),
        (reconstruct_command, ["--n", 101, *DATA], 2, "Invalid value for '--n'"),
        (reconstruct_command, ["--indices", "3,99999", *DATA], 2, "test digit index 99999 is out of range"),
        (reconstruct_command, ["--indices", "a,b", *DATA], 2, "expected comma-separated integers"),
        (reconstruct_command, ["--indices", ",".join(["1"] * 101), *DATA], 2, "give 1 to 100 indices, got 101"),
        (plot_command, ["latent-grid", "--dims", "0,5", *DATA], 2, "dims must be two different latent axes in 0..1"),
        (plot_command, ["latent-grid", "--n", 1, *DATA], 2, "Invalid value for '--n'"),
        (plot_command, ["latent-grid", "--span", 0, *DATA], 2, "Invalid value for '--span'"),
        (plot_command, ["latent-grid", "--span", 2, "--quantiles", *DATA], 2, "--span and --quantiles exclude"),
        (plot_command, ["samples", "--n", 0], 2, "Invalid value for '--n'"),
        (plot_command, ["interpolate", "--from", 0, "--to", 500, *DATA], 2, "test digit index 500 is out of range"),
        (plot_command, ["interpolate", "--steps", 1, *DATA], 2, "Invalid value for '--steps'"),
    ],
)
def test_bad_inputs_give_one_line(tmp_path, run_copy, command, arguments, code, fragment):
    output = tmp_path / "never.png"
    result = invoke(command, *arguments, "--run-dir", run_copy, "--output", output)
    assert result.exit_code == code, result.output + result.stderr
    assert fragment in result.stderr and "Traceback" not in result.stderr
    if not result.stderr.startswith("Usage:"):  # the package's own errors are one line, usage errors included
        assert len(result.stderr.strip().splitlines()) == 1
    assert not output.exists()


@pytest.mark.parametrize(("command", "arguments", "view"), COMMANDS)
def test_missing_run(tmp_path, command, arguments, view):
    result = invoke(command, *arguments, "--run-dir", tmp_path)
    assert result.exit_code == 1, result.output + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "no trained run in" in result.stderr and "run vae-train first" in result.stderr
    assert not (tmp_path / f"{view}.png").exists()
