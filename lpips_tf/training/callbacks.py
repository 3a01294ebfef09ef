"""The Keras callbacks of a training run: best-epoch checkpoint, CSV and TensorBoard logs, the
learning rate per epoch, the backup a resume starts from (`RunBackup`), and the test hook that
kills the process.

The checkpoint and the backup are written atomically (`lpips_tf.training.run_files`): a process
killed while Keras writes them leaves the previous complete files. The backup keeps the previous
epoch's pair of files too (`*.bkp`, Keras' own names for them), and its metadata records the
weights file's sha256 and the history rows up to its epoch, so that a resume can tell a weights
file from another epoch, or a damaged one, and rebuild history.csv
(`lpips_tf.training.run_folder.RunFolder.prepare`).

history.csv numbers epochs from 1, as the log ("Epoch 1/10"), the plots and config.json's
`saved_epoch` do (`HistoryLogger`); Keras counts them from 0 inside `fit`.

Test hook: when the environment variable `LPIPS_TF_TEST_KILL_AFTER_EPOCH=k` is set, `train` ends
the process with `os._exit(KILL_EXIT_CODE)` right after epoch k (1-based) has been logged and backed
up, as a crash would. The tests use it to check resuming; nothing else should set it.
"""

import os

import numpy as np
import keras
from keras import ops

from lpips_tf.training.run_files import (atomic_path, fsync_folder, partial_path, save_weights,
                                         sha256_file, write_error, write_json)

KILL_ENV = "LPIPS_TF_TEST_KILL_AFTER_EPOCH"
KILL_EXIT_CODE = 75


def fit_callbacks(run, first_epoch, extra=None, log=print):
    """The callbacks `fit` runs with, in order, writing to the `RunFolder` `run`.

    The best-epoch checkpoint only replaces a saved epoch that a resumed run beats; `extra` (the
    caller's callbacks) come after the logs and before the backup.
    """
    rows = run.read_history()
    best_so_far = max((r.get("val_two_afc", -np.inf) for r in rows), default=None)
    callbacks = [
        ExpectEpoch(first_epoch),
        LearningRateLogger(),
        BestCheckpoint(run.best, best_so_far),
        HistoryLogger(run.history, append=True),
        *tensorboard_callbacks(run.tensorboard, log),
        *(extra or []),
        # Last of the built-ins: an epoch counts as done once every log line for it is written.
        RunBackup(run.backup, rows),
    ]
    kill_after = os.environ.get(KILL_ENV)
    if kill_after:
        callbacks.append(KillAfterEpoch(int(kill_after)))
    return callbacks


class BestCheckpoint(keras.callbacks.Callback):
    """Saves the weights of each epoch whose `val_two_afc` beats every earlier one (and
    `best_so_far`, a resumed run's best), atomically; ties keep the first."""

    def __init__(self, path, best_so_far=None):
        super().__init__()
        self.path = path
        self.best = -np.inf if best_so_far is None else best_so_far

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get("val_two_afc")
        if value is not None and value > self.best:
            self.best = value
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            save_weights(self.model, self.path)


class RunBackup(keras.callbacks.BackupAndRestore):
    """Keras' `BackupAndRestore` (it restores the weights, optimizer state and epoch when `fit`
    starts), writing atomically: each epoch's weights and metadata go to temporary files first,
    the previous pair becomes `*.bkp`, then the new pair takes the usual names. The metadata adds
    the weights file's sha256 and the history rows (`history`: 1-based epochs up to its own), so
    that every moment of a kill leaves one complete, matching pair."""

    def __init__(self, backup_dir, rows=()):
        super().__init__(backup_dir, delete_checkpoint=False)
        self.rows = [dict(r) for r in rows]

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()
                                      if isinstance(v, (int, float, np.floating))}}
        self.rows = [r for r in self.rows if r["epoch"] <= epoch] + [row]
        super().on_epoch_end(epoch, logs)

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        weights_tmp = partial_path(self._weights_path)
        with atomic_path(weights_tmp) as tmp:  # complete and synced under its temporary name
            self.model.save_weights(tmp)
        metadata = {"epoch": self._current_epoch, "batch": self._last_batch_seen,
                    "weights_sha256": sha256_file(weights_tmp), "history": self.rows}
        metadata_tmp = partial_path(self._training_metadata_path)
        write_json(metadata_tmp, metadata)
        try:
            # The old pair becomes the previous backup, then the new pair takes its place.
            for path in (self._weights_path, self._training_metadata_path):
                if os.path.exists(path):
                    os.replace(path, path + ".bkp")
            os.replace(weights_tmp, self._weights_path)
            os.replace(metadata_tmp, self._training_metadata_path)
        except OSError as error:
            raise write_error(self._training_metadata_path, error) from error
        fsync_folder(self.backup_dir)


class HistoryLogger(keras.callbacks.CSVLogger):
    """`CSVLogger` with epochs numbered from 1 (`run_folder.read_history` reads both)."""

    def on_epoch_end(self, epoch, logs=None):
        try:
            super().on_epoch_end(epoch + 1, logs)
        except OSError as error:
            raise write_error(self.filename, error) from error


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the epoch's learning rate (at its first step) to the logs, before the CSV logger."""

    def on_epoch_begin(self, epoch, logs=None):
        self._lr = float(ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self._lr


class ExpectEpoch(keras.callbacks.Callback):
    """Checks that `fit` starts at the epoch the data pipeline was built for."""

    def __init__(self, first_epoch):
        super().__init__()
        self.first_epoch = first_epoch
        self.checked = False

    def on_epoch_begin(self, epoch, logs=None):
        if not self.checked and epoch != self.first_epoch:
            raise RuntimeError(f"fit resumed at epoch {epoch} but the data pipeline starts at "
                               f"epoch {self.first_epoch}; the backup changed underneath the run.")
        self.checked = True


class KillAfterEpoch(keras.callbacks.Callback):
    """Test hook: ends the process abruptly after epoch `k` (1-based), like a crash."""

    def __init__(self, k):
        super().__init__()
        self.k = k

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.k:
            print(f"{KILL_ENV}={self.k}: killing the process after epoch {self.k}", flush=True)
            os._exit(KILL_EXIT_CODE)


def tensorboard_callbacks(log_dir, log):
    """A TensorBoard callback when the `tensorboard` package is installed (TF does not require
    it, and `tf.summary` fails without it)."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        log("TensorBoard logs off: the `tensorboard` package is not installed "
            "(pip install tensorboard).")
        return []
    return [keras.callbacks.TensorBoard(log_dir, write_graph=False, profile_batch=0)]

