"""The run folder `<out_dir>/<variant>/`: its file names, fresh start or resume, history, backups
and config.json.

`RunFolder.prepare` decides between a fresh run and a resume: a finished run is refused (unless
`overwrite`, and then removed by `replace_previous` only once the new run has passed its checks),
an interrupted one with a backup (`lpips_tf.training.callbacks.RunBackup`) resumes after its last
backed-up epoch if no setting changed that may not (`lpips_tf.training.config.changed_settings`),
and one without a backup starts again. `release` ends the run's use of the folder. Anything a run
must hold while it uses the folder belongs in those methods.

Before a resume, every file it reads is checked (`check_resume`): config.json, the backup's
metadata and weights (the pair whose recorded sha256 matches, the latest first, then the previous
epoch's `*.bkp` pair), history.csv (rewritten from the backup's rows) and the best-epoch
checkpoint. A damaged file is recovered from another one, or the run starts again, said in one
line; what cannot be recovered is one `RunFileError` line naming the file and what to do. All
this happens before anything trains.
"""

import csv
import os
import shutil

import numpy as np

from lpips_tf.training.config import ConfigError, changed_settings
from lpips_tf.training.run_files import (RunFileError, atomic_path, copy_file, read_json,
                                         remove_partials, weights_damage, write_json)


def read_history(path):
    """Rows of history.csv as dicts of floats, with "epoch" an int counted from 1.

    Runs written before history.csv counted epochs from 1 (Keras' CSVLogger counts from 0) have a
    first row of epoch 0: those numbers are shifted, so that old run folders resume and report
    like new ones. A history always starts at the run's first epoch, so its first row tells.
    """
    if not os.path.isfile(path):
        return []
    rows = []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        for row in reader:
            try:
                rows.append({k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()
                             if v not in (None, "") and k is not None})
                if "epoch" not in rows[-1] or None in row:
                    raise ValueError("wrong number of fields")
            except (TypeError, ValueError) as error:
                raise RunFileError(f"{path} is damaged: line {reader.line_num} ({error}); expected "
                                   f"an epoch number and one number per column") from None
    if rows and rows[0].get("epoch") == 0:
        for row in rows:
            row["epoch"] += 1
    return rows


def write_history(path, rows):
    """Writes `rows` (atomically), columns as Keras' CSVLogger orders them: epoch, then the
    others sorted, so that the rows a resumed run appends line up."""
    keys = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    keys = ["epoch"] + sorted(k for k in keys if k != "epoch")
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)


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
        self.backup_metadata = os.path.join(self.backup, "training_metadata.json")
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
        """Decides between a fresh run and a resume, checking every file a resume reads.

        With `config.overwrite`, the previous run stays until `replace_previous`.

        Returns:
          (completed epochs, the interrupted run's config.json record or None).
        """
        self.replacing = False
        if os.path.isdir(self.root) and os.listdir(self.root):
            if not os.path.isfile(self.config):
                raise FileExistsError(f"{self.root} exists and is not a training folder (no "
                                      f"config.json); choose another --out_dir.")
            if config.overwrite:
                self.replacing = True
                return 0, None
            try:
                previous = read_json(self.config, "the run's record")
            except RunFileError as error:
                raise RunFileError(f"{error}; restore it, or pass --overwrite to start "
                                   f"again.") from None
            if previous.get("status") == "finished":
                raise FileExistsError(f"{self.root} holds a finished run. Pass --overwrite to "
                                      f"train again, or choose another --out_dir.")
            remove_partials(self.root)
            if self.has_backup():
                self._check_resumable(config, previous)
                done = self.check_resume(config, log)
                if done:
                    log(f"Resuming {self.root} after epoch {done} (from {self.backup}).")
                    return done, previous
            else:
                log(f"{self.root}: an interrupted run without a backup; starting again.")
            self._remove_partial_run()
        os.makedirs(self.root, exist_ok=True)
        return 0, None

    def replace_previous(self, log):
        """With --overwrite: removes the previous run, now that the new one passed its checks."""
        if self.replacing:
            log(f"--overwrite: removing the previous run in {self.root}")
            shutil.rmtree(self.root)
            os.makedirs(self.root)
            self.replacing = False

    def _check_resumable(self, config, previous):
        flags = previous.get("flags")
        if not isinstance(flags, dict):
            raise RunFileError(f"{self.config} is damaged (no 'flags' settings to resume with); "
                               f"restore it, or pass --overwrite to start again.")
        changed = changed_settings(config, flags)
        if changed:
            raise ConfigError(f"Cannot resume {self.root}: settings differ from the "
                              f"interrupted run (saved, now): {changed}. Pass --overwrite "
                              f"to start again.")

    def check_resume(self, config, log):
        """Checks (and where it can, repairs) every file a resume reads; returns the epoch to
        resume after (0: the backup is unusable and the run starts again, said in one line)."""
        done, rows, problems = self._usable_backup()
        if not done:
            log(f"{'; '.join(problems)}; no usable backup: starting again from epoch 1.")
            return 0
        if problems:
            log(f"{'; '.join(problems)}: resuming from the previous backup (epoch {done}).")
        self._check_history(done, rows, log)
        self._check_best(config, done, log)
        return done

    def _usable_backup(self):
        """(epoch, history rows or None, problems) of the newest backup whose weights file is
        whole and matches its metadata (epoch 0 when there is none)."""
        problems, found = [], []
        weights = [p for p in (self.latest_backup_weights, self.latest_backup_weights + ".bkp")
                   if os.path.isfile(p)]
        for meta_path in (self.backup_metadata, self.backup_metadata + ".bkp"):
            if not os.path.isfile(meta_path):
                continue
            try:
                meta = read_json(meta_path, "backup metadata")
                epoch = int(meta["epoch"])
            except (RunFileError, KeyError, TypeError, ValueError) as error:
                problems.append(str(error) if isinstance(error, RunFileError) else
                                f"{meta_path} is damaged (no epoch number)")
                continue
            sha = meta.get("weights_sha256")
            # Metadata written by Keras' own BackupAndRestore has no checksum: its own slot's file.
            candidates = weights if sha else [meta_path.replace(
                os.path.basename(self.backup_metadata), os.path.basename(
                    self.latest_backup_weights))]
            for path in candidates:
                damage = weights_damage(path, sha)
                if damage is None:
                    found.append((epoch, meta, path, meta_path))
                    break
                if path == self.latest_backup_weights and meta_path == self.backup_metadata:
                    problems.append(f"{path} is damaged ({damage})")
        if not found:
            return 0, None, problems or [f"{self.backup} holds no backup"]
        epoch, meta, weights_path, meta_path = max(found, key=lambda f: f[0])
        if (weights_path, meta_path) != (self.latest_backup_weights, self.backup_metadata):
            copy_file(weights_path, self.latest_backup_weights)
            write_json(self.backup_metadata, meta)
        else:
            problems = []
        return epoch, meta.get("history"), problems

    def _check_history(self, done, rows, log):
        """history.csv holds exactly epochs 1..done: rewritten from the backup's rows when it has
        them (a damaged or longer file repaired, said when damaged), else trimmed."""
        try:
            logged = self.read_history()
        except RunFileError as error:
            if rows is None:
                raise RunFileError(f"{error}. Fix or remove that line, or pass --overwrite to "
                                   f"start again.") from None
            log(f"{error}: rewritten from the backup of epoch {done}.")
            logged = None
        if rows is None:
            rows = [r for r in logged if r["epoch"] <= done]
            if [r["epoch"] for r in rows] != list(range(1, done + 1)):
                raise RunFileError(f"{self.history} does not hold epochs 1 to {done} (the backup's "
                                   f"epochs); restore it, or pass --overwrite to start again.")
        # Rows logged after the last backup belong to an epoch that will run again.
        # Written back counted from 1, as the resumed epochs will be appended.
        write_history(self.history, rows)

    def _check_best(self, config, done, log):
        """The best-epoch checkpoint must load: a damaged one holding the backup's own epoch is
        copied back from the backup; otherwise it cannot be recovered."""
        if not os.path.exists(self.best):
            return
        damage = weights_damage(self.best)
        if damage is None:
            return
        val = [r.get("val_two_afc", -np.inf) for r in self.read_history()]
        best_epoch = int(np.argmax(val)) + 1 if val else 0
        if config.select == "last":
            log(f"{self.best} is damaged ({damage}); removed (--select last does not use it).")
            os.remove(self.best)
        elif best_epoch == done:
            log(f"{self.best} is damaged ({damage}); epoch {done} is in the backup: restored "
                f"from there.")
            copy_file(self.latest_backup_weights, self.best)
        else:
            raise RunFileError(f"{self.best} is damaged ({damage}) and holds the best epoch so "
                               f"far (epoch {best_epoch}), which no other file has: pass "
                               f"--overwrite to train again, or --select last to save the last "
                               f"epoch instead.")

    def _remove_partial_run(self):
        for path in (self.history, self.checkpoints, self.tensorboard, self.backup):
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)

    def has_backup(self):
        """Whether the run folder holds any backup file (whole or not)."""
        return os.path.isdir(self.backup) and any(
            os.path.isfile(os.path.join(self.backup, n)) for n in os.listdir(self.backup))

    def backup_epoch(self):
        """Completed epochs recorded by the backup's metadata, or 0 without a backup."""
        if not os.path.isfile(self.backup_metadata) or not os.path.isfile(
                self.latest_backup_weights):
            return 0
        return int(read_json(self.backup_metadata, "backup metadata")["epoch"])

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
