"""Tests for lpips_tf/testing/random_weights.py (pure NumPy: imports neither TensorFlow nor PyTorch).

The golden values in tests/golden/ for "random:<seed>" trunks were computed from these arrays, so
they must stay bit-for-bit stable: the pinned values below fail first if they ever change.
"""

import ast

import numpy as np
import pytest

from lpips_tf.testing import random_weights as rw

_PATH = rw.__file__

# Parameter counts of torchvision's alexnet / vgg16 / squeezenet1_1 `.features` modules.
_PARAM_COUNTS = {"alex": 2_469_696, "vgg": 14_714_688, "squeeze": 722_496}


def test_imports_only_numpy():
    tree = ast.parse(open(_PATH).read())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            modules.add((node.module or "").split(".")[0])
    assert modules <= {"numpy", "__future__"}, modules


@pytest.mark.parametrize("net", ["alex", "vgg", "squeeze"])
def test_keys_shapes_dtypes(net):
    state = rw.random_trunk_state_dict(net, seed=0)
    shapes = rw.TRUNK_PARAM_SHAPES[net]
    assert set(state) == set(shapes)
    for key, value in state.items():
        assert value.shape == tuple(shapes[key]), key
        assert value.dtype == np.float32, key
        assert np.all(np.isfinite(value)), key
    assert sum(v.size for v in state.values()) == _PARAM_COUNTS[net]


def test_architectures():
    alex = rw.TRUNK_PARAM_SHAPES["alex"]
    assert [k for k in alex if k.endswith(".weight")] == [
        f"features.{i}.weight" for i in (0, 3, 6, 8, 10)]
    assert alex["features.0.weight"] == (64, 3, 11, 11)
    vgg = rw.TRUNK_PARAM_SHAPES["vgg"]
    assert [k for k in vgg if k.endswith(".weight")] == [
        f"features.{i}.weight" for i in (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)]
    assert vgg["features.28.weight"] == (512, 512, 3, 3)
    squeeze = rw.TRUNK_PARAM_SHAPES["squeeze"]
    fires = (3, 4, 6, 7, 9, 10, 11, 12)
    expected = {"features.0.weight", "features.0.bias"} | {
        f"features.{i}.{part}.{kind}" for i in fires
        for part in ("squeeze", "expand1x1", "expand3x3") for kind in ("weight", "bias")}
    assert set(squeeze) == expected
    assert squeeze["features.0.weight"] == (64, 3, 3, 3)
    assert squeeze["features.12.expand3x3.weight"] == (256, 64, 3, 3)
    assert squeeze["features.12.squeeze.weight"] == (64, 512, 1, 1)


@pytest.mark.parametrize("net", ["alex", "vgg", "squeeze"])
def test_deterministic(net):
    a = rw.random_trunk_state_dict(net, seed=0)
    b = rw.random_trunk_state_dict(net, seed=0)
    c = rw.random_trunk_state_dict(net, seed=1)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
        assert not np.array_equal(a[key], c[key]), key


@pytest.mark.parametrize("net", ["alex", "vgg", "squeeze"])
def test_he_scale(net):
    state = rw.random_trunk_state_dict(net, seed=0)
    for key, value in state.items():
        if key.endswith(".weight") and value.size >= 4096:
            expected = np.sqrt(2.0 / np.prod(value.shape[1:]))
            assert abs(value.std() / expected - 1) < 0.1, key
        if key.endswith(".bias") and value.size >= 64:
            assert 0.01 < value.std() < 0.1, key


def test_pinned_values():
    # Seed-0 draws that tests/golden/golden.json depends on (numpy PCG64 + ziggurat normals).
    alex = rw.random_trunk_state_dict("alex", seed=0)
    np.testing.assert_allclose(alex["features.0.bias"][:2], [0.006286511197686195, -0.006605243310332298],
                               rtol=0, atol=1e-9)
    np.testing.assert_allclose(alex["features.0.weight"].ravel()[:3],
                               [0.024418415501713753, -0.019193055108189583, 0.11753638088703156],
                               rtol=0, atol=1e-9)
    totals = {"alex": 24.835700802345947, "vgg": -19.054210817945332, "squeeze": 138.2996403871995}
    for net, total in totals.items():
        state = rw.random_trunk_state_dict(net, seed=0)
        got = sum(float(v.astype(np.float64).sum()) for v in state.values())
        assert got == pytest.approx(total, abs=1e-6), net


def test_bad_net():
    with pytest.raises(ValueError, match="Received: net='resnet'"):
        rw.random_trunk_state_dict("resnet")
