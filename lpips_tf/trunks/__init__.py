"""The three LPIPS trunks. Each module has the same interface:

`NAME`, `TAPS` (layer names of the post-ReLU outputs, in order), `CHANNELS`, `MIN_INPUT_SIZE`,
`LAYER_MAP` (Keras layer name -> torchvision `features.N` prefix) and `build(name=...)` returning
a multi-output Functional model over (N, H, W, 3) input of any size.
"""

from lpips_tf.trunks import alexnet, squeezenet, vgg16

TRUNKS = {"alex": alexnet, "vgg": vgg16, "squeeze": squeezenet}


def get_trunk_module(net):
    """The trunk module for a net name: "alex", "vgg" or "squeeze"."""
    if net not in TRUNKS:
        raise ValueError(f"net must be one of {sorted(TRUNKS)}. Received: net={net!r}")
    return TRUNKS[net]
