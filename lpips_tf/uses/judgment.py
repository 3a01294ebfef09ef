"""The judgment network G, the 2AFC score, the loss and the 2AFC model (the paper's section 3.3).

A 2AFC triplet (ref, p0, p1) with the fraction `h` of observers who preferred p1 is scored by one
shared distance model D: d0 = D(ref, p0), d1 = D(ref, p1). A small judgment network G
(`JudgmentHead`) maps (d0, d1) to the predicted probability that a person prefers p1, and the loss
is the binary cross-entropy between that probability and the fractional judgment `h`. D and G
train together; only D is kept as the metric.

* `JudgmentHead`: G, a serializable layer.
* `two_afc_scores` / `TwoAFCScore`: the 2AFC agreement, per triplet and as a streaming metric,
  computed from the DISTANCES (never from G's prediction):
  `(d0 < d1) * (1 - h) + (d1 < d0) * h + 0.5 * (d0 == d1)`, averaged.
* `judgment_loss`: per-triplet binary cross-entropy of G's probability against `h`.
* `TwoAFCModel` / `build_2afc_model`: a Functional model {"ref", "p0", "p1"} ->
  {"judgment": (N,), "distances": (N, 2)}. The loss is attached to "judgment"; `compute_metrics`
  feeds "distances" to a `TwoAFCScore`, so `fit` reports `two_afc` and `val_two_afc`.
* `assemble_2afc_model`: what every 2AFC model shares once it has d0 and d1 (also used by the
  cached-statistics model, `lpips_tf.training.cached_stats`).

Depends on Keras only (TensorFlow is imported where `tf.distribute` needs it), so that
`import lpips_tf` registers these classes on every backend and a saved 2AFC model loads
without the training package. `CachedLin` is the distance of the 2AFC model trained on cached
channel statistics (`lpips_tf.training.cached_stats`).
"""

import keras
import numpy as np
from keras import ops

# Registration package of the serializable objects; the names saved in `.keras` files.
_PACKAGE = "lpips_tf"

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
        strategy = getattr(self, "_distribute_strategy", None)
        if strategy is None:
            return False  # Not built under a tf.distribute strategy (or not on TensorFlow).
        import tensorflow as tf

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
        return {k: ops.reshape(v, [1]) for k, v in logs.items()}

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # keras-team/keras#20329: before the first step `fit` and `evaluate` average one
        # distributed batch with `strategy.reduce` over the whole (x, y) structure, which fails
        # across workers. Only the batch's shapes matter there: use this worker's local batch.
        if iterator is not None and self._multi_worker():
            import tensorflow as tf

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
    `build_2afc_model` (images in) and `lpips_tf.training.cached_stats.build_cached_2afc_model`
    (statistics in).
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


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CachedLin(keras.layers.Layer):
    """All lin layers of a trunk as one non-negative vector over cached channel statistics.

    Input: (N, sum(channels)) per-channel mean squared differences. Output: (N,) distances.
    `dropout_rate` drops whole channels of the statistics while training (see the module doc).
    `kernel_initializer`: None for uniform in [0, 2 / max(channels)) (non-negative, so the
    constraint does not zero half of it on the first step), or any Keras initializer.
    """

    def __init__(self, channels, dropout_rate=0.0, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.channels = tuple(int(c) for c in channels)
        self.dropout_rate = dropout_rate
        self.kernel_initializer = (None if kernel_initializer is None
                                   else keras.initializers.get(kernel_initializer))
        self.dropout = keras.layers.Dropout(dropout_rate) if dropout_rate else None

    def build(self, input_shape):
        total = sum(self.channels)
        if input_shape[-1] not in (None, total):
            raise ValueError(f"CachedLin expects {total} statistics per pair, received "
                             f"input_shape={input_shape}")
        initializer = self.kernel_initializer or keras.initializers.RandomUniform(
            0.0, 2.0 / max(self.channels))
        self.kernel = self.add_weight(name="kernel", shape=(total,), initializer=initializer,
                                      constraint=keras.constraints.NonNeg())

    def call(self, stats, training=None):
        if self.dropout is not None:
            stats = self.dropout(stats, training=training)
        return keras.ops.tensordot(stats, keras.ops.cast(self.kernel, stats.dtype), axes=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],)

    def lin_vectors(self):
        """The kernel split per tap: what `LPIPS.set_lin_weights` takes."""
        kernel = keras.ops.convert_to_numpy(self.kernel)
        return np.split(kernel, np.cumsum(self.channels)[:-1])

    def set_lin_vectors(self, vectors):
        """Sets the kernel from per-tap (C,) vectors, e.g. `LPIPS.get_lin_weights()`."""
        vectors = [np.asarray(v, np.float32).reshape(-1) for v in vectors]
        if tuple(len(v) for v in vectors) != self.channels:
            raise ValueError(f"Expected lin vectors of lengths {self.channels}, received "
                             f"{tuple(len(v) for v in vectors)}.")
        self.kernel.assign(np.concatenate(vectors))

    def get_config(self):
        config = {**super().get_config(), "channels": list(self.channels),
                  "dropout_rate": self.dropout_rate}
        if self.kernel_initializer is not None:
            config["kernel_initializer"] = keras.initializers.serialize(self.kernel_initializer)
        return config
