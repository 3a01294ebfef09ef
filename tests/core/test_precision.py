"""The mixed_bfloat16 dtype policy: bfloat16 trunk, float32 head, close to float32.

Tolerance: |d_bf16 - d_fp32| <= BF16_ATOL + BF16_RTOL * d_fp32 per pair. Measured on the test photos
and example images (random and real trunks), the largest difference was 1.5e-3 (real SqueezeNet,
d = 0.31) and the largest relative one 0.9% (random SqueezeNet, d = 0.006); benchmarks/README.md
has the error over generated 2AFC triplets.
"""

import numpy as np
import pytest
import keras
import tensorflow as tf

import lpips_tf
from lpips_tf.core.compiled import compiled_distance_fn
from lpips_tf.data.images import load_image
from conftest import ROOT, random_images, real_trunk_path, shared_path

BF16_ATOL = 3e-3
BF16_RTOL = 0.01
PHOTOS = ROOT / "lpips_tf" / "data" / "photos"
PHOTO_PAIRS = [
    ("astronaut_97x131", "coffee_97x131"),
    ("astronaut_97x131", "astronaut_97x131_noise"),
    ("chelsea_256", "chelsea_256_blur"),
    ("astronaut_64", "coffee_64"),
]


def _photo(name):
    return load_image(PHOTOS / f"{name}.png")[None]


def _assert_close_to_float32(d16, d32):
    d16, d32 = np.asarray(d16), np.asarray(d32)
    assert d16.dtype == np.float32
    np.testing.assert_allclose(d16, d32, rtol=BF16_RTOL, atol=BF16_ATOL)


def _pair_of_models(net, trunk, **kwargs):
    return (lpips_tf.LPIPS(net=net, trunk_weights=trunk, **kwargs),
            lpips_tf.LPIPS(net=net, trunk_weights=trunk, dtype="mixed_bfloat16", **kwargs))


@pytest.mark.parametrize("net", ["alex", "vgg", "squeeze"])
def test_bf16_close_to_float32_on_photos(net, random_trunk_file):
    m32, m16 = _pair_of_models(net, random_trunk_file(net))
    compiled16 = compiled_distance_fn(m16)
    for a, b in PHOTO_PAIRS:
        x0, x1 = _photo(a), _photo(b)
        d32 = m32([x0, x1])
        _assert_close_to_float32(m16([x0, x1]), d32)
        _assert_close_to_float32(compiled16(x0, x1), d32)


@pytest.mark.parametrize("net", ["alex", "squeeze"])
def test_bf16_close_to_float32_real_trunk(net):
    m32, m16 = _pair_of_models(net, str(real_trunk_path(net)))
    ref, p0, p1 = (load_image(shared_path(f"images/ex_{n}.png"))[None] for n in ("ref", "p0", "p1"))
    pairs = [(ref, p0), (ref, p1)] + [(_photo(a), _photo(b)) for a, b in PHOTO_PAIRS]
    for x0, x1 in pairs:
        _assert_close_to_float32(m16([x0, x1]), m32([x0, x1]))


def test_bf16_spatial_map_close_to_float32(random_trunk_file):
    m32, m16 = _pair_of_models("alex", random_trunk_file("alex"), spatial=True)
    x0, x1 = _photo("astronaut_97x131"), _photo("coffee_97x131")
    map16, map32 = m16([x0, x1]), m32([x0, x1])
    assert map16.dtype == tf.float32 and map16.shape == map32.shape == (1, 97, 131, 1)
    np.testing.assert_allclose(np.asarray(map16), np.asarray(map32), rtol=0.05, atol=5e-3)


def test_trunk_computes_in_bf16_head_in_float32(random_trunk_file):
    before = keras.config.dtype_policy().name
    model = lpips_tf.LPIPS(net="vgg", trunk_weights=random_trunk_file("vgg"),
                           dtype="mixed_bfloat16")
    assert keras.config.dtype_policy().name == before  # the global policy is left as it was
    assert model.dtype_policy.name == "mixed_bfloat16"
    convs = [layer for layer in model.trunk.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 13
    for layer in convs:
        assert layer.compute_dtype == "bfloat16"
        assert all(w.dtype == "float32" for w in layer.weights)
    for layer in [model.scaling, model.normalization, model.squared_difference,
                  model.spatial_average, model.upsample] + model.lins:
        assert layer.compute_dtype == "float32", layer.name
    x = random_images(np.random.default_rng(0), (2, 32, 32, 3))
    features = model.trunk(model.scaling(x))
    assert all(f.dtype == tf.bfloat16 for f in features)
    assert model([x, x[::-1]]).dtype == tf.float32


def test_follows_a_global_mixed_policy(random_trunk_file):
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = lpips_tf.LPIPS(net="alex", trunk_weights=random_trunk_file("alex"))
    finally:
        keras.config.set_dtype_policy("float32")
    assert model.dtype_policy.name == "mixed_bfloat16"
    assert model.get_layer("alexnet").get_layer("conv1").compute_dtype == "bfloat16"
    assert model.lins[0].compute_dtype == "float32"
    assert model.lins[0].dropout.compute_dtype == "float32"
    x = random_images(np.random.default_rng(1), (1, 40, 40, 3))
    assert model([x, x * 0.5]).dtype == tf.float32


def test_uint8_and_normalize_inputs_under_bf16(random_trunk_file):
    path = random_trunk_file("alex")
    rng = np.random.default_rng(2)
    u0 = rng.integers(0, 256, (2, 40, 40, 3), dtype=np.uint8)
    u1 = rng.integers(0, 256, (2, 40, 40, 3), dtype=np.uint8)
    m16 = lpips_tf.LPIPS(net="alex", trunk_weights=path, dtype="mixed_bfloat16")
    from_uint8 = np.asarray(m16([u0, u1]))
    from_float = np.asarray(m16([u0 / 127.5 - 1, u1 / 127.5 - 1]))
    np.testing.assert_allclose(from_uint8, from_float, rtol=1e-6)
    zero_one = lpips_tf.LPIPS(net="alex", trunk_weights=path, dtype="mixed_bfloat16",
                              normalize=True)
    np.testing.assert_allclose(np.asarray(zero_one([u0 / 255.0, u1 / 255.0])), from_float,
                               rtol=1e-2, atol=1e-4)


def test_config_round_trip_keeps_the_policy(random_trunk_file):
    model = lpips_tf.LPIPS(net="squeeze", trunk_weights=random_trunk_file("squeeze"),
                           dtype="mixed_bfloat16")
    config = model.get_config()
    assert config["dtype"] == "mixed_bfloat16"
    clone = lpips_tf.LPIPS.from_config(config)
    assert clone.get_config() == config
    assert clone.dtype_policy.name == "mixed_bfloat16"
    assert clone.trunk.get_layer("conv1").compute_dtype == "bfloat16"
    clone.set_weights(model.get_weights())
    x = random_images(np.random.default_rng(3), (2, 33, 35, 3))
    np.testing.assert_array_equal(np.asarray(clone([x, x[::-1]])), np.asarray(model([x, x[::-1]])))
    assert lpips_tf.LPIPS(net="alex", lin_weights=None, trunk_weights=None).get_config()[
        "dtype"] == "float32"


def test_keras_file_round_trip_keeps_the_policy(random_trunk_file, tmp_path):
    model = lpips_tf.LPIPS(net="alex", trunk_weights=random_trunk_file("alex"),
                           dtype="mixed_bfloat16")
    model.save(tmp_path / "alex_bf16.keras")
    loaded = keras.saving.load_model(tmp_path / "alex_bf16.keras")
    assert loaded.dtype_policy.name == "mixed_bfloat16"
    assert all(w.dtype == "float32" for w in loaded.weights)
    x = random_images(np.random.default_rng(4), (2, 40, 40, 3))
    np.testing.assert_array_equal(np.asarray(loaded([x, x[::-1]])),
                                  np.asarray(model([x, x[::-1]])))


def test_saved_model_export_of_a_bf16_model(random_trunk_file, tmp_path):
    model = lpips_tf.LPIPS(net="alex", trunk_weights=random_trunk_file("alex"),
                           dtype="mixed_bfloat16")
    model.export(str(tmp_path / "sm"))
    served = tf.saved_model.load(str(tmp_path / "sm")).signatures["serving_default"]
    compiled = compiled_distance_fn(model)
    rng = np.random.default_rng(5)
    for shape in [(2, 48, 56, 3), (3, 64, 40, 3)]:
        x0, x1 = random_images(rng, shape), random_images(rng, shape)
        out = served(image0=tf.constant(x0), image1=tf.constant(x1))["distance"]
        assert out.dtype == tf.float32
        # The same graph as compiled_distance_fn; the eager call rounds differently (fusion).
        np.testing.assert_allclose(out.numpy(), compiled(x0, x1).numpy(), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(out.numpy(), np.asarray(model([x0, x1])), rtol=BF16_RTOL,
                                   atol=BF16_ATOL)


def test_gradients_under_bf16_follow_float32(random_trunk_file):
    # Training through the metric (LPIPS as a loss) in bfloat16: float32 gradients that point the
    # same way as the float32 model's.
    path = random_trunk_file("alex")
    rng = np.random.default_rng(6)
    x0 = random_images(rng, (1, 48, 48, 3)) * 0.5
    x1 = tf.Variable(random_images(rng, (1, 48, 48, 3)) * 0.5)
    grads = []
    for dtype in ("float32", "mixed_bfloat16"):
        model = lpips_tf.LPIPS(net="alex", trunk_weights=path, dtype=dtype)
        with tf.GradientTape() as tape:
            d = tf.reduce_sum(model([x0, x1]))
        grads.append(tape.gradient(d, x1))
    g32, g16 = (g.numpy().ravel() for g in grads)
    assert grads[1].dtype == tf.float32 and np.all(np.isfinite(g16))
    cosine = g16 @ g32 / (np.linalg.norm(g16) * np.linalg.norm(g32))
    assert cosine > 0.95, cosine
