"""Torch side only: put a torchvision `features.N.*` state dict into the official LPIPS trunk.

The official `lpips.LPIPS` splits torchvision's `.features` into slice modules that keep the
original indices (`net.slice2.3.weight` is `features.3.weight`). Used by tools/make_golden.py and
benchmarks/_torch_worker.py, both run in the separate torch environment (never with TensorFlow).
"""

import torch


def load_trunk(model, state):
    """Loads `state` (torchvision keys, torch tensors) into `model.net`, strictly."""
    slice_of = {}
    for slice_name, module in model.net.named_children():
        for index, _ in module.named_children():
            slice_of[index] = slice_name
    mapped = {}
    for key, value in state.items():
        prefix, index, rest = key.split(".", 2)
        if prefix != "features" or index not in slice_of:
            raise SystemExit(f"Trunk key {key!r} has no place in the official {model.pnet_type} trunk")
        mapped[f"{slice_of[index]}.{index}.{rest}"] = value
    # strict=True: every trunk parameter is set and every given key is used (shapes checked too).
    model.net.load_state_dict(mapped, strict=True)
    for key, value in mapped.items():
        assert torch.equal(model.net.state_dict()[key], value), key
