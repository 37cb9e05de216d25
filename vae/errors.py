"""The errors the package raises on purpose, by kind. The commands print any of them as one line and exit with the
kind's code; anything else that escapes is a bug, and the commands say so.

    VAEError                 the base class: expected failures, whose message says what to do
    ├── UsageError           a value the caller chose is not allowed (exit 2, as for click's usage errors);
    │                        also a ValueError, so code that validates arguments the usual Python way catches it
    ├── DataError            a data file or folder is missing, damaged, or not the data set asked for (exit 1)
    ├── RunError             a run directory is missing, incomplete, damaged or busy (exit 1)
    │   └── DiskFullError    a file could not be written because its file system is full (exit 1)
    └── TrainingDivergedError  the loss became NaN or infinite (exit 1)

The warnings it gives, each shown by the commands as one line, "warning: <message>":

    VAEWarning
    ├── PrecisionWarning     the mixed precision asked for cannot help here, so training runs in float32
    ├── ImageWarning         an image could be read, but something in it was wrong (a damaged EXIF block)
    ├── ThresholdWarning     scores labelled by a saved threshold chosen at another number of importance samples
    └── CollapseWarning      a trained run ignores its input: no active latent unit, or reconstructions no better
                             than the mean image (posterior collapse)
"""


def first_line(error: BaseException) -> str:
    """The first line of an error's message, or its type's name when it has none: how a command reports it."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class VAEError(Exception):
    """An expected failure. `exit_code` is what a command exits with when it stops on one."""

    exit_code = 1


class UsageError(VAEError, ValueError):
    """A value chosen by the caller (an option, a config field, an argument) that is not allowed."""

    exit_code = 2


class DataError(VAEError):
    """A data file or folder that cannot be used; the message names it."""


class RunError(VAEError):
    """A run directory that is missing, incomplete, busy, or whose files disagree; the message says what to do."""


class DiskFullError(RunError):
    """A file could not be written because its file system is full; whatever was there before is kept."""


class TrainingDivergedError(VAEError):
    """The loss became NaN or infinite, which the settings (a learning rate too high) caused; the last good
    checkpoint stays on disk."""


class VAEWarning(UserWarning):
    """Something the user should know that does not stop the command."""


class PrecisionWarning(VAEWarning):
    """The mixed precision asked for cannot help on this machine, so training runs in float32."""


class ImageWarning(VAEWarning):
    """An image was read, but part of it was damaged or ignored; the message names the file."""


class ThresholdWarning(VAEWarning):
    """Scores are labelled by a saved threshold that was chosen on scores of another kind: from another number of
    importance samples (`vae.evaluation.thresholds`)."""


class CollapseWarning(VAEWarning):
    """A trained run ignores its input (posterior collapse): no latent unit is active, or its reconstructions are no
    better than the mean training image; the message says which, and what to try (`vae.evaluation.collapse`)."""
