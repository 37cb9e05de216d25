"""Shared fixtures (the committed MNIST subset, trained runs made once per set of changes), with the slow marks and
the guard of the fast loop (tests/fast_loop.py)."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.fast_loop import end_guard, mark_slow_tests, start_guard

# pytester runs the guard of the fast loop on tests written for it (tests/test_fast_loop.py).
pytest_plugins = ["pytester"]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The folders the tests read are cached in a temporary folder, removed at exit, never in the user's ~/.cache/vae.
TEST_CACHE_DIR = tempfile.mkdtemp(prefix="vae-test-cache-")
os.environ["VAE_CACHE_DIR"] = TEST_CACHE_DIR
atexit.register(shutil.rmtree, TEST_CACHE_DIR, ignore_errors=True)

SUBSET_DIR = Path(__file__).parent / "data" / "mnist-subset"
# The advisory lock a training leaves in its run directory; it holds no data, so comparisons of a run leave it out.
LOCK_FILE = ".lock"


def files_of(directory: Path) -> dict[str, bytes]:
    """Every file below `directory` (but the lock file) by relative path, with its bytes."""
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != LOCK_FILE
    }


def copy_run(source: Path, destination: Path) -> Path:
    """A copy of the run directory `source` at `destination`/run, for a test that writes into or damages it."""
    run_dir = destination / "run"
    shutil.copytree(source, run_dir)
    return run_dir


def invoke(command, *arguments):
    """Run a click command in-process, as a user would type it (every argument as a string)."""
    return CliRunner().invoke(command, [str(argument) for argument in arguments])


def help_text(*invocations: tuple[str, list[str]]) -> str:
    """The --help output of each (command module, arguments), run in a fresh interpreter that must end without
    TensorFlow or Keras imported: --help stays instant."""
    code = "\n".join(
        [
            "import importlib, sys",
            f"for module, arguments in {list(invocations)!r}:",
            "    try:",
            "        importlib.import_module('vae_scripts.' + module).main(arguments)",
            "    except SystemExit:",
            "        pass",
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow imported by --help'",
        ]
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def train_stopped_after_first_epoch(monkeypatch, config, dataset, run_dir: Path, **options) -> Path:
    """Train `config` into `run_dir` and interrupt it right after its first checkpoint, as a kill at the epoch boundary
    would; a test then resumes it."""
    from vae.run.directory import RunDir
    from vae.training.callbacks import EpochCheckpoint
    from vae.training.loop import train

    save_checkpoint = EpochCheckpoint.on_epoch_end

    def stop_after_first_epoch(self, epoch, logs=None):
        save_checkpoint(self, epoch, logs)
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(EpochCheckpoint, "on_epoch_end", stop_after_first_epoch)
        with pytest.raises(KeyboardInterrupt):
            train(config, dataset, RunDir(run_dir), verbose=0, **options)
    return run_dir


@pytest.fixture
def run_copy(tmp_path, tiny_run) -> Path:
    """A copy of the tiny run that a test may change."""
    return copy_run(tiny_run, tmp_path)


@pytest.fixture(scope="session")
def trains():
    """Asked for by a fixture that trains a model or starts a process: every test that uses it is marked slow."""


@pytest.fixture(autouse=True)
def _no_ambient_run_settings(monkeypatch):
    # CI sets VAE_DATA_DIR to the full data set; tests name their data explicitly unless they say otherwise.
    monkeypatch.delenv("VAE_DATA_DIR", raising=False)
    monkeypatch.delenv("VAE_RUN_DIR", raising=False)


@pytest.fixture(scope="session")
def full_mnist_dir() -> Path:
    """The full canonical MNIST files, where CI or the developer has them."""
    directory = os.environ.get("VAE_DATA_DIR")
    if not directory or not Path(directory).is_dir():
        pytest.skip("VAE_DATA_DIR does not point at the full MNIST files")
    return Path(directory)


@pytest.fixture(scope="session")
def subset():
    from vae.data.datasets import load_dataset

    return load_dataset("mnist", SUBSET_DIR)


# The tests' small runs: 512 digits of the subset, 2 epochs.
TINY = {"epochs": 2, "limit": 512, "batch_size": 64, "seed": 3}


def tiny(**changes):
    """`TINY` with `changes`, built anew rather than replaced, so that a variant's learning rate is its own."""
    from vae.config import VAEConfig

    return VAEConfig(**{**TINY, **changes})


@pytest.fixture(scope="session")
def tiny_config():
    return tiny()


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, subset, trains):
    """A factory of finished runs: `trained_run(**changes)` is the run directory of `tiny(**changes)`
    trained on 512 digits of the subset, `trained_run(snapshots=True, ...)` one with snapshots. Each set of changes
    is trained once and shared by every test that asks for it, so tests must not modify it: copy it first."""
    from vae.run.directory import RunDir
    from vae.training.loop import train

    runs: dict[tuple, Path] = {}

    def run(snapshots: bool = False, **changes) -> Path:
        key = (snapshots, *sorted(changes.items()))
        if key not in runs:
            name = "-".join(f"{name}-{value}" for name, value in sorted(changes.items())) or "default"
            run_dir = tmp_path_factory.mktemp(name + ("-snapshots" if snapshots else "")) / "run"
            train(tiny(**changes), subset, RunDir(run_dir), verbose=0, snapshots=snapshots)
            runs[key] = run_dir
        return runs[key]

    return run


@pytest.fixture(scope="session")
def tiny_run(trained_run) -> Path:
    """A finished two-epoch run on 512 digits. Tests must not modify it: copy it first."""
    return trained_run()


@pytest.fixture(scope="session")
def conditional_config(tiny_config):
    return tiny_config.replace(conditional=True)


@pytest.fixture(scope="session")
def conditional_run(trained_run) -> Path:
    """A finished two-epoch conditional run on 512 digits, with snapshots. Tests must copy it to modify it."""
    return trained_run(snapshots=True, conditional=True)


# Runs after every other test of the session, whatever their order: it checks that none wrote into the package.
LAST_TEST = "tests/test_shipped_runs.py::test_the_shipped_runs_are_as_shipped_after_every_other_test"


# The guard of the fast loop stands from the first to the last of a test's hooks, around every fixture it sets up.
@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    start_guard(item)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    end_guard(item)


def pytest_collection_modifyitems(config, items):
    mark_slow_tests(items)
    # The check that no test wrote into the package's pretrained runs goes last, so that it covers the whole session.
    last = [item for item in items if item.nodeid.endswith(LAST_TEST)]
    items[:] = [item for item in items if item not in last] + last
