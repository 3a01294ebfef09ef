"""The seed brief's experiment (`experiment.py`, `lpips_tf.experiments.seed` over the generic
runner): the claims' statistics and wording, and the one command end to end on a tiny synthetic
set."""

import json
import os
import re

import numpy as np
import pytest

from lpips_tf.experiments import claims as experiment
from lpips_tf.experiments import report as reports
from lpips_tf.experiments import seed
from conftest import paired_agreements, saved_model_export_skipped, synthetic_dataset


# ------------------------------------------------------------------------------------------------
# Claims: verdicts from constructed scores.


def test_verdict_from_the_interval():
    assert experiment.verdict(0.001, 0.05) == "supported"
    assert experiment.verdict(-0.05, -0.001) == "contradicted"
    assert experiment.verdict(-0.01, 0.02) == "not resolved"
    assert experiment.verdict(0.0, 0.0) == "not resolved"


def test_paired_difference_pairs_the_triplets():
    rng = np.random.default_rng(0)
    a, b = paired_agreements(rng)
    diff, (low, high) = experiment.paired_difference(a, b, n_boot=500)
    assert diff == pytest.approx((10 / 200 + 10 / 100) / 2)
    # Pairing: the scores are noisy (half the triplets disagree) but the difference is not.
    assert 0 < low <= diff <= high
    # Unpaired, the same difference would not be resolved at these sizes.
    unpaired = [rng.permutation(x) for x in b]
    assert experiment.paired_difference(a, unpaired, n_boot=500)[1][0] < 0
    assert experiment.paired_difference(b, b) == (0.0, (0.0, 0.0))
    with pytest.raises(ValueError, match="same triplets"):
        experiment.paired_difference([np.ones(3)], [np.ones(4)])


def _scores(n, correct, seed):
    """n per-triplet 2AFC scores of 0/1 with `correct` ones, in one subset."""
    x = np.zeros(n)
    x[np.random.default_rng(seed).permutation(n)[:correct]] = 1.0
    return [x]


def test_claims_wording_against_the_numbers():
    base = _scores(400, 240, 0)[0]
    better = base.copy()
    better[np.flatnonzero(base == 0)[:40]] = 1.0          # +10 points on the same triplets
    worse = base.copy()
    worse[np.flatnonzero(base == 1)[:40]] = 0.0           # -10 points
    slightly = base.copy()
    slightly[np.flatnonzero(base == 0)[:1]] = 1.0         # +0.25 points: not resolved
    per_triplet = {"vgg2-lin": [better], "vgg2-cos": [base],      # (a) first pair: supported
                   "alex4-lin": [worse], "alex4-cos": [base]}     # (a) second pair: contradicted
    claims = {c["key"]: c for c in experiment.evaluate_claims(seed.CLAIMS, per_triplet, n_boot=500)}
    a = claims["a"]
    assert [p["verdict"] for p in a["pairs"]] == ["supported", "contradicted"]
    assert a["verdict"] == "contradicted"
    assert a["pairs"][0]["difference"] == pytest.approx(0.10)
    assert "vgg2-lin - vgg2-cos = +10.00 2AFC points" in a["text"]
    assert "alex4-lin - alex4-cos = -10.00 2AFC points" in a["text"]
    assert a["text"].startswith("(a) The models using the LPIPS distance outperform the ones "
                                "using the cosine distance: CONTRADICTED on this data.")
    # (b) vgg2-lin (+10) vs alex4-lin (-10): supported; (c) alex4-cos vs vgg2-cos: equal.
    assert claims["b"]["verdict"] == "supported"
    assert claims["c"]["verdict"] == "not resolved"
    assert "alex4-cos - vgg2-cos = +0.00 2AFC points, 95% interval [+0.00, +0.00]: not resolved" \
        in claims["c"]["text"]
    # Every number in the text is the pair's, and each pair's verdict is its interval's.
    for claim in claims.values():
        for pair in claim["pairs"]:
            low, high = pair["ci"]
            assert pair["verdict"] == experiment.verdict(low, high)
            assert f"[{100 * low:+.2f}, {100 * high:+.2f}]" in claim["text"]

    per_triplet.update({"alex4-lin": [slightly]})
    claims = {c["key"]: c for c in experiment.evaluate_claims(seed.CLAIMS, per_triplet, n_boot=500)}
    assert [p["verdict"] for p in claims["a"]["pairs"]] == ["supported", "not resolved"]
    assert claims["a"]["verdict"] == "not resolved"
    del per_triplet["vgg2-cos"]
    claims = {c["key"]: c for c in experiment.evaluate_claims(
        seed.CLAIMS, per_triplet, n_boot=100, caveats_for=lambda claim: ["Synthetic data."])}
    assert claims["a"]["verdict"] == claims["c"]["verdict"] == "not evaluated"
    assert "vgg2-lin vs vgg2-cos: not evaluated" in claims["a"]["text"]
    assert claims["b"]["text"].endswith("Synthetic data.")


def test_trunk_weight_settings_and_labels(tmp_path):
    from lpips_tf.core.weights import parse_trunk_weights_per_net

    a, v = tmp_path / "a.pth", tmp_path / "v.pth"
    a.write_bytes(b"")
    v.write_bytes(b"")
    nets = ("alex", "vgg")
    assert parse_trunk_weights_per_net(f"alex={a},vgg=random", nets) == {"alex": str(a),
                                                                         "vgg": None}
    assert parse_trunk_weights_per_net("none", nets) == {"alex": None, "vgg": None}
    assert parse_trunk_weights_per_net(f"vgg={v}", nets) == {"alex": "torchvision", "vgg": str(v)}
    with pytest.raises(ValueError, match='"alex=PATH,vgg=random"'):
        parse_trunk_weights_per_net("squeeze=s.pth", nets)
    from lpips_tf import training

    models = {m.name: m for m in seed.MODELS}
    sources = {"alex": "a.pth", "vgg": None}
    label = reports.model_label(models["vgg2-lin"], training.get_variant("vgg2-lin"), sources)
    assert label.startswith("VGG16 with random VGG16 weights (no pretrained weights given) "
                            "(2 convolutional layers) + LPIPS distance")
    assert reports.model_label(models["alex4-cos"], training.get_variant("alex4-cos"),
                               sources) == models["alex4-cos"].label
    assert reports.model_label(models["vgg-rand-cos"], training.get_variant("vgg-rand-cos"),
                               sources) == "VGG16 untrained network + cosine distance"
    assert reports.model_label(models["alex-lin"], training.get_variant("alex-lin"),
                               sources) == ("AlexNet pretrained (all 5 layers, the paper's "
                                            "alex-lin) + LPIPS distance + small fully connected "
                                            "network [reference]")


# ------------------------------------------------------------------------------------------------
# The one command.


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    # Batches of 20 everywhere: one traced shape per model in training and evaluation.
    return synthetic_dataset(tmp_path_factory, "seed_experiment_data", n_train=40, n_val=20,
                             n_jnd=20, patch=32, seed=5)


@pytest.fixture(scope="module")
def finished(tiny_dataset, tmp_path_factory):
    """experiment.py on the tiny set: random trunks, 1 + 1 epochs of 1 step, 32 px."""
    import contextlib
    import io

    import experiment as script

    out = tmp_path_factory.mktemp("seed_experiment")
    # The four models the claims compare. vgg-rand-cos and the full-depth references go through
    # the same code with a deeper trunk, and saving and tracing a full VGG16 would double the
    # test's time; the measured README run has all seven.
    models = "vgg2-cos,vgg2-lin,alex4-cos,alex4-lin"
    argv = ["--data_dir", tiny_dataset, "--out_dir", str(out),
            "--trunk_weights", "random", "--models", models, "--epochs", "1", "--epochs_decay",
            "1", "--steps_per_epoch", "1", "--batch_size", "20", "--load_size", "32",
            "--n_boot", "100", "--save_judgment_model", "false", "--lr", "1e-2"]
    stdout = io.StringIO()
    # The study reads model.keras; the SavedModel export has its own tests.
    with contextlib.redirect_stdout(stdout), saved_model_export_skipped():
        code = script.main(argv)
    return {"out": out, "code": code, "log": stdout.getvalue(), "models": models.split(","),
            "data": tiny_dataset}


def test_one_command_writes_the_report(finished):
    assert finished["code"] == 0, finished["log"]
    report_dir = finished["out"] / "report"
    for name in ("report.md", "report.json", "accuracy_best_model.png", "loss_best_model.png",
                 "val_2afc_curves.png", "evaluation/results.json", "evaluation/results.md",
                 "evaluation/comparison.png"):
        assert (report_dir / name).is_file(), name
    report = json.loads((report_dir / "report.json").read_text())
    assert report["synthetic"] is True and "SYNTHETIC DATA" in report["title"]
    assert report["random_trunks"] == ["alex", "vgg"]
    assert [m["variant"] for m in report["models"]] == finished["models"]
    assert [b["variant"] for b in report["baselines"]] == ["l2", "ssim"]
    layers = {m["variant"]: m["layers"] for m in report["models"]}
    assert layers == {"vgg2-cos": 2, "vgg2-lin": 2, "alex4-cos": 4, "alex4-lin": 4}
    for m in report["models"]:
        assert set(m["2afc"]) == {"traditional", "mean"} and set(m["jnd"]) == {"traditional"}
        low, high = m["ci"]["2afc"]["mean"]
        assert low <= m["2afc"]["mean"] <= high
    assert report["best_model"] == max(report["models"], key=lambda m: m["2afc"]["mean"])[
        "variant"]

    md = (report_dir / "report.md").read_text()
    assert "**SYNTHETIC DATA" in md
    assert "| model | variant | distance | layers | 2AFC traditional | 2AFC mean | JND traditional (mAP) |" in md
    assert "AlexNet with random AlexNet weights (no pretrained weights given) (4 convolutional " \
           "layers) + LPIPS distance" in md
    assert "| VGG16 with random VGG16 weights (no pretrained weights given) (2 convolutional " \
           "layers) + cosine distance | vgg2-cos |" in md
    assert "| L2 in Lab (baseline) | l2 |" in md and "observer ceiling (simulated)" in md
    # The claims: each stated with its verdict, its numbers, and the caveats.
    assert [c["key"] for c in report["claims"]] == ["a", "b", "c"]
    for claim in report["claims"]:
        assert claim["verdict"] in ("supported", "contradicted", "not resolved")
        assert claim["text"] in md
        assert "Synthetic data: simulated observers" in claim["text"]
        assert "random VGG16 weights" in claim["text"]
        for pair in claim["pairs"]:
            low, high = pair["ci"]
            assert pair["verdict"] == experiment.verdict(low, high)
            assert low <= pair["difference"] <= high
            assert f"{pair['better']} - {pair['worse']} = {100 * pair['difference']:+.2f}" in \
                claim["text"]
    # The pair differences are the table's 2AFC means, subtracted.
    means = {m["variant"]: m["2afc"]["mean"] for m in report["models"]}
    pair = report["claims"][1]["pairs"][0]
    assert pair["difference"] == pytest.approx(means["vgg2-lin"] - means["alex4-lin"])
    # One progress line per epoch and per subset in a log (stdout is not a terminal here).
    assert "\r" not in finished["log"] and "━" not in finished["log"]
    assert len(re.findall(r"^2afc val/traditional: 20/20 triplets .* in [\d.]+ s$",
                          finished["log"], re.M)) == 1, finished["log"]


def test_tap_selected_models_are_the_full_models_first_taps(finished):
    """alex4-cos / alex4-lin as trained: their distance is the sum of the full AlexNet's first 4
    per-layer terms (from channel_stats of a full model with the same trunk weights)."""
    import keras

    import lpips_tf
    from lpips_tf.data import bapps

    runs = finished["out"] / "runs"
    index = bapps.index_2afc(finished["data"], ["val/traditional"]).select("val/traditional")
    images = next(iter(bapps.twoafc_dataset(index, load_size=32, batch_size=6)))[0]
    pair = [images["ref"], images["p0"]]
    for name in ("alex4-cos", "alex4-lin", "vgg2-lin"):
        model = keras.saving.load_model(runs / name / "model.keras")
        net, k = ("alex", 4) if name.startswith("alex") else ("vgg", 2)
        assert len(model.taps) == k
        full = lpips_tf.LPIPS(net=net, lpips=False, trunk_weights=None)
        kept = model.trunk.get_weights()
        full.trunk.set_weights(kept + full.trunk.get_weights()[len(kept):])
        stats = np.asarray(full.channel_stats(pair))[:, :sum(model.channels)]
        weights = (np.concatenate(model.get_lin_weights()) if model.lpips
                   else np.ones(stats.shape[1], np.float32))
        np.testing.assert_allclose(np.asarray(model(pair)), stats @ weights, rtol=2e-5,
                                   atol=1e-7)


def test_second_run_skips_finished_models_and_refuses_changed_ones(finished):
    from lpips_tf import training

    lines = []
    before = os.path.getmtime(finished["out"] / "runs" / "alex4-cos" / "model.keras")
    config = seed.ExperimentConfig(
        data_dir=finished["data"], out_dir=str(finished["out"]), trunk_weights="random",
        models=("alex4-cos",), epochs=1, epochs_decay=1, steps_per_epoch=1, batch_size=20,
        load_size=32, n_boot=50, save_judgment_model=False, lr=1e-2)
    report = seed.run_experiment(config, log=lines.append)
    assert "Plan: alex4-cos (done, skipped)" in lines
    assert report["timing"]["skipped"] == ["alex4-cos"]
    assert os.path.getmtime(finished["out"] / "runs" / "alex4-cos" / "model.keras") == before
    config.lr = 1e-3
    with pytest.raises(training.ConfigError, match=r"holds a finished run with other settings "
                                                   r"\(saved, now\): \{'lr': \(0.01, 0.001\)\}"):
        seed.run_experiment(config, log=lines.append)


def test_the_evaluation_names_random_trunks(finished):
    """evaluation/comparison.png's title: the trunks as trained, here random VGG16 and AlexNet
    weights (read from each run folder's config.json)."""
    from lpips_tf.evaluation import evaluate as evaluation

    runs = finished["out"] / "runs"
    variants = evaluation.resolve_variants([str(runs / "vgg2-lin"), str(runs / "alex4-cos")],
                                           baselines=False)
    assert {name: fn.trunk_weights for name, fn in variants.items()} == {
        "vgg2-lin": "random VGG16 weights", "alex4-cos": "random AlexNet weights"}
    note = evaluation.trunk_weights_note({"_info": {"trunk_weights": {
        name: fn.trunk_weights for name, fn in variants.items()}}})
    assert note == "Trunk weights: random VGG16 weights; random AlexNet weights"
    log = finished["log"]
    assert "VGG16 trunk: random VGG16 weights." in log
    assert "[vgg2-lin] Variant vgg2-lin: First 2 taps (block1_conv2, block2_conv2) of the VGG16 " \
           "trunk (random VGG16 weights), frozen;" in log
    assert "ImageNet" not in log


def test_presets_join_a_study_untrained(finished):
    """--models takes presets next to the study's own: evaluated as they are, in the table,
    not trained (so not the best model)."""
    lines = []
    config = seed.ExperimentConfig(
        data_dir=finished["data"], out_dir=str(finished["out"]), trunk_weights="random",
        models=("alex4-cos", "alex-base:taps=4"), epochs=1, epochs_decay=1, steps_per_epoch=1,
        batch_size=20, load_size=32, n_boot=50, save_judgment_model=False, lr=1e-2)
    report = seed.run_experiment(config, log=lines.append)
    assert "Plan: alex4-cos (done, skipped), alex-cos:taps=4 (preset, evaluated as it is)" in lines
    rows = {r["variant"]: r for r in report["models"]}
    assert list(rows) == ["alex4-cos", "alex-cos:taps=4"]
    preset = rows["alex-cos:taps=4"]
    assert (preset["role"], preset["distance"], preset["layers"], preset["history"]) == (
        "preset", "cos", 4, [])
    assert preset["trunk_weights"] == "random AlexNet weights" and preset["random_trunk"]
    assert report["best_model"] == "alex4-cos"
    assert not (finished["out"] / "runs" / "alex-cos:taps=4").exists()


def test_command_errors_are_one_line(tiny_dataset, tmp_path, capsys):
    import experiment as script

    assert script.main(["--data_dir", tiny_dataset, "--out_dir", str(tmp_path), "--models",
                        "alex9-lin"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: models must be among vgg2-cos, vgg2-lin") and err.count("\n") == 1
    assert script.main(["--data_dir", tiny_dataset, "--out_dir", str(tmp_path),
                        "--trunk_weights", "squeeze=x.pth"]) == 2
    assert 'must look like "alex=PATH,vgg=random"' in capsys.readouterr().err
    # Every net's weights are checked before the first model trains.
    for spec, message in (("alex=random,vgg=missing.pth", "trunk weights file not found: "
                                                          "missing.pth"),
                          ("keras", "'keras' exist only for vgg")):
        assert script.main(["--data_dir", tiny_dataset, "--out_dir", str(tmp_path),
                            "--trunk_weights", spec]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert script.main(["--data_dir", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("vgg", ["garbage", "garbled file"])
def test_every_nets_trunk_weights_are_read_before_anything_trains(vgg, tiny_dataset, tmp_path,
                                                                   capsys, random_trunk_file):
    import experiment as script

    if vgg == "garbled file":
        vgg = str(tmp_path / "vgg_garbage.pth")
        with open(vgg, "wb") as f:
            f.write(b"PK\x03\x04 not a torch checkpoint" * 10)
    out = tmp_path / "out"
    spec = f"alex={random_trunk_file('alex')},vgg={vgg}"
    assert script.main(["--data_dir", tiny_dataset, "--out_dir", str(out),
                        "--trunk_weights", spec]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    assert vgg in captured.err and "Traceback" not in captured.err
    assert "Epoch" not in captured.out
    assert not out.exists() or not os.listdir(out)
