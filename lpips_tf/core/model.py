"""The LPIPS distance model."""

import contextlib
import itertools

import numpy as np
import keras
from keras import ops

from lpips_tf.core import compiled as lpips_compiled
from lpips_tf.core import inputs as lpips_inputs
from lpips_tf.core import layers as lpips_layers
from lpips_tf.core import presets as lpips_presets
from lpips_tf.core import tiling as lpips_tiling
from lpips_tf.core import weights as lpips_weights
from lpips_tf.core.trunks import get_trunk_module, is_open_trunk, select_taps

VERSIONS = lpips_weights.VERSIONS


def _as_list(outputs):
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _checked_input_scaling(net, version, trunk_weights, input_scaling, trunk_module=None):
    """The trunk's input scaling: `input_scaling`, or the one `version` and `trunk_weights` imply
    (for an open trunk: its family's `preprocess_input` convention)."""
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {VERSIONS}. Received: version={version!r}")
    if trunk_module is not None and is_open_trunk(trunk_module):
        scaling = input_scaling or trunk_module.INPUT_SCALING
        if scaling is None:
            raise ValueError(f"A keras.Model trunk ({trunk_module.NAME}) needs input_scaling=, "
                             f"the convention its preprocess_input follows: 'caffe', 'tf', "
                             f"'torch' or 'raw' (0..255 as is, for models that preprocess "
                             f"inside).")
        return scaling
    if trunk_weights == "keras" and net != "vgg":
        raise ValueError(f"trunk_weights='keras' exists only for net='vgg' (Keras Applications "
                         f"VGG16). Received: net={net!r}")
    if input_scaling is not None:
        return input_scaling
    if trunk_weights == "keras":
        return "caffe"
    return "lpips" if version == "0.1" else "identity"


@contextlib.contextmanager
def _global_dtype_policy(policy):
    """Builds layers under `policy` (Keras' global policy is per thread), then restores it."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


@keras.saving.register_keras_serializable(package="lpips_tf")
class LPIPS(lpips_compiled.CompiledEagerCall, keras.Model):
    """Learned Perceptual Image Patch Similarity (Zhang et al., CVPR 2018).

    `model([x0, x1])` takes two float NHWC RGB batches of the same shape, in [-1, 1] (or [0, 1]
    with `normalize=True`; uint8 input is mapped from 0..255), and returns the distance per pair,
    shape (N,), or with `spatial=True` a distance map (N, H, W, 1).

    Every distance and statistic is computed from `tap_features(images)` (prepared images ->
    one channel-normalised tensor per tap) through the per-tap steps below it
    (`tap_distance_map`, `reduce_tap_map`, `tap_channel_means`): the plain call, `channel_stats`,
    `lpips_tf.uses.pairwise` and the cached training statistics share them.

    Args:
      net: trunk, "alex", "vgg" or "squeeze"; or "st-alex" / "st-vgg", the shift-tolerant
        trunks of ST-LPIPS (Ghildyal and Liu, ECCV 2022; presets "stlpips-alex", "stlpips-vgg");
        or the name of a `keras.applications` model function ("ResNet50", "MobileNetV3Small",
        ...) or a functional `keras.Model` instance, whose layers are used as they are (see
        `lpips_tf.core.trunks.applications`). Such a trunk has no official lin layers: pass
        `lin_weights=None` (to train) or a file, or `lpips=False`.
      version: "0.1" (current) or "0.0" (the first release, which fed unscaled input to the trunk).
      lpips: True for learned lin layers; False for the plain deep-feature ("cosine") distance.
      spatial: return a per-pixel map instead of one number per pair.
      trunk_weights: "torchvision" (torchvision's ImageNet checkpoint, downloaded once and cached;
        for the ST trunks the ST-LPIPS authors' checkpoint, likewise),
        "keras" (VGG only: Keras Applications' ImageNet weights, with the BGR 0..255 preprocessing
        they expect), None (random initialisation), or a path to a torchvision-format state dict.
        For a `keras.applications` trunk: "imagenet" (Keras' own download; the default stands
        for it too), None (random) or a `.weights.h5` file; for a `keras.Model`: the default or
        None (its weights as they are) or a `.weights.h5` file loaded into it.
      lin_weights: "official" (the authors' calibrated lin layers for `version`), None (fresh
        non-negative lin layers, to train), or a path (.npz written by this package or the official
        .pth; for the ST trunks also the authors' whole checkpoint, the same file as the trunk's).
        Ignored when `lpips=False`.
      normalize: inputs are in [0, 1] rather than [-1, 1].
      dropout_rate: dropout before each lin layer, active only in training (0.5 in the paper).
      trunk_trainable: let the trunk's weights train (the paper's "tune" and "scratch").
      validate_inputs: check shapes, finiteness and range of inputs, with clear errors.
      input_scaling: how the trunk's input is scaled ("lpips", "identity", "caffe"); derived from
        `version` and `trunk_weights` when None. Stored in the config so that reloading keeps it.
        For a `keras.applications` trunk: its family's `preprocess_input` convention, found
        automatically; a `keras.Model` trunk needs one of "caffe", "tf", "torch" (the three
        `keras.applications` modes) or "raw" (0..255 as is, for models that preprocess inside).
      taps: which trunk layers the distance reads. None: all of them (the paper's metric); an int
        k: the first k (`taps=2` on VGG16 is "2 convolutional layers"); or a sequence of tap
        names (`trunk.TAPS`, e.g. ("conv1", "conv3") for alex) or indices, in trunk order. The
        trunk is cut after the last selected tap, so fewer taps also compute less. Lin weights
        for all taps (the official ones) are reduced to the selected taps; a file with exactly one
        vector per selected tap is read as is. Stored in the config as tap names.
      dtype: Keras dtype policy, e.g. "float32" (default: the global policy) or "mixed_bfloat16".
        The trunk computes in the policy's compute dtype; input checks and scaling, channel
        normalisation, squared differences, lin layers and averaging always compute in the
        variable dtype (float32 for the mixed policies), and so does the output. Stored in the
        config. See benchmarks/README.md for the speed and accuracy of "mixed_bfloat16".
      max_memory_bytes: bound on the estimated peak memory of a plain eager call (default 2 GiB,
        `lpips_tf.core.tiling.DEFAULT_MAX_MEMORY_BYTES`; None: no bound). A batch over it runs in
        chunks of pairs; a pair over it runs the trunk on tiles, with the untiled numbers
        (`lpips_tf.core.tiling`). Images within it take the single-pass path unchanged.
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
        taps=None,
        dtype=None,
        max_memory_bytes=lpips_tiling.DEFAULT_MAX_MEMORY_BYTES,
        **kwargs,
    ):
        trunk_module = get_trunk_module(net)
        open_trunk = is_open_trunk(trunk_module)
        # A model instance's trunk is serialised with the config; `net` is then its name.
        from_instance = open_trunk and trunk_module.application is None
        net = trunk_module.NAME if open_trunk else net
        kwargs.setdefault("name", f"lpips_{net}")
        super().__init__(dtype=dtype, **kwargs)
        self._trunk_from_instance = from_instance
        self.net = net
        self.version = version
        self.lpips = bool(lpips)
        self.spatial = bool(spatial)
        self.normalize = bool(normalize)
        self.dropout_rate = dropout_rate
        self.trunk_trainable = bool(trunk_trainable)
        self.validate_inputs = bool(validate_inputs)
        self.max_memory_bytes = lpips_tiling.check_max_memory_bytes(max_memory_bytes)
        self.input_scaling = _checked_input_scaling(net, version, trunk_weights, input_scaling,
                                                    trunk_module)
        self.taps = select_taps(trunk_module, taps)
        if open_trunk:
            self._check_open_lin_weights(lin_weights)
            tap_indices = None
        else:
            tap_indices = [trunk_module.TAPS.index(t) for t in self.taps]
            self.channels = tuple(trunk_module.CHANNELS[i] for i in tap_indices)
            self.min_input_size = trunk_module.MIN_INPUT_SIZE
        self._build_layers(trunk_module, trunk_weights, tap_indices)
        if self.lpips:
            if lin_weights == "official":
                lin_weights = lpips_weights.official_lin_weights_path(net, version)
            if lin_weights is not None:
                self.set_lin_weights(self._read_lin_weights(lin_weights, trunk_module, tap_indices))
        self.built = True

    def _build_layers(self, trunk_module, trunk_weights, tap_indices):
        """Scaling, the trunk, then the head: normalisation, differences, lin or sum, averaging."""
        # The trunk is built under the model's dtype policy (Keras Applications' VGG16 takes no
        # dtype argument, it follows the global policy); every other layer computes in the
        # variable dtype, float32 for the mixed policies. Seeded models draw their random
        # initial weights in this order (trunk, then lin kernels).
        head_dtype = self.dtype_policy.variable_dtype
        with _global_dtype_policy(head_dtype):
            self.scaling = lpips_layers.ScalingLayer(self.input_scaling, name="scaling")
        if is_open_trunk(trunk_module):
            self.trunk = self._build_open_trunk(trunk_module, trunk_weights)
        else:
            self.trunk = self._build_trunk(trunk_module, trunk_weights, tap_indices)
        with _global_dtype_policy(head_dtype):
            self.normalization = lpips_layers.ChannelNormalization(name="channel_norm")
            self.squared_difference = lpips_layers.SquaredDifference(name="squared_difference")
            self.spatial_average = lpips_layers.SpatialAverage(name="spatial_average")
            self.upsample = lpips_layers.UpsampleToReference(name="upsample")
            if self.lpips:
                self.lins = []
                for k, c in enumerate(self.channels):
                    lin = lpips_layers.NetLin(self.dropout_rate, name=f"lin{k}")
                    lin.build((None, None, None, c))
                    self.lins.append(lin)
            else:
                self.lins = None
                self.channel_sum = lpips_layers.ChannelSum(name="channel_sum")

    def _build_trunk(self, trunk_module, trunk_weights, tap_indices):
        """The trunk with its weights, cut after the last selected tap."""
        with _global_dtype_policy(self.dtype_policy):
            if trunk_weights == "keras":
                # Keras downloads inside the constructor, where offline it fails with a raw
                # traceback; this fetch says what to download and where instead.
                lpips_weights.keras_vgg16_weights()
                trunk = trunk_module.build(keras_imagenet_weights=True)
            else:
                trunk = trunk_module.build()
        if trunk_weights not in (None, "keras"):
            state = lpips_weights.load_trunk_state_dict(self.net, trunk_weights)
            source = trunk_weights if trunk_weights != "torchvision" else "torchvision " + self.net
            from lpips_tf.core.trunks.common import load_torchvision_weights

            load_torchvision_weights(trunk, state, trunk_module.LAYER_MAP, str(source))
        if len(tap_indices) < len(trunk_module.TAPS):
            # A sub-model of the same layers ending at the last selected tap: the layers after it
            # are neither computed nor saved.
            trunk = keras.Model(trunk.inputs, [trunk.outputs[i] for i in tap_indices],
                                name=trunk.name)
        trunk.trainable = self.trunk_trainable
        return trunk

    def _build_open_trunk(self, trunk_module, trunk_weights):
        """A keras.applications or instance trunk: its model cut at the taps, whose channels and
        smallest input size are read from the cut model."""
        from lpips_tf.core.trunks import applications

        downloads = trunk_module.application and trunk_weights in ("imagenet", "torchvision")
        with _global_dtype_policy(self.dtype_policy), (
                lpips_weights.keras_download_errors(trunk_module.NAME) if downloads
                else contextlib.nullcontext()):
            full = trunk_module.build_full(trunk_weights)
        trunk = applications.cut_at(full, self.taps)
        self.channels = tuple(int(o.shape[-1]) for o in trunk.outputs)
        self.min_input_size = applications.min_input_size(trunk)
        trunk.trainable = self.trunk_trainable
        return trunk

    def _check_open_lin_weights(self, lin_weights):
        if self.lpips and lin_weights == "official":
            raise ValueError(f"There are no official lin weights for the {self.net} trunk: pass "
                             f"lin_weights=None (fresh lin layers, to train) or a file of trained "
                             f"ones, or lpips=False for the cosine distance.")

    def _read_lin_weights(self, source, trunk_module, tap_indices):
        """Lin vectors for the selected taps from a file for all taps or for exactly these."""
        if tap_indices is None:  # an open trunk: a file for exactly these taps
            return lpips_weights.load_lin_weights(source, self.channels)
        all_taps = tuple(trunk_module.CHANNELS)
        if len(tap_indices) == len(all_taps):
            return lpips_weights.load_lin_weights(source, all_taps, net=self.net)
        try:
            vectors = lpips_weights.load_lin_weights(source, all_taps, net=self.net)
        except (ValueError, KeyError) as error_all:
            try:
                return lpips_weights.load_lin_weights(source, self.channels, net=self.net)
            except (ValueError, KeyError):
                raise error_all from None
        return [vectors[i] for i in tap_indices]

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
    # The forward pass. `call` is what Keras traces (fit, predict, export, a user's tf.function or
    # jax.jit); a plain eager call goes to a compiled function instead (`CompiledEagerCall`).
    def check_input_pair(self, inputs, to_tensors=True):
        """Splits `[x0, x1]` and checks rank, channels, sizes, matching shapes and dtype.

        Only static information is used, so this raises the same clear `ValueError` eagerly and
        while tracing. Returns the two batches as backend tensors, dtype unchanged; with
        `to_tensors=False`, NumPy arrays stay NumPy arrays (host data checked before transfer).
        """
        x0, x1 = lpips_inputs.split_pair(inputs)
        for x, which in ((x0, "image0"), (x1, "image1")):
            lpips_inputs.check_static_shape(lpips_inputs.static_shape(x), which,
                                            self.min_input_size, self.net)
        lpips_inputs.check_shapes_match(lpips_inputs.static_shape(x0),
                                        lpips_inputs.static_shape(x1))
        if not to_tensors:
            for x, which in ((x0, "image0"), (x1, "image1")):
                lpips_inputs.check_dtype_kind(x.dtype, which, self.normalize)
            return x0, x1
        return (lpips_inputs.check_dtype(x0, "image0", self.normalize),
                lpips_inputs.check_dtype(x1, "image1", self.normalize))

    def to_model_range(self, x0, x1, check_values=True, with_flag=False):
        """Two checked batches -> the input dtype and [-1, 1], plus a bad-values flag.

        Value checks follow `lpips_tf.core.inputs` (eager: ValueError; TensorFlow graph: assertions;
        JAX / PyTorch traces: not checked) when `check_values` and `validate_inputs` are set.
        With `with_flag`, the flag is a scalar bool tensor, True when a float input holds NaN / inf
        or values far outside the declared range (False when `validate_inputs=False`), for
        compiled callers; otherwise None, and its reductions are not computed.
        """
        f0, was_uint8_0 = lpips_inputs.to_float(x0, "image0", self.normalize, self.input_dtype)
        f1, was_uint8_1 = lpips_inputs.to_float(x1, "image1", self.normalize, self.input_dtype)
        float_inputs = (not was_uint8_0, not was_uint8_1)
        checking = self.validate_inputs and check_values
        if checking and lpips_inputs.any_traced(f0, f1):
            f0, f1 = lpips_inputs.check_values_traced(f0, f1, float_inputs, self.normalize,
                                                      self.min_input_size, self.net)
        elif checking:
            for x, which, is_float in ((f0, "image0", float_inputs[0]),
                                       (f1, "image1", float_inputs[1])):
                if is_float:
                    lpips_inputs.check_values_eager(x, which, self.normalize)
        flag = None
        if with_flag:
            flag = ops.convert_to_tensor(False)
            for x, is_float in zip((f0, f1), float_inputs):
                if is_float and self.validate_inputs:
                    flag = ops.logical_or(flag, lpips_inputs.bad_values_flag(x, self.normalize))
        if self.normalize:
            f0 = f0 if was_uint8_0 else lpips_inputs.from_unit_range(f0)
            f1 = f1 if was_uint8_1 else lpips_inputs.from_unit_range(f1)
        return f0, f1, flag

    def prepare_inputs(self, inputs, check_values=True):
        """`check_input_pair` then `to_model_range`: (x0, x1) in the input dtype and [-1, 1]."""
        x0, x1 = self.check_input_pair(inputs)
        f0, f1, _ = self.to_model_range(x0, x1, check_values=check_values)
        return f0, f1

    def __call__(self, inputs, training=None, **kwargs):
        try:
            shape0 = lpips_inputs.static_shape(lpips_inputs.split_pair(inputs)[0])
        except ValueError:
            shape0 = None  # The call itself raises the clear error.
        empty = lpips_inputs.empty_batch_shape(shape0, self.spatial)
        if empty is not None:
            self.check_input_pair(inputs)
            return ops.zeros(empty, dtype=self.input_dtype)
        if not training and not kwargs:
            bounded = lpips_tiling.bounded_call(self, inputs)  # None: one pass fits the budget.
            if bounded is not None:
                return bounded
        return super().__call__(inputs, training=training, **kwargs)

    def call(self, inputs, training=None):
        x0, x1 = self.prepare_inputs(inputs)
        return self.distance_from_prepared(x0, x1, training=training)

    def distance_from_prepared(self, x0, x1, training=False):
        """The distance of two prepared batches (see `prepare_inputs`), without input checks."""
        features0, features1 = self.batch_tap_features([x0, x1], training=training)
        return self.distance_from_features(features0, features1, x0, training=training)

    def distance_and_map(self, inputs):
        """The distance and the spatial map of a pair batch from one trunk pass per image.

        What a distance with its map costs without this is two passes (the plain call, then a
        `spatial=True` twin). Large images are tiled as the plain call tiles them
        (`max_memory_bytes`). Returns numpy (N,) float64 distances, the plain call's (each tap's
        map averaged at its own resolution, which the mean of the upsampled map is not), and
        (N, H, W) float32 maps, a spatial twin's output.
        """
        x0, x1 = self.prepare_inputs(inputs)
        maps, tiled = lpips_tiling.tap_maps(self, x0, x1, self.max_memory_bytes)
        if tiled:  # as `lpips_tiling.tiled_distance` sums the owned tiles
            distance = sum(m.sum(axis=(1, 2, 3), dtype=np.float64) / (m.shape[1] * m.shape[2])
                           for m in maps)
        maps = [ops.convert_to_tensor(m) for m in maps]
        if not tiled:  # as `distance_from_features` reduces each tap
            distance = np.asarray(ops.convert_to_numpy(
                sum(self.spatial_average(m) for m in maps)), np.float64)[:, 0]
        spatial = sum(self.upsample([m, x0]) for m in maps)
        return distance, np.asarray(ops.convert_to_numpy(spatial))[..., 0]

    def distances_from_prepared(self, reference, *others, training=False):
        """The distance of `reference` to each other batch, all in one trunk pass: the
        reference's features are computed once (a 2AFC triplet takes three image passes, not
        four). Prepared batches of one shape (see `prepare_inputs`); returns one distance per
        other batch, each as `distance_from_prepared(reference, other)` gives it."""
        features = self.batch_tap_features([reference, *others], training=training)
        return [self.distance_from_features(features[0], f, reference, training=training)
                for f in features[1:]]

    def channel_stats(self, inputs):
        """Per-channel spatial means of the squared differences, concatenated over taps.

        Shape (N, sum(channels)). With the trunk frozen, the LPIPS distance is the dot product of
        this vector with the concatenated lin weights, which makes cached lin training possible.
        """
        x0, x1 = self.prepare_inputs(inputs)
        return self.channel_stats_from_prepared(x0, x1)[0]

    def channel_stats_from_prepared(self, reference, *others):
        """`channel_stats` of (reference, other) for each other batch, all in one trunk pass.

        Takes prepared batches of one shape (see `prepare_inputs`); returns one
        (N, sum(channels)) tensor per other batch. The cached statistics of 2AFC triplets are
        `channel_stats_from_prepared(ref, p0, p1)`.
        """
        features = self.batch_tap_features([reference, *others], training=False)
        return [self.tap_channel_means(features[0], f) for f in features[1:]]

    # ----------------------------------------------------------------------------------------
    # Features and the per-tap steps: the one way from prepared images to tap features, and from
    # two images' tap features to the distance. The forward pass, `channel_stats`,
    # `lpips_tf.uses.pairwise` and the cached statistics (`lpips_tf.training.cached_stats`) all
    # take their features from `tap_features`, so that another trunk (with its own `scaling`
    # and `trunk`) serves every one of them; a caller that evaluates a large image in tiles runs
    # the tiles through `tap_features` and sums the per-tap maps of `tap_distance_map` over
    # tiles where `reduce_tap_map` averages one whole map.
    def tap_features(self, images, training=None):
        """Prepared images -> channel-normalised trunk features, one tensor per tap.

        scaling -> trunk -> one output per selected tap -> `ChannelNormalization`.

        Args:
          images: (N, H, W, 3) in [-1, 1], in the input dtype (see `prepare_inputs`).
          training: passed to the trunk; None takes the calling context's (inference outside).

        Returns:
          A list of (N, h_t, w_t, C_t) tensors in the variable dtype, in `taps` order; a list of
          one for a single tap.
        """
        outputs = self.trunk(self.scaling(images), training=training)
        return [self.normalization(f) for f in _as_list(outputs)]

    def batch_tap_features(self, batches, training=None):
        """`tap_features` of several batches of one image size, in one trunk pass.

        One pass over the concatenated batches does larger matmuls and pays the per-call
        overhead once. Returns one list of per-tap tensors per batch, in order.
        """
        batches = list(batches)
        if len(batches) == 1:
            return [self.tap_features(batches[0], training=training)]
        features = self.tap_features(ops.concatenate(batches, axis=0), training=training)
        # Where each batch but the last ends in the concatenation (dynamic inside a TF graph).
        ends = list(itertools.accumulate(ops.shape(b)[0] for b in batches[:-1]))
        return [[f[start:stop] for f in features]
                for start, stop in zip([None] + ends, ends + [None])]

    def tap_sizes(self, height, width):
        """(h_t, w_t) of each tap's features for images of `height` x `width` (shapes only)."""
        specs = self.trunk.compute_output_spec(keras.KerasTensor((1, height, width, 3)))
        return [(int(s.shape[1]), int(s.shape[2])) for s in _as_list(specs)]

    def tap_distance_map(self, k, features0, features1, training=None):
        """Tap k's distance per position: lin k of the squared feature difference, or with
        lpips=False its channel sum. Features (N, h, w, C) -> (N, h, w, 1)."""
        difference = self.squared_difference([features0, features1])
        if self.lpips:
            return self.lins[k](difference, training=training)
        return self.channel_sum(difference)

    def reduce_tap_map(self, distance_map, reference):
        """A tap's distance map -> its term of the distance: the spatial mean, (N, 1), or with
        spatial=True the map upsampled to the H x W of `reference` (N, H, W, ...), (N, H, W, 1)."""
        if self.spatial:
            return self.upsample([distance_map, reference])
        return self.spatial_average(distance_map)

    def distance_from_features(self, features0, features1, reference, training=None):
        """The distance from two batches' tap features: the sum over taps of their reduced maps.

        `reference`: the prepared images (N, H, W, 3) whose size a spatial map takes. Returns
        (N,), or (N, H, W, 1) with spatial=True.
        """
        total = None
        for k, (f0, f1) in enumerate(zip(features0, features1)):
            term = self.reduce_tap_map(self.tap_distance_map(k, f0, f1, training), reference)
            total = term if total is None else total + term
        if self.spatial:
            return total
        return ops.squeeze(total, axis=-1)

    def tap_channel_means(self, features0, features1):
        """Per-channel spatial means of the squared feature differences, concatenated over taps:
        (N, sum(channels)); the lin-free statistics behind `channel_stats`."""
        means = [self.spatial_average(self.squared_difference([f0, f1]))
                 for f0, f1 in zip(features0, features1)]
        return ops.concatenate(means, axis=-1)

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
            from lpips_tf.uses.export import export_saved_model

            return export_saved_model(self, filepath, verbose=bool(verbose))
        return super().export(filepath, format=format, verbose=verbose,
                              input_signature=input_signature, **kwargs)

    @property
    def tap_strides(self):
        """Each tap's nominal stride over the input (a power of two: 4 means 1/4 the size)."""
        from lpips_tf.core.trunks.applications import PROBE_SIZE, nominal_stride

        return tuple(nominal_stride(PROBE_SIZE, h) for h, _ in self.tap_sizes(PROBE_SIZE,
                                                                              PROBE_SIZE))

    def get_config(self):
        # Architecture only, as Keras Applications do: the weights travel in the saved file, so a
        # reloaded model neither downloads a trunk nor needs the original weight files. A model
        # instance's trunk is saved as its (cut) architecture.
        net = self.net
        if self._trunk_from_instance:
            net = keras.saving.serialize_keras_object(self.trunk)
        return {
            "name": self.name,
            "net": net,
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
            "taps": list(self.taps),
            "dtype": self.dtype_policy.name,
            "max_memory_bytes": self.max_memory_bytes,
        }

    @classmethod
    def from_config(cls, config):
        if isinstance(config.get("net"), dict):
            config = {**config, "net": keras.saving.deserialize_keras_object(config["net"])}
        return cls(**config)

    # ----------------------------------------------------------------------------------------
    # Presets, KerasHub's convention: the registered configurations by name
    # (`lpips_tf.core.presets`).
    presets = lpips_presets.PresetTable()

    @classmethod
    def from_preset(cls, preset, **overrides):
        """The model a preset names, e.g. `LPIPS.from_preset("vgg-cos")`.

        Args:
          preset: a name from `LPIPS.presets` ("alex", "alex-cos", "vgg-v0.0", ...), optionally
            with settings ("alex-cos:taps=4").
          **overrides: constructor arguments that replace the preset's (`trunk_weights`,
            `lin_weights`, `spatial`, `normalize`, `taps`, `dtype`, ...).

        Raises:
          ValueError: an unknown preset (the message lists them) or setting.
        """
        return cls(**lpips_presets.preset_config(preset, **overrides))
