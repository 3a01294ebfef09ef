"""Evaluation without redundant trunk passes (`lpips_tf.evaluation.evaluate`): an LPIPS model
scores a 2AFC triplet in three trunk passes, and a trained run that cached its validation
statistics is scored from them; both give the image path's numbers (1e-6)."""

import json
import os

import numpy as np
import pytest

import lpips_tf
from lpips_tf.core import compiled
from lpips_tf.core.model import LPIPS
from lpips_tf.evaluation import evaluate as evaluation
from conftest import noisy_triplet, synthetic_dataset

ATOL = 1e-6
VAL = "val/traditional"


@pytest.fixture(scope="module")
def triplet():
    return noisy_triplet(11, (4, 48, 48, 3), 0.3)


@pytest.mark.parametrize("net", ["alex", "vgg", "squeeze"])
@pytest.mark.parametrize("lpips", [True, False], ids=["lin", "cos"])
def test_triplet_is_two_plain_calls(net, lpips, triplet, random_trunk_file):
    # The official lin weights (lpips=True) or the cosine distance (lpips=False).
    model = LPIPS(net=net, trunk_weights=random_trunk_file(net), lpips=lpips)
    distance = evaluation.Distance(evaluation.model_distance_fn(model), model=model)
    ref, p0, p1 = triplet
    d0, d1 = distance.triplet(ref, p0, p1)
    assert d0.shape == d1.shape == (4,)
    np.testing.assert_allclose(d0, np.asarray(model([ref, p0])), rtol=0, atol=ATOL)
    np.testing.assert_allclose(d1, np.asarray(model([ref, p1])), rtol=0, atol=ATOL)
    assert not np.allclose(d0, d1)


def test_triplet_runs_three_batches_through_the_trunk(triplet, random_trunk_file, monkeypatch):
    """The compiled triplet function concatenates ref, p0 and p1 into one trunk pass of 3N
    images: the reference goes through the trunk once, not twice."""
    model = LPIPS(net="alex", trunk_weights=random_trunk_file("alex"))
    seen = []
    original = LPIPS.tap_features

    def counting(self, images, training=None):
        seen.append(int(images.shape[0]) if images.shape[0] is not None else None)
        return original(self, images, training=training)

    monkeypatch.setattr(LPIPS, "tap_features", counting)
    ref, p0, p1 = triplet
    compiled.distances_to_reference(model, ref, p0, p1)
    # Traced once with a dynamic batch: one trunk call over the concatenation of three batches.
    assert len(seen) == 1
    seen.clear()
    model.distances_from_prepared(ref, p0, p1)  # eagerly the batch size is concrete
    assert seen == [3 * len(ref)]


def test_triplet_keeps_the_plain_call_checks(triplet, random_trunk_file):
    model = LPIPS(net="alex", trunk_weights=random_trunk_file("alex"))
    ref, p0, _ = triplet
    with pytest.raises(ValueError, match="image1 contains NaN"):
        compiled.distances_to_reference(model, ref, p0, np.full_like(p0, np.nan))
    with pytest.raises(ValueError, match="same shape"):
        compiled.distances_to_reference(model, ref, p0, p0[:, :40])
    with pytest.raises(ValueError, match="at least one batch"):
        compiled.distances_to_reference(model, ref)


# ------------------------------------------------------------------------------------------------
# Trained runs scored from their cached statistics.


@pytest.fixture(scope="module")
def cached_run(tmp_path_factory, random_trunk_file):
    """A cached-statistics alex4-lin run on a small synthetic set (its val statistics cached)."""
    from lpips_tf import training

    data_dir = synthetic_dataset(tmp_path_factory, "evalpasses_data", n_train=60, n_val=40,
                                 n_jnd=20, patch=32, seed=5)
    out = tmp_path_factory.mktemp("evalpasses_runs")
    config = training.TrainConfig(
        data_dir=data_dir, variant="alex4-lin", train_sets="train/traditional", val_sets=VAL,
        trunk_weights=random_trunk_file("alex"), epochs=1, epochs_decay=1, load_size=32,
        dropout=0.0, lr=3e-2, seed=2, out_dir=str(out), verbose=0, cached_stats=True,
        save_judgment_model=False)
    training.train(config, log=lambda _: None)
    return data_dir, os.path.join(str(out), "alex4-lin")


def _evaluate(data_dir, variants, load_size=32):
    return evaluation.evaluate(data_dir, variants, sets="all", load_size=load_size,
                               batch_size=16, n_boot=20, progress=False)


def _on_images(folder):
    """The trained model of `folder` as a plain distance function (no statistics, no triplet
    path): four trunk passes per triplet, the reference run."""
    import keras

    model = keras.saving.load_model(os.path.join(folder, "model.keras"))
    return lambda x0, x1: np.asarray(model([x0, x1])).reshape(-1)


def test_trained_run_is_scored_from_its_cached_statistics(cached_run):
    data_dir, folder = cached_run
    variants = evaluation.resolve_variants([folder], baselines=False)
    assert isinstance(variants["alex4-lin"].statistics, evaluation.RunStatistics)
    results = _evaluate(data_dir, {**variants, "images": _on_images(folder)})
    scored = results["_info"]["from_statistics"]
    assert list(scored) == ["alex4-lin"]
    assert variants["alex4-lin"].statistics.from_cache is True  # read, not computed again
    cache_dir = json.load(open(os.path.join(folder, "config.json")))["stats_cache"]["dir"]
    assert os.path.dirname(scored["alex4-lin"]) == cache_dir
    details = results["_details"]["2afc"]["traditional"]
    for key in ("d0", "d1"):
        np.testing.assert_allclose(details["alex4-lin"][key], details["images"][key], rtol=0,
                                   atol=ATOL)
    assert results["alex4-lin"]["2afc"] == results["images"]["2afc"]
    # JND pairs are not in the cache: they run on images, with the same numbers.
    np.testing.assert_allclose(results["_details"]["jnd"]["traditional"]["alex4-lin"]["d"],
                               results["_details"]["jnd"]["traditional"]["images"]["d"],
                               rtol=0, atol=ATOL)


def test_statistics_of_another_load_size_are_not_used(cached_run):
    data_dir, folder = cached_run
    variants = evaluation.resolve_variants([folder], baselines=False)
    results = _evaluate(data_dir, {**variants, "images": _on_images(folder)}, load_size=48)
    assert results["_info"]["from_statistics"] == {}
    details = results["_details"]["2afc"]["traditional"]
    np.testing.assert_allclose(details["alex4-lin"]["d0"], details["images"]["d0"], rtol=0,
                               atol=ATOL)


def test_statistics_of_other_trunk_weights_are_recomputed(cached_run, tmp_path):
    """A model whose trunk no longer has the run's weights does not read the run's statistics:
    the fingerprint differs, so they are computed for this trunk and match its images."""
    import keras

    data_dir, folder = cached_run
    variants = evaluation.resolve_variants([folder], baselines=False)
    distance = variants["alex4-lin"]
    kernel = distance.model.trunk.weights[0]
    kernel.assign(keras.ops.convert_to_numpy(kernel) * 1.5)
    cache_dir = distance.statistics.cache_dir
    before = set(os.listdir(cache_dir))
    model = distance.model
    results = _evaluate(data_dir, {"changed": distance,
                                   "images": lambda a, b: np.asarray(model([a, b]))})
    assert distance.statistics.from_cache is False
    assert set(os.listdir(cache_dir)) > before  # a new cache entry for the changed trunk
    details = results["_details"]["2afc"]["traditional"]
    for key in ("d0", "d1"):
        np.testing.assert_allclose(details["changed"][key], details["images"][key], rtol=0,
                                   atol=ATOL)
    original = _evaluate(data_dir, {"original": _on_images(folder)})
    assert not np.allclose(original["_details"]["2afc"]["traditional"]["original"]["d0"],
                           details["changed"]["d0"])


def test_run_without_cached_statistics_runs_on_images(cached_run, tmp_path):
    _, folder = cached_run
    record = json.load(open(os.path.join(folder, "config.json")))
    model = lpips_tf.LPIPS(net="alex", trunk_weights=None, taps=4)
    assert evaluation.RunStatistics.of_run(model, record) is not None
    assert evaluation.RunStatistics.of_run(model, {**record, "cached_stats": False}) is None
    assert evaluation.RunStatistics.of_run(
        model, {**record, "stats_cache": {"dir": str(tmp_path / "gone"), "val": {}}}) is None
    assert evaluation.RunStatistics.of_run(lambda a, b: a, record) is None
