"""Cached channel statistics: exactness against the model and cache invalidation."""

import os

import numpy as np
import pytest

import lpips_tf
from lpips_tf.cached import CachedLin, compute_triplet_stats, fingerprint
from lpips_tf.data.bapps import index_2afc, twoafc_dataset
from lpips_tf.data.synthetic import generate
from conftest import ROOT


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("cached_data")
    generate(str(root), str(ROOT / "tests" / "data" / "photos"), n_train=0, n_val=24, n_jnd=0,
             patch=48, seed=3, verbose=False)
    return str(root)


def test_stats_reproduce_distances_and_cache(small_dataset, random_trunk_file, tmp_path, capsys):
    model = lpips_tf.LPIPS(net="alex", trunk_weights=random_trunk_file("alex"))
    index = index_2afc(small_dataset, ["val/traditional"])
    stats = compute_triplet_stats(model, index, load_size=48, batch_size=10,
                                  cache_dir=str(tmp_path), verbose=0)
    assert stats["s0"].shape == (24, 1152) and stats["s1"].shape == (24, 1152)
    images, judge = next(iter(twoafc_dataset(index, load_size=48, batch_size=24)))
    w = np.concatenate(model.get_lin_weights())
    np.testing.assert_allclose(stats["s0"] @ w, np.asarray(model([images["ref"], images["p0"]])),
                               rtol=1e-5)
    np.testing.assert_allclose(stats["s1"] @ w, np.asarray(model([images["ref"], images["p1"]])),
                               rtol=1e-5)
    np.testing.assert_array_equal(stats["judge"], np.asarray(judge))
    assert len(os.listdir(tmp_path)) == 1

    # A second call reads the cache.
    again = compute_triplet_stats(model, index, load_size=48, cache_dir=str(tmp_path), verbose=1)
    assert "from cache" in capsys.readouterr().out
    np.testing.assert_array_equal(again["s0"], stats["s0"])


def test_fingerprint_changes_with_data_trunk_and_size(small_dataset, random_trunk_file):
    index = index_2afc(small_dataset, ["val/traditional"])
    model = lpips_tf.LPIPS(net="alex", trunk_weights=random_trunk_file("alex"))
    key = fingerprint(model, index, 48)
    assert fingerprint(model, index, 48) == key
    assert fingerprint(model, index, 64) != key
    other = lpips_tf.LPIPS(net="alex", trunk_weights=random_trunk_file("alex", seed=1))
    assert fingerprint(other, index, 48) != key
    touched = index.p1[0]
    stat = os.stat(touched)
    os.utime(touched, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert fingerprint(model, index, 48) != key


def test_cached_lin_splits_back_into_lin_vectors():
    layer = CachedLin((3, 2))
    layer.build((None, 5))
    layer.kernel.assign(np.arange(5, dtype=np.float32))
    a, b = layer.lin_vectors()
    np.testing.assert_array_equal(a, [0, 1, 2])
    np.testing.assert_array_equal(b, [3, 4])
    np.testing.assert_allclose(np.asarray(layer(np.ones((2, 5), np.float32))), [10.0, 10.0])
    clone = CachedLin.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
