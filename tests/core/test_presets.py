"""Presets (`lpips_tf.core.presets`, `LPIPS.presets` / `LPIPS.from_preset`): every official variant
by name with the golden numbers, the names and their aliases, overrides, registration."""

import numpy as np
import pytest

import lpips_tf
from lpips_tf.core import presets
from conftest import covering_params
from test_parity import CASES, DISTANCE_ATOL, SPATIAL, SPATIAL_ATOL, _image, _trunk_file

OFFICIAL = ("alex", "alex-cos", "alex-v0.0", "alex-cos-v0.0", "vgg", "vgg-cos", "vgg-v0.0",
            "vgg-cos-v0.0", "squeeze", "squeeze-cos", "squeeze-v0.0", "squeeze-cos-v0.0")


def _groups():
    """(preset, trunk) for every official preset and trunk kind golden.json has cases of."""
    out = []
    for name in OFFICIAL:
        preset = presets.get_preset(name)
        trunks = {c["trunk"] for c in CASES if (c["net"], c["version"], c["lpips"]) ==
                  (preset.net, preset.version, preset.distance == "lin")}
        out += [(name, trunk) for trunk in sorted(trunks)]
    return out


GROUPS = _groups()


@pytest.fixture(scope="module")
def weights_folder(tmp_path_factory):
    return str(tmp_path_factory.mktemp("preset_trunks"))


def _axes(group):
    preset = presets.get_preset(group[0])
    return preset.net, preset.version, preset.distance, group[1]


# By default every net, version, distance and kind of trunk; every preset under -m slow.
@pytest.mark.parametrize("name,trunk", covering_params(GROUPS, _axes,
                                                       ids=[f"{n}-{t}" for n, t in GROUPS]))
def test_from_preset_gives_the_golden_numbers(name, trunk, weights_folder):
    """Each preset, with the golden cases' trunk through the `trunk_weights=` override (real
    trunks from ../shared, skipped without it; seeded random ones otherwise): the official
    package's distances to 1e-5, and with `spatial=True` its maps to 1e-4."""
    preset = presets.get_preset(name)
    cases = [c for c in CASES if (c["net"], c["version"], c["lpips"], c["trunk"]) ==
             (preset.net, preset.version, preset.distance == "lin", trunk)]
    trunk_file = _trunk_file(preset.net, trunk, weights_folder)
    model = lpips_tf.LPIPS.from_preset(name, trunk_weights=trunk_file)
    assert (model.net, model.version, model.lpips) == (preset.net, preset.version,
                                                       preset.distance == "lin")
    # Two cases per preset: what the preset builds is checked here, every case in test_parity.
    for case in cases[:2]:
        x0, x1 = _image(case["image0"])[None], _image(case["image1"])[None]
        d = float(np.asarray(model([x0, x1]))[0])
        assert abs(d - case["distance"]) <= DISTANCE_ATOL, (case, d)
    case = next((c for c in cases if c.get("spatial_key")), None)
    if case is not None:
        spatial = lpips_tf.LPIPS.from_preset(name, trunk_weights=trunk_file, spatial=True)
        x0, x1 = _image(case["image0"])[None], _image(case["image1"])[None]
        stride = case.get("spatial_stride", 1)
        got = np.asarray(spatial([x0, x1]))[0, ::stride, ::stride, 0]
        np.testing.assert_allclose(got, SPATIAL[case["spatial_key"]], rtol=0, atol=SPATIAL_ATOL)


def test_every_official_variant_is_a_preset_with_a_one_line_description():
    assert tuple(lpips_tf.LPIPS.presets)[:len(OFFICIAL)] == OFFICIAL
    for name in OFFICIAL:
        description = lpips_tf.LPIPS.presets[name]
        assert description and "\n" not in description, name
        assert ("cos: the cosine distance" in description) == ("-cos" in name), name
        assert ("v0.0" in description) == name.endswith("-v0.0"), name
    assert presets.get_preset("vgg-cos-v0.0").config["lin_weights"] is None


def test_aliases_and_the_deprecated_cos_spellings(capsys, monkeypatch):
    monkeypatch.setattr(presets, "_NOTED", set())
    assert presets.get_preset("alex-lin").name == "alex"
    assert presets.get_preset("alex-0.0").name == "alex-v0.0"
    assert presets.get_preset("squeeze-cos-v0.1").name == "squeeze-cos"
    assert capsys.readouterr().err == ""
    assert presets.get_preset("vgg-baseline-v0.0").name == "vgg-cos-v0.0"
    assert presets.get_preset("vgg-baseline-v0.0").name == "vgg-cos-v0.0"
    assert presets.get_preset("alex-base").name == "alex-cos"
    err = capsys.readouterr().err
    # One line per deprecated spelling, the first time only.
    assert err.splitlines() == ["note: 'vgg-baseline-v0.0' is a deprecated name; use "
                                "'vgg-cos-v0.0'.",
                                "note: 'alex-base' is a deprecated name; use 'alex-cos'."]


def test_unknown_presets_and_settings_are_one_clear_error():
    with pytest.raises(ValueError) as info:
        lpips_tf.LPIPS.from_preset("resnet50")
    message = str(info.value)
    assert message.startswith("Unknown preset 'resnet50'. Presets: alex, alex-cos, ")
    assert all(name in message for name in OFFICIAL) and "\n" not in message
    with pytest.raises(ValueError, match=r"expected a preset name, optionally followed by "
                                         r"':taps=K'.*'layers=2'"):
        presets.parse_spec("alex:layers=2")


def test_specifications_and_overrides():
    spec = presets.parse_spec("alex-base:taps=conv1+conv3")
    assert spec.preset.name == "alex-cos" and spec.text == "alex-cos:taps=conv1+conv3"
    assert spec.overrides == {"taps": ("conv1", "conv3")}
    model = lpips_tf.LPIPS.from_preset("vgg-cos:taps=2", trunk_weights=None, normalize=True,
                                       dtype="float32")
    assert not model.lpips and model.taps == ("block1_conv2", "block2_conv2")
    assert model.normalize and model.dtype_policy.name == "float32"
    # Overrides win over the specification's settings.
    assert lpips_tf.LPIPS.from_preset("alex:taps=2", taps=3, trunk_weights=None).taps == (
        "conv1", "conv2", "conv3")
    official = lpips_tf.LPIPS.from_preset("squeeze", trunk_weights=None).get_lin_weights()
    direct = lpips_tf.LPIPS(net="squeeze", trunk_weights=None).get_lin_weights()
    assert len(official) == 7 and all(np.array_equal(a, b) for a, b in zip(official, direct))
    fresh = lpips_tf.LPIPS.from_preset("squeeze", trunk_weights=None, lin_weights=None)
    assert not np.array_equal(fresh.get_lin_weights()[0], official[0])


def test_variant_of_changes_distance_and_version():
    assert presets.variant_of("alex", "cos", "0.0") == "alex-cos-v0.0"
    assert presets.variant_of("vgg-cos", "lin") == "vgg"
    assert presets.variant_of("squeeze-v0.0") == "squeeze-v0.0"
    assert presets.variant_of("alex-baseline", None, "0.1") == "alex-cos"
    with pytest.raises(ValueError, match="distance must be one of"):
        presets.variant_of("alex", "l2")


@pytest.fixture
def scratch_registry(monkeypatch):
    """Presets registered in a test stay in that test."""
    monkeypatch.setattr(presets, "_PRESETS", dict(presets._PRESETS))
    monkeypatch.setattr(presets, "_ALIASES", dict(presets._ALIASES))


def test_a_registered_preset_names_its_own_sources(scratch_registry, random_trunk_file,
                                                   tmp_path, rng):
    """One `register_preset` call: listed by `LPIPS.presets`, built with its own trunk and lin
    weights (functions called when it is built, not when it is registered)."""
    vectors = [rng.uniform(0, 1, c).astype(np.float32) for c in (64, 192, 384, 256, 256)]
    lin_file = tmp_path / "lin.npz"
    np.savez(lin_file, **{f"lin{k}": v for k, v in enumerate(vectors)})
    calls = []

    def trunk_source():
        calls.append("trunk")
        return random_trunk_file("alex")

    presets.register_preset("my-alex", "AlexNet with my weights", aliases=("mine",),
                            net="alex", trunk_weights=trunk_source, lin_weights=str(lin_file))
    assert calls == [] and lpips_tf.LPIPS.presets["my-alex"] == "AlexNet with my weights"
    model = lpips_tf.LPIPS.from_preset("mine")
    assert calls == ["trunk"]
    for got, want in zip(model.get_lin_weights(), vectors):
        np.testing.assert_array_equal(got, want)
    reference = lpips_tf.LPIPS(net="alex", trunk_weights=random_trunk_file("alex"),
                               lin_weights=str(lin_file))
    x = rng.uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(model([x, x[::-1]])),
                               np.asarray(reference([x, x[::-1]])), rtol=1e-6)
    # It has no cos counterpart: --cos says so instead of picking another trunk's.
    with pytest.raises(ValueError, match="No preset is 'my-alex' with the cos distance"):
        presets.variant_of("my-alex", "cos")


def test_registration_errors(scratch_registry):
    with pytest.raises(ValueError, match="'alex' is already registered"):
        presets.register_preset("alex", "again", net="alex")
    with pytest.raises(ValueError, match="'alex-base' is already registered"):
        presets.register_preset("other", "x", aliases=("alex-base",), net="alex")
    with pytest.raises(ValueError, match="without ':' or ','"):
        presets.register_preset("alex:4", "x", net="alex")
    with pytest.raises(ValueError, match="needs a net"):
        presets.register_preset("nothing", "x")
