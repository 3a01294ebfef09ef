"""Training LPIPS on 2AFC human judgments with `compile`/`fit` (the paper's section 3.3).

A 2AFC triplet (ref, p0, p1) with the fraction `h` of observers who preferred p1 is scored by one
shared distance model D: d0 = D(ref, p0), d1 = D(ref, p1). A small judgment network G
(`JudgmentHead`) maps (d0, d1) to the predicted probability that a person prefers p1, and the loss
is the binary cross-entropy between that probability and the fractional judgment `h`. D and G
train together; only D is kept as the metric.

The pieces, all Keras-native:

* `JudgmentHead`: G, a serializable layer.
* `TwoAFCScore`: the 2AFC agreement as a streaming metric, computed from the DISTANCES (never from
  G's prediction): `(d0 < d1) * (1 - h) + (d1 < d0) * h + 0.5 * (d0 == d1)`, averaged.
* `TwoAFCModel` / `build_2afc_model`: a Functional model {"ref", "p0", "p1"} ->
  {"judgment": (N,), "distances": (N, 2)}. The loss is attached to "judgment"; `compute_metrics`
  feeds "distances" to a `TwoAFCScore`, so `fit` reports `two_afc` and `val_two_afc`.
* `LinearDecaySchedule`: constant learning rate, then linear decay to 0 (the official schedule).
* `VARIANTS`: the paper's variants by name (`alex-lin`, `vgg-cos`, `alex-tune`, ...).
* `train(TrainConfig(...))`: the whole run, with best-model checkpointing, CSV and TensorBoard
  logs, `BackupAndRestore` (a killed run resumes where it stopped), `tf.distribute` strategies,
  and the exported artefacts (see `train`).

Resuming is exact up to dropout: the weights, the optimizer state (and with it the learning-rate
schedule) and the epoch come back from the backup, and the data order is a function of (seed,
epoch) so the resumed epochs see the batches an uninterrupted run would have seen. Dropout masks
are not (Keras does not checkpoint random-generator state), so with `dropout > 0` a resumed run is
statistically, not bitwise, the same as an uninterrupted one; with `dropout=0` it is the same.

Test hook: when the environment variable `LPIPS_TF_TEST_KILL_AFTER_EPOCH=k` is set, `train` ends
the process with `os._exit(KILL_EXIT_CODE)` right after epoch k (1-based) has been logged and backed
up, as a crash would. The tests use it to check resuming; nothing else should set it.
"""

import csv
import dataclasses
import datetime
import json
import math
import os
import shutil
import time

import numpy as np
import keras
import tensorflow as tf
from keras import ops

_PACKAGE = "lpips_tf"
KILL_ENV = "LPIPS_TF_TEST_KILL_AFTER_EPOCH"
KILL_EXIT_CODE = 75

DEFAULT_TRAIN_SETS = ("train/traditional", "train/cnn", "train/mix")
DEFAULT_VAL_SETS = ("val/traditional", "val/cnn", "val/superres", "val/deblur", "val/color",
                    "val/frameinterp")
STRATEGIES = ("default", "mirrored", "multi_worker")
SELECTIONS = ("best", "last")


class ConfigError(ValueError):
    """A training setting is invalid (unknown variant, bad value, resume with other settings)."""


# ------------------------------------------------------------------------------------------------
# The judgment network, the 2AFC metric and the 2AFC model.


@keras.saving.register_keras_serializable(package=_PACKAGE)
class JudgmentHead(keras.layers.Layer):
    """The judgment network G: two distances -> probability that a person prefers p1.

    Per triplet, the 5-vector `[d0, d1, d0 - d1, d0 / (d1 + eps), d1 / (d0 + eps)]` goes through
    Dense(hidden) -> LeakyReLU(negative_slope) -> Dense(hidden) -> LeakyReLU -> Dense(1) -> sigmoid
    (the official `Dist2LogitLayer`, whose 1x1 convolutions are dense layers).

    Inputs: `[d0, d1]`, each (N,) non-negative distances. Output: (N,) probabilities in (0, 1),
    the same shape as the judgments, which is what the binary cross-entropy is computed against.
    """

    def __init__(self, hidden_units=32, negative_slope=0.2, epsilon=0.1, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = hidden_units
        self.negative_slope = negative_slope
        self.epsilon = epsilon
        self.dense1 = keras.layers.Dense(hidden_units, name="dense1")
        self.dense2 = keras.layers.Dense(hidden_units, name="dense2")
        self.dense3 = keras.layers.Dense(1, name="dense3")

    def build(self, input_shape=None):
        self.dense1.build((None, 5))
        self.dense2.build((None, self.hidden_units))
        self.dense3.build((None, self.hidden_units))
        self.built = True

    def call(self, inputs):
        d0, d1 = inputs
        d0 = ops.cast(d0, self.compute_dtype)
        d1 = ops.cast(d1, self.compute_dtype)
        features = ops.stack(
            [d0, d1, d0 - d1, d0 / (d1 + self.epsilon), d1 / (d0 + self.epsilon)], axis=-1)
        x = ops.leaky_relu(self.dense1(features), self.negative_slope)
        x = ops.leaky_relu(self.dense2(x), self.negative_slope)
        return ops.sigmoid(ops.squeeze(self.dense3(x), axis=-1))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {**super().get_config(), "hidden_units": self.hidden_units,
                "negative_slope": self.negative_slope, "epsilon": self.epsilon}


def two_afc_scores(d0, d1, judge):
    """Per-triplet 2AFC agreement: `(d0 < d1)(1 - h) + (d1 < d0) h + 0.5 (d0 == d1)`.

    Args:
      d0, d1: (N,) distances d(ref, p0) and d(ref, p1).
      judge: (N,) fraction of observers that preferred p1.

    Returns:
      (N,) float32 scores in [0, 1].
    """
    d0 = ops.cast(d0, "float32")
    d1 = ops.cast(d1, "float32")
    h = ops.cast(judge, "float32")
    return (ops.cast(d0 < d1, "float32") * (1.0 - h) + ops.cast(d1 < d0, "float32") * h
            + 0.5 * ops.cast(d0 == d1, "float32"))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TwoAFCScore(keras.metrics.Metric):
    """Mean 2AFC agreement of a distance with the observers, over all batches seen.

    `update_state(y_true, y_pred)`: y_true (N,) the fraction of observers that preferred p1;
    y_pred (N, 2) the distances [d0, d1] (the "distances" output of a `TwoAFCModel`). Ties score
    0.5. The result is in [0, 1] (the paper reports it x 100).
    """

    def __init__(self, name="two_afc", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.convert_to_tensor(y_pred)
        scores = two_afc_scores(y_pred[:, 0], y_pred[:, 1], ops.reshape(y_true, (-1,)))
        if sample_weight is None:
            weights = ops.ones_like(scores)
        else:
            weights = ops.cast(ops.reshape(sample_weight, (-1,)), "float32")
        self.total.assign_add(ops.cast(ops.sum(scores * weights), self.dtype))
        self.count.assign_add(ops.cast(ops.sum(weights), self.dtype))

    def result(self):
        return ops.divide_no_nan(self.total, self.count)


@keras.saving.register_keras_serializable(package=_PACKAGE)
def judgment_loss(judge, prediction):
    """Binary cross-entropy of each triplet: fractional judgment h (N,) vs G's probability (N,).

    Returns one value per triplet, (N,). (Keras' `BinaryCrossentropy` on two (N,) vectors
    averages over the last axis into one scalar per batch, which Keras then does not rescale for
    `tf.distribute`: the reported loss comes out multiplied by the number of replicas.)
    """
    judge = ops.cast(ops.reshape(judge, (-1, 1)), prediction.dtype)
    return keras.losses.binary_crossentropy(judge, ops.reshape(prediction, (-1, 1)))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TwoAFCModel(keras.Model):
    """Functional 2AFC model that also reports the 2AFC score of its distances.

    Built by `build_2afc_model`: inputs {"ref", "p0", "p1"}, outputs {"judgment": (N,) predicted
    probability that a person prefers p1, "distances": (N, 2) [d(ref, p0), d(ref, p1)]}. Compile it
    with a loss on "judgment" only; targets are the (N,) judgments. Besides the compiled metrics,
    `fit`/`evaluate` report `two_afc`, a `TwoAFCScore` of the "distances" output (in training mode,
    so with dropout active in the lin layers, like the official trainer's `acc_r`).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.two_afc = TwoAFCScore(name="two_afc")

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        self.two_afc.update_state(y, y_pred["distances"], sample_weight)
        return super().compute_metrics(x, y, y_pred, sample_weight)

    # Two workarounds for Keras 3.15 under MultiWorkerMirroredStrategy with several workers,
    # where `fit` otherwise fails before or at its first step. Both only act in that case.
    def _multi_worker(self):
        strategy = self._distribute_strategy
        return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
                and getattr(strategy.extended, "_num_workers", 1) > 1)

    def train_step(self, data):
        return self._reducible_logs(super().train_step(data))

    def test_step(self, data):
        return self._reducible_logs(super().test_step(data))

    def _reducible_logs(self, logs):
        # tensorflow/tensorflow#72388: across workers Keras averages each returned log value with
        # `strategy.reduce("MEAN", v, axis=0)`, which rejects scalars. The values are already
        # global (metric states are all-reduced), so a length-1 vector averages to the same
        # number and comes back as a scalar.
        if not self._multi_worker():
            return logs
        return {k: tf.reshape(v, [1]) for k, v in logs.items()}

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # keras-team/keras#20329: before the first step `fit` and `evaluate` average one
        # distributed batch with `strategy.reduce` over the whole (x, y) structure, which fails
        # across workers. Only the batch's shapes matter there: use this worker's local batch.
        if iterator is not None and self._multi_worker():
            strategy = self._distribute_strategy
            for _, _, it in iterator:
                data_batch = tf.nest.map_structure(
                    lambda v: strategy.experimental_local_results(v)[0], next(it))
                break
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)


def build_2afc_model(distance_model, image_size=None, learning_rate=1e-4, beta_1=0.5,
                     beta_2=0.999, hidden_units=32, compile=True, name="lpips_2afc"):
    """The trainable 2AFC model around one shared distance model.

    Args:
      distance_model: a model called as `distance_model([x0, x1], training=...)` -> (N,), e.g.
        `lpips_tf.LPIPS(lin_weights=None)`. It is shared: d0 and d1 use the same weights.
      image_size: height and width of the inputs (the load size), or None for any size.
      learning_rate: a float or a `LearningRateSchedule` (see `LinearDecaySchedule`).
      beta_1, beta_2: Adam's moment decay rates (the paper: 0.5, 0.999).
      hidden_units: width of the judgment network.
      compile: compile with Adam and `judgment_loss` (binary cross-entropy of "judgment"
        against the fractional judgments); `two_afc` is reported either way. Build and compile
        inside `strategy.scope()` to distribute.
      name: model name.

    Returns:
      A `TwoAFCModel` with inputs {"ref", "p0", "p1"} (float32 NHWC in [-1, 1]) and outputs
      {"judgment": (N,), "distances": (N, 2)}.
    """
    size = (image_size, image_size) if isinstance(image_size, int) else (None, None)
    if image_size is not None and not isinstance(image_size, int):
        size = tuple(image_size)
    inputs = {key: keras.Input(shape=size + (3,), name=key, dtype="float32")
              for key in ("ref", "p0", "p1")}
    d0 = distance_model([inputs["ref"], inputs["p0"]])
    d1 = distance_model([inputs["ref"], inputs["p1"]])
    return assemble_2afc_model(inputs, d0, d1, learning_rate, beta_1, beta_2, hidden_units,
                               compile, name)


def assemble_2afc_model(inputs, d0, d1, learning_rate, beta_1, beta_2, hidden_units, compile,
                        name):
    """What every 2AFC model shares once it has d0 and d1 (symbolic, (N,) each).

    Adds the judgment network G and the (N, 2) "distances" output, wraps them in a
    `TwoAFCModel` and, with `compile`, compiles it with Adam and `judgment_loss`. Used by
    `build_2afc_model` (images in) and `lpips_tf.cached.build_cached_2afc_model` (statistics in).
    """
    judgment = JudgmentHead(hidden_units=hidden_units, name="judgment")([d0, d1])
    column = keras.layers.Reshape((1,))
    distances = keras.layers.Concatenate(axis=-1, name="distances")([column(d0), column(d1)])
    model = TwoAFCModel(inputs=inputs, outputs={"judgment": judgment, "distances": distances},
                        name=name)
    if compile:
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta_1,
                                            beta_2=beta_2),
            loss={"judgment": judgment_loss},
        )
    return model


# ------------------------------------------------------------------------------------------------
# Learning-rate schedule.


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LinearDecaySchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Constant learning rate for `epochs` epochs, then linear decay to 0 over `epochs_decay`.

    With `staircase=True` (the default) this is the official trainer's schedule: the rate is
    constant within an epoch, and after each epoch past the first `epochs` it drops by
    `initial_learning_rate / epochs_decay`. For 0-based epoch k:

        lr(k) = initial * (1 - clip(k - epochs, 0, epochs_decay) / epochs_decay)

    so with 5 + 5 epochs, epochs 0..5 train at the full rate and epochs 6..9 at 0.8, 0.6, 0.4,
    0.2 of it; the rate reaches 0 only after the last epoch. With `staircase=False` the same line
    is followed per step (k = step / steps_per_epoch), reaching 0 at the last step.

    Args:
      initial_learning_rate: the constant rate (1e-4 in the paper).
      steps_per_epoch: optimizer steps per epoch.
      epochs: epochs at the constant rate.
      epochs_decay: epochs of linear decay (0: constant throughout).
      staircase: decay once per epoch (official) instead of every step.
    """

    def __init__(self, initial_learning_rate, steps_per_epoch, epochs, epochs_decay,
                 staircase=True, name="linear_decay"):
        super().__init__()
        if steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1. Received: {steps_per_epoch}")
        if epochs < 0 or epochs_decay < 0:
            raise ValueError(f"epochs and epochs_decay must be >= 0. Received: epochs={epochs}, "
                             f"epochs_decay={epochs_decay}")
        self.initial_learning_rate = initial_learning_rate
        self.steps_per_epoch = int(steps_per_epoch)
        self.epochs = int(epochs)
        self.epochs_decay = int(epochs_decay)
        self.staircase = bool(staircase)
        self.name = name

    def __call__(self, step):
        lr = ops.convert_to_tensor(self.initial_learning_rate, "float32")
        if self.epochs_decay == 0:
            return lr
        epoch = ops.cast(step, "float32") / float(self.steps_per_epoch)
        if self.staircase:
            epoch = ops.floor(epoch)
        decayed = ops.clip(epoch - float(self.epochs), 0.0, float(self.epochs_decay))
        return lr * (1.0 - decayed / float(self.epochs_decay))

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "steps_per_epoch": self.steps_per_epoch, "epochs": self.epochs,
                "epochs_decay": self.epochs_decay, "staircase": self.staircase, "name": self.name}


# ------------------------------------------------------------------------------------------------
# Variants.


@dataclasses.dataclass(frozen=True)
class Variant:
    """One of the paper's training set-ups.

    Attributes:
      name: e.g. "alex-lin".
      net: trunk, "alex", "vgg" or "squeeze".
      lpips: learned lin layers (False: the plain cosine distance, nothing to weight).
      pretrained: trunk starts from ImageNet weights (`trunk_weights`); False: random init.
      tune_trunk: the trunk's weights train too.
      description: one line for logs, `config.json` and `--help`.
    """

    name: str
    net: str
    lpips: bool
    pretrained: bool
    tune_trunk: bool
    description: str

    @property
    def trains_distance(self):
        """Whether training changes the distance at all (False for the cosine variants)."""
        return self.lpips or self.tune_trunk


_NET_NAMES = {"alex": "AlexNet", "vgg": "VGG16", "squeeze": "SqueezeNet 1.1"}
_COS_NOTE = ("The distance has no weights to train: training fits only the judgment network G "
             "(so the loss curve falls), and the 2AFC score, fixed by the distance, does not "
             "change with training.")


def _make_variants():
    variants = {}
    for net in ("alex", "vgg", "squeeze"):
        title = _NET_NAMES[net]
        variants[f"{net}-lin"] = Variant(
            f"{net}-lin", net, True, True, False,
            f"{title} trunk, ImageNet-pretrained and frozen; lin layers trained from a random "
            f"non-negative start with dropout (the paper's 'lin').")
        variants[f"{net}-cos"] = Variant(
            f"{net}-cos", net, False, True, False,
            f"{title} trunk, ImageNet-pretrained and frozen; cosine distance (sum over channels "
            f"of squared differences of unit-normalised features), no lin layers. " + _COS_NOTE)
    variants["vgg-rand-cos"] = Variant(
        "vgg-rand-cos", "vgg", False, False, False,
        "Untrained VGG16 (random initialisation), cosine distance, no lin layers: the "
        "'random network' baseline. " + _COS_NOTE)
    for net in ("alex", "vgg"):
        title = _NET_NAMES[net]
        variants[f"{net}-tune"] = Variant(
            f"{net}-tune", net, True, True, True,
            f"{title} trunk from ImageNet weights, fine-tuned together with the lin layers "
            f"(the paper's 'tune').")
        variants[f"{net}-scratch"] = Variant(
            f"{net}-scratch", net, True, False, True,
            f"{title} trunk from random initialisation, trained together with the lin layers "
            f"(the paper's 'scratch').")
    return dict(sorted(variants.items()))


VARIANTS = _make_variants()


def get_variant(name):
    """The `Variant` called `name`, or a ValueError listing the known ones."""
    if name not in VARIANTS:
        raise ConfigError(f"Unknown variant {name!r}. Known variants: {', '.join(VARIANTS)}. "
                         f"Received: variant={name!r}")
    return VARIANTS[name]


def build_distance_model(variant, trunk_weights="torchvision", dropout_rate=0.5, version="0.1"):
    """The distance model a variant trains: an `lpips_tf.LPIPS` with fresh lin layers.

    Args:
      variant: a `Variant` or its name.
      trunk_weights: where the pretrained trunk comes from ("torchvision", "keras" for VGG, or a
        path); ignored for variants with a random trunk (`vgg-rand-cos`, `*-scratch`), which use
        Keras' default initialisers (seed them with `keras.utils.set_random_seed`).
      dropout_rate: dropout before each lin layer while training.
      version: LPIPS version ("0.1": ImageNet input scaling, as in the official training).
    """
    from lpips_tf.lpips_model import LPIPS

    variant = get_variant(variant) if isinstance(variant, str) else variant
    return LPIPS(
        net=variant.net, version=version, lpips=variant.lpips,
        trunk_weights=trunk_weights if variant.pretrained else None,
        lin_weights=None, dropout_rate=dropout_rate, trunk_trainable=variant.tune_trunk)


# ------------------------------------------------------------------------------------------------
# Distribution.


def make_strategy(name):
    """A `tf.distribute.Strategy` by name.

    "default": the default (no-op) strategy, one device. "mirrored": synchronous data parallelism
    over all local GPUs, or over all logical CPU devices when there is no GPU. "multi_worker":
    `MultiWorkerMirroredStrategy` configured from the `TF_CONFIG` environment variable (a single
    worker without it); create it before any other TensorFlow work in the process.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(devices=[d.name for d in devices])
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"strategy must be one of {STRATEGIES}. Received: strategy={name!r}")


def _worker_role(strategy):
    """(is_chief, worker tag) for the running process under a multi-worker strategy."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True, None
    task_type, task_id = resolver.task_type, resolver.task_id or 0
    spec = resolver.cluster_spec().as_dict()
    chief = task_type == "chief" or (task_type == "worker" and task_id == 0 and "chief" not in spec)
    return chief, f"{task_type}_{task_id}"


# ------------------------------------------------------------------------------------------------
# The training run.


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run depends on; written to `config.json`.

    `epochs` epochs at the constant rate are followed by `epochs_decay` epochs of linear decay, so
    a run has `epochs + epochs_decay` epochs (the paper: 5 + 5). `batch_size` is the global batch,
    split over the replicas of the strategy. An epoch is one shuffled pass over the training
    triplets (ceil(N / batch_size) steps, the last batch partial), or `steps_per_epoch` steps of
    it when that cap is set.

    `cached_stats=True` (frozen-trunk lin variants only: `*-lin`) trains on per-channel statistics
    computed once per triplet and cached on disk in `stats_cache_dir` (None:
    `<out_dir>/.stats_cache`, shared by the runs under `out_dir` and kept by `overwrite`); see
    `lpips_tf.cached`. It uses `cached_dropout` (channel dropout on the statistics, default off)
    instead of `dropout` (element dropout, which cannot be reproduced on the averages) and runs
    with the default strategy only.
    """

    data_dir: str
    variant: str = "alex-lin"
    train_sets: tuple = DEFAULT_TRAIN_SETS
    val_sets: tuple = DEFAULT_VAL_SETS
    trunk_weights: object = "torchvision"
    epochs: int = 5
    epochs_decay: int = 5
    batch_size: int = 50
    lr: float = 1e-4
    beta1: float = 0.5
    dropout: float = 0.5
    load_size: int = 64
    out_dir: str = "saved_models"
    strategy: str = "default"
    seed: int = 0
    steps_per_epoch: object = None
    version: str = "0.1"
    select: str = "best"
    save_judgment_model: bool = True
    overwrite: bool = False
    verbose: object = 1
    cached_stats: bool = False
    cached_dropout: float = 0.0
    stats_cache_dir: object = None

    def __post_init__(self):
        for key in ("train_sets", "val_sets"):
            value = getattr(self, key)
            if isinstance(value, str):
                value = [s.strip() for s in value.split(",") if s.strip()]
            setattr(self, key, tuple(value))

    def flags(self):
        """The config as JSON-friendly values."""
        out = dataclasses.asdict(self)
        out["train_sets"] = list(self.train_sets)
        out["val_sets"] = list(self.val_sets)
        return out

    def stats_cache(self):
        """The folder of the cached statistics (with `cached_stats`)."""
        return self.stats_cache_dir or os.path.join(self.out_dir, ".stats_cache")


# Settings that may change when a killed run is resumed; any other change is refused.
_RESUMABLE_CHANGES = ("strategy", "verbose", "overwrite", "out_dir", "select",
                      "save_judgment_model", "stats_cache_dir")
# Defaults of settings added later: a run recorded before they existed used these.
_FLAG_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig)}


def _cacheable(variant):
    """Whether a variant can train on cached channel statistics: lin layers on a frozen trunk."""
    return variant.lpips and variant.pretrained and not variant.tune_trunk


def _check_config(config):
    variant = get_variant(config.variant)
    problems = []
    if config.epochs < 0 or config.epochs_decay < 0 or config.epochs + config.epochs_decay < 1:
        problems.append(f"epochs={config.epochs} and epochs_decay={config.epochs_decay} must be "
                        f">= 0 with at least one epoch in all")
    if config.batch_size < 1:
        problems.append(f"batch_size={config.batch_size} must be >= 1")
    if not config.lr > 0:
        problems.append(f"lr={config.lr} must be > 0")
    if not 0 <= config.beta1 < 1:
        problems.append(f"beta1={config.beta1} must be in [0, 1)")
    if not 0 <= config.dropout < 1:
        problems.append(f"dropout={config.dropout} must be in [0, 1)")
    if config.steps_per_epoch is not None and config.steps_per_epoch < 1:
        problems.append(f"steps_per_epoch={config.steps_per_epoch} must be >= 1 (or None)")
    if config.strategy not in STRATEGIES:
        problems.append(f"strategy={config.strategy!r} must be one of {STRATEGIES}")
    if config.select not in SELECTIONS:
        problems.append(f"select={config.select!r} must be one of {SELECTIONS}")
    if not 0 <= config.cached_dropout < 1:
        problems.append(f"cached_dropout={config.cached_dropout} must be in [0, 1)")
    if config.cached_dropout and not config.cached_stats:
        problems.append(f"cached_dropout={config.cached_dropout} applies only with "
                        f"cached_stats=True (end-to-end training uses dropout)")
    if config.cached_stats:
        cached_variants = ", ".join(n for n, v in VARIANTS.items() if _cacheable(v))
        if not _cacheable(variant):
            reason = ("has no lin layers, so its distance has nothing to learn"
                      if not variant.lpips else
                      "trains its trunk, so the channel statistics change at every step"
                      if variant.tune_trunk else "has no pretrained trunk")
            problems.append(f"cached_stats needs a frozen pretrained trunk with lin layers (a "
                            f"*-lin variant: {cached_variants}); {variant.name} {reason}. Train "
                            f"it end to end (without --cached_stats)")
        if config.strategy != "default":
            problems.append(f"cached_stats trains with the default strategy only (each step is a "
                            f"few small matrix products); received strategy={config.strategy!r}")
    from lpips_tf.trunks import get_trunk_module

    min_size = get_trunk_module(variant.net).MIN_INPUT_SIZE
    if config.load_size < min_size:
        problems.append(f"load_size={config.load_size} is below {min_size}, the smallest input "
                        f"the {variant.net} trunk takes")
    if problems:
        raise ConfigError("Invalid training configuration: " + "; ".join(problems) + ".")
    return variant


def check_data_dir(data_dir):
    """Refuses a missing dataset folder, naming what was expected."""
    hint = ("Expected the BAPPS layout: <data_dir>/2afc/{train,val}/<subset>/{ref,p0,p1,judge}/ "
            "(and jnd/). Download BAPPS with the official scripts/download_dataset.sh, or write a "
            "small offline stand-in with `python -m lpips_tf.data.synthetic --out DIR`.")
    if not data_dir or not os.path.isdir(data_dir):
        raise FileNotFoundError(f"data_dir {data_dir!r} does not exist. {hint}")
    if not os.path.isdir(os.path.join(data_dir, "2afc")):
        raise FileNotFoundError(f"data_dir {data_dir!r} has no 2afc/ folder. {hint}")


def _read_history(path):
    """Rows of a CSVLogger file as dicts of floats (epoch as int)."""
    if not os.path.isfile(path):
        return []
    with open(path, newline="") as f:
        rows = []
        for row in csv.DictReader(f):
            rows.append({k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()
                         if v not in (None, "")})
        return rows


def _write_history(path, rows):
    keys = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


def _backup_epoch(backup_dir):
    """Completed epochs recorded by Keras' BackupAndRestore, or 0 without a backup."""
    path = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.isfile(path) or not os.path.isfile(os.path.join(backup_dir,
                                                                     "latest.weights.h5")):
        return 0
    with open(path) as f:
        return int(json.load(f)["epoch"])


class _RunDir:
    """File names inside `<out_dir>/<variant>/`."""

    def __init__(self, root):
        self.root = root
        self.config = os.path.join(root, "config.json")
        self.history = os.path.join(root, "history.csv")
        self.backup = os.path.join(root, "backup")
        self.checkpoints = os.path.join(root, "checkpoints")
        self.best = os.path.join(root, "checkpoints", "best.weights.h5")
        self.tensorboard = os.path.join(root, "tensorboard")
        self.saved_model = os.path.join(root, "saved_model")
        self.model = os.path.join(root, "model.keras")
        self.judgment_model = os.path.join(root, "judgment_model.keras")
        self.lin_weights = os.path.join(root, "lin_weights.npz")
        self.accuracy_plot = os.path.join(root, "accuracy.png")
        self.loss_plot = os.path.join(root, "loss.png")


def _prepare_run_dir(run, config, log):
    """Decides between a fresh run and a resume.

    Returns:
      (completed epochs, the interrupted run's config.json record or None).
    """
    if os.path.isdir(run.root) and os.listdir(run.root):
        if not os.path.isfile(run.config):
            raise FileExistsError(f"{run.root} exists and is not a training folder (no "
                                  f"config.json); choose another --out_dir.")
        with open(run.config) as f:
            previous = json.load(f)
        if config.overwrite:
            log(f"--overwrite: removing the previous run in {run.root}")
            shutil.rmtree(run.root)
        elif previous.get("status") == "finished":
            raise FileExistsError(f"{run.root} holds a finished run. Pass --overwrite to train "
                                  f"again, or choose another --out_dir.")
        else:
            done = _backup_epoch(run.backup)
            if done:
                saved = {**_FLAG_DEFAULTS, **previous["flags"]}
                changed = {k: (saved.get(k), v) for k, v in config.flags().items()
                           if k not in _RESUMABLE_CHANGES and saved.get(k) != v}
                if changed:
                    raise ConfigError(f"Cannot resume {run.root}: settings differ from the "
                                     f"interrupted run (saved, now): {changed}. Pass --overwrite "
                                     f"to start again.")
                # Rows logged after the last backup belong to an epoch that will run again.
                rows = [r for r in _read_history(run.history) if r["epoch"] < done]
                _write_history(run.history, rows)
                log(f"Resuming {run.root} after epoch {done} (from {run.backup}).")
                return done, previous
            log(f"{run.root}: an interrupted run without a backup; starting again.")
            for path in (run.history, run.checkpoints, run.tensorboard, run.backup):
                if os.path.isdir(path):
                    shutil.rmtree(path)
                elif os.path.exists(path):
                    os.remove(path)
    os.makedirs(run.root, exist_ok=True)
    return 0, None


def _training_dataset(index, config, steps_per_epoch, first_epoch, total_epochs):
    """Batches for epochs `first_epoch..total_epochs - 1`, each one reshuffled pass.

    The order of epoch k depends only on (seed, k), so a resumed run sees the batches an
    uninterrupted one would have seen.
    """
    from lpips_tf.data import bapps

    def epoch_batches(epoch):
        seed = tf.constant(config.seed, tf.int64) * 1_000_003 + epoch
        return bapps.twoafc_dataset(index, load_size=config.load_size,
                                    batch_size=config.batch_size, shuffle=True,
                                    seed=seed).take(steps_per_epoch)

    epochs = tf.data.Dataset.range(first_epoch, total_epochs)
    return epochs.flat_map(epoch_batches).prefetch(tf.data.AUTOTUNE)


def _dropout_mode(config, variant):
    """One line for config.json: which dropout the run trains with."""
    if not variant.lpips:
        return "none (no lin layers)"
    if config.cached_stats:
        if config.cached_dropout:
            return (f"channel dropout (rate {config.cached_dropout:g}) on the cached per-channel "
                    f"statistics (whole channels of each pair's averages; not the end-to-end "
                    f"element dropout, see lpips_tf.cached)")
        return ("none: cached statistics are spatial averages, on which the end-to-end element "
                "dropout cannot be reproduced (see lpips_tf.cached)")
    if config.dropout:
        return (f"element dropout (rate {config.dropout:g}) on the squared feature differences "
                f"before each lin layer")
    return "none"


def _cached_setup(config, variant, train_index, val_index, steps, first_epoch, total_epochs, log):
    """Statistics (computed or cached), datasets and models of a `cached_stats` run.

    The random draws happen in the order of the end-to-end path (distance model, then the
    judgment network; the cached kernel starts from the distance model's fresh lin weights), so
    both paths start from the same weights for the same seed.

    Returns:
      (train_ds, val_ds, distance model, schedule, cached 2AFC model, record for config.json).
    """
    from lpips_tf import cached

    keras.utils.set_random_seed(config.seed)
    # No element dropout in the saved distance model: the cached run did not train with it.
    distance = build_distance_model(variant, config.trunk_weights, 0.0, config.version)
    cache_dir = config.stats_cache()
    verbose = 1 if config.verbose in (1, "auto") else 2
    record = {"dir": os.path.abspath(cache_dir)}
    stats_start = time.time()
    arrays = {}
    for part, index in (("train", train_index), ("val", val_index)):
        part_start = time.time()
        log(f"Channel statistics of the {len(index)} {part} triplets "
            f"({sum(distance.channels)} per pair)...")
        stats = cached.compute_triplet_stats(distance, index, load_size=config.load_size,
                                             batch_size=config.batch_size, cache_dir=cache_dir,
                                             verbose=verbose, log=log)
        arrays[part] = stats
        record[part] = {"file": os.path.basename(stats["cache_file"] or ""),
                        "from_cache": stats["from_cache"],
                        "seconds": round(time.time() - part_start, 1)}
    record["seconds"] = round(time.time() - stats_start, 1)
    log(f"Channel statistics ready in {record['seconds']:.1f} s "
        f"({'from the cache' if record['train']['from_cache'] and record['val']['from_cache'] else 'computed'}, "
        f"{cache_dir}).")

    # The data order is a function of (config.seed, epoch) alone, the end-to-end order.
    tf.random.set_seed(None)
    train_ds = cached.stats_training_dataset(arrays["train"], config.batch_size, config.seed,
                                             steps, first_epoch, total_epochs)
    # Only TensorFlow's global seed: Python's random state (Keras' initializer seeds) goes on
    # from where the distance model left it, as in the end-to-end path.
    tf.random.set_seed(config.seed)
    val_ds = cached.stats_dataset(arrays["val"], config.batch_size)
    schedule = LinearDecaySchedule(config.lr, steps, config.epochs, config.epochs_decay)
    model = cached.build_cached_2afc_model(
        distance.channels, dropout_rate=config.cached_dropout, learning_rate=schedule,
        beta_1=config.beta1, initial_lin_weights=distance.get_lin_weights())
    return train_ds, val_ds, distance, schedule, model, record


class _LearningRateLogger(keras.callbacks.Callback):
    """Adds the epoch's learning rate (at its first step) to the logs, before the CSV logger."""

    def on_epoch_begin(self, epoch, logs=None):
        self._lr = float(ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self._lr


class _ExpectEpoch(keras.callbacks.Callback):
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


class _KillAfterEpoch(keras.callbacks.Callback):
    """Test hook: ends the process abruptly after epoch `k` (1-based), like a crash."""

    def __init__(self, k):
        super().__init__()
        self.k = k

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.k:
            print(f"{KILL_ENV}={self.k}: killing the process after epoch {self.k}", flush=True)
            os._exit(KILL_EXIT_CODE)


def _tensorboard_callbacks(log_dir, log):
    """A TensorBoard callback when the `tensorboard` package is installed (TF does not require
    it, and `tf.summary` fails without it)."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        log("TensorBoard logs off: the `tensorboard` package is not installed "
            "(pip install tensorboard).")
        return []
    return [keras.callbacks.TensorBoard(log_dir, write_graph=False, profile_batch=0)]


def write_lin_weights(distance_model, path):
    """Writes the lin layers as `lin0..linK` (C,) float32 arrays, what `LPIPS(lin_weights=path)`
    reads."""
    arrays = {f"lin{k}": np.asarray(v, np.float32)
              for k, v in enumerate(distance_model.get_lin_weights())}
    np.savez(path, **arrays)
    return path


def plot_history(rows, run_dir, title, marked_epoch=None):
    """Writes accuracy.png (2AFC x 100) and loss.png, train and validation per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    epochs = [r["epoch"] + 1 for r in rows]
    written = []
    for key, ylabel, fname, scale in (("two_afc", "2AFC score (%)", "accuracy.png", 100.0),
                                      ("loss", "binary cross-entropy", "loss.png", 1.0)):
        fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
        for prefix, label, style in (("", "train", "o-"), ("val_", "validation", "s-")):
            values = [r.get(prefix + key, float("nan")) * scale for r in rows]
            ax.plot(epochs, values, style, label=label)
        if marked_epoch is not None:
            ax.axvline(marked_epoch, color="grey", linestyle=":", label=f"saved (epoch {marked_epoch})")
        ax.set_title(f"{title}: {'2AFC score' if key == 'two_afc' else 'loss'}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = os.path.join(run_dir, fname)
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written


def _write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, default=str)
    os.replace(tmp, path)


def train(config, callbacks=None, log=print):
    """Trains one variant on 2AFC data and writes everything to `<out_dir>/<variant>/`.

    Files written:
      saved_model/          SavedModel of the DISTANCE model: `serving_default(image0, image1)`
                            -> {"distance": (N,)}, float32 NHWC in [-1, 1], any N, H, W.
      model.keras           the distance model (`lpips_tf.LPIPS`), `keras.saving.load_model`.
      judgment_model.keras  the whole 2AFC model (distance + G + optimizer), if
                            `save_judgment_model`.
      lin_weights.npz       lin0..linK (C,) arrays: `lpips_tf.LPIPS(lin_weights=path)` (lin
                            variants only; cosine variants have no lin layers).
      history.csv           one row per epoch: learning_rate, loss, two_afc, val_loss,
                            val_two_afc (CSVLogger, appended to on resume).
      accuracy.png, loss.png  train vs validation per epoch.
      config.json           all settings, the data (flagged when synthetic), the saved epoch.
      checkpoints/best.weights.h5, tensorboard/  and, while running, backup/.

    The saved models are those of the epoch with the highest `val_two_afc` (the first one on
    ties) when `select="best"`, or of the last epoch with `select="last"` (what the official
    trainer keeps). `config.json` names the epoch.

    With `config.cached_stats`, the channel statistics of the training and validation triplets
    are computed once (or read from `config.stats_cache()`) and `fit` runs on them
    (`lpips_tf.cached`); the learned kernel is then copied into a real `lpips_tf.LPIPS`, so the
    same files come out. There, judgment_model.keras is the image-input 2AFC model around that
    distance with the trained judgment network, without optimizer state, and `model` in the
    result is the statistics-input model that was trained.

    Args:
      config: a `TrainConfig`.
      callbacks: extra Keras callbacks for `fit`.
      log: function taking one line of text.

    Returns:
      A dict: run_dir, history (list of per-epoch dicts), saved_epoch (1-based), saved_val_two_afc,
      distance_model, model (the 2AFC model, holding the saved weights).
    """
    # One run per run folder (lpips_tf/run_lock.py); config.json marked failed if the run raises.
    from lpips_tf.run_lock import RunFolderGuard

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
    """`train`, with the run folder guarded by `guard`."""
    from lpips_tf.data import bapps
    from lpips_tf.export import export_saved_model

    start = time.time()
    variant = _check_config(config)
    check_data_dir(config.data_dir)
    strategy = make_strategy(config.strategy)
    is_chief, worker_tag = _worker_role(strategy)
    root = os.path.join(config.out_dir, variant.name)
    if not is_chief:
        # Every worker runs the same saving code (saving may synchronise the workers); only the
        # chief writes to the run folder, the others to a private folder of their own.
        root = os.path.join(config.out_dir, ".workers", variant.name, worker_tag)
    train_index = bapps.index_2afc(config.data_dir, config.train_sets)
    val_index = bapps.index_2afc(config.data_dir, config.val_sets)
    run = _RunDir(root)
    guard.lock(run.root, run.config)  # before _prepare_run_dir, which may delete files
    first_epoch, previous = _prepare_run_dir(run, config, log)
    total_epochs = config.epochs + config.epochs_decay
    full_steps = math.ceil(len(train_index) / config.batch_size)
    steps = min(full_steps, config.steps_per_epoch or full_steps)
    synthetic = os.path.isfile(os.path.join(config.data_dir, "synthetic.json"))

    log(f"Variant {variant.name}: {variant.description}")
    if synthetic:
        log("SYNTHETIC DATA: the judgments are simulated observers, NOT human judgments.")
    log(f"{len(train_index)} training triplets ({', '.join(train_index.subsets)}), "
        f"{len(val_index)} validation triplets ({', '.join(val_index.subsets)}); "
        f"{steps} steps of {config.batch_size} per epoch, {total_epochs} epochs "
        f"({config.epochs} at lr {config.lr:g}, {config.epochs_decay} decaying); "
        f"{strategy.num_replicas_in_sync} replica(s) ({config.strategy})"
        + ("; on cached channel statistics." if config.cached_stats else "."))

    stats_record = None
    if config.cached_stats:
        train_ds, val_ds, distance, schedule, model, stats_record = _cached_setup(
            config, variant, train_index, val_index, steps, first_epoch, total_epochs, log)
    else:
        # The data order is a function of (config.seed, epoch) alone: build the pipeline while
        # no global seed is set (TF also refuses a tensor-valued shuffle seed under global seed
        # 0).
        tf.random.set_seed(None)
        train_ds = _training_dataset(train_index, config, steps, first_epoch, total_epochs)
        keras.utils.set_random_seed(config.seed)
        val_ds = bapps.twoafc_dataset(val_index, load_size=config.load_size,
                                      batch_size=config.batch_size)
        with strategy.scope():
            distance = build_distance_model(variant, config.trunk_weights, config.dropout,
                                            config.version)
            schedule = LinearDecaySchedule(config.lr, steps, config.epochs, config.epochs_decay)
            model = build_2afc_model(distance, image_size=config.load_size,
                                     learning_rate=schedule, beta_1=config.beta1)

    record = {
        "status": "running",
        "variant": variant.name,
        "description": variant.description,
        "flags": config.flags(),
        "trunk_weights_used": (config.trunk_weights if variant.pretrained else
                               f"none: random (Keras default initialisers, seed {config.seed})"),
        "trains": ("judgment network G only (the distance has no trainable weights)"
                   if not variant.trains_distance else
                   "lin layers (as one vector over cached channel statistics) and G"
                   if config.cached_stats else
                   "lin layers and G" + (" and the trunk" if variant.tune_trunk else "")),
        "cached_stats": bool(config.cached_stats),
        "dropout_mode": _dropout_mode(config, variant),
        "data": {
            "data_dir": os.path.abspath(config.data_dir),
            "synthetic": synthetic,
            "note": ("SYNTHETIC DATA: judgments are simulated observers, NOT human judgments; "
                     "scores on it say nothing about agreement with people.") if synthetic
            else "BAPPS-layout data with human judgments.",
            "train_triplets": len(train_index),
            "val_triplets": len(val_index),
        },
        "steps_per_epoch": steps,
        "total_epochs": total_epochs,
        "learning_rate_schedule": schedule.get_config(),
        "strategy": {"name": config.strategy, "replicas": strategy.num_replicas_in_sync},
        "selection": ("highest val_two_afc (first epoch on ties)" if config.select == "best"
                      else "last epoch"),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    if stats_record:
        record["stats_cache"] = stats_record
    if previous:
        record["started"] = previous.get("started")
        record["resumed"] = previous.get("resumed", []) + [
            {"after_epoch": first_epoch,
             "at": datetime.datetime.now().isoformat(timespec="seconds")}]
    _write_json(run.config, record)

    best_so_far = max((r.get("val_two_afc", -np.inf) for r in _read_history(run.history)),
                      default=None)
    fit_callbacks = [
        _ExpectEpoch(first_epoch),
        _LearningRateLogger(),
        keras.callbacks.ModelCheckpoint(
            run.best, monitor="val_two_afc", mode="max", save_best_only=True,
            save_weights_only=True, initial_value_threshold=best_so_far, verbose=0),
        keras.callbacks.CSVLogger(run.history, append=True),
        *_tensorboard_callbacks(run.tensorboard, log),
        *(callbacks or []),
        # Last of the built-ins: an epoch counts as done once every log line for it is written.
        keras.callbacks.BackupAndRestore(run.backup, delete_checkpoint=False),
    ]
    kill_after = os.environ.get(KILL_ENV)
    if kill_after:
        fit_callbacks.append(_KillAfterEpoch(int(kill_after)))
    if not variant.trains_distance:
        log("Cosine distance: only the judgment network G trains; the 2AFC score stays fixed.")

    fit_start = time.time()
    if first_epoch < total_epochs:
        # shuffle=False: the pipeline shuffles (per epoch, reproducibly); Keras cannot.
        model.fit(train_ds, epochs=total_epochs, steps_per_epoch=steps, validation_data=val_ds,
                  callbacks=fit_callbacks, verbose=config.verbose, shuffle=False)
    else:
        log("All epochs were already trained; writing the final files again.")

    rows = _read_history(run.history)
    if config.select == "best" and os.path.isfile(run.best):
        val = [r.get("val_two_afc", -np.inf) for r in rows]
        saved_epoch = int(np.argmax(val)) + 1
        model.load_weights(run.best)
    else:
        saved_epoch = len(rows)
        if first_epoch >= total_epochs:
            model.load_weights(os.path.join(run.backup, "latest.weights.h5"))
    saved_row = rows[saved_epoch - 1] if rows else {}
    fit_seconds = time.time() - fit_start
    log(f"Saving the model of epoch {saved_epoch} (val_two_afc "
        f"{saved_row.get('val_two_afc', float('nan')):.4f}) to {run.root}")

    judgment_model = model
    if config.cached_stats:
        # The learned kernel goes into the real distance model, whose distances are the
        # statistics times the kernel (to float32 rounding); G goes into an image-input model.
        distance.set_lin_weights(model.get_layer("lin").lin_vectors())
        if config.save_judgment_model:
            judgment_model = build_2afc_model(distance, image_size=config.load_size,
                                              learning_rate=schedule, beta_1=config.beta1)
            judgment_model.get_layer("judgment").set_weights(
                model.get_layer("judgment").get_weights())
            # Fresh optimizer state (the trained one belongs to the statistics-input model),
            # built so that the saved file loads without a mismatch warning.
            judgment_model.optimizer.build(judgment_model.trainable_variables)
    export_saved_model(distance, run.saved_model)
    distance.save(run.model)
    if config.save_judgment_model:
        judgment_model.save(run.judgment_model)
    if variant.lpips:
        write_lin_weights(distance, run.lin_weights)
    title = variant.name + (" (synthetic data)" if synthetic else "")
    plot_history(rows, run.root, title, marked_epoch=saved_epoch)

    record.update({
        "status": "finished",
        "saved_epoch": saved_epoch,
        "saved_val_two_afc": saved_row.get("val_two_afc"),
        "epochs_trained": len(rows),
        "finished": datetime.datetime.now().isoformat(timespec="seconds"),
        "last_session_seconds": round(time.time() - start, 1),
        "last_session_fit_seconds": round(fit_seconds, 1),
    })
    if os.path.isdir(run.backup):
        shutil.rmtree(run.backup)
    record["files"] = sorted(os.listdir(run.root))
    _write_json(run.config, record)
    if not is_chief:
        shutil.rmtree(root, ignore_errors=True)
    return {"run_dir": run.root, "history": rows, "saved_epoch": saved_epoch,
            "saved_val_two_afc": saved_row.get("val_two_afc"), "distance_model": distance,
            "model": model}
