"""The two ways a run is set up: end to end on images, or on cached channel statistics.

Each returns a `Setup`: the training and validation datasets, the distance model that is saved,
the learning-rate schedule and the 2AFC model that `fit` trains. Both draw their random numbers in
the same order (distance model, then the judgment network), so for the same seed they start from
the same weights. `models_to_save` turns a trained setup into the image-input models written to
the run folder. An option the distance model takes (from the config or the `Variant`) goes
through `build_distance_model` in both setups here.
"""

import dataclasses
import os
import time

import keras
import tensorflow as tf

from lpips_tf.data import bapps
from lpips_tf.training.cached_stats import (build_cached_2afc_model, compute_triplet_stats,
                                           stats_dataset, stats_training_dataset)
from lpips_tf.training.config import resolve_verbose
from lpips_tf.training.datasets import image_training_dataset
from lpips_tf.uses.judgment import build_2afc_model
from lpips_tf.uses.schedule import LinearDecaySchedule
from lpips_tf.training.variants import build_distance_model


@dataclasses.dataclass
class Setup:
    """Datasets and models of one run.

    Attributes:
      train_ds, val_ds: what `fit` trains and validates on.
      distance: the `lpips_tf.LPIPS` that is saved.
      schedule: the `LinearDecaySchedule` of the optimizer.
      model: the 2AFC model `fit` trains (images in, or statistics in with `cached_stats`).
      stats_record: for config.json, where the cached statistics came from (None end to end).
    """

    train_ds: object
    val_ds: object
    distance: object
    schedule: object
    model: object
    stats_record: object = None


def _schedule(config, data):
    return LinearDecaySchedule(config.lr, data.steps, config.epochs, config.epochs_decay)


def end_to_end_setup(config, variant, strategy, data, first_epoch, log=print):
    """The distance model inside the 2AFC model, trained on images under `strategy`."""
    # The data order is a function of (config.seed, epoch) alone: build the pipeline while no
    # global seed is set (TF also refuses a tensor-valued shuffle seed under global seed 0).
    tf.random.set_seed(None)
    train_ds = image_training_dataset(data.train_index, config, data.steps, first_epoch,
                                      data.total_epochs)
    keras.utils.set_random_seed(config.seed)
    val_ds = bapps.twoafc_dataset(data.val_index, load_size=config.load_size,
                                  batch_size=config.batch_size)
    with strategy.scope():
        distance = build_distance_model(variant, config.trunk_weights, config.dropout,
                                        config.version, config.taps)
        schedule = _schedule(config, data)
        model = build_2afc_model(distance, image_size=config.load_size, learning_rate=schedule,
                                 beta_1=config.beta1)
    return Setup(train_ds, val_ds, distance, schedule, model)


def cached_setup(config, variant, strategy, data, first_epoch, log=print):
    """Statistics (computed or cached), datasets and models of a `cached_stats` run.

    The random draws happen in the order of the end-to-end path (distance model, then the
    judgment network; the cached kernel starts from the distance model's fresh lin weights), so
    both paths start from the same weights for the same seed. `strategy` is the default one
    (`check_config` refuses others).
    """
    keras.utils.set_random_seed(config.seed)
    # No element dropout in the saved distance model: the cached run did not train with it.
    distance = build_distance_model(variant, config.trunk_weights, 0.0, config.version,
                                    config.taps)
    arrays, record = _triplet_statistics(config, distance, data, log)

    # The data order is a function of (config.seed, epoch) alone, the end-to-end order.
    tf.random.set_seed(None)
    train_ds = stats_training_dataset(arrays["train"], config.batch_size, config.seed,
                                      data.steps, first_epoch, data.total_epochs)
    # Only TensorFlow's global seed: Python's random state (Keras' initializer seeds) goes on
    # from where the distance model left it, as in the end-to-end path.
    tf.random.set_seed(config.seed)
    val_ds = stats_dataset(arrays["val"], config.batch_size)
    schedule = _schedule(config, data)
    # A cosine variant's distance is the plain sum of the statistics: a fixed kernel of ones.
    model = build_cached_2afc_model(
        distance.channels, dropout_rate=config.cached_dropout, learning_rate=schedule,
        beta_1=config.beta1, initial_lin_weights=distance.get_lin_weights() or None,
        cos=not variant.lpips)
    return Setup(train_ds, val_ds, distance, schedule, model, record)


def _triplet_statistics(config, distance, data, log):
    """The statistics of the training and validation triplets, and a record of where they came
    from for config.json."""
    cache_dir = config.stats_cache()
    # Progress unless fit is silent: a bar on a terminal, a line every 10 s in a log.
    verbose = 2 if resolve_verbose(config.verbose) == 0 else 1
    record = {"dir": os.path.abspath(cache_dir)}
    stats_start = time.time()
    arrays = {}
    for part, index in (("train", data.train_index), ("val", data.val_index)):
        part_start = time.time()
        log(f"Channel statistics of the {len(index)} {part} triplets "
            f"({sum(distance.channels)} per pair)...")
        stats = compute_triplet_stats(
            distance, index, load_size=config.load_size, batch_size=config.batch_size,
            cache_dir=cache_dir, verbose=verbose, log=log)
        arrays[part] = stats
        record[part] = {"file": os.path.basename(stats["cache_file"] or ""),
                        "from_cache": stats["from_cache"],
                        "seconds": round(time.time() - part_start, 1)}
    record["seconds"] = round(time.time() - stats_start, 1)
    from_cache = record["train"]["from_cache"] and record["val"]["from_cache"]
    log(f"Channel statistics ready in {record['seconds']:.1f} s "
        f"({'from the cache' if from_cache else 'computed'}, {cache_dir}).")
    return arrays, record


def models_to_save(setup, config):
    """(distance model, judgment model) to write, from a setup holding the saved epoch's weights.

    End to end they are the trained models. With `cached_stats`, the learned kernel goes into the
    real distance model, whose distances are the statistics times the kernel (to float32
    rounding; a cosine distance has no kernel and is saved as it is), and the judgment network into an image-input 2AFC model around it (built only
    with `save_judgment_model`).
    """
    if not config.cached_stats:
        return setup.distance, setup.model
    distance, model = setup.distance, setup.model
    if distance.lpips:
        distance.set_lin_weights(model.get_layer("lin").lin_vectors())
    if not config.save_judgment_model:
        return distance, model
    judgment_model = build_2afc_model(distance, image_size=config.load_size,
                                      learning_rate=setup.schedule, beta_1=config.beta1)
    judgment_model.get_layer("judgment").set_weights(model.get_layer("judgment").get_weights())
    # Fresh optimizer state (the trained one belongs to the statistics-input model), built so
    # that the saved file loads without a mismatch warning.
    judgment_model.optimizer.build(judgment_model.trainable_variables)
    return distance, judgment_model
