"""Shift-tolerant VGG16, the trunk of ST-LPIPS (Ghildyal and Liu, ECCV 2022).

The authors' `vggnet(variant="shift_tolerant")` of `stlpips-pytorch` 0.0.2, layer by layer: VGG16's
3x3 "same" convolutions, with each 2x2/2 max-pool replaced by a 2x2 max-pool at stride 1 followed
by a stride-2 blur-pool (`Downsample`: reflection padding 2, binomial [1, 2, 1] blur,
subsampling). Layer names follow Keras Applications' VGG16 (`block3_conv3`); the pool and blur-pool
after block k are `block{k}_pool` and `block{k}_blur`. The authors trained this trunk from scratch
on BAPPS together with its lin layers; both come from their one checkpoint
(`vgg_shift_tolerant.pth`, keys `net.slice*` and `lin*`).

Each tap's stride, receptive field and offset in input pixels are `TAP_GEOMETRY` (see
`common.TapGeometry`); every pad of a blur-pool reflects the feature map, the convolutions pad
with zeros.

Between blocks the size goes `n -> n // 2 + 1` (2x2 max-pool at stride 1, then the blur-pool).
"""

import keras

from lpips_tf.core.layers import Downsample
from lpips_tf.core.trunks.common import TapGeometry

NAME = "st-vgg"
TITLE = "ST-VGG16"  # how logs, reports and plots name it
TAPS = ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3")
CHANNELS = (64, 128, 256, 512, 512)
# Every reflection pad (2 pixels) needs at least 3 pixels after its 2x2 max-pool, so block4
# needs 4 pixels: 18 -> 10 -> 6 -> 4 -> 3.
MIN_INPUT_SIZE = 18
# Checked with an impulse through the trunk by tests/core/test_stlpips.py.
TAP_GEOMETRY = {
    "block1_conv2": TapGeometry(1, 5, -2),
    "block2_conv2": TapGeometry(2, 16, -8),
    "block3_conv3": TapGeometry(4, 46, -24),
    "block4_conv3": TapGeometry(8, 106, -56),
    "block5_conv3": TapGeometry(16, 226, -120),
}
# (convolutions, channels) per block.
_BLOCKS = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))


def _layer_map():
    """Keras layer name -> the authors' state-dict prefix, following their slices: the layers
    of `features` (conv, ReLU, ..., then max-pool and blur-pool before the next block) are
    numbered in order, and slice k starts with the pool that precedes block k."""
    mapping, index = {}, 0
    for block, (convs, _) in enumerate(_BLOCKS, start=1):
        if block > 1:
            mapping[f"block{block - 1}_blur"] = f"net.slice{block}.{index + 1}"
            index += 2
        for conv in range(1, convs + 1):
            mapping[f"block{block}_conv{conv}"] = f"net.slice{block}.{index}"
            index += 2
    return mapping


# Convolutions carry `.weight` / `.bias`, blur-pools the fixed filter `.filt`, checked against ours.
LAYER_MAP = _layer_map()


def build(name="st_vgg16"):
    """Builds the trunk: (N, H, W, 3) -> [5 post-ReLU feature maps], randomly initialised."""
    inputs = keras.Input((None, None, 3), name="image")
    x, outputs = inputs, []
    for block, (convs, channels) in enumerate(_BLOCKS, start=1):
        if block > 1:
            x = keras.layers.MaxPooling2D(2, 1, name=f"block{block - 1}_pool")(x)
            x = Downsample(3, 2, name=f"block{block - 1}_blur")(x)
        for conv in range(1, convs + 1):
            x = keras.layers.Conv2D(channels, 3, padding="same", activation="relu",
                                    name=f"block{block}_conv{conv}")(x)
        outputs.append(x)
    return keras.Model(inputs, outputs, name=name)
