"""SqueezeNet 1.1 trunk, ported from torchvision's `squeezenet1_1().features`.

torchvision's max-pools here use `ceil_mode=True`, which Keras lacks: `CeilMaxPooling2D` reproduces
it. Layer names follow torchvision's `features` indices (`fire3_squeeze` is `features.3.squeeze`).
"""

import keras

from lpips_tf.core.layers import CeilMaxPooling2D

NAME = "squeeze"
TITLE = "SqueezeNet 1.1"  # how logs, reports and plots name it
TAPS = (
    "conv1",
    "fire4_concat",
    "fire7_concat",
    "fire9_concat",
    "fire10_concat",
    "fire11_concat",
    "fire12_concat",
)
CHANNELS = (64, 128, 256, 384, 384, 512, 512)
# conv1 (3x3/2, no padding) must leave >= 8 pixels so that three ceil-mode pools leave >= 1.
MIN_INPUT_SIZE = 17
# (features index, squeeze channels, expand channels per branch), in order.
_FIRES = ((3, 16, 64), (4, 16, 64), (6, 32, 128), (7, 32, 128), (9, 48, 192), (10, 48, 192),
          (11, 64, 256), (12, 64, 256))
_POOL_BEFORE = {3: "pool2", 6: "pool5", 9: "pool8"}

LAYER_MAP = {"conv1": "features.0"}
for _index, _, _ in _FIRES:
    for _part in ("squeeze", "expand1x1", "expand3x3"):
        LAYER_MAP[f"fire{_index}_{_part}"] = f"features.{_index}.{_part}"


def _fire(x, index, squeeze, expand):
    s = keras.layers.Conv2D(squeeze, 1, activation="relu", name=f"fire{index}_squeeze")(x)
    e1 = keras.layers.Conv2D(expand, 1, activation="relu", name=f"fire{index}_expand1x1")(s)
    e3 = keras.layers.Conv2D(
        expand, 3, padding="same", activation="relu", name=f"fire{index}_expand3x3"
    )(s)
    # torch.cat([expand1x1, expand3x3], dim=1): channel order matters for the lin weights.
    return keras.layers.Concatenate(axis=-1, name=f"fire{index}_concat")([e1, e3])


def build(name="squeezenet1_1"):
    """Builds the trunk: (N, H, W, 3) -> [7 post-ReLU feature maps], randomly initialised."""
    inputs = keras.Input((None, None, 3), name="image")
    x = keras.layers.Conv2D(64, 3, strides=2, activation="relu", name="conv1")(inputs)
    taps = {"conv1": x}
    for index, squeeze, expand in _FIRES:
        if index in _POOL_BEFORE:
            x = CeilMaxPooling2D(3, 2, name=_POOL_BEFORE[index])(x)
        x = _fire(x, index, squeeze, expand)
        taps[f"fire{index}_concat"] = x
    return keras.Model(inputs, [taps[t] for t in TAPS], name=name)
