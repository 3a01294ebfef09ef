"""Tiled LPIPS (`lpips_tf.core.tiling`) gives the untiled numbers; the geometry behind it.

Small images with a small `max_memory_bytes` force the tiling, so these run in seconds: images of
about 300 x 300 px of odd sizes, and the budget of a slightly smaller pair, which leaves tiles with
inner edges on both axes (`_tiling_case` picks, per trunk, the setting that needs the fewest tiled
pixels: a deep trunk's reach makes small budgets cut many overlapping tiles).
"""

import importlib.util
import itertools
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import lpips_tf
from lpips_tf.core import geometry, tiling
from conftest import ROOT, covering_params

NETS = ("alex", "vgg", "squeeze")


def _pair(shape, seed=0):
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(-1, 1, shape).astype(np.float32)
    x1 = np.clip(x0 + rng.normal(0, 0.4, shape), -1, 1).astype(np.float32)
    return x0, x1


def _model(net, lpips=True, spatial=False, seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    model = lpips_tf.LPIPS(net=net, trunk_weights=None, lin_weights=None, lpips=lpips,
                           spatial=spatial, **kwargs)
    if lpips:  # Positive weights on every channel, so that every tap position counts.
        rng = np.random.default_rng(seed)
        model.set_lin_weights([rng.uniform(0.1, 1.0, c) for c in model.channels])
    return model


def _inner_edges(tiles, size):
    return sum(1 for lo, hi, _ in tiles for edge in (lo, hi) if 0 < edge < size)


def _grid_params(*axes):
    """Every combination of the axes' (value, id) choices, by `covering_params`: each value
    by default, the whole grid under -m slow."""
    combos = list(itertools.product(*axes))
    return covering_params([tuple(v for v, _ in c) for c in combos], lambda case: case,
                           ids=["-".join(i for _, i in c) for c in combos])


NET_AXIS = [(net, net) for net in NETS]
HEAD_AXIS = [(True, "lin"), (False, "cos")]


@pytest.mark.parametrize("net, lpips, spatial", _grid_params(
    NET_AXIS, HEAD_AXIS, [(False, "scalar"), (True, "map")]))
def test_tiled_equals_untiled(net, lpips, spatial):
    untiled = _check_tiled_equals_untiled(_model(net, lpips, spatial, max_memory_bytes=None))
    assert np.abs(untiled).max() > 0.05  # The comparison is not between zeros.


# (height, width, side of the square pair whose bytes are the budget).
TILING_CASES = ((301, 263, 260), (311, 317, 310), (321, 323, 320))


def _tiling_case(model):
    """The `TILING_CASES` entry whose tiles have inner edges on both axes and the fewest pixels
    in all (the cost of the tiled call) for this model's trunk."""
    def tiled_pixels(case):
        height, width, side = case
        rows, cols = tiling.tile_plan(model, height, width, tiling.pair_bytes(model, side, side))
        if _inner_edges(rows, height) < 2 or _inner_edges(cols, width) < 2:
            return np.inf
        return sum(hi - lo for lo, hi, _ in rows) * sum(hi - lo for lo, hi, _ in cols)

    return min(TILING_CASES, key=tiled_pixels)


def _check_tiled_equals_untiled(model):
    """The model's untiled output on a pair of `_tiling_case`, after checking that its budget
    tiles it (inner edges on both axes) with the same numbers."""
    height, width, side = _tiling_case(model)
    x0, x1 = _pair((1, height, width, 3))
    untiled = np.asarray(model([x0, x1]))
    budget = tiling.pair_bytes(model, side, side)
    rows, cols = tiling.tile_plan(model, height, width, budget)
    assert _inner_edges(rows, height) >= 2 and _inner_edges(cols, width) >= 2, (rows, cols)
    model.max_memory_bytes = budget
    tiled = np.asarray(model([x0, x1]))
    assert tiled.shape == untiled.shape
    np.testing.assert_allclose(tiled, untiled, rtol=0, atol=1e-4 if model.spatial else 1e-5)
    return untiled


def test_tiled_batch_and_uint8_and_normalize():
    # Two pairs, each tiled; uint8 and [0, 1] inputs go through the same checks and mapping.
    model = _model("alex", normalize=True, max_memory_bytes=None)
    x0, x1 = _pair((2, 240, 211, 3), seed=3)
    u0, u1 = (np.round((x + 1) * 127.5).astype(np.uint8) for x in (x0, x1))
    f0, f1 = (((x + 1) / 2).astype(np.float32) for x in (x0, x1))
    untiled = [np.asarray(model([u0, u1])), np.asarray(model([f0, f1]))]
    model.max_memory_bytes = tiling.pair_bytes(model, 200, 200)
    np.testing.assert_allclose(np.asarray(model([u0, u1])), untiled[0], atol=1e-5, rtol=0)
    np.testing.assert_allclose(np.asarray(model([f0, f1])), untiled[1], atol=1e-5, rtol=0)


def test_batch_over_budget_runs_in_chunks_of_pairs(monkeypatch):
    model = _model("squeeze", max_memory_bytes=None)
    x0, x1 = _pair((5, 40, 36, 3), seed=1)
    untiled = np.asarray(model([x0, x1]))
    calls = []
    monkeypatch.setattr(tiling, "tiled_distance", lambda *a: calls.append(a))  # must not tile
    model.max_memory_bytes = 2 * tiling.pair_bytes(model, 40, 36)
    np.testing.assert_allclose(np.asarray(model([x0, x1])), untiled, atol=1e-6, rtol=0)
    assert not calls


def test_small_images_take_the_single_pass(monkeypatch):
    model = _model("alex")
    assert model.max_memory_bytes == tiling.DEFAULT_MAX_MEMORY_BYTES == 2 * 2**30
    x0, x1 = _pair((4, 64, 64, 3))
    assert tiling.bounded_call(model, [x0, x1]) is None
    monkeypatch.setattr(tiling, "tiled_distance", lambda *a: pytest.fail("tiled a small image"))
    assert np.asarray(model([x0, x1])).shape == (4,)


def test_input_errors_are_the_untiled_ones():
    model = _model("alex", max_memory_bytes=10**6)
    x0, x1 = _pair((1, 240, 240, 3))
    with pytest.raises(ValueError, match="same shape"):
        model([x0, x1[:, :200]])
    bad = x0.copy()
    bad[0, 100, 100, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model([bad, x1])


@pytest.mark.parametrize("value", [0, -5, 1.5, "2GB", True])
def test_bad_max_memory_bytes(value):
    with pytest.raises(ValueError, match="max_memory_bytes must be a positive number of bytes"):
        lpips_tf.LPIPS(net="alex", trunk_weights=None, lin_weights=None, max_memory_bytes=value)


def test_config_keeps_max_memory_bytes():
    model = lpips_tf.LPIPS(net="alex", trunk_weights=None, lin_weights=None,
                           max_memory_bytes=12345)
    clone = lpips_tf.LPIPS.from_config(model.get_config())
    assert clone.max_memory_bytes == 12345
    assert lpips_tf.LPIPS.from_config({**model.get_config(), "max_memory_bytes": None}
                                      ).max_memory_bytes is None


# The receptive fields and strides of the built-in trunks, by hand from their layer lists.
@pytest.mark.parametrize("net, last, stride, outputs", [
    ("alex", (16, -66, 163), 16, 64 / 16 + 192 / 64 + (384 + 256 + 256) / 256),
    ("vgg", (16, -90, 196), 16, 64 + 128 / 4 + 256 / 16 + 512 / 64 + 512 / 256),
    ("squeeze", (16, -88, 207), 16, 64 / 4 + 128 / 16 + 256 / 64 + (384 * 2 + 512 * 2) / 256),
])
def test_trunk_geometry(net, last, stride, outputs):
    model = _model(net)
    found = geometry.trunk_geometry(model.trunk)
    assert tuple(found.taps[-1][0]) == last and tuple(found.taps[-1][1]) == last
    assert found.stride == (stride, stride)
    assert found.floats_per_pixel[0] == pytest.approx(outputs)
    # conv1 of alex: 11 x 11, stride 4, 2 pixels of padding.
    if net == "alex":
        assert tuple(found.taps[0][0]) == (4, -2, 11)


def test_geometry_refuses_global_layers_and_the_model_runs_untiled():
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="c")(inputs)
    g = keras.layers.GlobalAveragePooling2D(keepdims=True, name="gap")(x)
    with pytest.raises(geometry.GeometryError, match="'gap'.*no known receptive field"):
        geometry.trunk_geometry(keras.Model(inputs, keras.layers.Multiply()([x, g])))
    strided = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="s")(inputs)
    with pytest.raises(geometry.GeometryError, match="'s'.*depends on the input size"):
        geometry.trunk_geometry(keras.Model(inputs, strided))


def test_nested_model_geometry_composes():
    inner_in = keras.Input((None, None, 8))
    inner = keras.Model(inner_in, keras.layers.MaxPooling2D(2, name="p")(inner_in), name="inner")
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", name="c")(inputs)
    found = geometry.trunk_geometry(keras.Model(inputs, inner(x)))
    assert tuple(found.taps[0][0]) == (2, -1, 4)
    assert found.stride == (2, 2)


def test_cli_pair_tiles_when_the_pair_is_over_the_default_budget(tmp_path, monkeypatch, capsys,
                                                                 random_trunk_file):
    # `python -m lpips_tf pair` keeps the default budget; estimates 10^4 times larger make this
    # small pair look like a large one, so the command tiles it.
    from PIL import Image

    from lpips_tf.cli import main as cli

    paths = []
    for k, x in enumerate(_pair((1, 250, 230, 3), seed=5)):
        paths.append(tmp_path / f"{k}.png")
        Image.fromarray(np.round((x[0] + 1) * 127.5).astype(np.uint8)).save(paths[-1])
    args = ["pair", *paths, "--trunk_weights", random_trunk_file("alex")]
    assert cli.main([str(a) for a in args]) == 0
    untiled = capsys.readouterr().out.strip()
    estimate, tiled_calls = tiling.pair_bytes, []
    monkeypatch.setattr(tiling, "pair_bytes", lambda m, h, w: 10**4 * estimate(m, h, w))
    original = tiling.tiled_distance
    monkeypatch.setattr(tiling, "tiled_distance",
                        lambda *a: tiled_calls.append(1) or original(*a))
    assert cli.main([str(a) for a in args]) == 0
    assert tiled_calls and capsys.readouterr().out.strip() == untiled


@pytest.mark.parametrize("disk", [False, True], ids=["ram", "disk"])
def test_pairwise_tiles_large_images_with_the_same_numbers(disk, tmp_path, monkeypatch):
    from lpips_tf.uses.pairwise import pairwise

    model = _model("squeeze", max_memory_bytes=None)
    rng = np.random.default_rng(7)
    images = rng.uniform(-1, 1, (3, 330, 300, 3)).astype(np.float32)
    untiled = pairwise(model, images)
    # Under one image's pass (half a 330 x 300 pair): every image goes through in tiles.
    model.max_memory_bytes = tiling.pair_bytes(model, 220, 220)
    calls = []
    original = tiling.tiled_tap_features
    monkeypatch.setattr(tiling, "tiled_tap_features",
                        lambda *a: calls.append(len(a[1])) or original(*a))
    tiled = pairwise(model, images, max_memory_bytes=1 if disk else 2**30, temp_dir=tmp_path)
    assert calls == [1, 1, 1]  # One image per trunk pass, each in tiles.
    np.testing.assert_allclose(tiled, untiled, rtol=0, atol=1e-6)
    assert untiled.min() > 0.01


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_tiled_equals_untiled_under_jax():
    script = (
        "import numpy as np, keras, lpips_tf\n"
        "from lpips_tf.core import tiling\n"
        "rng = np.random.default_rng(0)\n"
        "x0 = rng.uniform(-1, 1, (1, 250, 230, 3)).astype(np.float32)\n"
        "x1 = np.clip(x0 + rng.normal(0, 0.4, x0.shape), -1, 1).astype(np.float32)\n"
        "for spatial in (False, True):\n"
        "    m = lpips_tf.LPIPS(net='alex', trunk_weights=None, spatial=spatial,\n"
        "                       max_memory_bytes=None)\n"
        "    a = np.asarray(m([x0, x1]))\n"
        "    m.max_memory_bytes = tiling.pair_bytes(m, 240, 240)\n"
        "    b = np.asarray(m([x0, x1]))\n"
        "    print(keras.backend.backend(), float(np.abs(a - b).max()), float(np.abs(a).max()))\n")
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=str(ROOT))
    run = subprocess.run([sys.executable, "-c", script], env=env, cwd=str(ROOT),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [line.split() for line in run.stdout.strip().splitlines()]
    assert [line[0] for line in lines] == ["jax", "jax"], run.stdout
    assert float(lines[0][1]) < 1e-5 and float(lines[1][1]) < 1e-4, run.stdout
    assert float(lines[0][2]) > 0.01, run.stdout


@pytest.mark.parametrize("lpips", [True, False], ids=["lin", "cos"])
# st-vgg: 16 VGG tiles of a pair (its blur pools reach further than VGG16's pools): slow.
@pytest.mark.parametrize("net", ["st-alex", pytest.param("st-vgg", marks=pytest.mark.slow)])
def test_shift_tolerant_trunks_tile_with_the_same_numbers(net, lpips):
    """Blur-pool layers (reflection padding, strided blur) have a known reach, so ST-LPIPS
    trunks tile too, maps included."""
    for spatial in (False, True):
        untiled = _check_tiled_equals_untiled(_model(net, lpips, spatial, max_memory_bytes=None))
        assert np.abs(untiled).max() > (0.05 if lpips else 1e-3)


@pytest.mark.parametrize("net, budget, lpips", _grid_params(
    [("alex", "alex"), ("squeeze", "squeeze")],
    [(b, b) for b in ("none", "chunks", "tiles")], HEAD_AXIS))
def test_distance_and_map_is_the_plain_call_and_the_spatial_twin_from_one_pass(
        net, budget, lpips, monkeypatch):
    """`LPIPS.distance_and_map` (the command line's distance with its map): the plain call's
    distances and a spatial twin's maps, one trunk pass per image (no plain call at all), tiled
    where the plain call tiles: untiled (no budget), chunks of one pair, tiles of each pair."""
    model = _model(net, lpips, max_memory_bytes=None)
    twin = _model(net, lpips, spatial=True, max_memory_bytes=None)
    height, width, side = _tiling_case(model)
    x0, x1 = _pair((2, height, width, 3), seed=5)
    distance, spatial = np.asarray(model([x0, x1])), np.asarray(twin([x0, x1]))[..., 0]
    limit = {"none": None, "chunks": tiling.pair_bytes(model, height, width),
             "tiles": tiling.pair_bytes(model, side, side)}[budget]
    model.max_memory_bytes = limit
    maps_fn, passes = tiling._tile_maps_fn(model), []

    def counted(a, b):
        passes.append(int(a.shape[0]))
        return maps_fn(a, b)

    monkeypatch.setattr(tiling, "_tile_maps_fn", lambda m: counted)
    monkeypatch.setattr(type(model), "call", lambda *a, **k: pytest.fail("a second trunk pass"))
    d, m = model.distance_and_map([x0, x1])
    assert d.shape == (2,) and m.shape == (2, height, width)
    np.testing.assert_allclose(d, distance, rtol=0, atol=1e-6 if budget == "tiles" else 1e-7)
    np.testing.assert_allclose(m, spatial, rtol=0, atol=1e-5 if budget == "tiles" else 1e-6)
    rows, cols = tiling.tile_plan(model, height, width, tiling.pair_bytes(model, side, side))
    expected = {"none": [2], "chunks": [1, 1], "tiles": [1] * (2 * len(rows) * len(cols))}
    assert passes == expected[budget]
    assert np.abs(distance).min() > 0.05
