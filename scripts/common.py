"""What every command shares: quiet TensorFlow start-up, run-dir and seed options, and one-line errors.

Nothing here imports TensorFlow or `vae` at module level, so `--help` stays instant.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback

import click

run_dir_option = click.option(
    "--run-dir",
    type=click.Path(file_okay=False),
    default="outputs",
    show_default=True,
    envvar="VAE_RUN_DIR",
    help="Run directory (env VAE_RUN_DIR).",
)
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


def fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def one_line_errors(command):
    """Turn every failure into one line on stderr and a non-zero exit; `--debug` shows the traceback instead.

    Expected problems (bad files, bad runs, bad values) are ValueError or OSError and exit 1; anything else is a
    bug, reported as such.
    """

    @functools.wraps(command)
    def wrapper(*args, debug=False, **kwargs):
        try:
            if not debug:
                import_tensorflow_quietly()
            return command(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            raise
        except Exception as error:
            if debug:
                traceback.print_exc()
                sys.exit(1)
            if isinstance(error, OSError):
                detail = f"{error.strerror or error}" + (f": {error.filename}" if error.filename else "")
                fail(detail)
            if isinstance(error, ValueError):
                fail(str(error).splitlines()[0] if str(error) else type(error).__name__)
            fail(f"unexpected {type(error).__name__}: {first_line(error)} (rerun with --debug for the traceback)")

    return debug_option(wrapper)


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""
