"""Writing and checking the files of a run folder: every file a resume reads is written to a
temporary name beside it, flushed to disk and renamed over the old one, so that a process killed
at any moment leaves either the old file or the new one, never half of one.

`atomic_path(path)` is that rule (`lpips_tf.utils.files.atomic_path`) under the run's own
temporary names: a write that fails (a full disk, a file-size limit) is raised as one
`RunWriteError` naming the path, with the temporary file removed. `damage(path)` says in a few words why a run file cannot be read (None
when it can), for the checks a resume runs before anything trains.
"""

import contextlib
import errno
import json
import os
import shutil

# The project's one file-hash helper (also the downloads' hash check).
from lpips_tf.core.weights import _sha256 as sha256_file
from lpips_tf.utils import files
from lpips_tf.utils.files import fsync_path, remove_path

PARTIAL_PREFIX = files.TEMPORARY_PREFIX


class RunWriteError(OSError):
    """A run file could not be written (disk full, file-size limit, permissions): one line
    naming the file."""


class RunFileError(ValueError):
    """A run file that a resume needs is damaged and cannot be recovered from another file: one
    line naming it and what to do."""


def partial_path(path):
    """The temporary name `path` is written under (keeps its suffix: Keras and NumPy look at it)."""
    folder, name = os.path.split(path)
    return os.path.join(folder, PARTIAL_PREFIX + name)


def fsync_folder(folder):
    """Flushes a folder's entries (renames inside it) to disk."""
    fsync_path(folder)


def write_error(path, error):
    """`error` (an OSError or a TensorFlow error met while writing `path`) as a `RunWriteError`."""
    code = getattr(error, "errno", None)
    reason = os.strerror(code) if isinstance(code, int) and code else None
    if reason is None:
        text = str(getattr(error, "message", None) or error).strip()
        lines = text.splitlines()
        reason = lines[-1].strip() if lines else type(error).__name__
        for code_, name in ((errno.ENOSPC, "No space left on device"),
                            (errno.EFBIG, "File too large")):
            if name.lower() in text.lower():
                code, reason = code_, name
    hint = (" (the disk is full or a file-size limit was reached; free space and run the same "
            "command again to resume)" if code in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
            else "")
    return RunWriteError(code or errno.EIO, f"could not write {path}: {reason}{hint}")


@contextlib.contextmanager
def atomic_path(path, catch=(), shared=False):
    """`lpips_tf.utils.files.atomic_path` under the run's temporary name (`partial_path`, which a
    resume clears away), or with `shared` (a file that other runs may write at the same time: the
    statistics cache) under a unique one; an OSError (or one of the exception types `catch`)
    becomes a `RunWriteError` naming `path`."""
    try:
        with files.atomic_path(path, temporary=None if shared else partial_path(path)) as tmp:
            yield tmp
    except (OSError,) + tuple(catch) as error:
        if isinstance(error, RunWriteError):
            raise
        raise write_error(path, error) from error


def write_json(path, data):
    """Writes `data` as JSON atomically (`atomic_path`)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2, default=str)


def read_json(path, what="a run file"):
    """The JSON object in `path`, or a `RunFileError` naming it when it is cut short or garbled."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (ValueError, UnicodeDecodeError) as error:
        raise RunFileError(f"{path} is damaged ({what}, cut short or not JSON: {error})") from None
    if not isinstance(data, dict):
        raise RunFileError(f"{path} is damaged ({what}: expected a JSON object, got "
                           f"{type(data).__name__})")
    return data


def weights_damage(path, sha256=None):
    """Why the Keras weights file `path` cannot be loaded (None when it opens as HDF5 with every
    dataset readable, and matches `sha256` when given)."""
    if not os.path.isfile(path):
        return "missing"
    if os.path.getsize(path) == 0:
        return "empty (0 bytes)"
    if sha256 is not None and sha256_file(path) != sha256:
        return "its checksum does not match the one recorded with it"
    import h5py

    try:
        with h5py.File(path, "r") as f:
            f.visititems(_read_dataset)
    except (OSError, RuntimeError, ValueError, KeyError) as error:
        return f"cut short or not HDF5: {str(error).splitlines()[0] if str(error) else error}"
    return None


def _read_dataset(name, item):
    import h5py

    if isinstance(item, h5py.Dataset):
        item[()]


def save_weights(model, path):
    """`model.save_weights(path)`, atomically; returns the file's sha256."""
    with atomic_path(path) as tmp:
        model.save_weights(tmp)
        sha = sha256_file(tmp)
    return sha


def copy_file(source, path):
    """Copies `source` to `path` atomically."""
    with atomic_path(path) as tmp:
        shutil.copyfile(source, tmp)


def remove_partials(folder):
    """Removes the temporary files a killed write left in `folder` (and one level below)."""
    if not os.path.isdir(folder):
        return
    for root, dirs, names in os.walk(folder):
        for name in list(dirs) + names:
            if name.startswith(PARTIAL_PREFIX):
                remove_path(os.path.join(root, name))
        dirs[:] = [d for d in dirs if not d.startswith(PARTIAL_PREFIX)]
        if root != folder:
            dirs[:] = []
