"""Writing a file or a folder whole or not at all; no TensorFlow or Keras.

`atomic_path(path)` yields a temporary path beside `path` for any writer (open(), NumPy, h5py,
Keras, TensorFlow's SavedModel writer); once the block is done it flushes what was written to
disk and renames it over `path` (a folder replaces the old one), so that a process killed at any
moment leaves the old file or the new one, never half of one. On an error the temporary path is
removed and the error goes on unchanged: each caller turns an OSError into its own one-line error
(`lpips_tf.training.run_files`, `lpips_tf.cli.outputs`). Temporary names are unique per writer by
default (two processes may write one file at once, the last rename wins) and carry the writer's
process id, so that what a killed writer left is removed by the next write of that file.
"""

import contextlib
import errno
import os
import shutil
import tempfile

__all__ = ["TEMPORARY_PREFIX", "atomic_path", "fsync_path", "remove_abandoned_temporaries",
           "remove_path", "unique_temporary_path", "write_bytes_atomically"]


def remove_path(path):
    """Removes a file, link or folder tree; a path that is gone already, or cannot go, is left."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        with contextlib.suppress(OSError):
            os.remove(path)


# What os.fsync raises where a file system (or a folder on it) cannot be synced at all; anything
# else (no space left, an I/O error) means that the data may not be on disk, and is raised.
_CANNOT_SYNC = {errno.EINVAL, errno.EBADF, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EROFS}


def fsync_path(path):
    """Flushes a file (or a folder's entries) to disk. A path that cannot be opened for it, or a
    file system that cannot sync, is left be; a failed sync (a full disk) raises its OSError."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as error:
        if error.errno not in _CANNOT_SYNC:
            raise
    finally:
        os.close(fd)


# Temporary names start with it (`lpips_tf.training.run_files` clears them from run folders).
TEMPORARY_PREFIX = ".partial-"


def unique_temporary_path(path):
    """A free hidden name beside `path`, `.partial-<stem>.<pid>.<random><suffix>`: its suffix
    kept (Keras and NumPy look at it), unique so that two processes writing the same file at once
    never share a temporary file, and the writer's process id in it so that the temporary file of
    a killed writer can be told from one being written (`remove_abandoned_temporaries`)."""
    folder, stem, suffix = _parts(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f"{TEMPORARY_PREFIX}{stem}.{os.getpid()}.",
                               suffix=suffix)
    os.close(fd)
    os.remove(tmp)  # the writer creates it (a file or a folder)
    return tmp


def remove_abandoned_temporaries(path):
    """Removes the temporary files of `path` (`unique_temporary_path`) whose writer process is
    no longer running: what a writer killed mid-write left behind."""
    folder, stem, suffix = _parts(path)
    start = f"{TEMPORARY_PREFIX}{stem}."
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not (name.startswith(start) and name.endswith(suffix)):
            continue
        pid = name[len(start):].split(".", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            remove_path(os.path.join(folder, name))


def _parts(path):
    folder, name = os.path.split(os.path.abspath(path))
    stem, suffix = os.path.splitext(name)
    return folder, stem, suffix


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


@contextlib.contextmanager
def atomic_path(path, temporary=None):
    """Yields a temporary path for `path`: `temporary`, or by default a unique name beside it
    (after removing those of killed writers).
    Once the block is done the file (or every file of the folder) is synced and renamed to
    `path`; on any error the temporary path goes and the error is raised unchanged."""
    if temporary is None:
        remove_abandoned_temporaries(path)
        tmp = unique_temporary_path(path)
    else:
        tmp = temporary
        remove_path(tmp)
    try:
        yield tmp
        if os.path.isdir(tmp):
            for folder, _, names in os.walk(tmp):
                for name in names:
                    fsync_path(os.path.join(folder, name))
            remove_path(path)
        else:
            fsync_path(tmp)
        os.replace(tmp, path)
        fsync_path(os.path.dirname(os.path.abspath(path)))
    except BaseException:
        remove_path(tmp)
        raise


def write_bytes_atomically(path, data):
    """Writes the bytes `data` to `path` whole or not at all (`atomic_path`); returns `path`."""
    path = os.fspath(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
    return path
