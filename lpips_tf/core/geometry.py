"""Where each tap position of a trunk looks in the image: strides, receptive fields, padding.

For one spatial axis, position i of a feature map reads the input pixels

    start + i * jump  ...  start + i * jump + extent - 1

(`AxisGeometry`): `jump` is the product of the strides so far, `extent` the receptive field and
`start` <= 0 the padding in front of the first window, in input pixels. Pixels outside the image
are the padding. The numbers are computed from the layer configurations of the trunk's Keras
graph (convolutions, pools, zero padding, pointwise layers, merges, nested functional models), so
a new trunk built from such layers plugs in; a layer whose reach is not known from its config
(global pooling, attention, "same" padding with a stride, which pads by an amount that depends on
the input size) raises `GeometryError`, naming it.

`lpips_tf.core.tiling` uses these numbers to evaluate a large image in tiles with the same result.
"""

import collections
import math

import keras

__all__ = ["AxisGeometry", "TrunkGeometry", "GeometryError", "trunk_geometry"]


class GeometryError(ValueError):
    """A trunk layer whose receptive field cannot be read from its configuration."""


class AxisGeometry(collections.namedtuple("AxisGeometry", ["jump", "start", "extent"])):
    """One axis of a feature map: position i reads input pixels [start + i*jump, + extent)."""

    def then(self, kernel, stride, pad):
        """The geometry after a window of `kernel` pixels, moved by `stride`, after `pad` in front."""
        return AxisGeometry(self.jump * stride, self.start - pad * self.jump,
                            self.extent + (kernel - 1) * self.jump)

    def compose(self, inner):
        """`inner` (a sub-model's geometry relative to its own input) read through this one."""
        return AxisGeometry(self.jump * inner.jump, self.start + inner.start * self.jump,
                            self.extent + (inner.extent - 1) * self.jump)


IDENTITY = AxisGeometry(1, 0, 1)

TrunkGeometry = collections.namedtuple("TrunkGeometry", ["taps", "stride", "floats_per_pixel"])
TrunkGeometry.__doc__ = """The geometry of a trunk's outputs.

taps: one (height, width) pair of `AxisGeometry` per output, in order.
stride: (height, width): the least common multiple of every layer's jump. A crop of the input that
  starts at a multiple of it gives the same pooling grids as the full image.
floats_per_pixel: (outputs, largest): per input pixel, the numbers held by all outputs together and
  by the largest single layer output (channels / (jump_h * jump_w)), for memory estimates.
"""

# Layers that act on each position alone (channels only): their output keeps the input geometry.
_POINTWISE = frozenset({
    "InputLayer", "Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax",
    "BatchNormalization", "LayerNormalization", "Dropout", "SpatialDropout2D", "GaussianNoise",
    "GaussianDropout", "Rescaling", "Normalization", "Identity", "Dense", "EinsumDense",
    "ScalingLayer", "ChannelNormalization",
})
# Layers that combine inputs position by position.
_MERGES = frozenset({"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
                     "Concatenate"})


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _window(layer, kernel, strides, padding, dilation=(1, 1)):
    """Per axis (kernel, stride, front pad) of a convolution or pooling window."""
    out = []
    for k, s, d in zip(_pair(kernel), _pair(strides), _pair(dilation)):
        k = d * (k - 1) + 1
        if padding == "valid":
            out.append((k, s, 0))
        elif padding == "same" and s == 1:
            out.append((k, 1, (k - 1) // 2))  # TensorFlow's rule: the odd pixel goes at the end.
        else:
            raise GeometryError(
                f"Layer {layer.name!r} ({type(layer).__name__}) uses padding={padding!r} with "
                f"strides={strides}: its padding depends on the input size, so it cannot be tiled.")
    return out


def _layer_windows(layer):
    """Per axis (kernel, stride, front pad) of a windowed layer, or None for other layers."""
    if getattr(layer, "data_format", "channels_last") not in ("channels_last", None):
        raise GeometryError(f"Layer {layer.name!r} is channels_first; tiling reads NHWC trunks.")
    name = type(layer).__name__
    if name == "ZeroPadding2D":
        (top, _), (left, _) = layer.padding
        return [(1, 1, top), (1, 1, left)]
    if name == "Downsample":  # Blur-pool: reflected by `padding`, then a valid strided blur.
        return [(layer.filter_size, layer.strides, layer.padding)] * 2
    if name == "CeilMaxPooling2D":  # Pads only at the end, by -inf: no shift in front.
        return _window(layer, layer.pool_size, layer.strides, "valid")
    if hasattr(layer, "kernel_size") and hasattr(layer, "strides"):
        return _window(layer, layer.kernel_size, layer.strides, layer.padding,
                       getattr(layer, "dilation_rate", 1))
    if hasattr(layer, "pool_size") and hasattr(layer, "strides") and "Global" not in name:
        return _window(layer, layer.pool_size, layer.strides or layer.pool_size, layer.padding)
    return None


def _merge(layer, geometries):
    """The union of several inputs' windows; they must move by the same jump."""
    if type(layer).__name__ == "Concatenate" and layer.axis not in (-1, 3):
        raise GeometryError(f"Layer {layer.name!r} concatenates along axis {layer.axis}; tiling "
                            f"needs spatial positions kept apart (axis -1).")
    merged = []
    for axis in zip(*geometries):
        if len({g.jump for g in axis}) != 1:
            raise GeometryError(f"Layer {layer.name!r} merges inputs of different strides "
                                f"{[g.jump for g in axis]}.")
        start = min(g.start for g in axis)
        end = max(g.start + g.extent for g in axis)
        merged.append(AxisGeometry(axis[0].jump, start, end - start))
    return tuple(merged)


class _Walker:
    """Geometry of every tensor of a functional graph, from its inputs to the requested outputs."""

    def __init__(self):
        self.known = {}
        self.jumps = (set(), set())  # per axis, every layer's
        self.largest = 0.0

    def tensor(self, tensor):
        key = id(tensor)
        if key not in self.known:
            operation, node_index, tensor_index = tensor._keras_history
            node = operation._inbound_nodes[node_index]
            inputs = [self.tensor(t) for t in node.input_tensors]
            result = self._operation(operation, inputs, tensor_index)
            self.known[key] = result
            for axis, g in enumerate(result):
                self.jumps[axis].add(g.jump)
            channels = tensor.shape[-1] or 0
            self.largest = max(self.largest, channels / (result[0].jump * result[1].jump))
        return self.known[key]

    def _operation(self, layer, inputs, tensor_index):
        name = type(layer).__name__
        if not inputs:
            return (IDENTITY, IDENTITY)
        if isinstance(layer, keras.Model) and hasattr(layer, "_inbound_nodes"):
            inner = self._nested(layer)[tensor_index]
            return tuple(g.compose(i) for g, i in zip(inputs[0], inner))
        if len(inputs) > 1:
            if name not in _MERGES:
                raise GeometryError(f"Layer {layer.name!r} ({name}) has several inputs and is not "
                                    f"a known merge layer; its receptive field is unknown.")
            return _merge(layer, inputs)
        windows = _layer_windows(layer)
        if windows is not None:
            return tuple(g.then(*w) for g, w in zip(inputs[0], windows))
        if name in _POINTWISE:
            return inputs[0]
        raise GeometryError(f"Layer {layer.name!r} ({name}) has no known receptive field (not a "
                            f"convolution, pooling, padding, pointwise or merge layer).")

    def _nested(self, model):
        if len(model.inputs) != 1:
            raise GeometryError(f"Nested model {model.name!r} has {len(model.inputs)} inputs.")
        inner = _Walker()
        result = [inner.tensor(t) for t in model.outputs]
        for mine, theirs in zip(self.jumps, inner.jumps):
            mine.update(theirs)
        self.largest = max(self.largest, inner.largest)
        return result


def trunk_geometry(trunk):
    """The `TrunkGeometry` of a functional Keras trunk (one image input, NHWC outputs).

    Raises:
      GeometryError: a layer whose receptive field is not known from its configuration.
    """
    if not hasattr(trunk, "outputs") or len(getattr(trunk, "inputs", ())) != 1:
        raise GeometryError(f"Trunk {getattr(trunk, 'name', trunk)!r} is not a functional model "
                            f"with one image input; its geometry cannot be read.")
    walker = _Walker()
    taps = [walker.tensor(t) for t in trunk.outputs]
    stride = tuple(math.lcm(*jumps) for jumps in walker.jumps)
    outputs = sum((t.shape[-1] or 0) / (g[0].jump * g[1].jump)
                  for t, g in zip(trunk.outputs, taps))
    return TrunkGeometry(taps, stride, (outputs, walker.largest))
