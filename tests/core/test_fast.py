"""lpips_tf.core.compiled: the compiled distance function (float32 and mixed_bfloat16)."""

import numpy as np
import pytest
import tensorflow as tf

import lpips_tf
from lpips_tf.core.compiled import compiled_distance_fn
from conftest import random_images


def test_matches_the_model_without_retracing(alex):
    distance = compiled_distance_fn(alex)
    rng = np.random.default_rng(0)
    for shape in [(1, 40, 40, 3), (5, 40, 40, 3), (2, 64, 48, 3), (3, 97, 131, 3)]:
        x0, x1 = random_images(rng, shape), random_images(rng, shape)
        got = distance(x0, x1)
        assert got.dtype == tf.float32 and got.shape == (shape[0],)
        np.testing.assert_allclose(got.numpy(), np.asarray(alex([x0, x1])), rtol=1e-5, atol=1e-7)
    assert distance.experimental_get_tracing_count() == 1


def test_uint8_inputs(alex):
    distance = compiled_distance_fn(alex, input_dtype=tf.uint8)
    rng = np.random.default_rng(1)
    u0 = rng.integers(0, 256, (2, 40, 40, 3), dtype=np.uint8)
    u1 = rng.integers(0, 256, (2, 40, 40, 3), dtype=np.uint8)
    np.testing.assert_allclose(distance(u0, u1).numpy(), np.asarray(alex([u0, u1])), rtol=1e-5)
    with pytest.raises(ValueError, match="input_dtype"):
        compiled_distance_fn(alex, input_dtype=tf.int32)


def test_xla_matches(alex):
    distance = compiled_distance_fn(alex, jit_compile=True)
    rng = np.random.default_rng(2)
    x0, x1 = random_images(rng, (2, 48, 56, 3)), random_images(rng, (2, 48, 56, 3))
    np.testing.assert_allclose(distance(x0, x1).numpy(), np.asarray(alex([x0, x1])),
                               rtol=1e-4, atol=1e-7)


def test_spatial_and_bf16_models(random_trunk_file):
    rng = np.random.default_rng(3)
    x0, x1 = random_images(rng, (2, 40, 44, 3)), random_images(rng, (2, 40, 44, 3))
    spatial = lpips_tf.LPIPS(net="squeeze", trunk_weights=random_trunk_file("squeeze"),
                             spatial=True)
    out = compiled_distance_fn(spatial)(x0, x1)
    assert out.shape == (2, 40, 44, 1)
    np.testing.assert_allclose(out.numpy(), np.asarray(spatial([x0, x1])), rtol=1e-5, atol=1e-6)
    bf16 = lpips_tf.LPIPS(net="alex", trunk_weights=random_trunk_file("alex"),
                          dtype="mixed_bfloat16")
    out = compiled_distance_fn(bf16)(x0, x1)
    assert out.dtype == tf.float32
    # Not bit-equal to the eager call in bfloat16: the graph fuses convolution, bias and ReLU, so
    # the bias is added before the one rounding to bfloat16 instead of after it.
    np.testing.assert_allclose(out.numpy(), np.asarray(bf16([x0, x1])), rtol=1e-2, atol=1e-3)


def test_input_checks_still_apply(alex):
    distance = compiled_distance_fn(alex)
    x = np.zeros((1, 40, 40, 3), np.float32)
    with pytest.raises(tf.errors.InvalidArgumentError, match="far above the expected range"):
        distance(x + 200.0, x)
    with pytest.raises(tf.errors.InvalidArgumentError, match="shapes differ"):
        distance(x, np.zeros((1, 40, 44, 3), np.float32))


# ------------------------------------------------------------------------------------------------
# The plain call of NumPy input reads nothing back: its values are checked on the host.

BAD_VALUES = [
    ("nan", lambda x: np.where(x > 0.5, np.nan, x).astype(np.float32), {}),
    ("inf", lambda x: np.where(x > 0.5, np.inf, x).astype(np.float32), {}),
    ("high", lambda x: x + 200.0, {}),
    ("low", lambda x: x - 3.0, {}),
    ("unit_range", lambda x: x * 2.0 + 1.5, {"normalize": True}),
    ("float64", lambda x: (x * 3.0).astype(np.float64), {}),
]


@pytest.mark.parametrize("name, corrupt, kwargs", BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
@pytest.mark.parametrize("which", [0, 1])
def test_host_and_device_inputs_raise_the_same_errors(name, corrupt, kwargs, which,
                                                      random_trunk_file):
    model = lpips_tf.LPIPS(net="alex", trunk_weights=random_trunk_file("alex"), **kwargs)
    x = random_images(np.random.default_rng(4), (2, 40, 40, 3))
    if kwargs.get("normalize"):
        x = (x + 1.0) / 2.0
    pair = [x, x.copy()]
    pair[which] = corrupt(pair[which])
    messages = []
    for inputs in (pair, [tf.convert_to_tensor(p) for p in pair]):
        with pytest.raises(ValueError) as error:
            model(inputs)
        messages.append(str(error.value))
    assert messages[0] == messages[1]
    assert messages[0].startswith(f"image{which} ")


def test_numpy_input_reads_nothing_back(alex, monkeypatch):
    """NumPy input: the compiled call returns the device tensor and never converts a result to
    NumPy (the flag path does, which is what keeps a GPU waiting)."""
    import keras

    rng = np.random.default_rng(5)
    x0, x1 = random_images(rng, (3, 40, 40, 3)), random_images(rng, (3, 40, 40, 3))
    expected = np.asarray(alex([tf.convert_to_tensor(x0), tf.convert_to_tensor(x1)]))
    reads = []
    original = keras.ops.convert_to_numpy
    monkeypatch.setattr(keras.ops, "convert_to_numpy", lambda x: reads.append(x) or original(x))
    out = alex([x0, x1])
    assert reads == [] and isinstance(out, tf.Tensor)
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-7)
    # Device tensors keep the in-graph flag, read back once per call.
    alex([tf.convert_to_tensor(x0), tf.convert_to_tensor(x1)])
    assert len(reads) == 1
