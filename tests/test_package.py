"""The package as a whole: a cheap `import vae`, instant `--help`, errors by type, a run of release 0.1.0 through
every command, and an installed (non-editable) wheel that carries the report page."""

import importlib.util
import json
import shutil
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest

import vae
from vae import errors
from vae.config import DEFAULTS
from vae.run.directory import CONFIG_FILE, EVAL_FILE, MODEL_FILE
from vae_scripts.evaluate import main as evaluate_command
from vae_scripts.plot import main as plot_command
from vae_scripts.reconstruct import main as reconstruct_command
from vae_scripts.report import main as report_command
from vae_scripts.train import main as train_command

from .conftest import SUBSET_DIR, files_of, help_text, invoke

ROOT = SUBSET_DIR.parent.parent.parent
# A run written by release 0.1.0; see its README.
EARLIER_RUN = SUBSET_DIR.parent / "run-from-0.1.0"


@pytest.mark.slow
def test_import_vae_loads_neither_tensorflow_nor_keras():
    code = (
        "import sys, vae, vae.config, vae.run.directory, vae.run.records, vae.run.loading, vae.errors\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, sorted(sys.modules)\n"
        "assert vae.VAEConfig().latent_dim == 2 and 'keras' not in sys.modules\n"
        "vae.VAE\n"
        "assert 'keras' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_whole_model_files_load_after_import_vae(tiny_run):
    """`vae.load_model`, or `import vae.model.autoencoder` before Keras' own loader: both rebuild the registered
    classes."""
    images = np.random.default_rng(0).random((4, 28, 28, 1)).astype("float32")
    model = vae.open_run(tiny_run).model
    expected = keras.ops.convert_to_numpy(model(images))
    path = tiny_run / MODEL_FILE
    for whole in (vae.load_model(path), keras.saving.load_model(path)):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(whole(images)), expected)


@pytest.mark.slow
def test_every_help_is_instant_and_names_its_options():
    text = help_text(
        ("train", ["--help"]),
        ("reconstruct", ["--help"]),
        ("evaluate", ["--help"]),
        ("report", ["--help"]),
        ("plot", ["--help"]),
        ("plot", ["latent-grid", "--help"]),
        ("plot", ["progress", "--help"]),
        ("plot", ["samples", "--help"]),
        ("encode", ["--help"]),
        ("decode", ["--help"]),
    )
    for option in (
        "--epochs", "--batch-size", "--latent-dim", "--learning-rate", "--beta", "--seed", "--dataset", "--data-dir",
        "--run-dir", "--limit", "--overwrite", "--resume", "--binarize", "--strategy", "--mixed-precision",
        "--indices", "--k", "--explorer-size", "--dims", "--quantiles", "--fps", "latent-grid", "clusters", "samples",
        "interpolate", "history", "progress", "analogies", "--conditional", "--digit", "--images", "--no-preprocess",
        "--save-preprocessed", "--z",
    ):  # fmt: skip
        assert option in text, option


def test_the_commands_take_their_defaults_and_choices_from_the_config():
    """Not a drift check: the CLI reads `vae.config`, so its help shows what the config holds."""
    parameters = {parameter.name: parameter for parameter in train_command.params}
    assert parameters["epochs"].default == DEFAULTS.epochs
    rates = "; ".join(f"{rate:g} for --arch {name}" for name, rate in vae.config.LEARNING_RATES.items())
    assert rates in " ".join(parameters["learning_rate"].help.split())
    assert tuple(parameters["architecture"].type.choices) == vae.config.ARCHITECTURES


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.UsageError("a bad value"), 2),
        (errors.DataError("a bad file"), 1),
        (errors.RunError("a bad run"), 1),
        (errors.DiskFullError("a full disk"), 1),
        (errors.TrainingDivergedError("a NaN"), 1),
    ],
)
def test_the_package_errors_are_one_line_with_their_exit_code(monkeypatch, tmp_path, error, code):
    import vae.evaluation.workflow

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(vae.evaluation.workflow, "evaluate_run", fail)
    result = invoke(evaluate_command, "--run-dir", tmp_path)
    assert result.exit_code == code
    assert result.stderr == f"error: {error}\n"


def test_a_value_error_from_a_library_is_a_bug_not_an_expected_error(monkeypatch, tmp_path):
    import vae.evaluation.workflow

    def fail(*args, **kwargs):
        raise ValueError("deep inside Keras")

    monkeypatch.setattr(vae.evaluation.workflow, "evaluate_run", fail)
    result = invoke(evaluate_command, "--run-dir", tmp_path)
    assert result.exit_code == 1
    assert result.stderr == (
        "error: unexpected error: ValueError: deep inside Keras; run again with --debug for the traceback\n"
    )


@pytest.fixture
def earlier_run(tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(EARLIER_RUN, run_dir)
    return run_dir


def test_a_run_of_the_earlier_version_loads_plots_evaluates_and_reports(earlier_run, tmp_path):
    before = files_of(earlier_run)
    run = vae.open_run(earlier_run)
    config, history = run.config, run.history
    assert config.epochs == 2 and len(history["test_loss"]) == 2
    # Saved before the conditional VAE: its config.json has no "conditional", and it is the unconditional run it was.
    assert "conditional" not in json.loads((earlier_run / CONFIG_FILE).read_text()) and not config.conditional
    data = ("--data-dir", SUBSET_DIR)
    for command, arguments in [
        (reconstruct_command, ["--n", 3, "--output", tmp_path / "reconstruction.png", *data]),
        (plot_command, ["latent-grid", "--n", 4, "--output", tmp_path / "grid.png", *data]),
        (plot_command, ["progress", "--output", tmp_path / "progress.gif"]),
        (evaluate_command, ["--k", 2, "--limit", 20, *data]),
        (report_command, ["--explorer-size", 4, "--output", tmp_path / "report.html", *data]),
    ]:
        result = invoke(command, *arguments, "--run-dir", earlier_run)
        assert result.exit_code == 0, (command.name, result.stderr)
    changed = {name for name, content in files_of(earlier_run).items() if before.get(name) != content}
    assert changed == {EVAL_FILE}


@pytest.mark.slow
def test_a_run_of_the_earlier_version_resumes(earlier_run):
    result = invoke(train_command, "--resume", "--epochs", 3, "--data-dir", SUBSET_DIR, "--run-dir", earlier_run,
                    "--verbose", 0)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    run = vae.open_run(earlier_run)
    config, history = run.config, run.history
    assert config.epochs == 3 and len(history["test_loss"]) == 3


@pytest.mark.slow
def test_an_installed_wheel_renders_a_report(tmp_path, tiny_run):
    """The report page is package data: a wheel must ship it, and the installed package must find it."""
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    # Without isolation where the venv has setuptools (no download); Python 3.12's venvs lack it, so pip fetches it.
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w", str(wheels)]
    subprocess.run([*build, str(ROOT)], check=True, capture_output=True)
    (wheel,) = wheels.glob("vae-*.whl")
    assert {"vae/views/report_page/page.html", "vae/views/report_page/explorer.js"} <= set(
        zipfile.ZipFile(wheel).namelist()
    )
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)]
    subprocess.run(install, check=True, capture_output=True)
    output = tmp_path / "report.html"
    code = (
        "import sys, vae, vae.views.report\n"
        "from vae.run.directory import RunDir\n"
        f"assert vae.__file__.startswith({str(site)!r}), vae.__file__\n"
        f"vae.views.report.build_report(RunDir({str(tiny_run)!r}), {str(output)!r}, {str(SUBSET_DIR)!r}, "
        "explorer_size=4)\n"
    )
    environment = {"PYTHONPATH": str(site), "TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, env=environment, cwd=tmp_path)
    page = output.read_text()
    assert "<canvas id=explorer-map" in page and "function show(x, y)" in page and "$style" not in page
