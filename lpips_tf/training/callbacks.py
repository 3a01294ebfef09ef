"""The Keras callbacks of a training run: best-epoch checkpoint, CSV and TensorBoard logs, the
learning rate per epoch, `BackupAndRestore` (resume), and the test hook that kills the process.

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

KILL_ENV = "LPIPS_TF_TEST_KILL_AFTER_EPOCH"
KILL_EXIT_CODE = 75


def fit_callbacks(run, first_epoch, extra=None, log=print):
    """The callbacks `fit` runs with, in order, writing to the `RunFolder` `run`.

    The best-epoch checkpoint only replaces a saved epoch that a resumed run beats; `extra` (the
    caller's callbacks) come after the logs and before the backup.
    """
    best_so_far = max((r.get("val_two_afc", -np.inf) for r in run.read_history()), default=None)
    callbacks = [
        ExpectEpoch(first_epoch),
        LearningRateLogger(),
        keras.callbacks.ModelCheckpoint(
            run.best, monitor="val_two_afc", mode="max", save_best_only=True,
            save_weights_only=True, initial_value_threshold=best_so_far, verbose=0),
        HistoryLogger(run.history, append=True),
        *tensorboard_callbacks(run.tensorboard, log),
        *(extra or []),
        # Last of the built-ins: an epoch counts as done once every log line for it is written.
        keras.callbacks.BackupAndRestore(run.backup, delete_checkpoint=False),
    ]
    kill_after = os.environ.get(KILL_ENV)
    if kill_after:
        callbacks.append(KillAfterEpoch(int(kill_after)))
    return callbacks


class HistoryLogger(keras.callbacks.CSVLogger):
    """`CSVLogger` with epochs numbered from 1 (`run_folder.read_history` reads both)."""

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch + 1, logs)


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

