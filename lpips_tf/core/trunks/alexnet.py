"""AlexNet trunk, ported from torchvision's `alexnet().features`.

torchvision pads symmetrically (conv1: 2 pixels on every side with stride 4). Keras
`padding="same"` with a stride pads asymmetrically, so conv1 gets an explicit `ZeroPadding2D(2)`;
the stride-1 convolutions with odd kernels pad symmetrically under "same", which matches torch.
"""

import keras

NAME = "alex"
TITLE = "AlexNet"  # how logs, reports and plots name it
# Taps are the post-ReLU outputs LPIPS reads (torchvision features indices 1, 4, 7, 9, 11).
TAPS = ("conv1", "conv2", "conv3", "conv4", "conv5")
CHANNELS = (64, 192, 384, 256, 256)
# Smallest H or W that leaves every tap at least 1 x 1 (conv1 then two 3x3/2 max-pools).
MIN_INPUT_SIZE = 31
# Keras layer name -> torchvision state-dict prefix.
LAYER_MAP = {
    "conv1": "features.0",
    "conv2": "features.3",
    "conv3": "features.6",
    "conv4": "features.8",
    "conv5": "features.10",
}


def build(name="alexnet"):
    """Builds the trunk: (N, H, W, 3) -> [5 post-ReLU feature maps], randomly initialised."""
    inputs = keras.Input((None, None, 3), name="image")
    x = keras.layers.ZeroPadding2D(2, name="conv1_pad")(inputs)
    x = keras.layers.Conv2D(64, 11, strides=4, activation="relu", name="conv1")(x)
    relu1 = x
    x = keras.layers.MaxPooling2D(3, 2, name="pool1")(x)
    x = keras.layers.Conv2D(192, 5, padding="same", activation="relu", name="conv2")(x)
    relu2 = x
    x = keras.layers.MaxPooling2D(3, 2, name="pool2")(x)
    x = keras.layers.Conv2D(384, 3, padding="same", activation="relu", name="conv3")(x)
    relu3 = x
    x = keras.layers.Conv2D(256, 3, padding="same", activation="relu", name="conv4")(x)
    relu4 = x
    x = keras.layers.Conv2D(256, 3, padding="same", activation="relu", name="conv5")(x)
    relu5 = x
    return keras.Model(inputs, [relu1, relu2, relu3, relu4, relu5], name=name)
