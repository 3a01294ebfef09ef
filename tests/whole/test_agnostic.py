"""The metric on whichever Keras backend runs this process.

The default test run is TensorFlow; `tests/whole/test_backends.py` runs this file, the golden parity
suite and the Keras metric again under KERAS_BACKEND=jax in a subprocess. Nothing here
imports TensorFlow.
"""

import keras
import numpy as np
import pytest
from keras import ops

import lpips_tf
from lpips_tf.core.backend import BackendError, backend_name
from lpips_tf.core.trunks import alexnet, select_taps
from conftest import random_images

BACKEND = backend_name()


def _slow_call(model, pair, **kwargs):
    """The ordinary Keras call (`call` through Layer.__call__), bypassing the eager fast path."""
    return keras.Model.__call__(model, pair, **kwargs)


def test_fast_path_equals_the_ordinary_call(alex, rng):
    x0, x1 = random_images(rng, (3, 40, 52, 3)), random_images(rng, (3, 40, 52, 3))
    fast = ops.convert_to_numpy(alex([x0, x1]))
    slow = ops.convert_to_numpy(_slow_call(alex, [x0, x1], training=False))
    assert fast.shape == (3,)
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-7)
    # uint8 and normalize=True go through the same conversion on both doors.
    u0 = np.round((x0 + 1) * 127.5).astype(np.uint8)
    np.testing.assert_allclose(ops.convert_to_numpy(alex([u0, u0])), 0.0, atol=1e-7)


def test_weight_changes_are_seen_by_the_compiled_path(random_trunk_file, rng):
    model = lpips_tf.LPIPS(net="alex", trunk_weights=random_trunk_file("alex"))
    x0, x1 = random_images(rng, (2, 40, 40, 3)), random_images(rng, (2, 40, 40, 3))
    before = ops.convert_to_numpy(model([x0, x1]))
    model.set_lin_weights([2.0 * w for w in model.get_lin_weights()])
    np.testing.assert_allclose(ops.convert_to_numpy(model([x0, x1])), 2.0 * before, rtol=1e-5)


def test_compiled_distance_fn_matches(alex, rng):
    x0, x1 = random_images(rng, (2, 48, 48, 3)), random_images(rng, (2, 48, 48, 3))
    fn = lpips_tf.compiled_distance_fn(alex)
    np.testing.assert_allclose(ops.convert_to_numpy(fn(x0, x1)),
                               ops.convert_to_numpy(alex([x0, x1])), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("make, message", [
    (lambda r: [random_images(r, (1, 40, 40, 3)), random_images(r, (1, 40, 48, 3))], "same shape"),
    (lambda r: [random_images(r, (1, 40, 40, 1))] * 2, "Grayscale"),
    (lambda r: [random_images(r, (1, 20, 40, 3))] * 2, "too small"),
    (lambda r: [random_images(r, (40, 40, 3))] * 2, "4-D"),
    (lambda r: [np.full((1, 40, 40, 3), np.nan, np.float32)] * 2, "NaN"),
    (lambda r: [random_images(r, (1, 40, 40, 3)) * 127.5 + 127.5] * 2, "outside the expected"),
    (lambda r: [np.zeros((1, 40, 40, 3), np.int32)] * 2, "uint8"),
])
def test_eager_input_errors_on_every_backend(alex, make, message):
    with pytest.raises(ValueError, match=message):
        alex(make(np.random.default_rng(0)))


def test_tensorflow_only_parts_say_which_backend_they_need(alex, tmp_path):
    if BACKEND == "tensorflow":
        pytest.skip("TensorFlow is the backend: export works (tests/core/test_model.py)")
    with pytest.raises(BackendError, match="needs the TensorFlow backend"):
        lpips_tf.export_saved_model(alex, str(tmp_path / "saved"))


def test_taps_select_the_first_layers(random_trunk_file, rng):
    x0, x1 = random_images(rng, (2, 40, 40, 3)), random_images(rng, (2, 40, 40, 3))
    full = lpips_tf.LPIPS(net="alex", trunk_weights=random_trunk_file("alex"))
    stats = ops.convert_to_numpy(full.channel_stats([x0, x1]))
    lins = full.get_lin_weights()
    per_tap = np.split(stats, np.cumsum(alexnet.CHANNELS)[:-1], axis=1)
    per_layer = np.stack([s @ w for s, w in zip(per_tap, lins)], axis=1)
    for k in (1, 2, 4):
        cut = lpips_tf.LPIPS(net="alex", trunk_weights=random_trunk_file("alex"), taps=k)
        assert cut.taps == alexnet.TAPS[:k] and cut.channels == alexnet.CHANNELS[:k]
        np.testing.assert_allclose(ops.convert_to_numpy(cut([x0, x1])),
                                   per_layer[:, :k].sum(axis=1), rtol=1e-5, atol=1e-7)
        assert cut.get_config()["taps"] == list(alexnet.TAPS[:k])
    named = lpips_tf.LPIPS(net="alex", trunk_weights=random_trunk_file("alex"),
                           taps=("conv2", "conv5"))
    np.testing.assert_allclose(ops.convert_to_numpy(named([x0, x1])),
                               per_layer[:, [1, 4]].sum(axis=1), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("taps, message", [
    (0, "choose 1 to 5"), (6, "choose 1 to 5"), (("conv3", "conv1"), "trunk order"),
    (("fire2",), "Unknown tap"), ([], "empty"), ((7,), "out of range"),
])
def test_bad_taps_are_refused(taps, message):
    with pytest.raises(ValueError, match=message):
        select_taps(alexnet, taps)


def test_lpips_loss_trains_an_autoencoder_with_fit(random_trunk_file):
    """Gradients flow through the frozen metric to a model under training, on this backend."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = np.clip(rng.normal(0, 0.4, (16, 32, 32, 3)), -1, 1).astype(np.float32)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    outputs = keras.layers.Conv2D(3, 3, padding="same", activation="tanh")(x)
    autoencoder = keras.Model(inputs, outputs)
    loss = lpips_tf.LPIPSLoss(net="alex", trunk_weights=random_trunk_file("alex"))
    autoencoder.compile(optimizer=keras.optimizers.Adam(3e-3), loss=loss)
    history = autoencoder.fit(images, images, batch_size=8, epochs=8, verbose=0).history["loss"]
    assert np.all(np.isfinite(history)), history
    assert history[-1] < 0.8 * history[0], history
    assert not loss.metric.trainable_variables


def test_models_of_one_architecture_keep_their_own_weights(random_trunk_file, rng):
    # On JAX both models share one compiled function (their variables are its arguments).
    a = lpips_tf.LPIPS(net="squeeze", trunk_weights=random_trunk_file("squeeze", seed=0))
    b = lpips_tf.LPIPS(net="squeeze", trunk_weights=random_trunk_file("squeeze", seed=1))
    x0, x1 = random_images(rng, (2, 33, 33, 3)), random_images(rng, (2, 33, 33, 3))
    da, db = (ops.convert_to_numpy(m([x0, x1])) for m in (a, b))
    np.testing.assert_allclose(da, ops.convert_to_numpy(_slow_call(a, [x0, x1])), rtol=1e-5)
    np.testing.assert_allclose(db, ops.convert_to_numpy(_slow_call(b, [x0, x1])), rtol=1e-5)
    assert np.all(np.abs(da - db) > 1e-4)


def test_pairwise_matches_the_model(alex, rng):
    # The full pairwise suite (tests/uses/test_pairwise.py) runs on TensorFlow; this is its check on
    # the other backends: one trunk pass per image, the same numbers as the per-pair model.
    x = random_images(rng, (3, 40, 40, 3))
    x[2] = np.clip(x[0] + 1e-3 * rng.standard_normal(x[0].shape), -1, 1)
    d = lpips_tf.pairwise(alex, x, batch_size=3)
    reference = [float(ops.convert_to_numpy(alex([x[i:i + 1], x[j:j + 1]]))[0])
                 for i, j in ((0, 1), (0, 2), (1, 2))]
    np.testing.assert_allclose(d, reference, rtol=0, atol=1e-5)
