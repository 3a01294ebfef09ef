"""The metric on whichever Keras backend runs the tests (TensorFlow, JAX or PyTorch).

Nothing here imports a backend directly except through `keras.backend.backend()`, so the file is
collected everywhere: `KERAS_BACKEND=torch python -m pytest tests/test_backend_agnostic.py
tests/test_backends.py` runs it, and the import check, in an environment without TensorFlow.
"""

import keras
import numpy as np
import pytest

import lpips_tf

SIZE = 32  # AlexNet takes 31 px and up


# `import lpips_tf` off TensorFlow (no TensorFlow module, even after a call):
# tests/test_backends.py::test_import_lpips_tf_loads_only_the_metric, one process per backend.


def _blocky_pairs(n, seed):
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(-1, 1, (n, SIZE // 4, SIZE // 4, 3))
    clean = np.repeat(np.repeat(coarse, 4, axis=1), 4, axis=2)
    noisy = np.clip(clean + 0.3 * rng.standard_normal(clean.shape), -1, 1)
    return noisy.astype(np.float32), clean.astype(np.float32)


# LPIPSLoss inside fit: tests/test_agnostic.py::test_lpips_loss_trains_an_autoencoder_with_fit.


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
