"""keras.applications backbones and keras.Model instances as LPIPS trunks.

The distances are checked against the formula written out here from the application's own tap
outputs after its own `keras.applications.<family>.preprocess_input`: one backbone by name
(MobileNetV3Small, weights from a .weights.h5 file) and one instance (MobileNetV2 0.35, "tf"
scaling). Backend-agnostic: no TensorFlow import.
"""

import os

import numpy as np
import pytest
import keras

import lpips_tf
from lpips_tf.core.trunks import applications, get_trunk_module

SIZE = 40


def _images(seed=0, size=SIZE, n=2):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, (n, size, size, 3)).astype(np.float32) for _ in range(2)]


def _bilinear(image, height, width):
    """Half-pixel bilinear resize (torch's align_corners=False, no antialias) of (N, h, w, C)."""
    def axis(out, size):
        centre = np.clip((np.arange(out) + 0.5) * size / out - 0.5, 0, size - 1)
        low = np.floor(centre).astype(int)
        high = np.minimum(low + 1, size - 1)
        return low, high, centre - low

    y0, y1, fy = axis(height, image.shape[1])
    x0, x1, fx = axis(width, image.shape[2])
    rows = image[:, y0] * (1 - fy)[None, :, None, None] + image[:, y1] * fy[None, :, None, None]
    return rows[:, :, x0] * (1 - fx)[None, None, :, None] + rows[:, :, x1] * fx[None, None, :, None]


def _by_hand(tap_model, preprocess, x0, x1, lin=None, spatial=False):
    """LPIPS written out: preprocess 0..255 RGB, tap outputs, unit-normalise over channels,
    squared differences, lin weights (or channel sum), spatial mean (or upsampled map), sum."""
    def features(x):
        outputs = tap_model(preprocess((x.astype(np.float64) + 1) * 127.5).astype(np.float32))
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return [np.asarray(keras.ops.convert_to_numpy(f), np.float64) for f in outputs]

    total = 0.0
    for k, (f0, f1) in enumerate(zip(features(x0), features(x1))):
        n0 = f0 / (np.sqrt(np.sum(f0 ** 2, -1, keepdims=True)) + 1e-10)
        n1 = f1 / (np.sqrt(np.sum(f1 ** 2, -1, keepdims=True)) + 1e-10)
        difference = (n0 - n1) ** 2
        per_position = (difference @ lin[k])[..., None] if lin else difference.sum(-1, keepdims=True)
        total = total + (_bilinear(per_position, *x0.shape[1:3]) if spatial
                         else per_position.mean(axis=(1, 2))[:, 0])
    return total


@pytest.fixture(scope="module")
def mobilenet_v3_file(tmp_path_factory):
    """A MobileNetV3Small with seeded random weights, saved as .weights.h5, and that model."""
    keras.utils.set_random_seed(3)
    model = keras.applications.MobileNetV3Small(include_top=False, weights=None,
                                                input_shape=(None, None, 3))
    path = os.path.join(tmp_path_factory.mktemp("backbones"), "mobilenet_v3_small.weights.h5")
    model.save_weights(path)
    return path, model


def _application_taps(model, taps):
    """`model`'s layers at the positions of `taps` in the trunk's own fresh build (layer names
    that Keras numbers automatically differ between builds; positions do not)."""
    reference = get_trunk_module(model.name).reference
    order = [layer.name for layer in reference.layers]
    outputs = [model.layers[order.index(t)].output for t in taps]
    return keras.Model(model.inputs, outputs)


@pytest.mark.parametrize("lpips_on", [False, True], ids=["cos", "lin"])
@pytest.mark.parametrize("spatial", [False, True], ids=["distance", "map"])
def test_named_backbone_equals_formula(mobilenet_v3_file, lpips_on, spatial):
    path, app = mobilenet_v3_file
    model = lpips_tf.LPIPS(net="MobileNetV3Small", trunk_weights=path, lpips=lpips_on,
                           lin_weights=None, spatial=spatial)
    assert model.input_scaling == "raw"  # MobileNetV3 rescales inside; preprocess_input is as is
    lin = None
    if lpips_on:
        lin = [np.random.default_rng(k).uniform(0, 0.1, c) for k, c in enumerate(model.channels)]
        model.set_lin_weights(lin)
    x0, x1 = _images()
    want = _by_hand(_application_taps(app, model.taps),
                    keras.applications.mobilenet_v3.preprocess_input, x0, x1, lin, spatial)
    got = np.asarray(keras.ops.convert_to_numpy(model([x0, x1])), np.float64)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)


@pytest.fixture(scope="module")
def mobilenet_v2_instance():
    keras.utils.set_random_seed(5)
    return keras.applications.MobileNetV2(include_top=False, weights=None, alpha=0.35,
                                          input_shape=(None, None, 3))


@pytest.mark.parametrize("lpips_on", [False, True], ids=["cos", "lin"])
@pytest.mark.parametrize("spatial", [False, True], ids=["distance", "map"])
def test_instance_trunk_equals_formula(mobilenet_v2_instance, lpips_on, spatial):
    instance = mobilenet_v2_instance
    model = lpips_tf.LPIPS(net=instance, input_scaling="tf", lpips=lpips_on, lin_weights=None,
                           spatial=spatial, taps=(0, 2, 4))
    lin = None
    if lpips_on:
        lin = [np.random.default_rng(k).uniform(0, 0.1, c) for k, c in enumerate(model.channels)]
        model.set_lin_weights(lin)
    x0, x1 = _images(seed=1, size=48)
    taps = keras.Model(instance.inputs, [instance.get_layer(t).output for t in model.taps])
    want = _by_hand(taps, keras.applications.mobilenet_v2.preprocess_input, x0, x1, lin, spatial)
    got = np.asarray(keras.ops.convert_to_numpy(model([x0, x1])), np.float64)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)


def test_instance_uses_its_own_weights(mobilenet_v2_instance):
    model = lpips_tf.LPIPS(net=mobilenet_v2_instance, input_scaling="tf", lpips=False)
    first = mobilenet_v2_instance.get_layer("Conv1").kernel
    assert model.trunk.get_layer("Conv1").kernel is first  # the same variable, not a copy
    assert model.net == mobilenet_v2_instance.name


@pytest.mark.parametrize("name, scaling", [
    ("ResNet50", "caffe"), ("ResNet50V2", "tf"), ("MobileNetV2", "tf"),
    ("MobileNetV3Small", "raw"), ("EfficientNetB0", "raw"), ("DenseNet121", "torch"),
    ("ConvNeXtTiny", "raw"), ("VGG19", "caffe"), ("InceptionV3", "tf"), ("Xception", "tf")])
def test_input_scaling_read_from_preprocess_input(name, scaling):
    assert applications.detect_input_scaling(name) == scaling


@pytest.mark.parametrize("mode", applications.INPUT_SCALINGS)
def test_scaling_layer_matches_preprocess_conventions(mode):
    """[-1, 1] through ScalingLayer(mode) equals the convention applied to the same 0..255."""
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 3, 3)).astype(np.float32)
    got = keras.ops.convert_to_numpy(lpips_tf.core.layers.ScalingLayer(mode)(x))
    np.testing.assert_allclose(got, applications.scale_from_255((x + 1) * 127.5, mode),
                               rtol=1e-5, atol=1e-4)


def test_default_taps_strides_and_min_size_mobilenet_v3():
    model = lpips_tf.LPIPS(net="MobileNetV3Small", trunk_weights=None, lpips=False)
    assert model.taps == ("activation", "re_lu_2", "activation_1", "activation_11",
                          "activation_17")
    assert model.channels == (16, 72, 96, 288, 576)
    assert model.tap_strides == (2, 4, 8, 16, 32)
    assert model.min_input_size == 32
    x = np.zeros((1, 31, 40, 3), np.float32)
    with pytest.raises(ValueError, match=r"MobileNetV3Small trunk: height 31 < 32"):
        model([x, x])
    model([x[:, :, :32].repeat(2, 1)[:, :32], x[:, :, :32].repeat(2, 1)[:, :32]])


def test_builtin_tap_strides():
    assert lpips_tf.LPIPS(net="alex", trunk_weights=None).tap_strides == (4, 8, 16, 16, 16)


def test_minimum_size_of_valid_padding_net():
    """InceptionV3 pads nothing: its minimum comes from the layer arithmetic (75 px)."""
    assert get_trunk_module("InceptionV3").MIN_INPUT_SIZE == 75


def test_taps_by_name_count_and_errors():
    trunk = get_trunk_module("MobileNetV3Small")
    assert trunk.select_taps(2) == ("activation", "re_lu_2")
    assert trunk.select_taps("re_lu_2+activation_11") == ("re_lu_2", "activation_11")
    with pytest.raises(ValueError, match="no layer of that name"):
        trunk.select_taps(["nope"])
    with pytest.raises(ValueError, match="layer order"):
        trunk.select_taps(["activation_11", "re_lu_2"])
    with pytest.raises(ValueError, match="choose 1 to 5"):
        trunk.select_taps(6)


def test_clear_errors():
    with pytest.raises(ValueError, match="no official lin weights for the MobileNetV3Small"):
        lpips_tf.LPIPS(net="MobileNetV3Small", trunk_weights=None)
    with pytest.raises(ValueError, match="needs input_scaling="):
        lpips_tf.LPIPS(net=keras.Sequential([keras.Input((None, None, 3)),
                                             keras.layers.Conv2D(4, 3, activation="relu")]),
                       lpips=False)
    with pytest.raises(ValueError, match=r"\.weights\.h5"):
        lpips_tf.LPIPS(net="MobileNetV3Small", trunk_weights="x.pth", lpips=False)
    with pytest.raises(ValueError, match="net must be one of"):
        lpips_tf.LPIPS(net="ResNet5O")


def test_offline_imagenet_download_says_what_to_do(monkeypatch, tmp_path):
    from keras.src.utils import file_utils

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://example.invalid/x.h5: None -- offline")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(file_utils, "get_file", offline)
    with pytest.raises(lpips_tf.core.weights.WeightsDownloadError,
                       match=r"ImageNet weights for MobileNetV3Small .*trunk_weights=None"):
        lpips_tf.LPIPS(net="MobileNetV3Small", trunk_weights="imagenet", lpips=False)


def test_keras_round_trip_name_and_instance(tmp_path, mobilenet_v2_instance):
    x0, x1 = _images(seed=2)
    named = lpips_tf.LPIPS(net="MobileNetV3Small", trunk_weights=None, lin_weights=None,
                           taps=3)
    instance = lpips_tf.LPIPS(net=mobilenet_v2_instance, input_scaling="tf", lpips=False)
    for model in (named, instance):
        path = str(tmp_path / f"{model.name}.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
        assert loaded.taps == model.taps and loaded.input_scaling == model.input_scaling
        np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded([x0, x1])),
                                   keras.ops.convert_to_numpy(model([x0, x1])), rtol=1e-6,
                                   atol=1e-7)
    # the instance-built model saves its trunk (cut at its taps), not a reference to it
    assert isinstance(instance.get_config()["net"], dict)
