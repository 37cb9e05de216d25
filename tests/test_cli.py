"""The vae-train command through click's CliRunner: help, a real short run, refusals and one-line errors."""

import functools
import gc
import json
import shutil
import subprocess
import sys
import time

import pytest

from vae.run.directory import WEIGHTS_FILE, RunDir
from vae.run.loading import load_run
from vae_scripts.train import main as train_command

from .conftest import SUBSET_DIR
from .conftest import invoke as invoke_command

invoke = functools.partial(invoke_command, train_command)


def assert_one_line_error(result, code, *fragments):
    assert result.exit_code == code, (result.exit_code, result.output, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 or code == 2, lines  # click's usage errors add a "Usage:" line and a hint
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


@pytest.mark.slow
def test_one_epoch_run_writes_a_complete_run_directory(tmp_path):
    run_dir = tmp_path / "run"
    result = invoke("--epochs", 1, "--limit", 512, "--data-dir", SUBSET_DIR, "--run-dir", run_dir, "--verbose", 0)
    assert result.exit_code == 0, result.output + result.stderr
    assert "test negative ELBO (grayscale BCE)" in result.output and f"saved the run in {run_dir}/" in result.output
    model, config, history = load_run(RunDir(run_dir))
    assert config.limit == 512 and config.epochs == 1 and len(history["test_loss"]) == 1
    assert (run_dir / "checkpoint" / "state.json").is_file()

    # A second run into the same directory is refused, and the first one is untouched.
    before = (run_dir / WEIGHTS_FILE).read_bytes()
    again = invoke("--epochs", 1, "--limit", 512, "--data-dir", SUBSET_DIR, "--run-dir", run_dir)
    assert_one_line_error(again, 1, "already holds a trained run: pass --overwrite")
    assert (run_dir / WEIGHTS_FILE).read_bytes() == before

    # --resume continues it to more epochs; an option that contradicts the saved config is refused.
    contradiction = invoke("--resume", "--latent-dim", 4, "--epochs", 2, "--data-dir", SUBSET_DIR, "--run-dir", run_dir)
    assert_one_line_error(contradiction, 2, "--latent-dim 4 contradicts the run being resumed")
    resumed = invoke("--resume", "--epochs", 2, "--data-dir", SUBSET_DIR, "--run-dir", run_dir, "--verbose", 0)
    assert resumed.exit_code == 0, resumed.output + resumed.stderr
    assert len(load_run(RunDir(run_dir))[2]["test_loss"]) == 2


@pytest.mark.parametrize(
    ("arguments", "code", "fragment"),
    [
        (["--epochs", 0], 2, "Invalid value for '--epochs'"),
        (["--batch-size", 0], 2, "Invalid value for '--batch-size'"),
        (["--learning-rate", -0.1], 2, "Invalid value for '--learning-rate'"),
        (["--latent-dim", 0], 2, "Invalid value for '--latent-dim'"),
        (["--dataset", "cifar10"], 2, "Invalid value for '--dataset'"),
    ],
)
def test_bad_options_are_usage_errors(tmp_path, arguments, code, fragment):
    result = invoke(*arguments, "--data-dir", SUBSET_DIR, "--run-dir", tmp_path / "run")
    assert_one_line_error(result, code, fragment)
    assert not (tmp_path / "run").exists()


def test_bad_data_dir_gives_one_line(tmp_path):
    result = invoke("--epochs", 1, "--data-dir", tmp_path, "--run-dir", tmp_path / "run")
    assert_one_line_error(result, 1, f"data directory {tmp_path} holds no mnist data")


def test_truncated_gzip_in_data_dir_gives_one_line(tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(SUBSET_DIR, data_dir)
    images = data_dir / "train-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:1000])
    result = invoke("--epochs", 1, "--data-dir", data_dir, "--run-dir", tmp_path / "run")
    assert_one_line_error(result, 1, "train-images-idx3-ubyte.gz: truncated or corrupted gzip")


def test_unwritable_run_dir_is_refused_before_training(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = invoke("--epochs", 1, "--data-dir", SUBSET_DIR, "--run-dir", blocker / "run")
    assert_one_line_error(result, 1, "a-file")


def test_resume_without_checkpoint(tmp_path):
    result = invoke("--resume", "--data-dir", SUBSET_DIR, "--run-dir", tmp_path / "empty")
    assert_one_line_error(result, 1, "no checkpoint in", "to resume")


@pytest.mark.slow
def test_divergence_exits_non_zero_naming_epoch_and_step(tmp_path):
    result = invoke(
        "--epochs",
        2,
        "--limit",
        256,
        "--learning-rate",
        1e9,
        "--schedule",
        "constant",
        "--data-dir",
        SUBSET_DIR,
        "--run-dir",
        tmp_path / "run",
        "--verbose",
        0,
    )
    assert_one_line_error(result, 1, "training diverged: the loss became", "at epoch 1, step")


def test_unexpected_errors_point_to_debug(monkeypatch, tmp_path):
    import vae.training.loop

    def broken(*args, **kwargs):
        raise KeyError("surprise")

    monkeypatch.setattr(vae.training.loop, "train", broken)
    result = invoke("--epochs", 1, "--data-dir", SUBSET_DIR, "--run-dir", tmp_path / "run")
    assert_one_line_error(result, 1, "unexpected error: KeyError", "run again with --debug for the traceback")
    with_debug = invoke("--epochs", 1, "--data-dir", SUBSET_DIR, "--run-dir", tmp_path / "run", "--debug")
    assert with_debug.exit_code == 1 and "Traceback" in with_debug.stderr


def test_commands_leave_their_objects_to_the_operating_system_at_exit(monkeypatch, tmp_path):
    """Every command freezes the garbage collector at exit, after the other exit handlers: the interpreter's last
    collection over TensorFlow's objects cost about 1.5 s of every exit (benchmarks/run.py measures the wait)."""
    import gc

    import vae_scripts.common

    registered = []
    monkeypatch.setattr(vae_scripts.common.atexit, "register", registered.append)
    (tmp_path / "empty").mkdir()
    result = invoke("--epochs", 1, "--data-dir", tmp_path / "empty", "--run-dir", tmp_path / "run")
    assert result.exit_code != 0 and registered[0] is gc.freeze, registered


@pytest.mark.slow
def test_profile_logs_every_phase_in_order(tmp_path):
    """--profile writes profile.json when the process exits: every phase once, in order, none overlapping; an epoch
    that --eval-every leaves unscored has no test part."""
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "vae_scripts.train", "--profile", "--epochs", "2", "--limit", "256"]
    command += ["--eval-every", "2", "--data-dir", str(SUBSET_DIR), "--run-dir", str(run_dir), "--verbose", "0"]
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - started
    assert completed.returncode == 0, completed.stderr
    phases = json.loads((run_dir / "profile.json").read_text())
    epoch_parts = ["train", "test", "end (checkpoint, snapshot, logs)"]
    expected = ["start-up", "data", "model", "epoch 1 train", "epoch 1 end (checkpoint, snapshot, logs)"]
    expected += [f"epoch 2 {part}" for part in epoch_parts]
    assert [phase["phase"] for phase in phases] == [*expected, "end of fit", "final save", "collapse check", "exit"]
    for before, after in zip(phases, phases[1:], strict=False):
        assert before["start"] + before["seconds"] <= after["start"] + 0.002, (before, after)
    assert phases[0]["seconds"] > 0.5  # the interpreter and TensorFlow's import take seconds
    assert phases[-1]["start"] + phases[-1]["seconds"] < wall + 1.0
    assert "final save" in completed.stderr and "epoch 2 test" in completed.stderr


def test_a_failed_profiled_command_leaves_the_old_profile_and_prints_one_line(monkeypatch, tmp_path, tiny_run):
    import vae.training.profiling

    registered = []
    monkeypatch.setattr(vae.training.profiling.atexit, "register", registered.append)
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    (run_dir / "profile.json").write_text("[]\n")
    for arguments, fragment in [
        (["--overwrite", "--data-dir", tmp_path / "nonexistent", "--epochs", 1], "does not exist"),
        (["--resume", "--data-dir", SUBSET_DIR], "has already trained 2 epochs"),
    ]:
        result = invoke("--profile", "--run-dir", run_dir, *arguments)
        assert_one_line_error(result, 1, fragment)
        # gc.freeze is every command's own exit handler; the profile's is registered only when the command succeeds.
        assert [handler for handler in registered if handler is not gc.freeze] == []
        assert (run_dir / "profile.json").read_text() == "[]\n"
