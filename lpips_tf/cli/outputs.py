"""Output files and folders checked before the work that fills them.

An unwritable `-o` / `--out` / `--out_dir` used to surface only after all the computation (or as a
PermissionError traceback). These helpers prove a location writable, and raise one `OutputError`
line naming the path otherwise. With `create=False` (the commands' checks, made before the inputs
are known to be good) they create nothing: a command refused for a bad input leaves no empty folder
or file behind. `check_not_input` refuses an output that is one of the inputs, or that lies inside
an input folder where the next run would read it. `write_file_atomically` writes a whole file under
a temporary name and renames it, so that a full disk leaves no partial file under the real name.
No TensorFlow or Keras here.
"""

import errno
import os
import tempfile

from lpips_tf.utils.files import write_bytes_atomically

__all__ = ["OutputError", "check_not_input", "check_results_file", "check_writable_dir",
           "is_inside", "open_results", "write_file_atomically"]


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


def _real(path):
    return os.path.realpath(os.fspath(path))


def is_inside(path, folder):
    """Whether `path` is `folder` or lies inside it, links resolved."""
    path, folder = _real(path), _real(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _same_file(path, other):
    try:
        return os.path.samefile(path, other)
    except OSError:  # `other` is gone: it is no longer an input
        return False


def check_not_input(path, what, files=(), folders=()):
    """Refuses an output `path` that is one of the input `files` (the same file by any name: a
    link, `./a.png`), or that is or lies inside one of the input `folders`; returns `path`.

    Outputs are opened for writing before their inputs are all read, so an output that is an input
    would be truncated before it is read; one inside an input folder would be read as an input by
    the next run.
    """
    path = os.fspath(path)
    if os.path.exists(path):
        for name in files:
            if _same_file(path, name):
                raise OutputError(f"the {what} {path} is the input {name}: writing it would "
                                  f"destroy that input; choose another name.")
    for folder in folders:
        if is_inside(path, folder):
            raise OutputError(f"the {what} {path} is inside the input folder {folder}: its files "
                              f"would become inputs; choose a folder outside the inputs.")
    return path


def write_file_atomically(path, data):
    """Writes the bytes `data` to `path` whole or not at all (`lpips_tf.utils.files`): on failure
    (a full disk, say) no temporary file is left and one `OutputError` names `path`."""
    path = os.fspath(path)
    try:
        return write_bytes_atomically(path, data)
    except OSError as error:
        raise OutputError(f"cannot write {path} ({_reason(error)}); free some space or choose "
                          f"another location.") from None


class _Results:
    """A line-buffered results file whose write errors (a full disk) name the file."""

    def __init__(self, path, file):
        self.path, self._file = path, file

    def write(self, text):
        try:
            self._file.write(text)
        except OSError as error:
            raise OutputError(f"cannot write the results file {self.path} ({_reason(error)}); "
                              f"free some space or choose another location.") from None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        try:
            self._file.close()
        except OSError as error:
            if exc_info[0] is None:
                raise OutputError(f"cannot write the results file {self.path} "
                                  f"({_reason(error)}).") from None


def open_results(path):
    """Opens a results file for writing line by line, after checking its folder.

    The file is line-buffered, so every result written is on disk at once: a run that is
    interrupted or meets a bad input keeps what it computed. File names that are not valid
    UTF-8 are written back as the bytes they were (`surrogateescape`); newline="" leaves line ends
    to the writer (the csv module ends its rows itself). A write error raises `OutputError` naming
    the file.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise OutputError(f"the results file {path} is a folder; expected a file name.")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        return _Results(path, open(path, "w", buffering=1, encoding="utf-8",
                                   errors="surrogateescape", newline=""))
    except OSError as error:
        raise OutputError(f"cannot write the results file {path} ({_reason(error)}); choose "
                          f"a writable location.") from None
