"""Shift-tolerant AlexNet, the trunk of ST-LPIPS (Ghildyal and Liu, ECCV 2022).

The authors' `alexnet(variant="shift_tolerant")` of `stlpips-pytorch` 0.0.2, layer by layer. It is
AlexNet made tolerant to small shifts:
  - conv1 runs at stride 1 (11x11, zero padding 2); the stride-4 step of AlexNet becomes two
    stride-2 blur-pools (`Downsample`: reflection padding 2, binomial [1, 2, 1] blur, subsampling),
    one before relu1 and one after pool1;
  - each 3x3/2 max-pool becomes a 3x3 max-pool at stride 1 followed by a blur-pool.
The authors trained this trunk from scratch on BAPPS together with its lin layers; both come from
their one checkpoint (`alex_shift_tolerant.pth`, keys `net.slice*` and `lin*`).

Each tap's stride, receptive field and offset in input pixels are `TAP_GEOMETRY` (see
`common.TapGeometry`); every pad of a blur-pool reflects the feature map, the convolutions pad
with zeros.

Sizes follow `n -> n - 6` (conv1), `n -> (n + 1) // 2 + 1` (blur-pool) and `n -> n - 2` (3x3
max-pool at stride 1).
"""

import keras

from lpips_tf.core.layers import Downsample
from lpips_tf.core.trunks.common import TapGeometry

NAME = "st-alex"
TITLE = "ST-AlexNet"  # how logs, reports and plots name it
# The post-ReLU outputs ST-LPIPS reads (the authors' slices end after these).
TAPS = ("relu1", "relu2", "relu3", "relu4", "relu5")
CHANNELS = (64, 192, 384, 256, 256)
# Every reflection pad (2 pixels) needs an input of at least 3: conv1 leaves H - 6, the first
# blur-pool (H - 5) // 2 + 1, and two more 3x3 max-pools with blur-pools must leave >= 3 each.
MIN_INPUT_SIZE = 21
# Checked with an impulse through the trunk by tests/core/test_stlpips.py.
TAP_GEOMETRY = {
    "relu1": TapGeometry(2, 13, -4),
    "relu2": TapGeometry(4, 37, -16),
    "relu3": TapGeometry(8, 69, -32),
    "relu4": TapGeometry(8, 85, -40),
    "relu5": TapGeometry(8, 101, -48),
}
# Keras layer name -> the authors' state-dict prefix: convolutions carry `.weight` / `.bias`,
# blur-pools the fixed filter `.filt`, checked against ours.
LAYER_MAP = {
    "conv1": "net.slice1.0",
    "blur1": "net.slice1.1",
    "blur2": "net.slice2.4",
    "conv2": "net.slice2.5",
    "blur3": "net.slice3.8",
    "conv3": "net.slice3.9",
    "conv4": "net.slice4.11",
    "conv5": "net.slice5.13",
}


def build(name="st_alexnet"):
    """Builds the trunk: (N, H, W, 3) -> [5 post-ReLU feature maps], randomly initialised."""
    layers = keras.layers
    inputs = keras.Input((None, None, 3), name="image")
    x = layers.ZeroPadding2D(2, name="conv1_pad")(inputs)
    x = layers.Conv2D(64, 11, name="conv1")(x)
    x = Downsample(3, 2, name="blur1")(x)
    relu1 = x = layers.ReLU(name="relu1")(x)
    x = layers.MaxPooling2D(3, 1, name="pool1")(x)
    x = Downsample(3, 2, name="blur2")(x)
    x = layers.Conv2D(192, 5, padding="same", name="conv2")(x)
    relu2 = x = layers.ReLU(name="relu2")(x)
    x = layers.MaxPooling2D(3, 1, name="pool2")(x)
    x = Downsample(3, 2, name="blur3")(x)
    x = layers.Conv2D(384, 3, padding="same", name="conv3")(x)
    relu3 = x = layers.ReLU(name="relu3")(x)
    x = layers.Conv2D(256, 3, padding="same", name="conv4")(x)
    relu4 = x = layers.ReLU(name="relu4")(x)
    x = layers.Conv2D(256, 3, padding="same", name="conv5")(x)
    relu5 = layers.ReLU(name="relu5")(x)
    return keras.Model(inputs, [relu1, relu2, relu3, relu4, relu5], name=name)
