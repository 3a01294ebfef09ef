"""The LPIPS distance model."""

import contextlib

import numpy as np
import keras
import tensorflow as tf
from keras import ops

from lpips_tf import layers as lpips_layers
from lpips_tf import weights as lpips_weights
from lpips_tf.trunks import get_trunk_module

VERSIONS = lpips_weights.VERSIONS
# Inputs may stray this far outside their declared range (resampling overshoot) before we refuse
# them; typical mistakes (0..255 data, [0, 1] flagged as something else) are far beyond it.
RANGE_MARGIN = 0.5


@contextlib.contextmanager
def _global_dtype_policy(policy):
    """Builds layers under `policy` (Keras' global policy is per thread), then restores it."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _describe_range(normalize):
    return "[0, 1] (normalize=True)" if normalize else "[-1, 1]"


@keras.saving.register_keras_serializable(package="lpips_tf")
class LPIPS(keras.Model):
    """Learned Perceptual Image Patch Similarity (Zhang et al., CVPR 2018).

    `model([x0, x1])` takes two float NHWC RGB batches of the same shape, in [-1, 1] (or [0, 1]
    with `normalize=True`; uint8 input is mapped from 0..255), and returns the distance per pair,
    shape (N,), or with `spatial=True` a distance map (N, H, W, 1).

    Args:
      net: trunk, "alex", "vgg" or "squeeze".
      version: "0.1" (current) or "0.0" (the first release, which fed unscaled input to the trunk).
      lpips: True for learned lin layers; False for the plain deep-feature ("cosine") distance.
      spatial: return a per-pixel map instead of one number per pair.
      trunk_weights: "torchvision" (torchvision's ImageNet checkpoint, downloaded once and cached),
        "keras" (VGG only: Keras Applications' ImageNet weights, with the BGR 0..255 preprocessing
        they expect), None (random initialisation), or a path to a torchvision-format state dict.
      lin_weights: "official" (the authors' calibrated lin layers for `version`), None (fresh
        non-negative lin layers, to train), or a path (.npz written by this package or the official
        .pth). Ignored when `lpips=False`.
      normalize: inputs are in [0, 1] rather than [-1, 1].
      dropout_rate: dropout before each lin layer, active only in training (0.5 in the paper).
      trunk_trainable: let the trunk's weights train (the paper's "tune" and "scratch").
      validate_inputs: check shapes, finiteness and range of inputs, with clear errors.
      input_scaling: how the trunk's input is scaled ("lpips", "identity", "caffe"); derived from
        `version` and `trunk_weights` when None. Stored in the config so that reloading keeps it.
      dtype: Keras dtype policy, e.g. "float32" (default: the global policy) or "mixed_bfloat16".
        The trunk computes in the policy's compute dtype; input checks and scaling, channel
        normalisation, squared differences, lin layers and averaging always compute in the
        variable dtype (float32 for the mixed policies), and so does the output. Stored in the
        config. See benchmarks/README.md for the speed and accuracy of "mixed_bfloat16".
    """

    def __init__(
        self,
        net="alex",
        version="0.1",
        lpips=True,
        spatial=False,
        trunk_weights="torchvision",
        lin_weights="official",
        normalize=False,
        dropout_rate=0.5,
        trunk_trainable=False,
        validate_inputs=True,
        input_scaling=None,
        dtype=None,
        **kwargs,
    ):
        kwargs.setdefault("name", f"lpips_{net}")
        super().__init__(dtype=dtype, **kwargs)
        trunk_module = get_trunk_module(net)
        if version not in VERSIONS:
            raise ValueError(f"version must be one of {VERSIONS}. Received: version={version!r}")
        if trunk_weights == "keras" and net != "vgg":
            raise ValueError(f"trunk_weights='keras' exists only for net='vgg' (Keras Applications "
                             f"VGG16). Received: net={net!r}")
        if input_scaling is None:
            if trunk_weights == "keras":
                input_scaling = "caffe"
            else:
                input_scaling = "lpips" if version == "0.1" else "identity"
        self.net = net
        self.version = version
        self.lpips = bool(lpips)
        self.spatial = bool(spatial)
        self.normalize = bool(normalize)
        self.dropout_rate = dropout_rate
        self.trunk_trainable = bool(trunk_trainable)
        self.validate_inputs = bool(validate_inputs)
        self.input_scaling = input_scaling
        self.channels = tuple(trunk_module.CHANNELS)
        self.min_input_size = trunk_module.MIN_INPUT_SIZE

        # The trunk is built under the model's dtype policy (Keras Applications' VGG16 takes no
        # dtype argument, it follows the global policy); every other layer computes in the
        # variable dtype, float32 for the mixed policies.
        head_dtype = self.dtype_policy.variable_dtype
        with _global_dtype_policy(head_dtype):
            self.scaling = lpips_layers.ScalingLayer(input_scaling, name="scaling")
        with _global_dtype_policy(self.dtype_policy):
            if trunk_weights == "keras":
                self.trunk = trunk_module.build(keras_imagenet_weights=True)
            else:
                self.trunk = trunk_module.build()
        if trunk_weights not in (None, "keras"):
            state = lpips_weights.load_trunk_state_dict(net, trunk_weights)
            source = trunk_weights if trunk_weights != "torchvision" else "torchvision " + net
            from lpips_tf.trunks.common import load_torchvision_weights

            load_torchvision_weights(self.trunk, state, trunk_module.LAYER_MAP, str(source))
        self.trunk.trainable = self.trunk_trainable

        with _global_dtype_policy(head_dtype):
            self.normalization = lpips_layers.ChannelNormalization(name="channel_norm")
            self.squared_difference = lpips_layers.SquaredDifference(name="squared_difference")
            self.spatial_average = lpips_layers.SpatialAverage(name="spatial_average")
            self.upsample = lpips_layers.UpsampleToReference(name="upsample")
            if self.lpips:
                self.lins = []
                for k, c in enumerate(self.channels):
                    lin = lpips_layers.NetLin(dropout_rate, name=f"lin{k}")
                    lin.build((None, None, None, c))
                    self.lins.append(lin)
            else:
                self.lins = None
                self.channel_sum = lpips_layers.ChannelSum(name="channel_sum")
        if self.lpips:
            if lin_weights == "official":
                lin_weights = lpips_weights.official_lin_weights_path(net, version)
            if lin_weights is not None:
                self.set_lin_weights(lpips_weights.load_lin_weights(lin_weights, self.channels))
        self.built = True

    @property
    def input_dtype(self):
        # Keras casts floating inputs to this before `call`: keep them in the variable dtype
        # (float32) under a mixed policy; the trunk's first layer casts to the compute dtype.
        return self.dtype_policy.variable_dtype

    # ----------------------------------------------------------------------------------------
    # Lin weights as plain arrays (for training tools and converters).
    def get_lin_weights(self):
        """The lin layers' kernels, a list of (C,) float32 arrays (empty when lpips=False)."""
        return [np.asarray(ops.convert_to_numpy(lin.kernel)) for lin in self.lins or []]

    def set_lin_weights(self, vectors):
        """Sets the lin layers' kernels from a list of (C,) arrays, checking count and shapes."""
        if not self.lpips:
            raise ValueError("This LPIPS model has lpips=False: it has no lin layers.")
        if len(vectors) != len(self.lins):
            raise ValueError(f"Expected {len(self.lins)} lin weight vectors for net={self.net!r}, "
                             f"received {len(vectors)}.")
        for k, (lin, v) in enumerate(zip(self.lins, vectors)):
            v = np.asarray(v, np.float32).reshape(-1)
            if v.shape != (self.channels[k],):
                raise ValueError(f"lin{k} expects shape ({self.channels[k]},), received {v.shape}.")
            lin.kernel.assign(v)

    # ----------------------------------------------------------------------------------------
    def _prepare(self, x, which):
        """Checks one input batch and brings it to the input dtype (float32) and [-1, 1]."""
        x = tf.convert_to_tensor(x) if not isinstance(x, (tf.Tensor, tf.Variable)) else x
        shape = x.shape
        if shape.rank != 4:
            raise ValueError(f"{which} must be a 4-D NHWC batch (N, H, W, 3). Received shape "
                             f"{tuple(shape)}; add a batch axis for a single image.")
        channels = shape[-1]
        if channels is not None and channels != 3:
            hint = {1: " Grayscale input: repeat it to 3 channels (tf.image.grayscale_to_rgb).",
                    4: " RGBA input: drop the alpha channel (x[..., :3])."}.get(channels, "")
            raise ValueError(f"{which} must have 3 (RGB) channels, received {channels} "
                             f"(shape {tuple(shape)}).{hint}")
        for axis, label in ((1, "height"), (2, "width")):
            size = shape[axis]
            if size is not None and size < self.min_input_size:
                raise ValueError(
                    f"{which} is too small for the {self.net} trunk: {label} {size} < "
                    f"{self.min_input_size}, the smallest size that leaves every layer at least "
                    f"1 x 1. Received shape {tuple(shape)}; upsample the images first.")
        dtype = x.dtype
        if dtype == tf.uint8:
            x = tf.cast(x, self.input_dtype) / 127.5 - 1.0
            return x, True
        if not dtype.is_floating:
            raise ValueError(f"{which} must be float ({_describe_range(self.normalize)}) or uint8 "
                             f"(0..255). Received dtype {dtype.name}.")
        x = tf.cast(x, self.input_dtype)
        return x, False

    def _check_values(self, x, which):
        """Refuses NaN/inf and values far outside the declared range."""
        low, high = (0.0, 1.0) if self.normalize else (-1.0, 1.0)
        low, high = low - RANGE_MARGIN, high + RANGE_MARGIN
        expected = _describe_range(self.normalize)
        if tf.executing_eagerly():
            values = np.asarray(x, np.float32)
            if not np.all(np.isfinite(values)):
                raise ValueError(f"{which} contains NaN or infinite values.")
            if values.size and (values.min() < low or values.max() > high):
                raise ValueError(
                    f"{which} has values in [{values.min():.4g}, {values.max():.4g}], far outside "
                    f"the expected range {expected}. Scale 0..255 images with x / 127.5 - 1 "
                    f"(or pass uint8 tensors), [0, 1] images with normalize=True.")
            return x
        x32 = tf.cast(x, tf.float32)
        checks = [
            tf.debugging.assert_all_finite(x32, f"{which} contains NaN or infinite values."),
            tf.debugging.assert_greater_equal(
                x32, low, message=f"{which} has values far below the expected range {expected}."),
            tf.debugging.assert_less_equal(
                x32, high, message=f"{which} has values far above the expected range {expected}."),
        ]
        with tf.control_dependencies([c for c in checks if c is not None]):
            return tf.identity(x)

    def _check_shapes_match(self, x0, x1):
        s0, s1 = x0.shape, x1.shape
        static_mismatch = any(a is not None and b is not None and a != b for a, b in zip(s0, s1))
        if static_mismatch:
            raise ValueError(f"image0 and image1 must have the same shape. Received "
                             f"{tuple(s0)} and {tuple(s1)}.")
        if tf.executing_eagerly():
            return x0, x1
        dyn0, dyn1 = tf.shape(x0), tf.shape(x1)
        check = tf.debugging.assert_equal(dyn0, dyn1, message="image0 and image1 shapes differ.")
        min_check = tf.debugging.assert_greater_equal(
            tf.reduce_min(dyn0[1:3]), self.min_input_size,
            message=f"images are smaller than {self.min_input_size} px, the smallest the "
                    f"{self.net} trunk takes.")
        with tf.control_dependencies([c for c in (check, min_check) if c is not None]):
            return tf.identity(x0), x1

    def _split_inputs(self, inputs):
        if isinstance(inputs, dict):
            try:
                return inputs["image0"], inputs["image1"]
            except KeyError:
                raise ValueError(f"Dict input needs keys 'image0' and 'image1'. Received keys "
                                 f"{sorted(inputs)}.") from None
        if isinstance(inputs, (list, tuple)) and len(inputs) == 2:
            return inputs
        raise ValueError("LPIPS takes two image batches: model([x0, x1]). Received "
                         f"{type(inputs).__name__}" +
                         (f" of length {len(inputs)}." if hasattr(inputs, "__len__") else "."))

    def _tap_differences(self, inputs):
        """Normalised squared feature differences per tap, after input checks."""
        x0, x1 = self._split_inputs(inputs)
        x0, was_uint8_0 = self._prepare(x0, "image0")
        x1, was_uint8_1 = self._prepare(x1, "image1")
        x0, x1 = self._check_shapes_match(x0, x1)
        if self.validate_inputs:
            x0 = self._check_values(x0, "image0") if not was_uint8_0 else x0
            x1 = self._check_values(x1, "image1") if not was_uint8_1 else x1
        if self.normalize:
            x0 = x0 if was_uint8_0 else 2.0 * x0 - 1.0
            x1 = x1 if was_uint8_1 else 2.0 * x1 - 1.0
        batch = tf.shape(x0)[0]
        # One trunk pass over both images: larger matmuls, half the per-call overhead.
        features = self.trunk(self.scaling(tf.concat([x0, x1], axis=0)))
        diffs = []
        for f in features:
            f = self.normalization(f)
            diffs.append(self.squared_difference([f[:batch], f[batch:]]))
        return x0, diffs

    def call(self, inputs, training=None):
        reference, diffs = self._tap_differences(inputs)
        total = None
        for k, diff in enumerate(diffs):
            per_position = self.lins[k](diff, training=training) if self.lpips else \
                self.channel_sum(diff)
            if self.spatial:
                term = self.upsample([per_position, reference])
            else:
                term = self.spatial_average(per_position)
            total = term if total is None else total + term
        if self.spatial:
            return total
        return ops.squeeze(total, axis=-1)

    def channel_stats(self, inputs):
        """Per-channel spatial means of the squared differences, concatenated over taps.

        Shape (N, sum(channels)). With the trunk frozen, the LPIPS distance is the dot product of
        this vector with the concatenated lin weights, which makes cached lin training possible.
        """
        _, diffs = self._tap_differences(inputs)
        return ops.concatenate([self.spatial_average(d) for d in diffs], axis=-1)

    def compute_output_spec(self, inputs, training=None):
        x0 = inputs["image0"] if isinstance(inputs, dict) else inputs[0]
        if self.spatial:
            return keras.KerasTensor(tuple(x0.shape[:3]) + (1,), dtype=self.input_dtype)
        return keras.KerasTensor((x0.shape[0],), dtype=self.input_dtype)

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None,
               **kwargs):
        """Exports a SavedModel whose `serving_default` takes `image0`, `image1` -> `distance`.

        Other formats, or an explicit `input_signature`, go to `keras.Model.export`.
        """
        if format == "tf_saved_model" and input_signature is None and not kwargs:
            from lpips_tf.export import export_saved_model

            return export_saved_model(self, filepath, verbose=bool(verbose))
        return super().export(filepath, format=format, verbose=verbose,
                              input_signature=input_signature, **kwargs)

    def get_config(self):
        # Architecture only, as Keras Applications do: the weights travel in the saved file, so a
        # reloaded model neither downloads a trunk nor needs the original weight files.
        return {
            "name": self.name,
            "net": self.net,
            "version": self.version,
            "lpips": self.lpips,
            "spatial": self.spatial,
            "trunk_weights": None,
            "lin_weights": None,
            "normalize": self.normalize,
            "dropout_rate": self.dropout_rate,
            "trunk_trainable": self.trunk_trainable,
            "validate_inputs": self.validate_inputs,
            "input_scaling": self.input_scaling,
            "dtype": self.dtype_policy.name,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
