"""The run folder `<out_dir>/<variant>/`: its file names, fresh start or resume, history, backups
and config.json.

`RunFolder.prepare` decides between a fresh run and a resume: a finished run is refused (unless
`overwrite`), an interrupted one with a Keras `BackupAndRestore` backup resumes after its last
backed-up epoch if no setting changed that may not (`lpips_tf.training.config.changed_settings`),
and one without a backup starts again. `release` ends the run's use of the folder. Anything a run
must hold while it uses the folder belongs in those two methods.
"""

import csv
import json
import os
import shutil

from lpips_tf.training.config import ConfigError, changed_settings


def read_history(path):
    """Rows of history.csv as dicts of floats, with "epoch" an int counted from 1.

    Runs written before history.csv counted epochs from 1 (Keras' CSVLogger counts from 0) have a
    first row of epoch 0: those numbers are shifted, so that old run folders resume and report
    like new ones. A history always starts at the run's first epoch, so its first row tells.
    """
    if not os.path.isfile(path):
        return []
    with open(path, newline="") as f:
        rows = [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()
                 if v not in (None, "")} for row in csv.DictReader(f)]
    if rows and rows[0].get("epoch") == 0:
        for row in rows:
            row["epoch"] += 1
    return rows


def write_history(path, rows):
    keys = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


def write_json(path, data):
    """Writes then renames, so that a killed run never leaves a half-written file."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, default=str)
    os.replace(tmp, path)


class RunFolder:
    """File names inside `<out_dir>/<variant>/`, and the run's dealings with them."""

    def __init__(self, root, private=False):
        self.root = root
        # A non-chief worker's own folder, removed by `release`.
        self.private = private
        self.config = os.path.join(root, "config.json")
        self.history = os.path.join(root, "history.csv")
        self.backup = os.path.join(root, "backup")
        self.latest_backup_weights = os.path.join(self.backup, "latest.weights.h5")
        self.checkpoints = os.path.join(root, "checkpoints")
        self.best = os.path.join(root, "checkpoints", "best.weights.h5")
        self.tensorboard = os.path.join(root, "tensorboard")
        self.saved_model = os.path.join(root, "saved_model")
        self.model = os.path.join(root, "model.keras")
        self.judgment_model = os.path.join(root, "judgment_model.keras")
        self.lin_weights = os.path.join(root, "lin_weights.npz")
        self.accuracy_plot = os.path.join(root, "accuracy.png")
        self.loss_plot = os.path.join(root, "loss.png")

    @classmethod
    def for_worker(cls, out_dir, name, is_chief=True, worker_tag=None):
        """The run folder of variant `name` as this process sees it.

        Every worker runs the same saving code (saving may synchronise the workers); only the
        chief writes to the run folder, the others to a private folder of their own.
        """
        if is_chief:
            return cls(os.path.join(out_dir, name))
        return cls(os.path.join(out_dir, ".workers", name, worker_tag), private=True)

    def prepare(self, config, log):
        """Decides between a fresh run and a resume.

        Returns:
          (completed epochs, the interrupted run's config.json record or None).
        """
        if os.path.isdir(self.root) and os.listdir(self.root):
            if not os.path.isfile(self.config):
                raise FileExistsError(f"{self.root} exists and is not a training folder (no "
                                      f"config.json); choose another --out_dir.")
            with open(self.config) as f:
                previous = json.load(f)
            if config.overwrite:
                log(f"--overwrite: removing the previous run in {self.root}")
                shutil.rmtree(self.root)
            elif previous.get("status") == "finished":
                raise FileExistsError(f"{self.root} holds a finished run. Pass --overwrite to "
                                      f"train again, or choose another --out_dir.")
            else:
                done = self.backup_epoch()
                if done:
                    self._check_resumable(config, previous)
                    # Rows logged after the last backup belong to an epoch that will run again.
                    # Written back counted from 1, as the resumed epochs will be appended.
                    write_history(self.history,
                                  [r for r in self.read_history() if r["epoch"] <= done])
                    log(f"Resuming {self.root} after epoch {done} (from {self.backup}).")
                    return done, previous
                log(f"{self.root}: an interrupted run without a backup; starting again.")
                self._remove_partial_run()
        os.makedirs(self.root, exist_ok=True)
        return 0, None

    def _check_resumable(self, config, previous):
        changed = changed_settings(config, previous["flags"])
        if changed:
            raise ConfigError(f"Cannot resume {self.root}: settings differ from the "
                              f"interrupted run (saved, now): {changed}. Pass --overwrite "
                              f"to start again.")

    def _remove_partial_run(self):
        for path in (self.history, self.checkpoints, self.tensorboard, self.backup):
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)

    def backup_epoch(self):
        """Completed epochs recorded by Keras' BackupAndRestore, or 0 without a backup."""
        path = os.path.join(self.backup, "training_metadata.json")
        if not os.path.isfile(path) or not os.path.isfile(self.latest_backup_weights):
            return 0
        with open(path) as f:
            return int(json.load(f)["epoch"])

    def read_history(self):
        """The rows of history.csv (see `read_history`)."""
        return read_history(self.history)

    def write_config(self, record):
        write_json(self.config, record)

    def remove_backup(self):
        """Drops the backup of a finished run (a finished run is not resumed)."""
        if os.path.isdir(self.backup):
            shutil.rmtree(self.backup)

    def files(self):
        return sorted(os.listdir(self.root))

    def release(self):
        """Ends this process's use of the folder: a worker's private copy goes."""
        if self.private:
            shutil.rmtree(self.root, ignore_errors=True)
