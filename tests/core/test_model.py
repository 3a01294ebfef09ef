"""LPIPS model behaviour: round trips, export, gradients, input checks (random trunks, offline)."""

import numpy as np
import pytest
import keras
import tensorflow as tf

import lpips_tf
from lpips_tf.core import layers as lpips_layers
from conftest import random_images


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    return random_images(rng, (2, 48, 56, 3)), random_images(rng, (2, 48, 56, 3))


def test_output_shapes(random_trunk_file, pair):
    x0, x1 = pair
    for spatial, shape in ((False, (2,)), (True, (2, 48, 56, 1))):
        model = lpips_tf.LPIPS(net="squeeze", spatial=spatial,
                               trunk_weights=random_trunk_file("squeeze"))
        assert tuple(model([x0, x1]).shape) == shape


def test_spatial_map_averages_to_distance(random_trunk_file, pair):
    # The map is an upsampled sum of per-tap maps; its mean is close to (not exactly) the distance.
    x0, x1 = pair
    path = random_trunk_file("alex")
    d = np.asarray(lpips_tf.LPIPS(net="alex", trunk_weights=path)([x0, x1]))
    m = np.asarray(lpips_tf.LPIPS(net="alex", trunk_weights=path, spatial=True)([x0, x1]))
    np.testing.assert_allclose(m.mean(axis=(1, 2, 3)), d, rtol=0.1)


def test_identical_images_have_zero_distance(alex, pair):
    x0, _ = pair
    np.testing.assert_allclose(np.asarray(alex([x0, x0])), 0.0, atol=1e-7)


def test_symmetric_and_batch_independent(alex, pair):
    x0, x1 = pair
    d01, d10 = np.asarray(alex([x0, x1])), np.asarray(alex([x1, x0]))
    np.testing.assert_allclose(d01, d10, rtol=1e-5)
    single = np.asarray(alex([x0[1:], x1[1:]]))
    np.testing.assert_allclose(single, d01[1:], rtol=1e-5)


def test_baseline_equals_twice_one_minus_cosine(random_trunk_file, pair):
    x0, x1 = pair
    model = lpips_tf.LPIPS(net="alex", lpips=False, trunk_weights=random_trunk_file("alex"))
    scaled = model.scaling(np.concatenate([x0, x1]))
    expected = 0.0
    for f in model.trunk(scaled):
        f = np.asarray(f, np.float64)
        a, b = f[:2], f[2:]
        cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
        expected = expected + (2 * (1 - cos)).mean(axis=(1, 2))
    np.testing.assert_allclose(np.asarray(model([x0, x1])), expected, rtol=1e-4)


def test_channel_stats_dot_lin_weights_is_distance(alex, pair):
    x0, x1 = pair
    stats = np.asarray(alex.channel_stats([x0, x1]))
    assert stats.shape == (2, sum(alex.channels))
    w = np.concatenate(alex.get_lin_weights())
    np.testing.assert_allclose(stats @ w, np.asarray(alex([x0, x1])), rtol=1e-5)


def test_normalize_and_uint8_inputs(random_trunk_file, pair):
    x0, x1 = pair
    path = random_trunk_file("alex")
    reference = np.asarray(lpips_tf.LPIPS(net="alex", trunk_weights=path)([x0, x1]))
    zero_one = lpips_tf.LPIPS(net="alex", trunk_weights=path, normalize=True)
    np.testing.assert_allclose(np.asarray(zero_one([(x0 + 1) / 2, (x1 + 1) / 2])), reference,
                               rtol=1e-5)
    u0 = np.round((x0 + 1) * 127.5).astype(np.uint8)
    u1 = np.round((x1 + 1) * 127.5).astype(np.uint8)
    from_uint8 = np.asarray(lpips_tf.LPIPS(net="alex", trunk_weights=path)([u0, u1]))
    expected = np.asarray(lpips_tf.LPIPS(net="alex", trunk_weights=path)(
        [u0 / 127.5 - 1, u1 / 127.5 - 1]))
    np.testing.assert_allclose(from_uint8, expected, rtol=1e-5)


def test_dropout_only_in_training(alex, pair):
    x0, x1 = pair
    inference = np.asarray(alex([x0, x1], training=False))
    np.testing.assert_array_equal(np.asarray(alex([x0, x1])), inference)
    trained = [np.asarray(alex([x0, x1], training=True)) for _ in range(3)]
    assert any(not np.allclose(t, inference) for t in trained)


def test_config_round_trip(alex, pair):
    x0, x1 = pair
    config = alex.get_config()
    clone = lpips_tf.LPIPS.from_config(config)
    assert clone.get_config() == config
    clone.set_weights(alex.get_weights())
    np.testing.assert_allclose(np.asarray(clone([x0, x1])), np.asarray(alex([x0, x1])), atol=1e-7)


@pytest.mark.parametrize("layer", [
    lpips_layers.ScalingLayer("caffe"), lpips_layers.ChannelNormalization(epsilon=1e-6),
    lpips_layers.NetLin(0.25), lpips_layers.CeilMaxPooling2D(3, 2),
])
def test_layer_config_round_trip(layer):
    clone = layer.__class__.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_keras_file_round_trip(alex, pair, tmp_path):
    x0, x1 = pair
    path = tmp_path / "alex.keras"
    alex.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, lpips_tf.LPIPS)
    np.testing.assert_allclose(np.asarray(loaded([x0, x1])), np.asarray(alex([x0, x1])), atol=1e-7)


def test_saved_model_export(alex, pair, tmp_path):
    x0, x1 = pair
    alex.export(str(tmp_path / "sm"))
    served = tf.saved_model.load(str(tmp_path / "sm")).signatures["serving_default"]
    out = served(image0=tf.constant(x0), image1=tf.constant(x1))["distance"]
    np.testing.assert_allclose(out.numpy(), np.asarray(alex([x0, x1])), atol=1e-6)
    rng = np.random.default_rng(5)
    y0, y1 = random_images(rng, (3, 64, 40, 3)), random_images(rng, (3, 64, 40, 3))
    out = served(image0=tf.constant(y0), image1=tf.constant(y1))["distance"]
    np.testing.assert_allclose(out.numpy(), np.asarray(alex([y0, y1])), atol=1e-6)


def test_ceil_mode_pooling_matches_torch_rule():
    x = np.arange(2 * 8 * 9 * 1, dtype=np.float32).reshape(2, 8, 9, 1) * -1.0
    out = np.asarray(lpips_layers.CeilMaxPooling2D(3, 2)(x))
    # torch: ceil((8 - 3) / 2) + 1 = 4 rows, ceil((9 - 3) / 2) + 1 = 4 columns.
    assert out.shape == (2, 4, 4, 1)
    # The last row window covers rows 6..7 only (row 8 is padding); values decrease, so the max is
    # the window's first element.
    np.testing.assert_array_equal(out[0, 3, 3, 0], x[0, 6, 6, 0])


def test_gradients_match_finite_differences(random_trunk_file):
    rng = np.random.default_rng(3)
    model = lpips_tf.LPIPS(net="alex", trunk_weights=random_trunk_file("alex"))
    x0 = random_images(rng, (1, 35, 37, 3)) * 0.5
    x1 = random_images(rng, (1, 35, 37, 3)) * 0.5
    direction = rng.standard_normal(x1.shape).astype(np.float32)
    direction /= np.linalg.norm(direction)
    x1_var = tf.Variable(x1)
    with tf.GradientTape() as tape:
        d = tf.reduce_sum(model([tf.constant(x0), x1_var]))
    grad = tape.gradient(d, x1_var).numpy()
    assert np.all(np.isfinite(grad))
    eps = 1e-2
    plus = float(np.sum(model([x0, x1 + eps * direction])))
    minus = float(np.sum(model([x0, x1 - eps * direction])))
    numeric = (plus - minus) / (2 * eps)
    analytic = float(np.sum(grad * direction))
    np.testing.assert_allclose(analytic, numeric, rtol=2e-2, atol=1e-4)


def test_loss_trains_towards_target(random_trunk_file):
    rng = np.random.default_rng(4)
    loss = lpips_tf.LPIPSLoss(net="alex", trunk_weights=random_trunk_file("alex"))
    target = random_images(rng, (2, 40, 40, 3)) * 0.8
    image = tf.Variable(random_images(rng, (2, 40, 40, 3)) * 0.8)
    before = float(loss(target, image))
    optimizer = keras.optimizers.Adam(0.05)
    for _ in range(10):
        with tf.GradientTape() as tape:
            value = loss(target, image)
        optimizer.apply_gradients([(tape.gradient(value, image), image)])
    assert float(loss(target, image)) < 0.7 * before
    assert loss.get_config()["net"] == "alex"


# ---------------------------------------------------------------------------------------------
# Bad input: clear errors, never a bare TensorFlow trace.
@pytest.mark.parametrize("make, message", [
    (lambda r: [random_images(r, (1, 40, 40, 3)), random_images(r, (1, 40, 48, 3))], "same shape"),
    (lambda r: [random_images(r, (1, 40, 40, 1))] * 2, "Grayscale"),
    (lambda r: [random_images(r, (1, 40, 40, 4))] * 2, "RGBA"),
    (lambda r: [random_images(r, (1, 20, 40, 3))] * 2, "too small"),
    (lambda r: [random_images(r, (40, 40, 3))] * 2, "4-D"),
    (lambda r: [np.full((1, 40, 40, 3), np.nan, np.float32)] * 2, "NaN"),
    (lambda r: [random_images(r, (1, 40, 40, 3)) * 127.5 + 127.5] * 2, "outside the expected"),
    (lambda r: [np.zeros((1, 40, 40, 3), np.int32)] * 2, "uint8"),
    (lambda r: [random_images(r, (1, 40, 40, 3))], "two image batches"),
])
def test_bad_input_raises_clear_error(alex, make, message):
    with pytest.raises(ValueError, match=message):
        alex(make(np.random.default_rng(0)))


def test_bad_input_inside_tf_function(alex):
    # In a graph the checks become assertions with the same messages.
    fn = tf.function(lambda a, b: alex([a, b]),
                     input_signature=[tf.TensorSpec([None, None, None, 3])] * 2)
    x = np.zeros((1, 40, 40, 3), np.float32)
    with pytest.raises(tf.errors.InvalidArgumentError, match="far above the expected range"):
        fn(x + 200.0, x)
    with pytest.raises(tf.errors.InvalidArgumentError, match="shapes differ"):
        fn(x, np.zeros((1, 40, 44, 3), np.float32))


@pytest.mark.parametrize("kwargs, message", [
    ({"net": "resnet"}, "net must be one of"),
    ({"version": "0.2"}, "version must be one of"),
    ({"net": "alex", "trunk_weights": "keras"}, "only for net='vgg'"),
    ({"trunk_weights": "/nonexistent/alex.pth"}, "not found"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        lpips_tf.LPIPS(**{"lin_weights": None, **kwargs})


def test_wrong_trunk_file_names_the_key(random_trunk_file, tmp_path):
    state = dict(np.load(random_trunk_file("alex")))
    del state["features.3.bias"]
    np.savez(tmp_path / "broken.npz", **state)
    with pytest.raises(ValueError, match=r"features\.3\.bias"):
        lpips_tf.LPIPS(net="alex", trunk_weights=str(tmp_path / "broken.npz"))
    with pytest.raises(ValueError, match=r"features\.0\.weight"):
        lpips_tf.LPIPS(net="squeeze", trunk_weights=random_trunk_file("alex"))


def test_caffe_scaling_matches_keras_vgg16_preprocessing():
    # trunk_weights="keras" feeds Keras' VGG16 weights what keras.applications expects.
    rng = np.random.default_rng(7)
    x = random_images(rng, (2, 5, 6, 3))
    expected = keras.applications.vgg16.preprocess_input((x + 1.0) * 127.5)
    got = np.asarray(lpips_layers.ScalingLayer("caffe")(x))
    np.testing.assert_allclose(got, expected, atol=1e-4)
    model = lpips_tf.LPIPS(net="vgg", trunk_weights=None, lin_weights=None, input_scaling="caffe")
    assert lpips_tf.LPIPS.from_config(model.get_config()).input_scaling == "caffe"
