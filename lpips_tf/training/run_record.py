"""What config.json says about a run: the settings, the data, what trains, the schedule, and at
the end the saved epoch and timings. `RunFolder.write_config` writes it.

A field is added here and nowhere else; `started_record` is written before `fit` (status
"running"), `finished_record` after the files are saved.
"""

import datetime
import os
import time

import keras
import tensorflow as tf

from lpips_tf.data.synthetic import BANNER


def _now():
    return datetime.datetime.now().isoformat(timespec="seconds")


def started_record(config, variant, data, setup, strategy, previous=None, first_epoch=0):
    """The record of a run about to fit.

    Args:
      config: the `TrainConfig`; variant: its `Variant`; data: its `RunData`; setup: its
        `Setup` (schedule, statistics cache); strategy: the `tf.distribute.Strategy`.
      previous: the interrupted run's record when resuming (keeps its start and resumes).
      first_epoch: completed epochs the run resumes after.
    """
    record = {
        "status": "running",
        "variant": variant.name,
        "description": variant.describe(config.trunk_weights),
        "flags": config.flags(),
        "trunk_weights_used": (config.trunk_weights if variant.pretrained else
                               f"none: random (Keras default initialisers, seed {config.seed})"),
        "taps": list(setup.distance.taps),
        "channels": list(setup.distance.channels),
        "trains": _what_trains(config, variant),
        "cached_stats": bool(config.cached_stats),
        "dropout_mode": dropout_mode(config, variant),
        "data": {
            "data_dir": os.path.abspath(config.data_dir),
            "synthetic": data.synthetic,
            "note": BANNER + "." if data.synthetic else "BAPPS-layout data with human judgments.",
            "train_triplets": len(data.train_index),
            "val_triplets": len(data.val_index),
        },
        "steps_per_epoch": data.steps,
        "total_epochs": data.total_epochs,
        "learning_rate_schedule": setup.schedule.get_config(),
        "strategy": {"name": config.strategy, "replicas": strategy.num_replicas_in_sync},
        "selection": ("highest val_two_afc (first epoch on ties)" if config.select == "best"
                      else "last epoch"),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
        "started": _now(),
    }
    if setup.stats_record:
        record["stats_cache"] = setup.stats_record
    if previous:
        record["started"] = previous.get("started")
        record["resumed"] = previous.get("resumed", []) + [
            {"after_epoch": first_epoch, "at": _now()}]
    return record


def finished_record(record, rows, saved_epoch, session_start, fit_seconds):
    """The record once the files of epoch `saved_epoch` (1-based) are saved."""
    saved_row = rows[saved_epoch - 1] if rows else {}
    return {**record,
            "status": "finished",
            "saved_epoch": saved_epoch,
            "saved_val_two_afc": saved_row.get("val_two_afc"),
            "epochs_trained": len(rows),
            "finished": _now(),
            "last_session_seconds": round(time.time() - session_start, 1),
            "last_session_fit_seconds": round(fit_seconds, 1)}


def _what_trains(config, variant):
    if not variant.trains_distance:
        return "judgment network G only (the distance has no trainable weights)"
    if config.cached_stats:
        return "lin layers (as one vector over cached channel statistics) and G"
    return "lin layers and G" + (" and the trunk" if variant.tune_trunk else "")


def dropout_mode(config, variant):
    """One line for config.json: which dropout the run trains with."""
    if not variant.lpips:
        return "none (no lin layers)"
    if config.cached_stats:
        if config.cached_dropout:
            return (f"channel dropout (rate {config.cached_dropout:g}) on the cached per-channel "
                    f"statistics (whole channels of each pair's averages; not the end-to-end "
                    f"element dropout, see lpips_tf.training.cached_stats)")
        return ("none: cached statistics are spatial averages, on which the end-to-end element "
                "dropout cannot be reproduced (see lpips_tf.training.cached_stats)")
    if config.dropout:
        return (f"element dropout (rate {config.dropout:g}) on the squared feature differences "
                f"before each lin layer")
    return "none"

