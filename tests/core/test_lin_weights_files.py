"""Checks the shipped LPIPS lin weights in lpips_tf/core/lin_weights/ (no torch, no TensorFlow needed)."""

import pathlib

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
LIN_DIR = ROOT / "lpips_tf" / "core" / "lin_weights"
WHEEL_WEIGHTS = pathlib.Path("/tmp/lpipswheel/lpips/weights")  # an unpacked lpips 0.1.4 wheel, if any

CHANNELS = {
    "alex": (64, 192, 384, 256, 256),
    "vgg": (64, 128, 256, 512, 512),
    "squeeze": (64, 128, 256, 384, 384, 512, 512),
}

# Sums of each lin{k}.model.1.weight in the lpips 0.1.4 wheel's lpips/weights/v*/{net}.pth, obtained
# with the official torch 2.14.1 in a separate process:
#   torch.load(path, weights_only=True, map_location="cpu")[f"lin{k}.model.1.weight"].double().sum().item()
SUMS = {
    ("0.0", "alex"): (2.565887227056315, 10.257388192570623, 22.434313934931453, 16.313912790926324,
                      13.934519138982978),
    ("0.0", "vgg"): (3.641607548823231, 1.9601145596370095, 1.1230956070386853, 20.10626266283382,
                     25.68957287459034),
    ("0.0", "squeeze"): (5.301839485161281, 1.1452142931906906, 8.885090191393562, 38.11247953103242,
                         22.9904809472455, 15.43867524993128, 13.054786706401842),
    ("0.1", "alex"): (2.3495323137195783, 16.1430274810632, 39.26843924544403, 27.197178440931964,
                      20.317177099761324),
    ("0.1", "vgg"): (6.925991700962186, 8.858334008604288, 17.5150060467422, 51.521323032677174,
                     47.03485375829041),
    ("0.1", "squeeze"): (5.69010078176899, 1.1852794939355817, 16.326565414529796, 71.01262408646244,
                         37.37072320704965, 24.26287240253683, 17.590552752050012),
}


def load(version, net):
    with np.load(LIN_DIR / f"v{version}" / f"{net}.npz", allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("version,net", sorted(SUMS))
def test_shipped_lin_weights(version, net):
    arrays = load(version, net)
    channels = CHANNELS[net]
    assert sorted(arrays) == sorted(f"lin{k}" for k in range(len(channels)))
    for k, c in enumerate(channels):
        a = arrays[f"lin{k}"]
        assert a.shape == (c,) and a.dtype == np.float32, k
        assert (a >= 0).all(), k
        # Summation order differs from torch's, hence the tolerance.
        assert a.astype(np.float64).sum() == pytest.approx(SUMS[version, net][k], rel=1e-12, abs=0), k


def test_license_shipped():
    text = (LIN_DIR / "LICENSE").read_text(encoding="utf-8")
    assert "tools/convert_lin_weights.py" in text and "0.1.4" in text
    assert ("Copyright (c) 2018, Richard Zhang, Phillip Isola, Alexei A. Efros, Eli Shechtman, "
            "Oliver Wang") in text
    assert "Redistribution and use in source and binary forms" in text


@pytest.mark.parametrize("version,net", sorted(SUMS))
def test_matches_wheel_pth(version, net):
    """Only where an unpacked wheel is at /tmp/lpipswheel (the developers' machines)."""
    path = WHEEL_WEIGHTS / f"v{version}" / f"{net}.pth"
    if not path.exists():
        pytest.skip(f"{path} not present (unpack `pip download --no-deps lpips==0.1.4` there to run this)")
    from lpips_tf.core.pth import load_state_dict

    state = load_state_dict(path)
    arrays = load(version, net)
    assert len(state) == len(arrays)
    for k in range(len(arrays)):
        np.testing.assert_array_equal(state[f"lin{k}.model.1.weight"].reshape(-1), arrays[f"lin{k}"])
