"""One feature extraction and one set of input rules for every caller.

`LPIPS.tap_features` (scaling -> trunk -> per-tap tensors -> channel normalisation) and the per-tap
steps are the only path from images to distances: the forward pass, `channel_stats`, `pairwise`
and the statistics cache must read the same features (1e-6), for one tap too (where Keras returns
a bare tensor). `pairwise` checks its NumPy batches with the model's rules and says the same
thing as the model about the same bad input."""

import re

import keras
import numpy as np
import pytest

import lpips_tf
from lpips_tf.core import compiled
from lpips_tf.uses.pairwise import feature_size, pairwise
from conftest import noisy_triplet, random_images

ATOL = 1e-6


@pytest.fixture(scope="module", params=[None, 1], ids=["all_taps", "one_tap"])
def model(request, random_trunk_file):
    return lpips_tf.LPIPS(net="alex", trunk_weights=random_trunk_file("alex"),
                          taps=request.param)


@pytest.fixture(scope="module")
def triplet():
    return noisy_triplet(7, (3, 64, 64, 3), 0.2)


def test_tap_features_are_a_list_of_normalised_taps(model, triplet):
    ref = triplet[0]
    features = model.tap_features(ref)
    assert isinstance(features, list) and len(features) == len(model.taps)
    sizes = model.tap_sizes(64, 64)
    for f, c, (h, w) in zip(features, model.channels, sizes):
        f = keras.ops.convert_to_numpy(f)
        assert f.shape == (3, h, w, c) and f.dtype == np.float32
        norms = np.linalg.norm(f.astype(np.float64), axis=-1)
        np.testing.assert_allclose(norms[norms > 1e-3], 1.0, atol=1e-5)
    # One trunk pass over several batches = each batch on its own.
    together = model.batch_tap_features([ref, triplet[1]])
    for k, batch in enumerate((ref, triplet[1])):
        for a, b in zip(together[k], model.tap_features(batch)):
            np.testing.assert_allclose(keras.ops.convert_to_numpy(a),
                                       keras.ops.convert_to_numpy(b), atol=ATOL)


def test_forward_pass_channel_stats_and_pairwise_agree(model, triplet):
    ref, p0, p1 = triplet
    d0 = np.asarray(keras.ops.convert_to_numpy(model([ref, p0])), np.float64)
    stats0 = np.asarray(keras.ops.convert_to_numpy(model.channel_stats([ref, p0])), np.float64)
    assert stats0.shape == (3, sum(model.channels))
    w = np.concatenate(model.get_lin_weights()).astype(np.float64)
    np.testing.assert_allclose(stats0 @ w, d0, atol=ATOL)
    # Two sets: the diagonal holds the pairs (ref[i], p0[i]).
    np.testing.assert_allclose(np.diag(pairwise(model, ref, p0)), d0, atol=ATOL)
    # The per-tap steps, composed by hand, give the distance too.
    f0, f1 = model.batch_tap_features([ref, p0])
    by_steps = sum(keras.ops.convert_to_numpy(model.reduce_tap_map(
        model.tap_distance_map(k, a, b), ref))[:, 0] for k, (a, b) in enumerate(zip(f0, f1)))
    np.testing.assert_allclose(by_steps, d0, atol=ATOL)
    cosine = lpips_tf.LPIPS(net="alex", lpips=False, trunk_weights=None, taps=model.taps)
    cosine.trunk.set_weights(model.trunk.get_weights())
    np.testing.assert_allclose(np.diag(pairwise(cosine, ref, p0)), stats0.sum(axis=1), atol=ATOL)


def test_statistics_cache_reads_the_same_features(model, triplet):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the statistics cache is TensorFlow-only (tf.data)")
    from lpips_tf.training.cached_stats import _triplet_stats_fn

    ref, p0, p1 = triplet
    s0, s1 = _triplet_stats_fn(model)(ref, p0, p1)
    np.testing.assert_allclose(s0.numpy(), np.asarray(model.channel_stats([ref, p0])), atol=ATOL)
    np.testing.assert_allclose(s1.numpy(), np.asarray(model.channel_stats([ref, p1])), atol=ATOL)


def test_feature_size_from_the_tap_sizes(model):
    sizes = model.tap_sizes(64, 64)
    assert sizes[:1] == [(15, 15)]  # AlexNet conv1 at 64 x 64
    kept = [int((v > 0).sum()) for v in model.get_lin_weights()]
    assert feature_size(model, 64, 64) == sum(h * w * c for (h, w), c in zip(sizes, kept))


# ------------------------------------------------------------------------------------------------
# One set of input rules: the model and pairwise refuse the same input with the same message.


def _message(call):
    with pytest.raises(ValueError) as caught:
        call()
    return str(caught.value)


@pytest.mark.parametrize("normalize", [False, True], ids=["minus1_1", "zero_one"])
@pytest.mark.parametrize("bad", ["nan", "inf", "range", "int32", "channels", "rank", "small"])
def test_model_and_pairwise_refuse_alike(bad, normalize):
    model = lpips_tf.LPIPS(net="alex", trunk_weights=None, normalize=normalize)
    good = random_images(np.random.default_rng(0), (2, 32, 32, 3))
    if normalize:
        good = (good + 1) / 2
    x = good.copy()
    if bad == "nan":
        x[1, 3, 4, 0] = np.nan
    elif bad == "inf":
        x[1, 0, 0, 2] = np.inf
    elif bad == "range":
        x = x * 255
    elif bad == "int32":
        x = (x * 100).astype(np.int32)
    elif bad == "channels":
        x = x[..., :1]
    elif bad == "rank":
        x = x[None]
    else:
        x = x[:, :30, :30]
    from_pairwise = _message(lambda: pairwise(model, x))
    named = re.match(r"images_a\[(\d)\] ", from_pairwise)
    if bad in ("nan", "inf", "range"):
        # Value rules name the image of the set: the model says the same of that image alone.
        assert named and int(named.group(1)) == (0 if bad == "range" else 1)
        k = int(named.group(1))
        x = x[k:k + 1]
    from_model = _message(lambda: model([x, x]))
    # The same words; pairwise names the set (or its image) where the model names its argument.
    assert re.sub(r"images_a(\[\d\])?", "image0", from_pairwise) == from_model


def test_accepted_encodings_give_the_model_distances():
    rng = np.random.default_rng(3)
    as_uint8 = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    model = lpips_tf.LPIPS(net="alex", trunk_weights=None)
    d = np.asarray(model([as_uint8[:1], as_uint8[1:2]]))[0]
    assert pairwise(model, as_uint8)[0] == pytest.approx(float(d), abs=ATOL)
    zero_one = lpips_tf.LPIPS(net="alex", trunk_weights=None, normalize=True)
    zero_one.set_weights(model.get_weights())
    x = as_uint8.astype(np.float32) / 255.0
    d = np.asarray(zero_one([x[:1], x[1:2]]))[0]
    assert pairwise(zero_one, x)[0] == pytest.approx(float(d), abs=ATOL)


def test_fast_path_serves_only_lpips_models():
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    x = np.zeros((1, 4), np.float32)
    assert compiled.eager_fast_path(plain, [x, x]) is None
    model = lpips_tf.LPIPS(net="alex", trunk_weights=None)
    x = np.zeros((1, 32, 32, 3), np.float32)
    assert isinstance(model, compiled.CompiledEagerCall)
    assert compiled.eager_fast_path(model, [x, x]) is not None
    with pytest.raises(TypeError, match="needs an lpips_tf.LPIPS model. Received: Sequential"):
        pairwise(plain, x)
