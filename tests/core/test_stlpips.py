"""ST-LPIPS (Ghildyal and Liu, ECCV 2022): the presets stlpips-alex / stlpips-vgg (and their -cos)
against the authors' stlpips-pytorch 0.0.2, the blur-pool layer, the trunks' geometry, strict
loading of the authors' checkpoint and its download.

Golden values were computed by `tools/make_stlpips_golden.py` in the torch environment and are
committed in tests/golden/stlpips.json and stlpips_spatial.npz. Tolerances (float32): distances
and per-tap terms within 1e-5, spatial maps within 1e-4. Cases with the authors' weights read
them from their wheel (conftest `stlpips_checkpoint`) and skip without it. Nothing here is
TensorFlow's: `KERAS_BACKEND=jax python -m pytest tests/core/test_stlpips.py` runs it on JAX.
"""

import functools
import hashlib
import json
import re

import keras
import numpy as np
import pytest

import lpips_tf
from lpips_tf.core import layers as lpips_layers
from lpips_tf.core import pth, weights
from lpips_tf.core.trunks import common, get_trunk_module
from lpips_tf.data.images import load_image
from conftest import ROOT, covering_params, real_trunk_path, shared_path

to_numpy = keras.ops.convert_to_numpy  # also for torch tensors that require grad
DISTANCE_ATOL = 1e-5
SPATIAL_ATOL = 1e-4
GOLDEN = json.loads((ROOT / "tests" / "golden" / "stlpips.json").read_text())
SPATIAL = np.load(ROOT / "tests" / "golden" / "stlpips_spatial.npz")
PRESETS = {"st-alex": "stlpips-alex", "st-vgg": "stlpips-vgg"}
# Measured (see README): a one-pixel shift moves ST-LPIPS AlexNet by 0.19 of what it moves
# LPIPS AlexNet, on average over the shift photographs.
SHIFT_RATIO_MAX = 0.25


def _image(reference):
    if reference.startswith("shared:"):
        return load_image(shared_path(reference[len("shared:"):]))
    return load_image(ROOT / reference)


@functools.lru_cache(maxsize=None)
def _model(net, lpips, spatial, checkpoint):
    name = PRESETS[net] + ("" if lpips else "-cos")
    overrides = {"lin_weights": checkpoint} if lpips else {}
    return lpips_tf.LPIPS.from_preset(name, trunk_weights=checkpoint, spatial=spatial, **overrides)


def _case_id(case):
    images = "-".join(p.split("/")[-1][:-4] for p in (case["image0"], case["image1"]))
    return f"{case['net']}-{'lin' if case['lpips'] else 'cos'}-{images}"


# By default every image pair, both trunks and both heads; every case under -m slow.
@pytest.mark.parametrize("case", covering_params(
    GOLDEN["cases"], lambda c: (c["net"], c["lpips"], (c["image0"], c["image1"])),
    ids=[_case_id(c) for c in GOLDEN["cases"]]))
def test_matches_stlpips_pytorch(case, stlpips_checkpoint):
    checkpoint = stlpips_checkpoint(case["net"])
    x0, x1 = _image(case["image0"])[None], _image(case["image1"])[None]
    model = _model(case["net"], case["lpips"], False, checkpoint)
    d = float(to_numpy(model([x0, x1]))[0])
    assert abs(d - case["distance"]) <= DISTANCE_ATOL, (d, case["distance"])
    # One trunk pass serves the per-layer terms and the map: the spatial twin (same weights)
    # reduces the same tap features (its plain call runs `distance_from_features` on them too).
    f0, f1 = model.batch_tap_features([x0, x1])
    terms = [float(to_numpy(model.reduce_tap_map(model.tap_distance_map(k, a, b), x0))[0, 0])
             for k, (a, b) in enumerate(zip(f0, f1))]
    np.testing.assert_allclose(terms, case["per_layer"], rtol=0, atol=DISTANCE_ATOL)
    spatial = _model(case["net"], case["lpips"], True, checkpoint)
    stride = case["spatial_stride"]
    got = to_numpy(spatial.distance_from_features(f0, f1, x0))[0, ::stride, ::stride, 0]
    np.testing.assert_allclose(got, SPATIAL[case["spatial_key"]], rtol=0, atol=SPATIAL_ATOL)


def _shifted(image, axis):
    """(image without its last, image without its first) column or row."""
    if axis == "horizontal":
        return image[:, :-1], image[:, 1:]
    return image[:-1], image[1:]


def test_a_one_pixel_shift_moves_stlpips_far_less_than_lpips(stlpips_checkpoint):
    """The authors' shift numbers to 1e-5 (ST-LPIPS both nets; LPIPS AlexNet with torchvision's
    ImageNet trunk from ../shared), and ST-LPIPS AlexNet moving by under a quarter of LPIPS
    AlexNet's, on average and on every photograph and direction."""
    models = {"stlpips-alex": _model("st-alex", True, False, stlpips_checkpoint("st-alex")),
              "stlpips-vgg": _model("st-vgg", True, False, stlpips_checkpoint("st-vgg")),
              "alex": lpips_tf.LPIPS(net="alex", trunk_weights=str(real_trunk_path("alex")))}
    got = {}
    for case in GOLDEN["shift"]:
        x0, x1 = _shifted(_image(case["image"]), case["axis"])
        d = float(to_numpy(models[case["metric"]]([x0[None], x1[None]]))[0])
        assert abs(d - case["distance"]) <= DISTANCE_ATOL, (case, d)
        got[case["metric"], case["image"], case["axis"]] = d
    st = {k[1:]: v for k, v in got.items() if k[0] == "stlpips-alex"}
    lp = {k[1:]: v for k, v in got.items() if k[0] == "alex"}
    assert np.mean(list(st.values())) / np.mean(list(lp.values())) < SHIFT_RATIO_MAX
    assert all(st[k] < lp[k] for k in st), {k: (st[k], lp[k]) for k in st}


# ------------------------------------------------------------------------------------------------
# The blur-pool layer and the trunks, without the authors' weights.


def test_binomial_filter():
    np.testing.assert_array_equal(lpips_layers.binomial_filter(3),
                                  np.outer([1, 2, 1], [1, 2, 1]) / 16)
    np.testing.assert_allclose(lpips_layers.binomial_filter(5),
                               np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256, rtol=1e-7)
    assert lpips_layers.binomial_filter(1).tolist() == [[1.0]]
    with pytest.raises(ValueError, match="Received: size=0"):
        lpips_layers.binomial_filter(0)


@pytest.mark.parametrize("filter_size,strides,padding", [(3, 2, None), (3, 2, 1), (5, 2, None),
                                                         (2, 3, 0)])
def test_downsample_is_reflect_pad_blur_subsample(filter_size, strides, padding, rng):
    x = rng.uniform(-1, 1, (2, 9, 12, 3)).astype(np.float32)
    layer = lpips_layers.Downsample(filter_size, strides, padding)
    p = filter_size - 1 if padding is None else padding
    # numpy's "reflect" is torch's ReflectionPad2d: the edge pixel is not repeated.
    padded = np.pad(x, [(0, 0), (p, p), (p, p), (0, 0)], mode="reflect")
    k = lpips_layers.binomial_filter(filter_size)
    rows = range(0, padded.shape[1] - filter_size + 1, strides)
    cols = range(0, padded.shape[2] - filter_size + 1, strides)
    expected = np.array([[[np.einsum("nhwc,hw->nc", padded[:, i:i + filter_size,
                                                             j:j + filter_size], k)]
                          for j in cols] for i in rows])[:, :, 0].transpose(2, 0, 1, 3)
    got = to_numpy(layer(x))
    assert got.shape == layer.compute_output_shape(x.shape) == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    clone = lpips_layers.Downsample.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


@pytest.mark.parametrize("kwargs,message", [
    ({"filter_size": 0}, "filter size must be an int >= 1. Received: size=0"),
    ({"strides": 0}, "strides must be an int >= 1. Received: strides=0"),
    ({"padding": -1}, "padding must be an int >= 0 or None"),
])
def test_downsample_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        lpips_layers.Downsample(**kwargs)


@pytest.mark.parametrize("net", ["st-alex", "st-vgg"])
def test_the_stated_tap_geometry_is_the_trunks(net):
    """An impulse through the trunk with positive averaging weights reaches exactly the outputs
    whose stated receptive field (`TAP_GEOMETRY`: stride, receptive field, offset) holds it."""
    module = get_trunk_module(net)
    table = module.TAP_GEOMETRY
    assert tuple(table) == module.TAPS
    trunk = module.build()
    for layer in trunk.layers:
        if layer.get_weights():
            kernel, bias = layer.get_weights()
            layer.set_weights([np.full_like(kernel, 1.0 / np.prod(kernel.shape[:3])),
                               np.zeros_like(bias)])
    size, at = 300, 150  # far enough from the borders that no reflection reaches the impulse
    x = np.zeros((1, size, size, 3), np.float32)
    x[0, at, at] = 100.0
    for tap, out in zip(module.TAPS, trunk(x)):
        seen = np.flatnonzero(to_numpy(out)[0].max(axis=(1, 2)) > 0)
        reach = [i for i in range(out.shape[1])
                 if table[tap].input_rows(i)[0] <= at <= table[tap].input_rows(i)[1]]
        assert seen.tolist() == reach, tap
        assert len(reach) > 1, tap  # the impulse is seen: the test can fail


@pytest.mark.parametrize("net,smallest", [("st-alex", 21), ("st-vgg", 18)])
def test_minimum_input_size(net, smallest, rng):
    model = lpips_tf.LPIPS(net=net, trunk_weights=None, lin_weights=None)
    assert model.min_input_size == smallest
    x = rng.uniform(-1, 1, (1, smallest, smallest + 3, 3)).astype(np.float32)
    assert np.isfinite(to_numpy(model([x, x[:, ::-1]]))).all()
    small = x[:, :smallest - 1]
    with pytest.raises(ValueError, match=f"too small for the {net} trunk: height "
                                         f"{smallest - 1} < {smallest}"):
        model([small, small])


# ------------------------------------------------------------------------------------------------
# The authors' checkpoint, read strictly: a state dict of their layout, with random values.


def _authors_layout(net, rng):
    """{key: array} in the layout of the authors' checkpoint for `net`, random trunk and lin."""
    module = get_trunk_module(net)
    state = {k: rng.normal(0, 0.05, shape).astype(np.float32)
             for k, shape in common.conv_param_shapes(module.build(), module.LAYER_MAP).items()}
    for key, shape in list((k, v.shape) for k, v in state.items() if k.endswith(".filt")):
        state[key] = np.broadcast_to(lpips_layers.binomial_filter(shape[-1]), shape).copy()
    state["scaling_layer.shift"] = np.float32(lpips_layers.LPIPS_SHIFT).reshape(1, 3, 1, 1)
    state["scaling_layer.scale"] = np.float32(lpips_layers.LPIPS_SCALE).reshape(1, 3, 1, 1)
    for k, c in enumerate(module.CHANNELS):
        state[f"lin{k}.model.1.weight"] = rng.uniform(0, 0.1, (1, c, 1, 1)).astype(np.float32)
    return state


def test_authors_layout_loads_and_every_key_is_accounted_for(tmp_path, rng):
    state = _authors_layout("st-alex", rng)
    good = tmp_path / "good.npz"
    np.savez(good, **state)
    model = lpips_tf.LPIPS(net="st-alex", trunk_weights=str(good), lin_weights=None)
    np.testing.assert_array_equal(
        model.trunk.get_layer("conv2").get_weights()[0],
        state["net.slice2.5.weight"].transpose(2, 3, 1, 0))
    cases = {
        "net.slice1.0.bias": (dict(state, **{"net.slice1.0.bias": None}), "missing keys: "
                                                                          "net.slice1.0.bias"),
        "net.slice6.0.weight": (dict(state, **{"net.slice6.0.weight": np.ones(2, np.float32)}),
                                "unexpected keys: net.slice6.0.weight"),
        "optimizer.state": (dict(state, **{"optimizer.state": np.ones(2, np.float32)}),
                            "unexpected key 'optimizer.state'"),
        "net.slice2.4.filt": (dict(state, **{"net.slice2.4.filt": np.full((64, 1, 3, 3), 1 / 9,
                                                                          np.float32)}),
                              "net.slice2.4.filt is not the 3x3 binomial blur"),
        "scaling_layer.scale": (dict(state, **{"scaling_layer.scale": np.ones((1, 3, 1, 1),
                                                                               np.float32)}),
                                "scaling_layer.scale is [1.0, 1.0, 1.0]; expected the LPIPS"),
    }
    for name, (bad, message) in cases.items():
        path = tmp_path / f"bad_{name}.npz"
        np.savez(path, **{k: v for k, v in bad.items() if v is not None})
        with pytest.raises(pth.PthError, match=re.escape(message)):
            lpips_tf.LPIPS(net="st-alex", trunk_weights=str(path), lin_weights=None)


def test_the_authors_checkpoint_is_both_trunk_and_lin_weights(stlpips_checkpoint):
    path = stlpips_checkpoint("st-alex")
    state = pth.load_state_dict(path)
    model = lpips_tf.LPIPS(net="st-alex", trunk_weights=path, lin_weights=path)
    for k, vector in enumerate(model.get_lin_weights()):
        np.testing.assert_array_equal(vector, state[f"lin{k}.model.1.weight"].reshape(-1))
    np.testing.assert_array_equal(model.trunk.get_layer("conv1").get_weights()[1],
                                  state["net.slice1.0.bias"])
    # The trunk's entries belong to an ST trunk: another net's lin reader names them.
    with pytest.raises(pth.PthError, match="unexpected keys: scaling_layer.shift"):
        lpips_tf.LPIPS(net="alex", trunk_weights=None, lin_weights=path)
    with pytest.raises(pth.PthError, match="net.slice1.0.weight: got shape"):
        lpips_tf.LPIPS(net="st-vgg", trunk_weights=path, lin_weights=None)


def test_describe_and_presets():
    assert weights.describe_trunk_weights("st-vgg", "torchvision") == \
        "ST-LPIPS authors' ST-VGG16 weights (stlpips-pytorch 0.0.2)"
    assert weights.describe_trunk_weights("st-alex", None) == "random ST-AlexNet weights"
    assert "ST-LPIPS (shift-tolerant) on ST-AlexNet" in lpips_tf.LPIPS.presets["stlpips-alex"]
    from lpips_tf.core import presets

    assert presets.variant_of("stlpips-vgg", "cos") == "stlpips-vgg-cos"
    with pytest.raises(ValueError, match="version 0.1 only"):
        lpips_tf.LPIPS(net="st-alex", version="0.0", trunk_weights=None)


# ------------------------------------------------------------------------------------------------
# The download: one checkpoint per net, once, SHA-256 checked; here from a local folder.


def test_the_default_location_is_the_authors_repository_at_a_fixed_commit():
    for file_name, sha256 in weights.STLPIPS_FILES.values():
        assert re.fullmatch(r"[0-9a-f]{64}", sha256)
    assert weights.STLPIPS_BASE_URL == (
        "https://raw.githubusercontent.com/abhijay9/ShiftTolerant-LPIPS/"
        f"{weights.STLPIPS_COMMIT}/stlpips/weights/vST0.0/")
    assert re.fullmatch(r"[0-9a-f]{40}", weights.STLPIPS_COMMIT)


def test_the_published_hashes_are_the_wheels_files(stlpips_server):
    for file_name, sha256 in weights.STLPIPS_FILES.values():
        assert hashlib.sha256((stlpips_server / file_name).read_bytes()).hexdigest() == sha256


@pytest.fixture
def fake_server(tmp_path, monkeypatch):
    """A local "server" folder with small stand-in checkpoints, their hashes put in place of the
    real ones; returns (folder, {net: bytes}, keras home)."""
    contents = {"st-alex": b"alex checkpoint bytes", "st-vgg": b"vgg checkpoint bytes"}
    server = tmp_path / "server"
    server.mkdir()
    for net, data in contents.items():
        file_name = weights.STLPIPS_FILES[net][0]
        (server / file_name).write_bytes(data)
        monkeypatch.setitem(weights.STLPIPS_FILES, net,
                            (file_name, hashlib.sha256(data).hexdigest()))
    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    return server, contents, home


def test_download_once_then_from_the_cache(fake_server, monkeypatch):
    server, contents, home = fake_server
    monkeypatch.setenv(weights.STLPIPS_BASE_URL_ENV, server.as_uri())
    path = weights.fetch_stlpips_weights("st-vgg")
    assert path == str(home / "lpips_tf" / "vgg_shift_tolerant.pth")
    assert sorted(p.name for p in (home / "lpips_tf").iterdir()) == ["vgg_shift_tolerant.pth"]
    (server / "vgg_shift_tolerant.pth").unlink()  # from the cache, with the server gone
    assert open(weights.fetch_stlpips_weights("st-vgg"), "rb").read() == contents["st-vgg"]
    # ensure_trunk_weights (commands check before they write) fetches what is not cached yet.
    weights.ensure_trunk_weights("st-alex", "torchvision")
    assert (home / "lpips_tf" / "alex_shift_tolerant.pth").read_bytes() == contents["st-alex"]


def test_a_file_with_another_hash_is_refused_and_removed(fake_server, monkeypatch):
    server, _, home = fake_server
    monkeypatch.setitem(weights.STLPIPS_FILES, "st-alex", ("alex_shift_tolerant.pth", "f" * 64))
    with pytest.raises(weights.WeightsDownloadError, match="SHA-256 .* expected it to start "
                                                           "with f{64}"):
        weights.fetch_stlpips_weights("st-alex", base_url=server.as_uri())
    assert list((home / "lpips_tf").iterdir()) == []


def test_offline_error_says_what_to_fetch_and_where(fake_server, tmp_path, monkeypatch):
    _, _, home = fake_server
    with pytest.raises(weights.WeightsDownloadError) as info:
        weights.fetch_stlpips_weights("st-alex", base_url=(tmp_path / "nowhere").as_uri())
    message = str(info.value)
    assert (tmp_path / "nowhere").as_uri() + "/alex_shift_tolerant.pth" in message
    assert str(home / "lpips_tf" / "alex_shift_tolerant.pth") in message
    assert "stlpips_pytorch/weights/vST0.0/alex_shift_tolerant.pth" in message
    assert "\n" not in message
    # The preset's default weights come this way.
    monkeypatch.setenv(weights.STLPIPS_BASE_URL_ENV, (tmp_path / "nowhere").as_uri())
    with pytest.raises(weights.WeightsDownloadError, match="nowhere/alex_shift_tolerant.pth"):
        lpips_tf.LPIPS.from_preset("stlpips-alex")
