"""Output files and folders checked before the work that fills them.

An unwritable `-o` / `--out` / `--out_dir` used to surface only after all the computation (or as a
PermissionError traceback). These helpers make the folder, prove it writable, and raise one
`OutputError` line naming the path otherwise. No TensorFlow or Keras here.
"""

import os
import tempfile

__all__ = ["OutputError", "check_writable_dir", "open_results"]


class OutputError(OSError):
    """An output path cannot be written."""

    def __str__(self):  # OSError's str() would prefix "[Errno None]"
        return self.args[0] if self.args else ""


def _reason(error):
    return error.strerror or str(error)


def check_writable_dir(path, what="output folder"):
    """Creates `path` if needed and checks that files can be created in it; returns it."""
    path = os.fspath(path)
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise OutputError(f"cannot write to the {what} {path} ({_reason(error)}); choose a "
                          f"writable location.") from None
    return path


def open_results(path):
    """Opens a results file for writing line by line, after checking its folder.

    The file is line-buffered, so every result written is on disk at once: a run that is
    interrupted or meets a bad input keeps what it computed.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise OutputError(f"the results file {path} is a folder; expected a file name.")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        return open(path, "w", buffering=1)
    except OSError as error:
        raise OutputError(f"cannot write the results file {path} ({_reason(error)}); choose "
                          f"a writable location.") from None
