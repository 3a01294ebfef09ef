"""One training run per run folder: a lock file, and config.json marked when a run fails.

Two `train.py` runs into the same `--out_dir` would corrupt each other (the second deletes the
live run's history and checkpoints, or dies in h5py). So a run holds `<parent>/.<folder>.lock`
beside its run folder, created with O_CREAT | O_EXCL (atomic, also on NFS v3+), holding the pid,
host, start time and command of the holder. The lock sits beside the folder, not in it, because
`--overwrite` removes the run folder and a fresh run must find it empty.

A lock whose holder is a dead process on this host is stale (a killed run) and is taken over
with a message; a live holder, or one on another host (whose pid cannot be checked), gets a
one-line refusal naming it. The lock is released on exit, also when the run raises.

    with RunFolderGuard(log) as guard:
        ...
        guard.lock(run_dir, config_json)  # raises RunLockedError if another run holds it
        ...
"""

import datetime
import errno
import json
import os
import socket
import sys
import time

__all__ = ["RunLock", "RunFolderGuard", "RunLockedError", "lock_path", "mark_failed"]


class RunLockedError(FileExistsError):
    """Another live run holds the run folder."""


def lock_path(run_dir):
    """The lock file of a run folder: `<parent>/.<name>.lock`."""
    run_dir = os.path.abspath(run_dir)
    return os.path.join(os.path.dirname(run_dir), "." + os.path.basename(run_dir) + ".lock")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


class RunLock:
    """An exclusive lock on a run folder, held by this process until `release`."""

    def __init__(self, run_dir, log=print):
        self.run_dir = os.path.abspath(run_dir)
        self.path = lock_path(run_dir)
        self.log = log
        self.held = False

    def _describe(self, holder):
        return (f"pid {holder.get('pid')} on {holder.get('host')}, started "
                f"{holder.get('started')}: {holder.get('command')}")

    def acquire(self):
        parent = os.path.dirname(self.path)
        os.makedirs(parent, exist_ok=True)
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.datetime.now().isoformat(timespec="seconds"),
            "command": " ".join(sys.argv) or sys.executable,
        }
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._read()
                if holder is None:
                    # Being written by a run that started this very instant: give it a moment.
                    time.sleep(0.2)
                    holder = self._read()
                if holder is None or not self._stale(holder):
                    who = self._describe(holder) if holder else "a run that is starting"
                    raise RunLockedError(
                        f"{self.run_dir} is in use by another training run ({who}); wait for it "
                        f"to finish or choose another --out_dir (if that run is gone, delete "
                        f"{self.path}).") from None
                self.log(f"Removing the stale lock of a run that is gone ({self._describe(holder)})"
                         f": {self.path}")
                try:
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass  # another starting run removed it first; retry the O_EXCL create
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(record, f)
            self.held = True
            return self
        raise RunLockedError(f"{self.run_dir}: could not take the run lock {self.path}; another "
                             f"run keeps taking it.")

    def _read(self):
        try:
            with open(self.path) as f:
                holder = json.load(f)
            return holder if isinstance(holder, dict) else None
        except (OSError, ValueError):
            return None

    def _stale(self, holder):
        pid = holder.get("pid")
        if holder.get("host") != socket.gethostname() or not isinstance(pid, int):
            return False  # cannot tell whether a process on another machine is alive
        return not _alive(pid)

    def release(self):
        if self.held:
            holder = self._read()
            if holder is not None and holder.get("pid") == os.getpid():
                try:
                    os.unlink(self.path)
                except OSError as error:
                    if error.errno != errno.ENOENT:
                        raise
            self.held = False

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False


def mark_failed(config_path, error):
    """Records in a run's config.json that it stopped with `error` (status failed/interrupted),
    so that a folder left by a crash does not say "running".

    Returns None when recorded (or when there is nothing to mark), else the reason it could not
    be written (a full disk, say), which the caller reports; no temporary file is left."""
    from lpips_tf.training.run_files import write_json

    try:
        with open(config_path) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("status") != "running":
        return None
    interrupted = isinstance(error, KeyboardInterrupt)
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    record.update({
        "status": "interrupted" if interrupted else "failed",
        "error": f"{type(error).__name__}: {message}" if message else type(error).__name__,
        "stopped": datetime.datetime.now().isoformat(timespec="seconds"),
    })
    try:
        write_json(config_path, record)
    except OSError as failure:
        return str(failure)  # the original error matters more than this record
    return None


class RunFolderGuard:
    """Holds the run lock taken by `lock` for the duration of a `with` block; on an exception,
    marks the run's config.json failed (or interrupted) and releases the lock."""

    def __init__(self, log=print):
        self.log = log
        self._lock = None
        self._config = None

    def lock(self, run_dir, config_path):
        self._lock = RunLock(run_dir, self.log).acquire()
        self._config = config_path
        return self._lock

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc is not None and self._lock is not None:
                failure = mark_failed(self._config, exc)
                if failure:
                    self.log(f"Note: {self._config} still says \"running\": {failure}.")
        finally:
            if self._lock is not None:
                self._lock.release()
        return False
