"""LPIPS as a Keras metric, for `model.compile(metrics=[...])`."""

import keras
from keras import ops

from lpips_tf.core.model import LPIPS

REDUCTIONS = ("mean", "sum")


def _finite_per_image(images):
    """(N,) bool: whether each image of an NHWC batch holds only finite values."""
    images = ops.convert_to_tensor(images)
    if "float" not in keras.backend.standardize_dtype(images.dtype):
        return ops.ones(ops.shape(images)[:1], dtype="bool")  # integers are always finite
    return ops.all(ops.reshape(ops.isfinite(images), (ops.shape(images)[0], -1)), axis=-1)


@keras.saving.register_keras_serializable(package="lpips_tf")
class LPIPSMetric(keras.metrics.Metric):
    """Running LPIPS between `y_true` and `y_pred` over everything seen since `reset_state`.

    The Keras counterpart of torchmetrics' `LearnedPerceptualImagePatchSimilarity`: images are
    NHWC RGB in [-1, 1] (or [0, 1] with normalize=True); each update adds the distance of every
    pair (y_true[i], y_pred[i]). The internal LPIPS model is frozen, runs in inference mode
    (no dropout) and skips range checks, since a model under training may briefly leave the range.

        model.compile(optimizer="adam", loss="mae",
                      metrics=[LPIPSMetric(net="alex", normalize=True)])

    Args:
      net, version, normalize, trunk_weights, lin_weights: as for `lpips_tf.LPIPS`. With
        trunk_weights=None the trunk is random, and a metric rebuilt from its config (e.g. when a
        saved model is loaded and compiled) gets a different random trunk.
      reduction: "mean" (default): the (sample-weighted) mean distance; "sum": the (weighted) sum.
      name, dtype: as for `keras.metrics.Metric` (dtype of the accumulators and the result).

    `sample_weight` in `update_state` is a scalar or one weight per pair, shape (N,) or (N, 1).

    Non-finite inputs propagate: a pair with a NaN or infinite value in either image gets a NaN
    distance (the trunk's ReLUs and max-pooling would otherwise hide it and give a finite,
    meaningless number), so the result is NaN from that update until `reset_state`, whatever the
    pair's weight, as a NaN loss is. The check is part of the computation, so it holds eagerly,
    in a TensorFlow graph and under `jax.jit` alike; nothing raises.
    """

    def __init__(self, net="alex", version="0.1", normalize=False, trunk_weights="torchvision",
                 lin_weights="official", reduction="mean", name="lpips", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}. Received: "
                             f"reduction={reduction!r}")
        self.net = net
        self.version = version
        self.normalize = normalize
        self.trunk_weights = trunk_weights
        self.lin_weights = lin_weights
        self.reduction = reduction
        # Metric state is only these two sums; the LPIPS weights are constants to the metric.
        self.total = self.add_variable(shape=(), initializer="zeros", dtype=self.dtype,
                                       aggregation="sum", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", dtype=self.dtype,
                                       aggregation="sum", name="count")
        self.lpips_model = LPIPS(net=net, version=version, normalize=normalize,
                                 trunk_weights=trunk_weights, lin_weights=lin_weights,
                                 validate_inputs=False, name=f"{name}_{net}")
        self.lpips_model.trainable = False

    def update_state(self, y_true, y_pred, sample_weight=None):
        distances = ops.cast(self.lpips_model([y_true, y_pred], training=False), self.dtype)
        distances = ops.where(ops.logical_and(_finite_per_image(y_true), _finite_per_image(y_pred)),
                              distances, ops.full_like(distances, float("nan")))
        if sample_weight is None:
            weights = ops.ones_like(distances)
        else:
            weights = ops.cast(sample_weight, self.dtype)
            if len(weights.shape) > 1:
                # (N, 1) as Keras passes per-sample weights for image targets: one per pair.
                weights = ops.reshape(weights, (-1,))
            weights = ops.broadcast_to(weights, ops.shape(distances))
        self.total.assign_add(ops.sum(distances * weights))
        self.count.assign_add(ops.sum(weights))

    def result(self):
        if self.reduction == "sum":
            return ops.cast(self.total, self.dtype)  # a tensor, not the variable itself
        return ops.divide_no_nan(self.total, self.count)

    def reset_state(self):
        self.total.assign(ops.zeros((), dtype=self.dtype))
        self.count.assign(ops.zeros((), dtype=self.dtype))

    def get_config(self):
        # Rebuilt from the config alone (Keras saves metrics without their internal weights), so
        # the weight sources stay in it, as for LPIPSLoss.
        return {**super().get_config(), "net": self.net, "version": self.version,
                "normalize": self.normalize, "trunk_weights": self.trunk_weights,
                "lin_weights": self.lin_weights, "reduction": self.reduction}
