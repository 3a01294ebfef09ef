"""The small Keras layers LPIPS is built from.

Every layer works on NHWC float tensors, keeps one attribute per constructor argument and returns
them from `get_config`, so models made of them survive `.keras` save/load and SavedModel export.
"""

import math

import numpy as np
import keras
from keras import ops

from lpips_tf.core.backend import resize_bilinear

_PACKAGE = "lpips_tf"

# ImageNet mean/std expressed for input in [-1, 1] (LPIPS v0.1's ScalingLayer constants).
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
# Keras Applications' VGG16 ("caffe" preprocessing): BGR, 0..255, mean subtracted.
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
# Keras Applications' "torch" preprocessing (DenseNet): RGB in [0, 1], ImageNet mean and std.
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)

# The official normalize_tensor epsilon: added *outside* the square root.
NORMALIZE_EPS = 1e-10


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ScalingLayer(keras.layers.Layer):
    """Maps RGB input in [-1, 1] to what a trunk expects.

    mode="lpips": `(x - shift) / scale` per channel (LPIPS v0.1; ImageNet normalisation for torchvision
    trunks). mode="identity": unchanged (LPIPS v0.0 fed raw [-1, 1] input to the trunk).
    mode="caffe": RGB [-1, 1] -> BGR 0..255 minus the ImageNet BGR mean, what Keras Applications'
    VGG16 ImageNet weights were trained on. The other `keras.applications` conventions, each
    what that family's `preprocess_input` makes of RGB 0..255: mode="tf" ([-1, 1], so unchanged),
    mode="torch" ([0, 1], then ImageNet mean and std), mode="raw" (0..255 as is, for models that
    preprocess inside).

    Input and output: (N, H, W, 3) float.
    """

    MODES = ("lpips", "identity", "caffe", "tf", "torch", "raw")

    def __init__(self, mode="lpips", **kwargs):
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise ValueError(f"ScalingLayer mode must be one of {self.MODES}. Received: mode={mode!r}")
        self.mode = mode

    def call(self, x):
        if self.mode in ("identity", "tf"):
            return x
        if self.mode == "lpips":
            shift = ops.convert_to_tensor(LPIPS_SHIFT, dtype=x.dtype)
            scale = ops.convert_to_tensor(LPIPS_SCALE, dtype=x.dtype)
            return (x - shift) / scale
        if self.mode == "raw":
            return (x + 1.0) * 127.5
        if self.mode == "torch":
            mean = ops.convert_to_tensor(TORCH_MEAN, dtype=x.dtype)
            std = ops.convert_to_tensor(TORCH_STD, dtype=x.dtype)
            return ((x + 1.0) * 0.5 - mean) / std
        bgr = ops.flip(x, axis=-1)
        mean = ops.convert_to_tensor(CAFFE_BGR_MEAN, dtype=x.dtype)
        return (bgr + 1.0) * 127.5 - mean

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ChannelNormalization(keras.layers.Layer):
    """Unit-normalises features along channels: `f / (sqrt(sum_c f^2) + eps)`.

    The official eps sits outside the square root; `keras.layers.UnitNormalization` puts it inside
    (and clamps), which changes the numbers for small activations, hence this layer.
    Input and output: (N, H, W, C).
    """

    def __init__(self, epsilon=NORMALIZE_EPS, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, x):
        norm = ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True))
        return x / (norm + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SquaredDifference(keras.layers.Layer):
    """`(a - b)^2` elementwise for two (N, H, W, C) tensors."""

    def call(self, inputs):
        a, b = inputs
        return ops.square(a - b)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class NetLin(keras.layers.Layer):
    """The learned "lin" layer: dropout, then a 1x1 convolution C -> 1 without bias.

    The kernel is a (C,) vector kept non-negative by a `NonNeg` constraint (the official trainer
    clamps after every step). Dropout (rate 0.5 in the paper) acts only when `training=True`.
    Input: (N, H, W, C) squared feature differences. Output: (N, H, W, 1).
    """

    def __init__(self, dropout_rate=0.5, **kwargs):
        super().__init__(**kwargs)
        self.dropout_rate = dropout_rate
        self.dropout = keras.layers.Dropout(dropout_rate) if dropout_rate else None

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"NetLin needs a known channel count. Received: input_shape={input_shape}")
        self.kernel = self.add_weight(
            name="kernel",
            shape=(channels,),
            # Non-negative start, so that the constraint does not zero half of it on the first step.
            initializer=keras.initializers.RandomUniform(0.0, 2.0 / channels),
            constraint=keras.constraints.NonNeg(),
        )

    def call(self, x, training=None):
        if self.dropout is not None:
            x = self.dropout(x, training=training)
        kernel = ops.cast(self.kernel, x.dtype)
        return ops.expand_dims(ops.tensordot(x, kernel, axes=[[3], [0]]), -1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (1,)

    def get_config(self):
        return {**super().get_config(), "dropout_rate": self.dropout_rate}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ChannelSum(keras.layers.Layer):
    """Sum over channels with kept dims: the cos distance, 2(1 - cosine similarity) per position."""

    def call(self, x):
        return ops.sum(x, axis=-1, keepdims=True)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SpatialAverage(keras.layers.Layer):
    """Mean over H and W: (N, H, W, C) -> (N, C)."""

    def call(self, x):
        return ops.mean(x, axis=(1, 2))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class UpsampleToReference(keras.layers.Layer):
    """Bilinear resize of a map to the H x W of a reference tensor.

    Samples at half-pixel centres without antialiasing, the rule of torch's
    `Upsample(mode="bilinear", align_corners=False)` that the official spatial output uses, on
    every backend (`lpips_tf.core.backend.resize_bilinear`).
    Inputs: [map (N, h, w, C), reference (N, H, W, ...)]. Output: (N, H, W, C).
    """

    def call(self, inputs):
        x, reference = inputs
        return resize_bilinear(x, reference)

    def compute_output_shape(self, input_shape):
        map_shape, reference_shape = input_shape
        return (map_shape[0], reference_shape[1], reference_shape[2], map_shape[3])


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CeilMaxPooling2D(keras.layers.Layer):
    """Max-pooling with torch's `ceil_mode=True` and no padding (SqueezeNet 1.1).

    Keras has no ceil mode. Padding the bottom and right by `stride - 1` with -inf and pooling
    "valid" gives exactly ceil((H - k) / s) + 1 windows, and every window still starts inside the
    image, which is torch's rule. Input: (N, H, W, C).
    """

    def __init__(self, pool_size=3, strides=2, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = pool_size
        self.strides = strides

    def call(self, x):
        pad = self.strides - 1
        if pad:
            x = ops.pad(x, [[0, 0], [0, pad], [0, pad], [0, 0]], constant_values=float("-inf"))
        return ops.max_pool(x, self.pool_size, self.strides, padding="valid",
                            data_format="channels_last")

    def compute_output_shape(self, input_shape):
        def out(n):
            return None if n is None else -(-(n - self.pool_size) // self.strides) + 1

        return (input_shape[0], out(input_shape[1]), out(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides}


def binomial_filter(size):
    """The normalised 2-D binomial blur of blur-pooling, (size, size) float32: the outer product of
    row `size - 1` of Pascal's triangle with itself, divided by its sum ([1, 2, 1] for size 3)."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"The blur filter size must be an int >= 1. Received: size={size!r}")
    row = np.array([math.comb(size - 1, i) for i in range(size)], np.float64)
    kernel = np.outer(row, row)
    return (kernel / kernel.sum()).astype(np.float32)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Downsample(keras.layers.Layer):
    """Blur-pool (Zhang, ICML 2019): reflection padding, a binomial blur per channel, subsampling.

    The anti-aliased downsampling of the shift-tolerant ST-LPIPS trunks: instead of striding a
    convolution or a max-pool, the signal is low-pass filtered with `binomial_filter(filter_size)`
    (the same on every channel, a fixed constant rather than a weight) and then subsampled by
    `strides`, so that a one-pixel shift of the input changes the output far less.

    `padding` pixels are reflected on every side first (PyTorch's `ReflectionPad2d`: the edge
    pixel is not repeated; each side needs `padding` < its size). ST-LPIPS pads `filter_size - 1`
    (its default here), one more ring than "same" would: the output has
    `(n + 2 * padding - filter_size) // strides + 1` rows and columns.

    Input: (N, H, W, C). Output: (N, H', W', C), same dtype.
    """

    def __init__(self, filter_size=3, strides=2, padding=None, **kwargs):
        super().__init__(**kwargs)
        self.kernel_2d = binomial_filter(filter_size)
        if isinstance(strides, bool) or not isinstance(strides, int) or strides < 1:
            raise ValueError(f"Downsample strides must be an int >= 1. Received: "
                             f"strides={strides!r}")
        if padding is None:
            padding = filter_size - 1
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ValueError(f"Downsample padding must be an int >= 0 or None (filter_size - 1). "
                             f"Received: padding={padding!r}")
        self.filter_size = filter_size
        self.strides = strides
        self.padding = padding

    def filter_kernel(self, channels):
        """The depthwise kernel for `channels` channels: (filter_size, filter_size, channels, 1)."""
        return np.repeat(self.kernel_2d[:, :, None, None], channels, axis=2)

    def call(self, x):
        p = self.padding
        if p:
            x = ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")
        kernel = ops.convert_to_tensor(self.filter_kernel(x.shape[-1]), dtype=x.dtype)
        return ops.depthwise_conv(x, kernel, strides=self.strides, padding="valid",
                                  data_format="channels_last")

    def compute_output_shape(self, input_shape):
        def out(n):
            if n is None:
                return None
            return (n + 2 * self.padding - self.filter_size) // self.strides + 1

        return (input_shape[0], out(input_shape[1]), out(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "filter_size": self.filter_size, "strides": self.strides,
                "padding": self.padding}
