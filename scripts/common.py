"""What every command shares: quiet TensorFlow start-up, the common options, and one-line errors.

Nothing here imports TensorFlow at module level, only the TensorFlow-free `vae.errors` and `vae.run.directory`, so
`--help` stays instant.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gc
import math
import os
import sys
import traceback
import warnings
from pathlib import Path

import click

from vae.errors import VAEError, VAEWarning, first_line
from vae.run.directory import DEFAULT_RUN_DIR, RunDir

# The command gets a `RunDir`, which looks nothing up until it is used, so that a misnamed run is one line of error.
run_dir_option = click.option(
    "--run-dir",
    type=click.Path(file_okay=False),
    default=DEFAULT_RUN_DIR,
    show_default=True,
    envvar="VAE_RUN_DIR",
    callback=lambda context, parameter, value: RunDir(value),
    help="Run directory (env VAE_RUN_DIR).",
)
# No envvar here: VAE_DATA_DIR names IDX data, which `vae.data.datasets.load_dataset` reads itself, and a run of a
# folder of images reads its own folder unless --data-dir is given on the command line.
data_dir_option = click.option(
    "--data-dir",
    type=click.Path(),
    help="Folder with the four IDX files or mnist.npz (env VAE_DATA_DIR). Default: the Keras download. For a run of "
    "a folder of images: the folder, where it has moved since training (env VAE_DATA_DIR is not read for it).",
)


class FiniteFloatRange(click.FloatRange):
    """A float option in a range that also refuses nan and inf, which click's FloatRange lets through."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def label_options(command):
    """--label, a class of a conditional run by name or index, and --digit, the same for a run of digits. The
    command gets `label`, a `vae.model.latent.LabelRequest` or None, which `vae.model.latent.label_index` resolves."""

    @functools.wraps(command)
    def wrapper(*args, label=None, digit=None, **kwargs):
        from vae.model.latent import LabelRequest

        if label is not None and digit is not None:
            raise click.UsageError("--label and --digit both name a class: give one of them")
        request = None
        if label is not None:
            request = LabelRequest(label, "--label")
        elif digit is not None:
            request = LabelRequest(str(digit), "--digit")
        return command(*args, label=request, **kwargs)

    wrapper = click.option(
        "--digit",
        type=click.IntRange(min=0),
        help="On a run of digits, the digit a conditional run draws or scores as: the same as --label.",
    )(wrapper)
    return click.option(
        "--label",
        help="The class a conditional run (vae-train --conditional) draws or scores as, by name or by index: "
        "--label sneaker, --label 7.",
    )(wrapper)


def image_options(command):
    """--no-preprocess and --save-preprocessed, for the commands that read your own images."""
    command = click.option(
        "--save-preprocessed",
        type=click.Path(file_okay=False, path_type=Path),
        help="Also write each image as the model saw it into this folder, as NNNN-<name>.png (files of those names "
        "are replaced).",
    )(command)
    return click.option(
        "--preprocess/--no-preprocess",
        default=True,
        show_default=True,
        help="Prepare each image as the run's training images were (a digit run: MNIST's procedure; a folder run: "
        "fitted to its size); --no-preprocess takes images already of the run's shape (28x28 light ink on dark).",
    )(command)


debug_option = click.option("--debug", is_flag=True, help="Show the full traceback of an unexpected error.")


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and Keras with file descriptor 2 pointed at /dev/null.

    TensorFlow's C++ start-up (CUDA probing, CPU features, oneDNN notes) writes to stderr before its log level
    can be set, which would bury our one-line errors. Python exceptions still propagate, and --debug skips this.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import keras  # noqa: F401  (imports TensorFlow, its backend)
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@contextlib.contextmanager
def warnings_on_one_line(category: type[Warning]):
    """Show the warnings of `category` raised inside the block as one line on stderr, "warning: <message>", instead
    of Python's two lines with a file name and a source line; other warnings are shown as usual."""
    with warnings.catch_warnings():
        show_as_usual = warnings.showwarning

        def show(message, warning_category, *args, **kwargs):
            if issubclass(warning_category, category):
                click.echo(f"warning: {message}", err=True)
            else:
                show_as_usual(message, warning_category, *args, **kwargs)

        warnings.showwarning = show
        yield


def fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def one_line_errors(command):
    """Turn every failure into one line on stderr and a non-zero exit; `--debug` shows the traceback instead.

    The package's own errors (`vae.errors.VAEError`) are expected: their message says what to do, and they exit with
    their kind's code (2 for bad usage, 1 otherwise). So are the operating system's (a file that cannot be written, a
    directory that is a file), named with their file. Anything else is a bug, and the line says so. The package's
    warnings (`vae.errors.VAEWarning`) are one line each.
    """

    @functools.wraps(command)
    def wrapper(*args, debug=False, **kwargs):
        # The interpreter's last garbage collection at exit walks TensorFlow's object graphs: about 1.5 s of every
        # command's exit after its work is done. Frozen objects are left to the operating system. Registered before
        # the command runs, it runs after the exit handlers the command adds (`--profile`'s log); every file is
        # written and closed before then anyway. Once per process, however many commands it runs (tests).
        atexit.unregister(gc.freeze)
        atexit.register(gc.freeze)
        try:
            if not debug:
                import_tensorflow_quietly()
            with warnings_on_one_line(VAEWarning):
                return command(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as error:  # KeyboardInterrupt is no Exception: it passes through to the command's handler
            if debug:
                traceback.print_exc()
                sys.exit(1)
            if isinstance(error, VAEError):
                fail(first_line(error), error.exit_code)
            if isinstance(error, OSError):
                fail(f"{error.strerror or error}" + (f": {error.filename}" if error.filename else ""))
            detail = f": {first_line(error)}" if str(error).strip() else ""
            fail(f"unexpected error: {type(error).__name__}{detail}; run again with --debug for the traceback")

    return debug_option(wrapper)


# What each stage of reading a folder is called on the progress line (`vae.data.folders.read_images`).
READING_STAGES = {"reading": "reading images", "decoding": "decoding images"}


def reading_progress(every: float = 10.0):
    """A progress callback for reading a folder of images, `progress(done, total, stage)`, on stderr once reading has
    taken two seconds: on a terminal one line per stage, rewritten as the files come in; elsewhere (a log file) a line
    at most every `every` seconds and one at the end of each stage. The stages are "reading" (every file's bytes
    read and checked against the decode cache) and "decoding"."""
    import time

    started = time.monotonic()
    last_line = started

    def show(done: int, total: int, stage: str = "decoding") -> None:
        nonlocal last_line
        now = time.monotonic()
        if now - started < 2:
            return
        line = f"{READING_STAGES.get(stage, stage)}: {done:,}/{total:,} ({100 * done / max(total, 1):.0f} %)"
        if sys.stderr.isatty():
            click.echo(f"\r{line}", err=True, nl=done == total)
        elif done == total or now - last_line >= every:
            click.echo(line, err=True)
            last_line = now

    return show


def options_given(*names: str) -> list[str]:
    """The options among the parameters `names` that the user typed on the command line, as the user spells them
    (the flag's first spelling, "--no-preprocess" for a switch given off)."""
    from click.core import ParameterSource

    context = click.get_current_context()
    given = []
    for parameter in context.command.params:
        if parameter.name in names and context.get_parameter_source(parameter.name) == ParameterSource.COMMANDLINE:
            value = context.params.get(parameter.name)
            secondary = getattr(parameter, "secondary_opts", [])
            given.append(secondary[0] if value is False and secondary else parameter.opts[0])
    return given


def index_list(context, parameter, value):
    """Parse "3,17,42" into [3, 17, 42]; anything else is a usage error naming the option."""
    if value is None:
        return None
    try:
        return [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from None


def output_path(output, run_dir: RunDir, view: str) -> Path:
    """--output when given, else <run-dir>/<view>.png (outputs/pretrained-NAME/<view>.png for a pretrained run)."""
    return Path(output) if output else run_dir.output_dir() / f"{view}.png"
