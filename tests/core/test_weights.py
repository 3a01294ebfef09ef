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


# ------------------------------------------------------------------------------------------------
# Trunk-weights specifications: one grammar for every command.


def test_trunk_weights_specification_grammar(tmp_path):
    trunk = tmp_path / "alexnet.pth"
    trunk.write_bytes(b"")
    for spec, expected in (("torchvision", "torchvision"), ("Keras", "keras"), ("random", None),
                           ("NONE", None), (None, None), (str(trunk), str(trunk)),
                           (f" {trunk} ", str(trunk))):
        assert weights.parse_trunk_weights(spec) == expected, spec
    nets = ("alex", "squeeze", "vgg")
    assert weights.parse_trunk_weights_per_net("random", nets) == dict.fromkeys(nets)
    assert weights.parse_trunk_weights_per_net(f"alex={trunk}, vgg = keras", nets) == {
        "alex": str(trunk), "squeeze": "torchvision", "vgg": "keras"}
    assert weights.parse_trunk_weights_per_net("squeeze=none") == {
        "alex": "torchvision", "vgg": "torchvision", "squeeze": None, "st-alex": "torchvision",
        "st-vgg": "torchvision"}
    # A file whose name looks per net is a file.
    odd = tmp_path / "alex=x.pth"
    odd.write_bytes(b"")
    assert weights.parse_trunk_weights(str(odd)) == str(odd)


@pytest.mark.parametrize("spec,nets,message", [
    ("alex=", None, "trunk weights 'alex=' name no source"),
    ("", None, "trunk weights '' name no source"),
    ("squeeze=s.pth", ("alex", "vgg"), 'per net must look like "alex=PATH,vgg=random" (nets: '
                                       'alex, vgg'),
    ("alex=random,alex=torchvision", ("alex", "vgg"), "each at most once"),
    ("alex=keras", None, "'keras' (in 'alex=keras') exist only for vgg"),
    ("vgg=missing.pth", None, "trunk weights file not found: missing.pth (in 'vgg=missing.pth')"),
    ("missing.pth", None, "trunk weights file not found: missing.pth; expected one of"),
])
def test_bad_trunk_weights_specifications_are_one_clear_error(spec, nets, message):
    with pytest.raises(weights.TrunkWeightsSpecError) as info:
        weights.parse_trunk_weights_per_net(spec, nets)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_one_trunk_commands_refuse_per_net_specifications():
    with pytest.raises(ValueError, match="are per net, but this command runs one trunk"):
        weights.parse_trunk_weights("alex=random")


def test_trunk_weights_are_described_one_way():
    assert weights.describe_trunk_weights("vgg", None) == "random VGG16 weights"
    assert weights.describe_trunk_weights("alex", "torchvision") == \
        "torchvision ImageNet AlexNet weights"
    assert weights.describe_trunk_weights("vgg", "keras") == \
        "Keras Applications ImageNet VGG16 weights"
    assert weights.describe_trunk_weights("squeeze", "/w/s.pth") == \
        "SqueezeNet 1.1 weights from /w/s.pth"
    from lpips_tf import training

    # The training log and config.json: a pretrained variant run on random weights says so.
    variant = training.get_variant("vgg2-lin")
    assert "(random VGG16 weights), frozen" in variant.describe(None)
    assert "(torchvision ImageNet VGG16 weights), frozen" in variant.description
    assert training.get_variant("vgg-rand-cos").describe("torchvision") == \
        training.get_variant("vgg-rand-cos").describe(None)
