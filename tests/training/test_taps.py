"""Tap selection through the experiment: distances against the official per-layer terms, saving,
cached statistics, training variants and settings, and evaluate's `net:taps=k` names."""

import json
import os
import re

import numpy as np
import pytest

import lpips_tf
from lpips_tf.testing.random_weights import random_trunk_state_dict
from lpips_tf.data.images import load_image
from conftest import ROOT, real_trunk_path, shared_path

CASES = json.loads((ROOT / "tests" / "golden" / "golden.json").read_text())
ATOL = 1e-5


def _golden(net, lpips, trunk, image1):
    for case in CASES:
        if (case["net"], case["version"], case["lpips"], case["trunk"], case["image1"]) == (
                net, "0.1", lpips, trunk, image1):
            return case
    raise AssertionError(f"no golden case for {net} {lpips} {trunk} {image1}")


def _image(reference):
    if reference.startswith("shared:"):
        return load_image(shared_path(reference[len("shared:"):]))[None]
    return load_image(ROOT / reference)[None]


@pytest.fixture(scope="module")
def vgg_random_trunk(tmp_path_factory):
    # The golden file's "random:0" trunk, as tools/make_golden.py wrote it for the official package.
    path = tmp_path_factory.mktemp("taps_trunks") / "vgg_seed0.npz"
    np.savez(path, **random_trunk_state_dict("vgg", seed=0))
    return str(path)


@pytest.mark.parametrize("lpips", [True, False], ids=["lin", "cos"])
@pytest.mark.parametrize("image1", ["shared:images/ex_p0.png",
                                    "lpips_tf/data/photos/coffee_97x131.png"])
def test_alex_real_trunk_taps_match_the_official_per_layer_terms(lpips, image1):
    """alex with the real trunk, first 4 taps (the brief's "AlexNet, 4 convolutional layers") and
    (conv1, conv3): the official package's per-layer terms of the full model, summed."""
    case = _golden("alex", lpips, "real", image1)
    trunk = str(real_trunk_path("alex"))
    x0, x1 = _image(case["image0"]), _image(case["image1"])
    per_layer = case["per_layer"]
    for taps, expected in ((4, sum(per_layer[:4])), (("conv1", "conv3"),
                                                      per_layer[0] + per_layer[2])):
        model = lpips_tf.LPIPS(net="alex", lpips=lpips, trunk_weights=trunk, taps=taps)
        d = float(np.asarray(model([x0, x1]))[0])
        assert abs(d - expected) <= ATOL, (taps, d, expected)


@pytest.mark.parametrize("lpips", [True, False], ids=["lin", "cos"])
def test_vgg_random_trunk_first_two_taps_match_the_official_per_layer_terms(lpips,
                                                                           vgg_random_trunk):
    """vgg (the golden file's seeded random trunk), first 2 taps: "VGG16, 2 convolutional layers"."""
    case = _golden("vgg", lpips, "random:0", "lpips_tf/data/photos/coffee_97x131.png")
    x0, x1 = _image(case["image0"]), _image(case["image1"])
    model = lpips_tf.LPIPS(net="vgg", lpips=lpips, trunk_weights=vgg_random_trunk, taps=2)
    assert model.taps == ("block1_conv2", "block2_conv2") and model.channels == (64, 128)
    d = float(np.asarray(model([x0, x1]))[0])
    assert abs(d - sum(case["per_layer"][:2])) <= ATOL


def test_taps_model_saves_and_exports_with_the_same_distances(tmp_path, rng):
    import keras
    import tensorflow as tf

    from conftest import random_images

    model = lpips_tf.LPIPS(net="alex", trunk_weights=None, taps=("conv2", "conv4"))
    x0, x1 = random_images(rng, (3, 64, 64, 3)), random_images(rng, (3, 64, 64, 3))
    expected = np.asarray(model([x0, x1]))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.taps == ("conv2", "conv4") and loaded.channels == (192, 256)
    assert loaded.get_config()["taps"] == ["conv2", "conv4"]
    np.testing.assert_allclose(np.asarray(loaded([x0, x1])), expected, rtol=1e-6, atol=1e-7)
    model.export(str(tmp_path / "saved"))
    serve = tf.saved_model.load(str(tmp_path / "saved")).signatures["serving_default"]
    served = serve(image0=tf.constant(x0), image1=tf.constant(x1))["distance"].numpy()
    np.testing.assert_allclose(served, expected, rtol=1e-5, atol=1e-6)


def test_cached_statistics_of_selected_taps(dataset, tmp_path):
    """The statistics of taps=k are the first columns of the full model's, their dot product
    with the lin weights is the distance, the cache key tells tap selections apart that share
    every trunk weight (first 3 taps vs conv1, conv3), and a cached deeper model serves a
    shallower one with the same trunk weights."""
    from lpips_tf.data import bapps
    from lpips_tf.training.cached_stats import compute_triplet_stats, fingerprint

    index = bapps.index_2afc(dataset, ["val/traditional"]).select("val/traditional")
    full = lpips_tf.LPIPS(net="alex", trunk_weights=None, lin_weights=None, dropout_rate=0.0)
    four = lpips_tf.LPIPS(net="alex", trunk_weights=None, lin_weights=None, dropout_rate=0.0,
                          taps=4)
    four.trunk.set_weights(full.trunk.get_weights()[:len(four.trunk.get_weights())])
    s_full = compute_triplet_stats(full, index, load_size=64, verbose=0)
    s_four = compute_triplet_stats(four, index, load_size=64, verbose=0)
    assert fingerprint(four, index, 64) == fingerprint(full, index, 64, taps=4)
    cache = str(tmp_path / "cache")
    assert not compute_triplet_stats(full, index, 64, cache_dir=cache, verbose=0)["from_cache"]
    served = compute_triplet_stats(four, index, 64, cache_dir=cache, verbose=0)
    assert served["from_cache"] and served["cache_file"].endswith(".npz")
    assert "stats_alex5_" in served["cache_file"]
    np.testing.assert_array_equal(served["s0"], s_full["s0"][:, :896])
    # Other trunk weights: the alias does not apply.
    other = lpips_tf.LPIPS(net="alex", trunk_weights=None, taps=4)
    assert not compute_triplet_stats(other, index, 64, cache_dir=cache, verbose=0)["from_cache"]
    assert s_four["s0"].shape == (len(index), sum(four.channels)) == (len(index), 896)
    np.testing.assert_allclose(s_four["s0"], s_full["s0"][:, :896], rtol=1e-5, atol=1e-7)
    images = next(iter(bapps.twoafc_dataset(index, load_size=64, batch_size=4)))[0]
    d = np.asarray(four([images["ref"], images["p0"]]))
    w = np.concatenate(four.get_lin_weights())
    np.testing.assert_allclose(s_four["s0"][:4] @ w, d, rtol=1e-4, atol=1e-6)

    three = lpips_tf.LPIPS(net="alex", trunk_weights=None, taps=3)
    skip = lpips_tf.LPIPS(net="alex", trunk_weights=None, taps=("conv1", "conv3"))
    skip.trunk.set_weights(three.trunk.get_weights())
    assert fingerprint(three, index, 64) != fingerprint(skip, index, 64)


def test_variants_and_taps_setting():
    from lpips_tf import training
    from lpips_tf.training.config import parse_taps, run_name

    shallow = {"vgg2-lin": ("vgg", 2, True), "vgg2-cos": ("vgg", 2, False),
               "alex4-lin": ("alex", 4, True), "alex4-cos": ("alex", 4, False)}
    for name, (net, taps, lin) in shallow.items():
        v = training.get_variant(name)
        assert (v.net, v.taps, v.lpips, v.pretrained, v.tune_trunk) == (net, taps, lin, True, False)
        assert v.cacheable
        model = training.build_distance_model(v, trunk_weights=None)
        assert len(model.taps) == taps and model.lpips == lin
    assert training.get_variant("alex-lin").taps is None
    assert len(training.build_distance_model("alex-lin", None).taps) == 5
    assert len(training.build_distance_model("alex-lin", None, taps=2).taps) == 2
    assert not training.get_variant("alex-tune").cacheable
    assert training.get_variant("vgg-rand-cos").cacheable
    assert parse_taps("4") == 4 and parse_taps("conv1+conv3") == ("conv1", "conv3")
    assert parse_taps(["conv1", "conv3"]) == ("conv1", "conv3") and parse_taps("all") is None
    cfg = training.TrainConfig(data_dir="d", taps="conv1,conv3")
    assert cfg.flags()["taps"] == ["conv1", "conv3"]
    assert run_name(training.get_variant("alex-lin"), cfg.taps) == "alex-lin-tapsconv1+conv3"
    assert run_name(training.get_variant("alex-lin"), None) == "alex-lin"


def test_taps_setting_errors(dataset, tmp_path):
    from lpips_tf import training

    with pytest.raises(training.ConfigError, match=r"vgg2-lin already reads its first 2 taps; "
                                                   r"use --taps with a full-depth variant \(vgg-lin\)"):
        training.check_config(training.TrainConfig(data_dir=dataset, variant="vgg2-lin", taps=3))
    with pytest.raises(training.ConfigError, match="taps=7: the alex trunk has 5 taps"):
        training.check_config(training.TrainConfig(data_dir=dataset, taps=7))
    with pytest.raises(training.ConfigError, match="Unknown tap 'conv9'"):
        training.check_config(training.TrainConfig(data_dir=dataset, taps="conv9"))


def test_resolve_verbose(monkeypatch):
    import io
    import sys

    from lpips_tf.training.config import resolve_verbose

    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert resolve_verbose("auto") == 2 and resolve_verbose(None) == 2
    assert resolve_verbose(1) == 1 and resolve_verbose(0) == 0

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdout", Terminal())
    assert resolve_verbose("auto") == 1


def test_train_with_taps_flag_on_cached_statistics(dataset, random_trunk_file, tmp_path, capsys,
                                                   no_saved_model_export):
    """`train.py --taps 2 --cached_stats`: the run folder, config.json, lin_weights.npz and the
    saved model.keras carry the two taps; a cosine variant trains on the cache too."""
    import keras

    from conftest import run_train_main

    trunk = random_trunk_file("alex")
    common = ["--data_dir", dataset, "--train_sets", "train/traditional", "--val_sets",
              "val/traditional", "--trunk_weights", trunk, "--epochs", "1", "--epochs_decay", "0",
              "--steps_per_epoch", "1", "--out_dir", str(tmp_path), "--cached_stats",
              "--save_judgment_model=false"]
    assert run_train_main(*common, "--variant", "alex-lin", "--taps", "2") == 0
    out = capsys.readouterr().out
    # Not a terminal: Keras' one summary line per epoch, no progress bar.
    epoch_lines = [line for line in out.splitlines() if "val_two_afc:" in line]
    assert len(epoch_lines) == 1 and "\r" not in out and "━" not in out, out
    run = tmp_path / "alex-lin-taps2"
    config = json.loads((run / "config.json").read_text())
    assert config["taps"] == ["conv1", "conv2"] and config["flags"]["taps"] == 2
    with np.load(run / "lin_weights.npz") as lin:
        assert [lin[k].shape for k in sorted(lin.files)] == [(64,), (192,)]
    assert keras.saving.load_model(run / "model.keras").taps == ("conv1", "conv2")

    assert run_train_main(*common, "--variant", "alex4-cos") == 0
    config = json.loads((tmp_path / "alex4-cos" / "config.json").read_text())
    assert config["cached_stats"] and config["taps"] == ["conv1", "conv2", "conv3", "conv4"]
    assert config["trains"].startswith("judgment network G only")
    cos = keras.saving.load_model(tmp_path / "alex4-cos" / "model.keras")
    reference = lpips_tf.LPIPS(net="alex", lpips=False, trunk_weights=trunk, taps=4)
    x = np.linspace(-1, 1, 2 * 64 * 64 * 3, dtype=np.float32).reshape(2, 64, 64, 3)
    np.testing.assert_allclose(np.asarray(cos([x, x[::-1]])),
                               np.asarray(reference([x, x[::-1]])), rtol=1e-6)


def test_evaluate_official_names_with_taps_and_one_line_per_subset(dataset, random_trunk_file,
                                                                   capsys):
    """`alex-cos:taps=2` / `alex:taps=conv1+conv3` in evaluate, with one progress line per subset
    when stdout is not a terminal (pytest's capture is not one)."""
    from lpips_tf.evaluation import evaluate as evaluation

    trunk = random_trunk_file("alex")
    variants = evaluation.resolve_variants(["alex-cos:taps=2", "alex:taps=conv1+conv3"],
                                           trunk_weights=trunk, baselines=False)
    res = evaluation.evaluate(dataset, variants, sets="2afc/val/traditional", batch_size=25,
                              n_boot=20, progress=True)
    out = capsys.readouterr().out
    assert len(re.findall(r"^2afc val/traditional: 50/50 triplets .* in [\d.]+ s$", out,
                          re.M)) == 1, out
    assert "\r" not in out
    d0 = res["_details"]["2afc"]["traditional"]["alex-cos:taps=2"]["d0"]
    from lpips_tf.data import bapps

    index = bapps.index_2afc(dataset, ["val/traditional"]).select("val/traditional")
    images = next(iter(bapps.twoafc_dataset(index, load_size=64, batch_size=5)))[0]
    reference = lpips_tf.LPIPS(net="alex", lpips=False, trunk_weights=trunk, taps=2)
    np.testing.assert_allclose(d0[:5], np.asarray(reference([images["ref"], images["p0"]])),
                               rtol=1e-5)
    with pytest.raises(ValueError, match="taps=9: the alex trunk has 5 taps"):
        evaluation.resolve_variants(["alex:taps=9"], trunk_weights=trunk)
    with pytest.raises(ValueError, match=":taps=K"):
        evaluation.resolve_variants(["alex:layers=2"], trunk_weights=trunk)
