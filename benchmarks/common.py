"""What the benchmarks share: the one way to run a command of the package (or a benchmark) in a child process, and
the options that find their data.

A benchmark run as `python benchmarks/x.py` has benchmarks/ on its path, so `from common import run_command` needs
nothing more; the package comes from the environment it is installed in.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import click

from vae.data.datasets import DEBIAN_FASHION_MNIST_DIR


def data_folder_option(*names: str, help: str, required: bool = True, **options):
    """A click option naming a folder of data that must exist, read from VAE_DATA_DIR when the command line leaves it
    out. `options` go to click.option (`default`, `envvar=None`, `show_default`)."""
    settings = {"envvar": "VAE_DATA_DIR", "required": required, "help": help, **options}
    return click.option(*names, type=click.Path(exists=True, file_okay=False, path_type=Path), **settings)


data_dir_option = data_folder_option("--data-dir", help="The full MNIST IDX files (env VAE_DATA_DIR).")
# Fashion-MNIST's IDX files, where Debian's dataset-fashion-mnist package puts them unless told otherwise.
fashion_dir_option = data_folder_option(
    "--fashion-dir", help="Fashion-MNIST's IDX files.", envvar=None, default=DEBIAN_FASHION_MNIST_DIR, show_default=True
)


@dataclass(frozen=True)
class Finished:
    """A command that ran: its exit code, what it printed (empty when shown), its wall seconds, start-up included,
    and its peak resident memory in MB."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float


def interpreter_arguments(program: str) -> list[str]:
    """What follows `python` to run `program`: a command of the package by name or by its path in an environment
    (`vae-train`, `.venv/bin/vae-train`: `-m vae_scripts.train`), or a script by its path."""
    if program.endswith(".py"):
        return [program]
    commands = entry_points(group="console_scripts", name=Path(program).name)
    if not commands:
        raise ValueError(f"{program} is neither a command of the package nor a Python script")
    return ["-m", next(iter(commands)).module]


def run_command(
    command: list[str], *, show: bool = False, check: bool = True, environment: dict[str, str] | None = None
) -> Finished:
    """Run `command` (`["vae-train", "--epochs", "2", ...]`, or a script's path and its options) in this
    interpreter, as its own process, with `environment` added to this one's.

    The command's output is kept, or with `show` goes to the terminal after the command line itself. With `check`, a
    command that fails raises a ClickException naming it, with the end of its error output."""
    program, *arguments = [str(argument) for argument in command]
    if show:
        click.echo("$ " + " ".join([program, *arguments]), err=True)
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        kept = {} if show else {"stdout": stdout, "stderr": stderr}
        started = time.perf_counter()
        # os.wait4, not Popen.wait: it also returns the child's resource usage, its own peak memory among it.
        process = subprocess.Popen(
            [sys.executable, *interpreter_arguments(program), *arguments],
            env={**os.environ, **(environment or {})},
            **kept,
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # waited for: Popen need not wait again
        stdout.seek(0)
        stderr.seek(0)
        finished = Finished(
            process.returncode,
            stdout.read().decode(),
            stderr.read().decode(),
            seconds,
            usage.ru_maxrss / 1024,  # Linux reports kilobytes
        )
    if check and finished.returncode != 0:
        said = finished.stderr.strip()[-400:]
        raise click.ClickException(f"{program} failed: {said}" if said else f"{program} exited {finished.returncode}")
    return finished
