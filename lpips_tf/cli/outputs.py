"""Output files and folders checked before the work that fills them.

An unwritable `-o` / `--out` / `--out_dir` used to surface only after all the computation (or as a
PermissionError traceback). These helpers prove a location writable, and raise one `OutputError`
line naming the path otherwise. With `create=False` (the commands' checks, made before the inputs
are known to be good) they create nothing: a command refused for a bad input leaves no empty folder
or file behind. No TensorFlow or Keras here.
"""

import errno
import os
import tempfile

__all__ = ["OutputError", "check_results_file", "check_writable_dir", "open_results"]


class OutputError(OSError):
    """An output path cannot be written."""

    def __str__(self):  # OSError's str() would prefix "[Errno None]"
        return self.args[0] if self.args else ""


def _reason(error):
    return error.strerror or str(error)


def _nearest_existing(path):
    """`path`, or its nearest ancestor that exists."""
    path = os.path.abspath(path)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def _check_can_write(path, create):
    """Raises OSError unless files can be created in folder `path` (made if `create`), or, when
    it is missing and not `create`, in its nearest existing ancestor (which must be a folder)."""
    if create:
        os.makedirs(path, exist_ok=True)
    target = path if os.path.isdir(path) else _nearest_existing(path)
    if not os.path.isdir(target):
        raise NotADirectoryError(errno.ENOTDIR, f"{target} is not a folder")
    with tempfile.TemporaryFile(dir=target):  # deleted at once: nothing stays behind
        pass


def check_writable_dir(path, what="output folder", create=True):
    """Checks that files can be written in folder `path` (created if needed, unless `create` is
    False); returns it."""
    path = os.fspath(path)
    try:
        _check_can_write(path, create)
    except OSError as error:
        raise OutputError(f"cannot write to the {what} {path} ({_reason(error)}); choose a "
                          f"writable location.") from None
    return path


def check_results_file(path):
    """Checks, creating nothing, that the results file `path` can be written by
    `open_results`."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise OutputError(f"the results file {path} is a folder; expected a file name.")
    try:
        _check_can_write(os.path.dirname(os.path.abspath(path)), create=False)
    except OSError as error:
        raise OutputError(f"cannot write the results file {path} ({_reason(error)}); choose "
                          f"a writable location.") from None
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
