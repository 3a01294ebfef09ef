"""Keras Applications backbones, and any functional `keras.Model`, as LPIPS trunks.

`get_trunk_module(net)` returns one of these for a `keras.applications` function name
("ResNet50", "MobileNetV3Small", ...) or a `keras.Model` instance, with the interface of the
three built-in trunk modules (`NAME`, `TITLE`, `TAPS`, `CHANNELS`, `MIN_INPUT_SIZE`) plus what an
open trunk needs: `select_taps`, `build_full(trunk_weights)` and `INPUT_SCALING`.

Default taps: the last activation layer of each resolution stage, a stage being the layers whose
output has one nominal stride (a power of two) over the input. Activation layers are `Activation`
(not "linear"), `ReLU`, `ELU`, `LeakyReLU`, `PReLU` and convolutions or dense layers with a
non-linear `activation`; outputs that are 1 x 1 at any input size (squeeze-and-excitation gates)
are not features and never taps.

Input scaling: LPIPS hands a trunk [-1, 1] RGB; `ScalingLayer` maps that to what the family's
`preprocess_input` makes of 0..255 RGB. For a name the mode is found by running that
`preprocess_input` on a probe and matching it against the four conventions ("caffe", "tf",
"torch", "raw"); an instance needs `input_scaling=`.
"""

import collections
import contextlib
import functools
import math
import sys

import numpy as np
import keras

from lpips_tf.core.layers import CAFFE_BGR_MEAN, TORCH_MEAN, TORCH_STD

# The conventions of `keras.applications.*.preprocess_input`, for 0..255 RGB input.
INPUT_SCALINGS = ("caffe", "tf", "torch", "raw")
# Symbolic input side used to find strides (large, so that "valid" borders barely move ratios).
PROBE_SIZE = 512
# Largest input side searched for the minimum size.
MAX_MIN_SIZE = 1024
_ACTIVATION_LAYERS = ("Activation", "ReLU", "ELU", "LeakyReLU", "PReLU")
# Layers that merge branches (a residual sum, an Inception or DenseNet concatenation) end a
# block as an activation does.
_MERGE_LAYERS = ("Add", "Concatenate")
# Families whose applications build no convolutional trunk for arbitrary sizes: NASNet's cells
# add maps whose sizes agree only at the input sizes it was designed for.
_FIXED_SIZE = ("NASNetLarge", "NASNetMobile")


def application_names():
    """Every `keras.applications` model function that builds a trunk for any input size."""
    return tuple(n for n in dir(keras.applications)
                 if n[:1].isupper() and callable(getattr(keras.applications, n))
                 and n not in _FIXED_SIZE)


def is_application(net):
    return isinstance(net, str) and net in application_names()


def scale_from_255(x, mode):
    """What `mode` makes of RGB 0..255 `x` (NumPy), as `keras.applications` preprocess_input."""
    x = np.asarray(x, np.float64)
    if mode == "caffe":
        return x[..., ::-1] - np.asarray(CAFFE_BGR_MEAN)
    if mode == "tf":
        return x / 127.5 - 1.0
    if mode == "torch":
        return (x / 255.0 - np.asarray(TORCH_MEAN)) / np.asarray(TORCH_STD)
    if mode == "raw":
        return x
    raise ValueError(f"input_scaling must be one of {INPUT_SCALINGS}. Received: {mode!r}")


def preprocess_function(name):
    """The family's own `preprocess_input` (e.g. `keras.applications.resnet.preprocess_input`)."""
    function = getattr(keras.applications, name)
    return sys.modules[function.__module__].preprocess_input


def detect_input_scaling(name):
    """The convention of `name`'s `preprocess_input`, found by running it on a probe."""
    probe = np.random.default_rng(0).uniform(0, 255, (1, 4, 4, 3)).astype(np.float32)
    out = np.asarray(keras.ops.convert_to_numpy(preprocess_function(name)(probe.copy())))
    for mode in INPUT_SCALINGS:
        if np.allclose(out, scale_from_255(probe, mode), atol=1e-3):
            return mode
    raise ValueError(f"The preprocess_input of {name} matches none of {INPUT_SCALINGS}; build "
                     f"the model yourself and pass it as net= with input_scaling=.")


def _is_activation(layer):
    kind = type(layer).__name__
    if kind in _MERGE_LAYERS:
        return True
    if kind in _ACTIVATION_LAYERS:
        activation = getattr(layer, "activation", None)
        return getattr(activation, "__name__", "") != "linear"
    activation = getattr(layer, "activation", None)
    return activation is not None and getattr(activation, "__name__", "linear") != "linear"


def _single_output(layer):
    try:
        return layer.output
    except (AttributeError, ValueError):  # shared layers have one output per call
        return None


def _output_specs(model, tensors, size):
    probe = keras.Model(model.inputs, tensors)
    specs = probe.compute_output_spec(keras.KerasTensor((1, size, size, 3)))
    return specs if isinstance(specs, (list, tuple)) else [specs]


def nominal_stride(size, out):
    """The power-of-two stride of a feature map `out` pixels wide over an input `size` wide."""
    return 2 ** round(math.log2(size / out))


def main_path(model):
    """Names of the layers every path from input to output goes through (no branch or skip
    connection passes them by): in a topological order, the positions no edge jumps over."""
    operations = model.operations
    position = {id(op): i for i, op in enumerate(operations)}
    spanned = np.zeros(len(operations) + 1, np.int64)
    for k, op in enumerate(operations):
        for node in op._inbound_nodes:
            for parent in node.parent_nodes:
                j = position.get(id(parent.operation))
                if j is not None and k - j > 1:
                    spanned[j + 1] += 1
                    spanned[k] -= 1
    covered = np.cumsum(spanned)[:len(operations)]
    return {op.name for op, c in zip(operations, covered) if c == 0}


def default_taps(model):
    """The last activation (or merge) of each resolution stage of a functional `model`, on its
    main path where the stage has one there, in layer order."""
    candidates = [(layer.name, _single_output(layer)) for layer in model.layers
                  if _is_activation(layer)]
    candidates = [(n, t) for n, t in candidates if t is not None and len(t.shape) == 4]
    if not candidates:
        raise ValueError(f"{model.name} has no activation layers with 4-D outputs to read; "
                         f"name its taps with taps=.")
    specs = _output_specs(model, [t for _, t in candidates], PROBE_SIZE)
    on_path = main_path(model)
    last, last_on_path = {}, {}
    for (name, _), spec in zip(candidates, specs):
        height, width = int(spec.shape[1]), int(spec.shape[2])
        if height > 1 or width > 1:
            stride = nominal_stride(PROBE_SIZE, height)
            last[stride] = name
            if name in on_path:
                last_on_path[stride] = name
    chosen = [last_on_path.get(stride, name) for stride, name in last.items()]
    return tuple(sorted(chosen, key=[layer.name for layer in model.layers].index))


def _fits(trunk, size):
    try:
        specs = _output_specs(trunk, trunk.outputs, size)
    except Exception:  # a layer refusing a too small input (negative sizes)
        return False
    return all(s.shape[1] is not None and s.shape[1] >= 1 and s.shape[2] >= 1 for s in specs)


def min_input_size(trunk):
    """The smallest square input side for which every output of `trunk` is at least 1 x 1, and
    at least the deepest output's stride (below it, "same" padding keeps a 1 x 1 map that sees
    mostly padding)."""
    fixed = [d for d in trunk.inputs[0].shape[1:3] if d is not None]
    if fixed:
        return int(min(fixed))
    if not _fits(trunk, MAX_MIN_SIZE):
        raise ValueError(f"{trunk.name} gives empty features even at {MAX_MIN_SIZE} px.")
    low, high = 0, MAX_MIN_SIZE  # low does not fit, high does
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if _fits(trunk, middle) else (middle, high)
    specs = _output_specs(trunk, trunk.outputs, PROBE_SIZE)
    return max(high, max(nominal_stride(PROBE_SIZE, int(s.shape[1])) for s in specs))


def cut_at(model, taps):
    """A functional model over `model`'s own layers with one output per tap layer name."""
    return keras.Model(model.inputs, [model.get_layer(t).output for t in taps], name=model.name)


def check_functional(model):
    if not isinstance(model, keras.Model) or not hasattr(model, "_operations"):
        raise ValueError(f"net= takes a functional keras.Model (built with keras.Input, as "
                         f"keras.applications are); received {type(model).__name__}, whose "
                         f"layers cannot be tapped by name.")
    if len(model.inputs) != 1 or len(model.inputs[0].shape) != 4:
        raise ValueError(f"net= takes a model with one (N, H, W, 3) image input; {model.name} "
                         f"has inputs {[tuple(i.shape) for i in model.inputs]}.")
    if model.inputs[0].shape[-1] not in (None, 3):
        raise ValueError(f"net= takes a model of RGB images; {model.name} has input shape "
                         f"{tuple(model.inputs[0].shape)}.")


class OpenTrunk:
    """A trunk read from the layers of a functional model, with the trunk modules' interface.

    `reference` is a function returning the model the taps, channels and sizes are read from
    (for a name: the application with random weights, built once when first needed);
    `build_full(trunk_weights)` returns the whole model with its weights; `application` is the
    `keras.applications` name, None for an instance.
    """

    def __init__(self, name, title, reference, input_scaling, build_full, application=None):
        self.NAME = name
        self.TITLE = title
        self.INPUT_SCALING = input_scaling
        self.application = application
        self.build_full = build_full
        self._reference_fn = reference

    @functools.cached_property
    def reference(self):
        return self._reference_fn()

    @functools.cached_property
    def TAPS(self):
        return default_taps(self.reference)

    @functools.cached_property
    def CHANNELS(self):
        return tuple(int(self.reference.get_layer(t).output.shape[-1]) for t in self.TAPS)

    @functools.cached_property
    def MIN_INPUT_SIZE(self):
        return min_input_size(cut_at(self.reference, self.TAPS))

    def _layer_order(self):
        return [layer.name for layer in self.reference.layers]

    def select_taps(self, taps):
        """Tap layer names for `taps`: None (the default taps), an int k (the first k of them),
        or layer names / indices into the default taps, in layer order."""
        defaults = self.TAPS
        if taps is None:
            return defaults
        if isinstance(taps, bool):
            raise ValueError(f"taps must be None, an int or a sequence of layer names. "
                             f"Received: {taps!r}")
        if isinstance(taps, (int, np.integer)):
            if not 1 <= taps <= len(defaults):
                raise ValueError(f"taps={taps}: the {self.NAME} trunk has {len(defaults)} default "
                                 f"taps ({', '.join(defaults)}); choose 1 to {len(defaults)}.")
            return defaults[:int(taps)]
        if isinstance(taps, str):
            taps = [t for t in taps.replace("+", ",").split(",") if t]
        order = self._layer_order()
        selected = [self._tap_name(tap, defaults, order) for tap in taps]
        if not selected:
            raise ValueError("taps is empty: select at least one tap.")
        indices = [order.index(t) for t in selected]
        if indices != sorted(set(indices)):
            raise ValueError(f"taps must be distinct and in layer order. Received: {selected}")
        return tuple(selected)

    def _tap_name(self, tap, defaults, order):
        if isinstance(tap, (int, np.integer)) and not isinstance(tap, bool):
            if not 0 <= tap < len(defaults):
                raise ValueError(f"Tap index {tap} is out of range for the {self.NAME} trunk's "
                                 f"default taps: 0 to {len(defaults) - 1} ({', '.join(defaults)}).")
            return defaults[int(tap)]
        if tap not in order:
            raise ValueError(f"Unknown tap {tap!r}: {self.NAME} has no layer of that name (its "
                             f"default taps are {', '.join(defaults)}).")
        output = _single_output(self.reference.get_layer(tap))
        if output is None or len(output.shape) != 4:
            raise ValueError(f"Tap {tap!r} of {self.NAME} does not give one (N, H, W, C) feature "
                             f"map; choose a layer with a 4-D output.")
        return tap


def _check_weights_file(path, name):
    import os

    path = os.fspath(path)
    if not path.endswith(".weights.h5"):
        raise ValueError(f"trunk_weights for {name} must be 'imagenet', None (random) or a Keras "
                         f".weights.h5 file. Received: {path!r}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"trunk_weights file not found: {path} (expected a .weights.h5 "
                                f"file saved from {name}).")
    return path


def _load_weights_file(model, path, name):
    try:
        model.load_weights(_check_weights_file(path, name))
    except (ValueError, KeyError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"{path}: these weights do not fit {name} ({first}); expected a "
                         f".weights.h5 file saved from that model.") from None
    return model


@contextlib.contextmanager
def _fresh_layer_names():
    """Layer names as in a fresh process: applications leave many layers to Keras' automatic
    names ("activation_11"), which count up over the process, and taps name layers."""
    try:
        from keras.src.backend.common import global_state
    except ImportError:  # another Keras layout: names then depend on what was built before
        yield
        return
    key = "object_name_uids"
    outer = global_state.get_global_attribute(key, collections.defaultdict(int), True)
    inner = collections.defaultdict(int)
    global_state.set_global_attribute(key, inner)
    try:
        yield
    finally:
        for name, count in inner.items():  # later automatic names stay unique
            outer[name] = max(outer[name], count)
        global_state.set_global_attribute(key, outer)


def _build_application(name, weights=None):
    function = getattr(keras.applications, name)
    with _fresh_layer_names():
        return function(include_top=False, weights=weights, input_shape=(None, None, 3))


@functools.lru_cache(maxsize=None)
def application_trunk(name):
    """The `OpenTrunk` of a `keras.applications` function name ("ResNet50")."""
    def build_full(trunk_weights):
        # "torchvision", LPIPS' default, stands for the trunk's own ImageNet weights.
        if trunk_weights is None:
            return _build_application(name)
        if trunk_weights in ("imagenet", "torchvision"):
            return _build_application(name, "imagenet")  # Keras downloads them
        return _load_weights_file(_build_application(name), trunk_weights, name)

    return OpenTrunk(name, name, lambda: _build_application(name), detect_input_scaling(name),
                     build_full, application=name)


def model_trunk(model):
    """The `OpenTrunk` of a functional `keras.Model` instance (or a built `keras.Sequential`):
    its own layers and weights."""
    if isinstance(model, keras.Sequential) and getattr(model, "inputs", None):
        model = keras.Model(model.inputs, model.outputs, name=model.name)
    check_functional(model)

    def build_full(trunk_weights):
        # None and LPIPS' default both mean the weights the instance has.
        if trunk_weights in (None, "torchvision"):
            return model
        return _load_weights_file(model, trunk_weights, model.name)

    return OpenTrunk(model.name, model.name, lambda: model, None, build_full)
