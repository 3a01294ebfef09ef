"""What the three trunks share: strict loading of torchvision weights by layer name."""

import numpy as np

from lpips_tf.core import pth


def conv_param_shapes(model, layer_map):
    """Torchvision parameter shapes (OIHW weights, biases) expected for `layer_map`."""
    shapes = {}
    for layer_name, prefix in layer_map.items():
        kernel, bias = model.get_layer(layer_name).get_weights()
        kh, kw, cin, cout = kernel.shape
        shapes[prefix + ".weight"] = (cout, cin, kh, kw)
        shapes[prefix + ".bias"] = tuple(bias.shape)
    return shapes


def load_torchvision_weights(model, state_dict, layer_map, source="state dict"):
    """Loads a torchvision `features.*` state dict into `model`, strictly, by layer name.

    Args:
      model: the Keras trunk.
      state_dict: mapping from torchvision keys (`features.0.weight`, ...) to numpy arrays. A full
        torchvision checkpoint may also hold `classifier.*` keys; those are ignored, any other
        extra key is an error.
      layer_map: Keras layer name -> torchvision key prefix (without `.weight` / `.bias`).
      source: where the weights came from, for error messages.

    Raises:
      lpips_tf.core.pth.PthError: a missing or unexpected key, or a shape mismatch, naming the key.
    """
    expected = conv_param_shapes(model, layer_map)
    state = pth.check_state_dict(
        state_dict, expected, allowed_extra_prefixes=("classifier.",), source=source
    )
    for layer_name, prefix in layer_map.items():
        # torch keeps conv kernels as (out, in, h, w); Keras as (h, w, in, out).
        kernel = np.transpose(np.asarray(state[prefix + ".weight"], np.float32), (2, 3, 1, 0))
        bias = np.asarray(state[prefix + ".bias"], np.float32)
        model.get_layer(layer_name).set_weights([kernel, bias])

