"""The metric on whichever Keras backend runs the tests (TensorFlow, JAX or PyTorch).

Nothing here imports a backend directly except through `keras.backend.backend()`, so the file is
collected everywhere: `KERAS_BACKEND=torch python -m pytest tests/whole/test_backend_agnostic.py
tests/whole/test_backends.py` runs it, and the import check, in an environment without TensorFlow.
"""

import keras
import numpy as np
import pytest

import lpips_tf

SIZE = 32  # AlexNet takes 31 px and up


# `import lpips_tf` off TensorFlow (no TensorFlow module, even after a call):
# tests/whole/test_backends.py::test_import_lpips_tf_loads_only_the_metric, one process per backend.


def _blocky_pairs(n, seed):
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(-1, 1, (n, SIZE // 4, SIZE // 4, 3))
    clean = np.repeat(np.repeat(coarse, 4, axis=1), 4, axis=2)
    noisy = np.clip(clean + 0.3 * rng.standard_normal(clean.shape), -1, 1)
    return noisy.astype(np.float32), clean.astype(np.float32)


# LPIPSLoss inside fit: tests/whole/test_agnostic.py::test_lpips_loss_trains_an_autoencoder_with_fit.


def _input_gradient(fn, x):
    """d sum(fn(x)) / dx with the running backend's autodiff, as numpy."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(fn(x))
        return tape.gradient(total, x).numpy()
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        return np.asarray(jax.grad(lambda v: jnp.sum(fn(v)))(jnp.asarray(x)))
    if backend == "torch":
        import torch

        v = torch.tensor(x, requires_grad=True)
        fn(v).sum().backward()
        return v.grad.cpu().numpy()
    pytest.skip(f"no autodiff on the {backend} backend")


def test_gradients_reach_the_images_and_match_finite_differences():
    model = lpips_tf.LPIPS(net="alex", trunk_weights=None)
    x, y = _blocky_pairs(2, seed=1)
    grad = _input_gradient(lambda v: model([v, y]), x)
    assert grad.shape == x.shape and np.all(np.isfinite(grad)) and np.abs(grad).max() > 0
    # Directional derivative against a central difference (float32: a loose tolerance).
    direction = np.random.default_rng(2).standard_normal(x.shape).astype(np.float32)
    direction /= np.linalg.norm(direction)
    eps = 1e-2

    def total(v):
        return float(np.sum(np.asarray(model([v, y]), np.float64)))

    numeric = (total(x + eps * direction) - total(x - eps * direction)) / (2 * eps)
    analytic = float(np.sum(grad.astype(np.float64) * direction))
    assert analytic == pytest.approx(numeric, rel=0.05, abs=1e-4)


def test_plain_call_returns_plain_values_and_matches_predict():
    # The plain call (fast path) must return something np.asarray takes on every backend (on
    # PyTorch: no tensor that requires grad) and agree with Keras' own traced call (predict).
    model = lpips_tf.LPIPS(net="squeeze", trunk_weights=None)
    x, y = _blocky_pairs(3, seed=3)
    plain = np.asarray(model([x, y]))
    np.testing.assert_allclose(plain, model.predict([x, y], verbose=0), rtol=0, atol=1e-6)
    as_uint8 = np.round((x + 1) * 127.5).astype(np.uint8)
    np.testing.assert_allclose(np.asarray(model([as_uint8, y])),
                               np.asarray(model([as_uint8.astype(np.float32) / 127.5 - 1, y])),
                               rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="NaN"):
        model([np.full_like(x, np.nan), y])


# API edges: an empty batch, a channels-first batch, the Keras metric given non-finite pixels.


@pytest.mark.parametrize("spatial", [False, True])
def test_an_empty_batch_gives_an_empty_result(spatial):
    model = lpips_tf.LPIPS(net="alex", trunk_weights=None, spatial=spatial)
    x, y = _blocky_pairs(2, seed=4)
    expected = (0, SIZE, SIZE, 1) if spatial else (0,)
    for out in (model([x[:0], y[:0]]), model([x[:0], y[:0]], training=False),
                model([x[:0].astype(np.uint8), y[:0]])):
        out = np.asarray(out)
        assert out.shape == expected and out.dtype == np.float32
    # Its shape is still checked.
    with pytest.raises(ValueError, match=r"3 \(RGB\) channels"):
        model([x[:0, ..., :1], y[:0, ..., :1]])
    with pytest.raises(ValueError, match="same shape"):
        model([x[:0], y[:1]])


def test_a_channels_first_batch_gets_a_hint():
    model = lpips_tf.LPIPS(net="alex", trunk_weights=None)
    x = np.zeros((2, 3, 64, 64), np.float32)
    with pytest.raises(ValueError, match=r"received 64 \(shape \(2, 3, 64, 64\)\)\. It looks "
                                         r"channels-first \(N, 3, H, W\).*"
                                         r"x\.transpose\(0, 2, 3, 1\)"):
        model([x, x])
    # A genuine channel mistake keeps its own hint.
    gray = np.zeros((2, 64, 64, 1), np.float32)
    with pytest.raises(ValueError, match="Grayscale input") as error:
        model([gray, gray])
    assert "channels-first" not in str(error.value)


def test_lpips_metric_propagates_non_finite_inputs():
    from lpips_tf.uses.metrics import LPIPSMetric

    metric = LPIPSMetric(net="alex", trunk_weights=None)
    x, y = _blocky_pairs(2, seed=5)
    metric.update_state(x, y)
    clean = float(metric.result())
    assert np.isfinite(clean) and clean > 0
    for bad in (np.nan, np.inf, -np.inf):
        for which in (0, 1):
            pair = [x.copy(), y.copy()]
            pair[which][1, 3, 4, 0] = bad
            metric.reset_state()
            metric.update_state(*pair, sample_weight=np.array([1.0, 0.0]))
            assert np.isnan(float(metric.result())), (bad, which)
    metric.reset_state()
    metric.update_state(x, y)
    assert float(metric.result()) == pytest.approx(clean, abs=1e-6)
    # Traced too: Keras' evaluate runs update_state compiled (tf.function / jax.jit / torch).
    inputs = keras.Input((SIZE, SIZE, 3))
    model = keras.Model(inputs, keras.layers.Identity()(inputs))
    model.compile(loss="mae", metrics=[LPIPSMetric(net="alex", trunk_weights=None)])
    poisoned = x.copy()
    poisoned[0, 0, 0, 0] = np.nan
    scores = model.evaluate(poisoned, y, batch_size=2, verbose=0, return_dict=True)
    assert np.isnan(scores["lpips"]), scores
    scores = model.evaluate(x, y, batch_size=2, verbose=0, return_dict=True)
    assert np.isfinite(scores["lpips"]) and scores["lpips"] > 0, scores
