"""lpips_tf.evaluation.evaluate and evaluate.py on a tiny synthetic dataset (baselines + fake metrics)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from lpips_tf.data.synthetic import BANNER
from lpips_tf.evaluation import evaluate as evaluation
from lpips_tf.evaluation import scoring
from lpips_tf.data import bapps
from lpips_tf.data import synthetic
from conftest import ROOT, SHARED

PHOTOS = ROOT / "lpips_tf" / "data" / "photos"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    sources = [str(PHOTOS / f) for f in ("chelsea_256.png", "coffee_384x512.png") if (PHOTOS / f).exists()]
    if (SHARED / "images").is_dir():
        sources.append(str(SHARED / "images"))
    if not sources:
        pytest.skip("no test photographs available")
    root = str(tmp_path_factory.mktemp("evalsynth"))
    synthetic.generate(root, sources, n_train=0, n_val=30, n_jnd=24, patch=16, seed=0, verbose=False)
    # A second 2AFC subset, so that the mean over subsets is a real mean.
    other = synthetic.make_twoafc(synthetic.load_photos(sources), 20, 16, np.random.default_rng(9), 5)
    stems = [f"{i:06d}" for i in range(20)]
    folder = os.path.join(root, "2afc", "val", "other")
    for key in ("ref", "p0", "p1"):
        synthetic._write_images(os.path.join(folder, key), other[key], stems)
    synthetic._write_values(os.path.join(folder, "judge"), other["judge"], stems)
    return root


def mean_abs(x0, x1):
    return np.mean(np.abs(np.asarray(x0) - np.asarray(x1)), axis=(1, 2, 3))


@pytest.fixture(scope="module")
def results(data_dir):
    variants = evaluation.resolve_variants([("mad", mean_abs)])
    return evaluation.evaluate(data_dir, variants, load_size=16, batch_size=8, n_boot=200,
                               progress=False)


def test_results_schema_and_ranges(results):
    assert [k for k in results if not k.startswith("_")] == ["mad", "l2", "ssim", "human"]
    for v in ("mad", "l2", "ssim"):
        entry = results[v]
        assert set(entry) == {"2afc", "jnd", "ci"}
        assert list(entry["2afc"]) == ["other", "traditional", "mean"]
        assert list(entry["jnd"]) == ["traditional"]
        assert entry["2afc"]["mean"] == pytest.approx(
            (entry["2afc"]["other"] + entry["2afc"]["traditional"]) / 2)
        for kind in ("2afc", "jnd"):
            for key, score in entry[kind].items():
                low, high = entry["ci"][kind][key]
                assert 0.0 <= low <= score <= high <= 1.0, (v, kind, key)
    human = results["human"]
    assert human["observers"] == "simulated (synthetic data)"
    assert 0.5 <= human["2afc"]["traditional"] <= 1.0 and human["jnd"] == {}
    assert results["_info"]["synthetic"] is True
    assert results["_info"]["counts"] == {"2afc": {"other": 20, "traditional": 30},
                                          "jnd": {"traditional": 24}}


def test_scores_match_direct_computation(results, data_dir):
    index = bapps.index_2afc(data_dir, ["val/traditional"])
    (x, _), = bapps.twoafc_dataset(index, load_size=16, batch_size=100).take(1)
    x = {k: v.numpy() for k, v in x.items()}
    for name, fn in [("l2", scoring.l2_distance), ("ssim", scoring.ssim_distance), ("mad", mean_abs)]:
        expected = scoring.score_2afc(fn(x["ref"], x["p0"]), fn(x["ref"], x["p1"]), index.judge)[0]
        assert results[name]["2afc"]["traditional"] == pytest.approx(expected, abs=1e-12)
    assert results["human"]["2afc"]["traditional"] == pytest.approx(
        scoring.human_ceiling_2afc(index.judge)[0])
    jnd = bapps.index_jnd(data_dir, ["val/traditional"])
    (p, _), = bapps.jnd_dataset(jnd, load_size=16, batch_size=100).take(1)
    expected = scoring.score_jnd(scoring.l2_distance(p["p0"].numpy(), p["p1"].numpy()), jnd.same)[0]
    assert results["l2"]["jnd"]["traditional"] == pytest.approx(expected, abs=1e-12)


def test_write_outputs(results, tmp_path):
    paths = evaluation.write_outputs(results, str(tmp_path / "out"))
    data = json.load(open(paths["json"]))
    assert set(data) == {"mad", "l2", "ssim", "human"}
    assert data["l2"]["2afc"]["traditional"] == results["l2"]["2afc"]["traditional"]
    assert len(data["ssim"]["ci"]["jnd"]["traditional"]) == 2
    table = open(paths["markdown"]).read()
    assert table.startswith("**" + BANNER)
    assert "| variant | 2AFC other | 2AFC traditional | 2AFC mean | JND traditional (mAP) |" in table
    assert "| observer ceiling (simulated) |" in table
    assert open(paths["chart"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_resolve_sets(data_dir):
    assert evaluation.resolve_sets(data_dir, "all") == {
        "2afc": ["val/other", "val/traditional"], "jnd": ["val/traditional"]}
    assert evaluation.resolve_sets(data_dir, "jnd,2afc/val/other") == {
        "2afc": ["val/other"], "jnd": ["val/traditional"]}
    with pytest.raises(ValueError, match="Sets are"):
        evaluation.resolve_sets(data_dir, "traditional")
    with pytest.raises(bapps.DataError, match="No 2afc/val or jnd/val"):
        evaluation.resolve_sets(str(ROOT / "tests"), "all")


def test_resolve_variants_errors():
    assert list(evaluation.resolve_variants([], baselines=True)) == ["l2", "ssim"]
    assert list(evaluation.resolve_variants("ssim", baselines=False)) == ["ssim"]
    with pytest.raises(ValueError, match=r"A variant must be a preset \(alex, alex-cos, .*; "
                                         r"Unknown preset 'resnet'"):
        evaluation.resolve_variants(["resnet"])
    with pytest.raises(ValueError, match="appears twice"):
        evaluation.resolve_variants(["l2", "l2"])
    with pytest.raises(ValueError, match="No variants"):
        evaluation.resolve_variants([], baselines=False)


def test_trained_model_folder(data_dir, tmp_path):
    """A train.py-style <out_dir>/<variant>/model.keras is loaded and scored by path."""
    import keras

    x0 = keras.Input((None, None, 3))
    x1 = keras.Input((None, None, 3))
    diff = keras.layers.Subtract()([x0, x1])
    sq = keras.layers.Multiply()([diff, diff])
    d = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")(
        keras.layers.GlobalAveragePooling2D()(sq))
    model = keras.Model([x0, x1], d)
    folder = tmp_path / "runs" / "my-lin"
    folder.mkdir(parents=True)
    model.save(folder / "model.keras")
    variants = evaluation.resolve_variants([str(folder)], baselines=False)
    assert list(variants) == ["my-lin"]
    res = evaluation.evaluate(data_dir, variants, sets="2afc/val/traditional", load_size=16,
                              n_boot=50, progress=False)
    # Sum over channels of the mean squared RGB difference = 3 x the official RGB L2.
    l2 = evaluation.evaluate(data_dir, {"l2rgb": lambda a, b: scoring.l2_distance(a, b, "RGB")},
                             sets="2afc/val/traditional", load_size=16, n_boot=50, progress=False)
    assert res["my-lin"]["2afc"]["traditional"] == pytest.approx(l2["l2rgb"]["2afc"]["traditional"])
    with pytest.raises(FileNotFoundError, match="neither model.keras nor saved_model"):
        evaluation.resolve_variants([str(tmp_path)])


def test_official_variant_names(data_dir, random_trunk_file):
    lpips_tf = pytest.importorskip("lpips_tf")
    if not hasattr(lpips_tf, "LPIPS"):
        pytest.skip("lpips_tf.LPIPS is not available")
    # Other spellings of the presets are reported under the presets' own names.
    trunk = random_trunk_file("squeeze")
    variants = evaluation.resolve_variants(
        ["squeeze-lin", "squeeze-baseline"], trunk_weights={"squeeze": trunk}, baselines=False)
    assert list(variants) == ["squeeze", "squeeze-cos"]
    res = evaluation.evaluate(data_dir, variants, sets="2afc/val/traditional,jnd", load_size=32,
                              batch_size=16, n_boot=50, progress=False)
    for v in ("squeeze", "squeeze-cos"):
        assert 0.0 <= res[v]["2afc"]["traditional"] <= 1.0
        assert 0.0 <= res[v]["jnd"]["traditional"] <= 1.0
    # What the plot title and results.md say about the trunks: each description once.
    described = f"SqueezeNet 1.1 weights from {trunk}"
    assert res["_info"]["trunk_weights"] == {"squeeze": described, "squeeze-cos": described}
    assert evaluation.trunk_weights_note(res) == f"Trunk weights: {described}"
    assert f"\nTrunk weights: {described}.\n" in evaluation.format_markdown(res)


@pytest.mark.slow
def test_evaluate_cli(data_dir, tmp_path):
    out = tmp_path / "cli"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "evaluate.py"), "--data_dir", data_dir, "--out", str(out),
         "--sets", "2afc", "--load_size", "16", "--n_boot", "50", "--noprogress"],
        capture_output=True, text=True, env=env, timeout=300, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr
    assert "| l2 |" in proc.stdout and BANNER in proc.stdout
    data = json.load(open(out / "results.json"))
    assert set(data) == {"l2", "ssim", "human"} and data["l2"]["jnd"] == {}
    assert (out / "results.md").exists() and (out / "comparison.png").exists()


def test_per_net_trunk_weights(data_dir, random_trunk_file, tmp_path, capsys):
    # One flag value serves several nets: "alex=PATH,squeeze=PATH" (evaluate.py in process).
    import evaluate as evaluate_script

    out = tmp_path / "per_net"
    sources = f"alex={random_trunk_file('alex')},squeeze={random_trunk_file('squeeze')}"
    code = evaluate_script.main(
        ["--data_dir", data_dir, "--out", str(out), "--sets", "2afc", "--load_size", "32",
         "--n_boot", "20", "--noprogress", "--no_baselines", "--variants", "alex-cos,squeeze-cos",
         "--trunk_weights", sources])
    assert code == 0, capsys.readouterr().err
    assert set(json.load(open(out / "results.json"))) >= {"alex-cos", "squeeze-cos"}
    capsys.readouterr()
    code = evaluate_script.main(["--data_dir", data_dir, "--out", str(out), "--variants", "alex",
                                 "--trunk_weights", "alex="])
    err = capsys.readouterr().err
    assert code == 2 and "alex=PATH" in err
    assert len(err.strip().splitlines()) == 1, err


def test_trained_folder_named_like_an_official_variant(tmp_path):
    import keras

    x0, x1 = keras.Input((None, None, 3)), keras.Input((None, None, 3))
    d = keras.layers.GlobalAveragePooling2D()(keras.layers.Subtract()([x0, x1]))
    folder = tmp_path / "runs" / "l2"
    folder.mkdir(parents=True)
    keras.Model([x0, x1], d).save(folder / "model.keras")
    variants = evaluation.resolve_variants([str(folder), "l2"], baselines=False)
    assert list(variants) == ["l2 (trained)", "l2"]
    with pytest.raises(ValueError, match="appears twice"):
        evaluation.resolve_variants(["l2", "l2"], baselines=False)
