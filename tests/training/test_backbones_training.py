"""keras.applications trunks trained, cached, exported and evaluated like the built-in three
(TensorFlow: training, SavedModels and the statistics cache are TensorFlow's)."""

import json
import os
import types

import numpy as np
import pytest
import keras

import lpips_tf
from lpips_tf.evaluation import evaluate as evaluation
from lpips_tf.training import cached_stats, get_variant
from lpips_tf.training.config import ConfigError
from conftest import run_train_main

NET = "MobileNetV3Small"


def _index():
    """A statistics index with no files: the fingerprint then depends on the model alone."""
    return types.SimpleNamespace(subsets=["val/x"], ref=[], p0=[], p1=[],
                                 judge=np.zeros(0, np.float32))


def test_application_variants_and_their_errors():
    lin, cos = get_variant(f"{NET}-lin"), get_variant(f"{NET}-cos")
    assert (lin.net, lin.lpips, lin.pretrained, lin.cacheable) == (NET, True, True, True)
    assert (cos.net, cos.lpips) == (NET, False)
    assert "Keras Applications ImageNet MobileNetV3Small weights" in lin.describe("torchvision")
    assert "random MobileNetV3Small weights" in lin.describe(None)
    with pytest.raises(ConfigError, match="<Net>-lin"):
        get_variant(f"{NET}-tune")


def test_cache_key_follows_trunk_weights_and_architecture(tmp_path):
    keras.utils.set_random_seed(0)
    app = keras.applications.MobileNetV3Small(include_top=False, weights=None,
                                              input_shape=(None, None, 3))
    path = str(tmp_path / "m.weights.h5")
    app.save_weights(path)
    build = lambda **kw: lpips_tf.LPIPS(net=NET, lin_weights=None, **kw)
    a, b, c = build(trunk_weights=path), build(trunk_weights=path), build(trunk_weights=None)
    key = lambda m: cached_stats.fingerprint(m, _index(), 64)
    assert key(a) == key(b)  # same trunk and weights: the cache is shared
    assert key(a) != key(c)  # other weights


def _tiny(activation):
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, activation=activation, name="c1")(inputs)
    return keras.Model(inputs, x, name="tiny")


def test_cache_key_follows_an_instance_architecture():
    """Same layer names and weights, another activation: other statistics, another key."""
    relu, elu = _tiny("relu"), _tiny("elu")
    elu.set_weights(relu.get_weights())
    keys = [cached_stats.fingerprint(lpips_tf.LPIPS(net=m, input_scaling="tf", lpips=False),
                                     _index(), 64) for m in (relu, elu)]
    assert keys[0] != keys[1]


def test_saved_model_export_of_instance_trunk(tmp_path):
    import tensorflow as tf

    keras.utils.set_random_seed(1)
    app = keras.applications.MobileNetV2(include_top=False, weights=None, alpha=0.35,
                                         input_shape=(None, None, 3))
    model = lpips_tf.LPIPS(net=app, input_scaling="tf", lpips=False, taps=3)
    rng = np.random.default_rng(0)
    x0, x1 = (rng.uniform(-1, 1, (2, 40, 40, 3)).astype(np.float32) for _ in range(2))
    model.export(str(tmp_path / "sm"))
    served = tf.saved_model.load(str(tmp_path / "sm")).signatures["serving_default"]
    np.testing.assert_allclose(served(image0=x0, image1=x1)["distance"].numpy(),
                               np.asarray(model([x0, x1])), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_application_lin_trains_cached_saves_exports_and_evaluates(dataset, tmp_path):
    """train.py --variant <Net>-lin --cached_stats, then evaluate.py on the run folder next to
    the <Net>-cos preset (random weights: no download here)."""
    out = tmp_path / "runs"
    code = run_train_main("--data_dir", dataset, "--variant", f"{NET}-lin", "--cached_stats",
                          "--trunk_weights", "random", "--taps", "3", "--epochs", "1",
                          "--epochs_decay", "1", "--out_dir", out,
                          "--train_sets", "train/traditional", "--val_sets", "val/traditional")
    assert code == 0
    run = out / f"{NET}-lin-taps3"
    with open(run / "config.json") as f:
        record = json.load(f)
    assert record["variant"] == f"{NET}-lin"
    assert os.listdir(out / ".stats_cache")
    loaded = keras.saving.load_model(str(run / "model.keras"))
    assert loaded.taps == ("activation", "re_lu_2", "activation_1")
    assert (run / "saved_model" / "saved_model.pb").exists()
    results = evaluation.evaluate(
        dataset, evaluation.resolve_variants([f"{NET}-cos", str(run)], trunk_weights=None),
        sets="2afc/val/traditional", n_boot=10)
    # the saved model scores on the validation set what training measured on it
    assert results[f"{NET}-lin-taps3"]["2afc"]["traditional"] == pytest.approx(
        record["saved_val_two_afc"], abs=1e-6)
    assert 0.0 <= results[f"{NET}-cos"]["2afc"]["traditional"] <= 1.0
    assert "random MobileNetV3Small weights" in evaluation.trunk_weights_note(results)
