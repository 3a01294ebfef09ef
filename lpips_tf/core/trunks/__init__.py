"""The LPIPS trunks: AlexNet, VGG16 and SqueezeNet (LPIPS), and the shift-tolerant AlexNet and
VGG16 of ST-LPIPS. Each module has the same interface:

`NAME`, `TITLE` (the network's name in prose: "AlexNet"), `TAPS` (layer names of the post-ReLU
outputs, in order), `CHANNELS`, `MIN_INPUT_SIZE`, `LAYER_MAP` (Keras layer name -> state-dict
prefix: torchvision's `features.N`, or for the ST trunks the authors' `net.sliceK.N`) and
`build(name=...)` returning a multi-output Functional model over (N, H, W, 3) input of any size.
The ST trunks also state each tap's stride, receptive field and offset in input pixels as
`TAP_GEOMETRY` ({tap: `common.TapGeometry`}).

Besides these, `net` may name any `keras.applications` model function ("ResNet50") or be a
functional `keras.Model`: `get_trunk_module` then returns an `applications.OpenTrunk`, which
has the same attributes (its `TAPS` are the default taps) plus `select_taps`, `build_full` and
`INPUT_SCALING`.
"""

import numpy as np

from lpips_tf.core.trunks import alexnet, squeezenet, st_alexnet, st_vgg16, vgg16

TRUNKS = {"alex": alexnet, "vgg": vgg16, "squeeze": squeezenet, "st-alex": st_alexnet,
          "st-vgg": st_vgg16}


def get_trunk_module(net):
    """The trunk module for a net: "alex", "vgg", "squeeze", "st-alex", "st-vgg", a
    `keras.applications` name or a functional `keras.Model` (see
    `lpips_tf.core.trunks.applications`)."""
    if isinstance(net, str) and net in TRUNKS:
        return TRUNKS[net]
    from lpips_tf.core.trunks import applications  # deferred: lists keras.applications

    if applications.is_application(net):
        return applications.application_trunk(net)
    import keras

    if isinstance(net, keras.Model):
        return applications.model_trunk(net)
    raise ValueError(f"net must be one of {sorted(TRUNKS)}, a keras.applications model name "
                     f"(e.g. 'ResNet50', 'MobileNetV3Small') or a functional keras.Model. "
                     f"Received: net={net!r}")


def is_open_trunk(trunk_module):
    """Whether a trunk module is an open one (a keras.applications name or a model instance)."""
    return hasattr(trunk_module, "build_full")


def select_taps(trunk_module, taps=None):
    """Tap names for a `taps` argument: None (all), an int k (the first k), or names / indices.

    Returns a tuple of names in trunk order. Raises ValueError naming the valid choices.
    """
    if is_open_trunk(trunk_module):
        return trunk_module.select_taps(taps)
    names = tuple(trunk_module.TAPS)
    if taps is None:
        return names
    if isinstance(taps, bool):
        raise ValueError(f"taps must be None, an int or a sequence of tap names. Received: {taps!r}")
    if isinstance(taps, int):
        if not 1 <= taps <= len(names):
            raise ValueError(f"taps={taps}: the {trunk_module.NAME} trunk has {len(names)} taps "
                             f"({', '.join(names)}); choose 1 to {len(names)}.")
        return names[:taps]
    if isinstance(taps, str):
        taps = [t for t in taps.split(",") if t]
    selected = []
    for tap in taps:
        if isinstance(tap, (int, np.integer)) and not isinstance(tap, bool):
            if not 0 <= tap < len(names):
                raise ValueError(f"Tap index {tap} is out of range for the {trunk_module.NAME} "
                                 f"trunk: 0 to {len(names) - 1} ({', '.join(names)}).")
            tap = names[int(tap)]
        if tap not in names:
            raise ValueError(f"Unknown tap {tap!r} for the {trunk_module.NAME} trunk; its taps are "
                             f"{', '.join(names)}.")
        selected.append(tap)
    if not selected:
        raise ValueError("taps is empty: select at least one tap.")
    order = [names.index(t) for t in selected]
    if order != sorted(set(order)):
        raise ValueError(f"taps must be distinct and in trunk order ({', '.join(names)}). "
                         f"Received: {list(selected)}")
    return tuple(selected)
