"""What the trunks share: strict loading of PyTorch-layout weights by layer name, and how a
trunk states its per-tap geometry (`TapGeometry`)."""

import collections

import numpy as np

from lpips_tf.core import pth
from lpips_tf.core.layers import Downsample


class TapGeometry(collections.namedtuple("TapGeometry", "stride receptive_field offset")):
    """Where a tap's outputs sit in input pixels, the same for rows and columns: output `i`
    depends on input rows `stride * i + offset` to `stride * i + offset + receptive_field - 1`
    and on no others (rows below 0 or past the image are the trunk's padding)."""

    __slots__ = ()

    def input_rows(self, i):
        """(first, last) input row output row `i` depends on, padding included."""
        first = self.stride * i + self.offset
        return first, first + self.receptive_field - 1


# How far a file's blur filter may be from ours (float32 rounding of 1/16, 1/8, 1/4: none).
FILTER_ATOL = 1e-7


def conv_param_shapes(model, layer_map):
    """PyTorch parameter shapes expected for `layer_map`: OIHW weights and biases of the
    convolutions, and (C, 1, k, k) `filt` buffers of the blur-pools (`Downsample`)."""
    shapes = {}
    for layer_name, prefix in layer_map.items():
        layer = model.get_layer(layer_name)
        if isinstance(layer, Downsample):
            k = layer.filter_size
            shapes[prefix + ".filt"] = (int(layer.input.shape[-1]), 1, k, k)
            continue
        kernel, bias = layer.get_weights()
        kh, kw, cin, cout = kernel.shape
        shapes[prefix + ".weight"] = (cout, cin, kh, kw)
        shapes[prefix + ".bias"] = tuple(bias.shape)
    return shapes


def _check_blur_filter(layer, stored, key, source):
    """A blur-pool's filter is a constant of the architecture: the file's must be ours."""
    expected = np.transpose(layer.filter_kernel(stored.shape[0]), (2, 3, 0, 1))
    stored = np.asarray(stored, np.float32)
    if not np.allclose(stored, expected, rtol=0, atol=FILTER_ATOL):
        raise pth.PthError(
            f"{source}: {key} is not the {layer.filter_size}x{layer.filter_size} binomial blur "
            f"this trunk uses (first channel {stored[0, 0].round(4).tolist()}, expected "
            f"{expected[0, 0].round(4).tolist()}); the file is for another architecture.")


def load_torchvision_weights(model, state_dict, layer_map, source="state dict"):
    """Loads a PyTorch-layout state dict into `model`, strictly, by layer name.

    Args:
      model: the Keras trunk.
      state_dict: mapping from PyTorch keys (`features.0.weight`, ...) to numpy arrays. A full
        torchvision checkpoint may also hold `classifier.*` keys; those are ignored, any other
        extra key is an error.
      layer_map: Keras layer name -> PyTorch key prefix (without `.weight` / `.bias`). For a
        blur-pool (`Downsample`) the file's `.filt` buffer is compared with the layer's fixed
        filter instead of loaded.
      source: where the weights came from, for error messages.

    Raises:
      lpips_tf.core.pth.PthError: a missing or unexpected key, a shape mismatch, or a blur filter
        that is not ours, naming the key.
    """
    expected = conv_param_shapes(model, layer_map)
    state = pth.check_state_dict(
        state_dict, expected, allowed_extra_prefixes=("classifier.",), source=source
    )
    for layer_name, prefix in layer_map.items():
        layer = model.get_layer(layer_name)
        if isinstance(layer, Downsample):
            _check_blur_filter(layer, state[prefix + ".filt"], prefix + ".filt", source)
            continue
        # torch keeps conv kernels as (out, in, h, w); Keras as (h, w, in, out).
        kernel = np.transpose(np.asarray(state[prefix + ".weight"], np.float32), (2, 3, 1, 0))
        bias = np.asarray(state[prefix + ".bias"], np.float32)
        layer.set_weights([kernel, bias])
