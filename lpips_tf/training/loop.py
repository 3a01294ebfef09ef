"""`train`: one training run from a `TrainConfig` to the files in `<out_dir>/<variant>/`.

Files written:
  saved_model/          SavedModel of the DISTANCE model: `serving_default(image0, image1)`
                        -> {"distance": (N,)}, float32 NHWC in [-1, 1], any N, H, W.
  model.keras           the distance model (`lpips_tf.LPIPS`), `keras.saving.load_model`.
  judgment_model.keras  the whole 2AFC model (distance + G + optimizer), if
                        `save_judgment_model`.
  lin_weights.npz       lin0..linK (C,) arrays: `lpips_tf.LPIPS(lin_weights=path)` (lin
                        variants only; cosine variants have no lin layers).
  history.csv           one row per epoch, numbered from 1 like the log and the plots:
                        learning_rate, loss, two_afc, val_loss, val_two_afc (appended to on
                        resume; a run folder written when it counted from 0 still resumes).
  accuracy.png, loss.png  train vs validation per epoch.
  config.json           all settings, the data (flagged when synthetic), the saved epoch.
  checkpoints/best.weights.h5, tensorboard/  and, while running, backup/.

Every file is written under a temporary name and renamed into place, so a kill or a full disk
never leaves half a file; a resume checks each file before anything trains
(`lpips_tf.training.run_folder`).

The saved models are those of the epoch with the highest `val_two_afc` (the first one on ties)
when `select="best"`, or of the last epoch with `select="last"` (what the official trainer
keeps). `config.json` names the epoch.

With `config.cached_stats`, the channel statistics of the training and validation triplets are
computed once (or read from `config.stats_cache()`) and `fit` runs on them
(`lpips_tf.training.cached_stats`); the learned kernel is then copied into a real
`lpips_tf.LPIPS`, so the same files come out. There, judgment_model.keras is the image-input 2AFC
model around that distance with the trained judgment network, without optimizer state, and
`model` in the result is the statistics-input model that was trained.

Resuming is exact up to dropout: the weights, the optimizer state (and with it the learning-rate
schedule) and the epoch come back from the backup, and the data order is a function of (seed,
epoch) so the resumed epochs see the batches an uninterrupted run would have seen. Dropout masks
are not (Keras does not checkpoint random-generator state), so with `dropout > 0` a resumed run is
statistically, not bitwise, the same as an uninterrupted one; with `dropout=0` it is the same.
"""

import os
import time

import numpy as np

from lpips_tf.data.synthetic import BANNER
from lpips_tf.training.run_lock import RunFolderGuard
from lpips_tf.training.artefacts import save_artefacts
from lpips_tf.training.callbacks import fit_callbacks
from lpips_tf.training.checks import check_config, check_data_dir, check_trunk_weights
from lpips_tf.training.config import resolve_verbose, run_name
from lpips_tf.training.datasets import RunData
from lpips_tf.training.run_folder import RunFolder
from lpips_tf.training.run_record import finished_record, started_record
from lpips_tf.training.setups import cached_setup, end_to_end_setup, models_to_save
from lpips_tf.training.strategy import make_strategy, worker_role


def train(config, callbacks=None, log=print):
    """Trains one variant on 2AFC data and writes everything to `<out_dir>/<variant>/`.

    The files, the saved epoch and the cached-statistics path: see the module docstring.

    Args:
      config: a `TrainConfig`.
      callbacks: extra Keras callbacks for `fit`.
      log: function taking one line of text.

    Returns:
      A dict: run_dir, history (list of per-epoch dicts), saved_epoch (1-based), saved_val_two_afc,
      distance_model, model (the 2AFC model, holding the saved weights).
    """
    import tensorflow as tf

    # One run per run folder (lpips_tf/training/run_lock.py); config.json marked failed if the run raises.
    with RunFolderGuard(log) as guard:
        try:
            return _train(config, callbacks, log, guard)
        except tf.errors.InvalidArgumentError:
            # A damaged image inside tf.data: TensorFlow's message does not name the file.
            from lpips_tf.data import bapps

            bapps.name_bad_image(bapps.index_2afc(
                config.data_dir, list(config.train_sets) + list(config.val_sets),
                check_images=False).image_paths())
            raise


def _train(config, callbacks, log, guard):
    """`train`, with the run folder guarded by `guard` (locked before anything is deleted)."""
    start = time.time()
    # Everything that can be refused is checked before anything is written.
    variant = check_config(config)
    check_data_dir(config.data_dir)
    strategy = make_strategy(config.strategy)
    run = RunFolder.for_worker(config.out_dir, run_name(variant, config.taps),
                               *worker_role(strategy))
    data = RunData.load(config)
    check_trunk_weights(variant, config.trunk_weights)  # offline: the download error, here
    guard.lock(run.root, run.config)  # before prepare, which may delete a partial run's files
    first_epoch, previous = run.prepare(config, log)
    _log_plan(config, variant, data, strategy, log)

    make_setup = cached_setup if config.cached_stats else end_to_end_setup
    setup = make_setup(config, variant, strategy, data, first_epoch, log)
    # Models built and statistics read: only now may --overwrite remove the previous run.
    run.replace_previous(log)
    record = started_record(config, variant, data, setup, strategy, previous, first_epoch)
    run.write_config(record)

    fit_start = time.time()
    _fit(setup, config, variant, data, run, first_epoch, callbacks, log)
    rows, saved_epoch = _restore_saved_epoch(setup.model, run, config, first_epoch, data, log)
    fit_seconds = time.time() - fit_start

    distance, judgment_model = models_to_save(setup, config)
    save_artefacts(run, distance, judgment_model, variant, config, rows, saved_epoch,
                   data.synthetic)
    record = _finish(run, record, rows, saved_epoch, start, fit_seconds)
    return {"run_dir": run.root, "history": rows, "saved_epoch": saved_epoch,
            "saved_val_two_afc": record["saved_val_two_afc"], "distance_model": distance,
            "model": setup.model}


def _log_plan(config, variant, data, strategy, log):
    log(f"Variant {variant.name}: {variant.describe(config.trunk_weights)}")
    if config.taps is not None:
        log(f"Taps: {config.taps} (--taps), in {run_name(variant, config.taps)}/.")
    if data.synthetic:
        log(BANNER + ".")
    log(f"{len(data.train_index)} training triplets ({', '.join(data.train_index.subsets)}), "
        f"{len(data.val_index)} validation triplets ({', '.join(data.val_index.subsets)}); "
        f"{data.steps} steps of {config.batch_size} per epoch, {data.total_epochs} epochs "
        f"({config.epochs} at lr {config.lr:g}, {config.epochs_decay} decaying); "
        f"{strategy.num_replicas_in_sync} replica(s) ({config.strategy})"
        + ("; on cached channel statistics." if config.cached_stats else "."))


def _fit(setup, config, variant, data, run, first_epoch, callbacks, log):
    """Runs the epochs not yet trained (none when a finished run's files are written again)."""
    all_callbacks = fit_callbacks(run, first_epoch, callbacks, log)
    if not variant.trains_distance:
        log("Cosine distance: only the judgment network G trains; the 2AFC score stays fixed.")
    if first_epoch < data.total_epochs:
        # shuffle=False: the pipeline shuffles (per epoch, reproducibly); Keras cannot.
        setup.model.fit(setup.train_ds, epochs=data.total_epochs, steps_per_epoch=data.steps,
                        validation_data=setup.val_ds, callbacks=all_callbacks,
                        verbose=resolve_verbose(config.verbose), shuffle=False)
    else:
        log("All epochs were already trained; writing the final files again.")


def _restore_saved_epoch(model, run, config, first_epoch, data, log):
    """Loads the weights of the epoch to save into `model`; returns (history rows, that epoch
    1-based)."""
    rows = run.read_history()
    if model.optimizer is not None and not model.optimizer.built:
        # No fit ran in this session: built, the optimizer state in the weights files loads too
        # (judgment_model.keras keeps it).
        model.optimizer.build(model.trainable_variables)
    if config.select == "best" and os.path.isfile(run.best):
        val = [r.get("val_two_afc", -np.inf) for r in rows]
        saved_epoch = int(np.argmax(val)) + 1
        model.load_weights(run.best)
    else:
        saved_epoch = len(rows)
        if first_epoch >= data.total_epochs:
            # No fit ran in this session: the last epoch's weights are in the backup.
            model.load_weights(run.latest_backup_weights)
    saved_row = rows[saved_epoch - 1] if rows else {}
    log(f"Saving the model of epoch {saved_epoch} (val_two_afc "
        f"{saved_row.get('val_two_afc', float('nan')):.4f}) to {run.root}")
    return rows, saved_epoch


def _finish(run, record, rows, saved_epoch, start, fit_seconds):
    """Marks the run finished in config.json, drops its backup and releases the folder."""
    record = finished_record(record, rows, saved_epoch, start, fit_seconds)
    run.remove_backup()
    record["files"] = run.files()
    run.write_config(record)
    run.release()
    return record
