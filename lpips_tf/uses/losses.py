"""LPIPS as a Keras loss."""

import keras

from lpips_tf.core.model import LPIPS


@keras.saving.register_keras_serializable(package="lpips_tf")
class LPIPSLoss(keras.losses.Loss):
    """Perceptual loss: the LPIPS distance between `y_true` and `y_pred` per sample.

    Images are NHWC RGB in [-1, 1] (or [0, 1] with normalize=True). The metric's weights are frozen;
    gradients flow to `y_pred`. Range checks are off here, because a model under training may
    briefly produce values outside the declared range; distances are still computed for them.

    Args:
      net, version, normalize, trunk_weights, lin_weights: as for `lpips_tf.LPIPS`. "vgg" is the
        default because the authors recommend it for optimisation (closer to a classic perceptual
        loss); "alex" is faster and the better forward metric.
      reduction, name, dtype: as for `keras.losses.Loss`.
    """

    def __init__(self, net="vgg", version="0.1", normalize=False, trunk_weights="torchvision",
                 lin_weights="official", reduction="sum_over_batch_size", name="lpips_loss",
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.net = net
        self.version = version
        self.normalize = normalize
        self.trunk_weights = trunk_weights
        self.lin_weights = lin_weights
        self.metric = LPIPS(net=net, version=version, normalize=normalize,
                            trunk_weights=trunk_weights, lin_weights=lin_weights,
                            validate_inputs=False, name=f"{name}_{net}")
        self.metric.trainable = False

    def call(self, y_true, y_pred):
        return self.metric([y_true, y_pred], training=False)

    def get_config(self):
        # Unlike the model, a loss is rebuilt from its config alone, so the weight sources stay in it.
        return {**super().get_config(), "net": self.net, "version": self.version,
                "normalize": self.normalize, "trunk_weights": self.trunk_weights,
                "lin_weights": self.lin_weights}
