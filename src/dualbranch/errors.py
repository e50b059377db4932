"""The library's own errors: problems with the user's input, files or setup.

Every error that the ``dualbranch`` command prints as one line (exit code 2) derives from
:class:`DualbranchError`; anything else that escapes is a bug and keeps its traceback. Each class
also derives from the built-in exception Python code would expect (``ValueError`` for a bad value,
``FileNotFoundError`` for a missing file, ...), so ``except ValueError`` in user code keeps working.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "CheckpointMismatchError",
    "ConfigError",
    "DataError",
    "DualbranchError",
    "MissingDependencyError",
    "MissingFileError",
    "ModelOptionError",
    "OutputExistsError",
    "RunExistsError",
    "RunFolderError",
    "RunInUseError",
    "TrainingDivergedError",
    "UnknownModelError",
    "WriteError",
]


class DualbranchError(Exception):
    """Base of the library's errors: the message says what was wrong and how to fix it."""

    def __str__(self) -> str:
        # KeyError's str() is the repr of its argument; every error here shows its message as written
        message = str(self.args[0]) if len(self.args) == 1 else super().__str__()
        if message.startswith("Caught ") and "\nOriginal Traceback" in message:
            # raised in a DataLoader worker and re-raised by the loader with the worker's traceback as its
            # message: the error's own message is the traceback's last line, after "module.Class: "
            last = message.rstrip().splitlines()[-1]
            return last.split(": ", 1)[1] if ": " in last else last
        return message


class ConfigError(DualbranchError, ValueError):
    """A configuration value that cannot be used; the message names the key and where it was set."""


class ModelOptionError(ConfigError, TypeError):
    """A model option that the model does not have, or a value of the wrong kind for it (a ``TypeError``
    too, as Python raises for an unexpected keyword argument)."""


class UnknownModelError(DualbranchError, KeyError):
    """A model name that is not registered (``dualbranch models`` lists them)."""


class DataError(DualbranchError, ValueError):
    """Data that cannot be used as given: wrong shape, labels, layout or contents."""


class MissingFileError(DualbranchError, FileNotFoundError):
    """A file or folder the user named does not exist."""


class CheckpointError(DualbranchError, ValueError):
    """A weights or checkpoint file that is damaged, refused (unsafe) or of a newer format."""


class CheckpointMismatchError(CheckpointError):
    """Weights that do not fit the model: the message lists missing, unexpected and mis-shaped keys."""


class RunFolderError(DualbranchError, ValueError):
    """A folder that is not a (complete) run folder, or a run folder that cannot be used as asked."""


class OutputExistsError(DualbranchError, FileExistsError):
    """An output file or folder exists; nothing is replaced without ``--overwrite``."""


class RunExistsError(OutputExistsError, RunFolderError):
    """A run folder already holds a run; nothing is replaced without ``--overwrite``."""


class RunInUseError(RunFolderError):
    """A run folder that another process is training (or resuming): one owner per run folder."""


class TrainingDivergedError(DualbranchError, FloatingPointError):
    """Training produced a non-finite loss or weight; the message says where and what to change."""


class MissingDependencyError(DualbranchError, ImportError):
    """An optional dependency is not installed; the message gives the ``pip install`` that adds it."""


class WriteError(DualbranchError, OSError):
    """A file could not be written (disk full, permission denied, ...); nothing at the target changed."""
