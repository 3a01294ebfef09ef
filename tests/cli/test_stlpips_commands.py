"""ST-LPIPS through the rest of the package (TensorFlow backend): `.keras` and SavedModel round
trips, `python -m lpips_tf pair --net stlpips-alex` and `evaluate.py --variants stlpips-alex`,
the last two with their default weights, downloaded from a local copy of the authors' files."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import lpips_tf
from lpips_tf.cli import main as cli
from lpips_tf.core import weights
from lpips_tf.evaluation import evaluate as evaluation
from conftest import ROOT, random_images, shared_path, synthetic_dataset

GOLDEN = json.loads((ROOT / "tests" / "golden" / "stlpips.json").read_text())


def _golden(net, image0, image1, lpips=True):
    return next(c["distance"] for c in GOLDEN["cases"] if (c["net"], c["lpips"], c["image0"],
                                                           c["image1"]) ==
                (net, lpips, image0, image1))


@pytest.fixture
def served_weights(stlpips_server, tmp_path, monkeypatch):
    """The default weights ("torchvision" / "official") downloaded from a local copy of the
    authors' files into a fresh Keras cache; returns that cache's environment."""
    monkeypatch.setenv(weights.STLPIPS_BASE_URL_ENV, stlpips_server.as_uri())
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


@pytest.mark.parametrize("net", ["st-alex", "st-vgg"])
def test_keras_file_and_saved_model_give_the_same_distances(net, tmp_path):
    keras.utils.set_random_seed(0)
    model = lpips_tf.LPIPS(net=net, trunk_weights=None, lin_weights=None)
    rng = np.random.default_rng(3)
    x0, x1 = random_images(rng, (2, 40, 52, 3)), random_images(rng, (2, 40, 52, 3))
    expected = np.asarray(model([x0, x1]))
    model.save(tmp_path / "st.keras")
    loaded = keras.saving.load_model(tmp_path / "st.keras")
    assert loaded.net == net and loaded.get_config() == model.get_config()
    np.testing.assert_allclose(np.asarray(loaded([x0, x1])), expected, rtol=0, atol=1e-7)
    model.export(str(tmp_path / "sm"))
    served = tf.saved_model.load(str(tmp_path / "sm")).signatures["serving_default"]
    out = served(image0=tf.constant(x0), image1=tf.constant(x1))["distance"]
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-6)
    y0, y1 = random_images(rng, (3, 64, 33, 3)), random_images(rng, (3, 64, 33, 3))
    out = served(image0=tf.constant(y0), image1=tf.constant(y1))["distance"]
    np.testing.assert_allclose(out.numpy(), np.asarray(model([y0, y1])), rtol=0, atol=1e-6)


def test_cli_pair_with_the_default_download(served_weights, capsys, tmp_path):
    ref, p0 = shared_path("images/ex_ref.png"), shared_path("images/ex_p0.png")
    code = cli.main(["pair", str(ref), str(p0), "--net", "stlpips-alex"])
    out = capsys.readouterr().out
    assert code == 0
    want = _golden("st-alex", "shared:images/ex_ref.png", "shared:images/ex_p0.png")
    # The last line: Keras reports each net's (first) download on stdout before it.
    # Printed to 6 decimals: the 1e-5 parity tolerance plus the rounding.
    assert abs(float(out.strip().splitlines()[-1]) - want) <= 1e-5 + 5e-7
    code = cli.main(["pair", str(ref), str(p0), "--net", "stlpips-vgg", "--cos"])
    want = _golden("st-vgg", "shared:images/ex_ref.png", "shared:images/ex_p0.png", lpips=False)
    out = capsys.readouterr().out
    assert code == 0 and abs(float(out.strip().splitlines()[-1]) - want) <= 1e-5 + 5e-7


@pytest.mark.slow
def test_evaluate_py_scores_the_presets(served_weights, tmp_path_factory, tmp_path):
    data_dir = synthetic_dataset(tmp_path_factory, "stlpips_synth", n_train=0, n_val=20,
                                 n_jnd=12, patch=32, seed=0)
    out = tmp_path / "eval"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "evaluate.py"), "--data_dir", data_dir, "--out", str(out),
         "--load_size", "32", "--n_boot", "20", "--noprogress", "--no_baselines",
         "--variants", "stlpips-alex,stlpips-vgg-cos"],
        capture_output=True, text=True, env=served_weights, timeout=600, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.load(open(out / "results.json"))
    for name in ("stlpips-alex", "stlpips-vgg-cos"):
        assert 0.0 <= results[name]["2afc"]["traditional"] <= 1.0, results[name]
        assert 0.0 <= results[name]["jnd"]["traditional"] <= 1.0, results[name]
    markdown = (out / "results.md").read_text()
    assert "ST-LPIPS authors' ST-AlexNet weights (stlpips-pytorch 0.0.2)" in markdown
    assert "ST-LPIPS authors' ST-VGG16 weights (stlpips-pytorch 0.0.2)" in markdown
    # The same scores in-process, from the library behind the script.
    variants = evaluation.resolve_variants(["stlpips-alex"], baselines=False)
    again = evaluation.evaluate(data_dir, variants, load_size=32, n_boot=20, progress=False)
    assert again["_info"]["trunk_weights"] == {
        "stlpips-alex": "ST-LPIPS authors' ST-AlexNet weights (stlpips-pytorch 0.0.2)"}
    assert again["stlpips-alex"]["2afc"] == pytest.approx(results["stlpips-alex"]["2afc"],
                                                          abs=1e-9)
