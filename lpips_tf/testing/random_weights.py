"""Seeded random trunk weights in torchvision's state-dict layout (pure NumPy).

No VGG16 trunk weights can be obtained in this project's environments, so parity with the official
LPIPS for VGG (and, as an extra check, for AlexNet and SqueezeNet) is tested with seeded random
trunks: `tools/make_golden.py` loads `random_trunk_state_dict(net, seed)` into the official PyTorch
model, and the TensorFlow tests load the very same arrays into our Keras trunks.

This module must import neither TensorFlow nor PyTorch (the two cannot share a process): the
torch-side script loads it by file path, the TF-side tests import it normally.
"""

import numpy as np

__all__ = ["TRUNK_PARAM_SHAPES", "NETS", "random_trunk_state_dict"]

NETS = ("alex", "vgg", "squeeze")


def _conv(shapes, prefix, c_in, c_out, k):
    shapes[prefix + ".weight"] = (c_out, c_in, k, k)  # OIHW, as torch stores conv kernels.
    shapes[prefix + ".bias"] = (c_out,)


def _alexnet_shapes():
    # torchvision.models.alexnet().features: conv layers sit at indices 0, 3, 6, 8, 10.
    shapes = {}
    for index, c_in, c_out, k in [
        (0, 3, 64, 11),
        (3, 64, 192, 5),
        (6, 192, 384, 3),
        (8, 384, 256, 3),
        (10, 256, 256, 3),
    ]:
        _conv(shapes, f"features.{index}", c_in, c_out, k)
    return shapes


def _vgg16_shapes():
    # torchvision.models.vgg16().features, config "D": every conv is 3x3 and is followed by a ReLU;
    # "M" (max-pool) takes one index, a conv takes two (conv + ReLU).
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    shapes = {}
    index, c_in = 0, 3
    for v in cfg:
        if v == "M":
            index += 1
            continue
        _conv(shapes, f"features.{index}", c_in, v, 3)
        index += 2
        c_in = v
    return shapes


def _squeezenet1_1_shapes():
    # torchvision.models.squeezenet1_1().features: conv at 0, Fire modules at 3, 4, 6, 7, 9, 10, 11, 12
    # with (in, squeeze, expand1x1, expand3x3) channels.
    shapes = {}
    _conv(shapes, "features.0", 3, 64, 3)
    for index, c_in, squeeze, e1, e3 in [
        (3, 64, 16, 64, 64),
        (4, 128, 16, 64, 64),
        (6, 128, 32, 128, 128),
        (7, 256, 32, 128, 128),
        (9, 256, 48, 192, 192),
        (10, 384, 48, 192, 192),
        (11, 384, 64, 256, 256),
        (12, 512, 64, 256, 256),
    ]:
        _conv(shapes, f"features.{index}.squeeze", c_in, squeeze, 1)
        _conv(shapes, f"features.{index}.expand1x1", squeeze, e1, 1)
        _conv(shapes, f"features.{index}.expand3x3", squeeze, e3, 3)
    return shapes


# net -> {state-dict key -> shape}; the exact parameter set of torchvision's `.features` module.
TRUNK_PARAM_SHAPES = {
    "alex": _alexnet_shapes(),
    "vgg": _vgg16_shapes(),
    "squeeze": _squeezenet1_1_shapes(),
}

# Bias standard deviation: small but non-zero, so that a wrongly dropped or misplaced bias shows.
_BIAS_STD = 0.05


def random_trunk_state_dict(net, seed=0):
    """Returns seeded random trunk weights in torchvision's `features.*` layout.

    Weights are He-normal (std = sqrt(2 / fan_in), fan_in = in_channels * kh * kw), which keeps
    ReLU activations in a sane range through every layer; biases are normal with std 0.05. Keys are
    drawn in sorted (lexicographic) order from one `np.random.default_rng(seed)`, so the result
    depends only on `net` and `seed`, on every platform and NumPy version with the same generator.

    Args:
        net: one of "alex", "vgg", "squeeze".
        seed: integer seed.

    Returns:
        dict mapping `features.N[.sub].weight` to an OIHW float32 array and `...bias` to a float32
        vector, with exactly the keys and shapes of `TRUNK_PARAM_SHAPES[net]`.
    """
    if net not in TRUNK_PARAM_SHAPES:
        raise ValueError(f"`net` must be one of {NETS}. Received: net={net!r}")
    rng = np.random.default_rng(seed)
    state = {}
    shapes = TRUNK_PARAM_SHAPES[net]
    for key in sorted(shapes):
        shape = shapes[key]
        if key.endswith(".weight"):
            fan_in = int(np.prod(shape[1:]))
            std = np.sqrt(2.0 / fan_in)
        else:
            std = _BIAS_STD
        state[key] = (rng.standard_normal(shape) * std).astype(np.float32)
    return state
