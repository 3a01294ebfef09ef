"""VGG16 trunk: Keras Applications' `VGG16` cut at the five LPIPS taps.

The layer graph is `keras.applications.VGG16(include_top=False)`; torchvision's VGG16 has the
same architecture (3x3 "same" convolutions, 2x2/2 max-pools), so torchvision weights load into it by
layer name. Keras' own ImageNet weights (`weights="keras"`) are a different network ported from Caffe
and expect BGR 0..255 mean-subtracted input.
"""

import keras

NAME = "vgg"
TITLE = "VGG16"  # how logs, reports and plots name it
TAPS = ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3")
CHANNELS = (64, 128, 256, 512, 512)
# Four 2x2 max-pools before block5.
MIN_INPUT_SIZE = 16
LAYER_MAP = {
    "block1_conv1": "features.0",
    "block1_conv2": "features.2",
    "block2_conv1": "features.5",
    "block2_conv2": "features.7",
    "block3_conv1": "features.10",
    "block3_conv2": "features.12",
    "block3_conv3": "features.14",
    "block4_conv1": "features.17",
    "block4_conv2": "features.19",
    "block4_conv3": "features.21",
    "block5_conv1": "features.24",
    "block5_conv2": "features.26",
    "block5_conv3": "features.28",
}


def build(name="vgg16", keras_imagenet_weights=False):
    """Builds the trunk: (N, H, W, 3) -> [5 post-ReLU feature maps].

    Args:
      name: model name.
      keras_imagenet_weights: load Keras Applications' ImageNet weights (downloaded by Keras).
        Otherwise the trunk is randomly initialised.
    """
    base = keras.applications.VGG16(
        include_top=False,
        weights="imagenet" if keras_imagenet_weights else None,
        input_shape=(None, None, 3),
    )
    outputs = [base.get_layer(tap).output for tap in TAPS]
    return keras.Model(base.inputs, outputs, name=name)
