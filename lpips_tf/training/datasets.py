"""What a run trains on: the 2AFC indexes, the epoch plan, and the per-epoch training order.

The order of epoch k depends only on (seed, k) (`epoch_seed`), so a resumed run sees the batches an
uninterrupted one would have seen, and the cached-statistics path
(`lpips_tf.training.cached_stats.stats_training_dataset`) serves the triplets in the same order
as the image pipeline here. Build these datasets while no global TensorFlow seed is set (TF
refuses a tensor-valued shuffle seed under global seed 0).
"""

import dataclasses
import math
import os

import tensorflow as tf

from lpips_tf.data import bapps
from lpips_tf.data.synthetic import is_synthetic


@dataclasses.dataclass(frozen=True)
class RunData:
    """The triplets of a run and how many steps and epochs it takes over them."""

    train_index: bapps.TwoAFCIndex
    val_index: bapps.TwoAFCIndex
    synthetic: bool
    steps: int
    total_epochs: int

    @classmethod
    def load(cls, config):
        """Indexes `config.train_sets` and `config.val_sets` (a `DataError` names what is
        missing); an epoch is one pass over the training triplets, capped at
        `config.steps_per_epoch`."""
        train_index = bapps.index_2afc(config.data_dir, config.train_sets)
        val_index = bapps.index_2afc(config.data_dir, config.val_sets)
        full_steps = math.ceil(len(train_index) / config.batch_size)
        return cls(
            train_index, val_index,
            synthetic=is_synthetic(config.data_dir),
            steps=min(full_steps, config.steps_per_epoch or full_steps),
            total_epochs=config.epochs + config.epochs_decay)


def epoch_seed(seed, epoch):
    """The shuffle seed of epoch `epoch` (a scalar int64 tensor inside `tf.data`)."""
    return tf.constant(seed, tf.int64) * 1_000_003 + epoch


def by_epoch(epoch_batches, first_epoch, total_epochs):
    """`epoch_batches(epoch)` for epochs `first_epoch..total_epochs - 1`, one after the other."""
    return tf.data.Dataset.range(first_epoch, total_epochs).flat_map(epoch_batches)


def image_training_dataset(index, config, steps_per_epoch, first_epoch, total_epochs):
    """Batches of images for epochs `first_epoch..total_epochs - 1`, each a reshuffled pass."""

    def epoch_batches(epoch):
        return bapps.twoafc_dataset(index, load_size=config.load_size,
                                    batch_size=config.batch_size, shuffle=True,
                                    seed=epoch_seed(config.seed, epoch)).take(steps_per_epoch)

    return bapps.without_autotuning(
        by_epoch(epoch_batches, first_epoch, total_epochs).prefetch(tf.data.AUTOTUNE))
