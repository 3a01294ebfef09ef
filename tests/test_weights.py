"""Trunk weight download (offline, through file:// URLs) and lin weight loading."""

import hashlib
import shutil

import numpy as np
import pytest

import lpips_tf
from lpips_tf.core import weights
from conftest import random_images


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return tmp_path / "keras_home"


@pytest.fixture
def served_alex(tmp_path, random_trunk_file):
    """A local "server" folder holding an alex checkpoint under a name with its hash prefix."""
    folder = tmp_path / "server"
    folder.mkdir()
    source = random_trunk_file("alex")
    prefix = hashlib.sha256(open(source, "rb").read()).hexdigest()[:8]
    name = f"alexnet-test-{prefix}.npz"
    shutil.copy(source, folder / name)
    return folder, name, prefix


def test_download_checks_hash_and_caches(keras_home, served_alex):
    folder, name, prefix = served_alex
    path = weights.fetch_torchvision_trunk("alex", base_url=folder.as_uri(), file_name=name)
    assert path == str(keras_home / "lpips_tf" / name)
    # Second call: served from the cache even when the server is gone.
    shutil.rmtree(folder)
    assert weights.fetch_torchvision_trunk("alex", base_url=folder.as_uri(), file_name=name) == path


def test_download_with_wrong_hash_is_removed(keras_home, served_alex):
    folder, name, _ = served_alex
    with pytest.raises(weights.WeightsDownloadError, match="SHA-256"):
        weights.fetch_torchvision_trunk("alex", base_url=folder.as_uri(), file_name=name,
                                        sha256_prefix="deadbeef")
    assert not (keras_home / "lpips_tf" / name).exists()


def test_offline_error_says_what_to_fetch_and_where(keras_home, tmp_path):
    missing = (tmp_path / "nowhere").as_uri()
    with pytest.raises(weights.WeightsDownloadError) as info:
        weights.fetch_torchvision_trunk("alex", base_url=missing)
    message = str(info.value)
    assert "alexnet-owt-7be5be79.pth" in message
    assert str(keras_home / "lpips_tf" / "alexnet-owt-7be5be79.pth") in message


def test_lpips_torchvision_path_end_to_end(keras_home, served_alex, monkeypatch, random_trunk_file):
    # The default trunk_weights="torchvision" path, pointed at the local server.
    folder, name, _ = served_alex
    monkeypatch.setenv(weights.BASE_URL_ENV, folder.as_uri())
    monkeypatch.setitem(weights.TORCHVISION_FILES, "alex", name)
    rng = np.random.default_rng(0)
    x0, x1 = random_images(rng, (1, 40, 40, 3)), random_images(rng, (1, 40, 40, 3))
    downloaded = lpips_tf.LPIPS(net="alex")
    direct = lpips_tf.LPIPS(net="alex", trunk_weights=random_trunk_file("alex"))
    np.testing.assert_array_equal(np.asarray(downloaded([x0, x1])), np.asarray(direct([x0, x1])))


def test_lin_weights_from_official_pth_and_npz_agree(tmp_path):
    vectors = weights.load_lin_weights(weights.official_lin_weights_path("alex", "0.1"),
                                       (64, 192, 384, 256, 256))
    assert [v.shape for v in vectors] == [(64,), (192,), (384,), (256,), (256,)]
    assert all((v >= 0).all() for v in vectors)
    np.savez(tmp_path / "copy.npz", **{f"lin{k}": v for k, v in enumerate(vectors)})
    model = lpips_tf.LPIPS(net="alex", trunk_weights=None, lin_weights=str(tmp_path / "copy.npz"))
    for got, expected in zip(model.get_lin_weights(), vectors):
        np.testing.assert_array_equal(got, expected)


def test_lin_weights_strict(tmp_path):
    np.savez(tmp_path / "short.npz", lin0=np.ones(64, np.float32))
    with pytest.raises(ValueError, match="lin1"):
        lpips_tf.LPIPS(net="alex", trunk_weights=None, lin_weights=str(tmp_path / "short.npz"))
    bad = {f"lin{k}": np.ones(c, np.float32) for k, c in enumerate((64, 192, 384, 256, 256))}
    bad["lin2"] = -bad["lin2"]
    np.savez(tmp_path / "negative.npz", **bad)
    with pytest.raises(ValueError, match="lin2 has negative"):
        lpips_tf.LPIPS(net="alex", trunk_weights=None, lin_weights=str(tmp_path / "negative.npz"))
