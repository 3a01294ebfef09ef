"""LPIPSMetric: a keras.metrics.Metric for compile(metrics=[...])."""

import keras
import numpy as np
import pytest

from lpips_tf.uses.metrics import LPIPSMetric

SIZE = 32  # AlexNet takes 31 px and up


def data(n=10, seed=0):
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(-1, 1, (n, SIZE // 4, SIZE // 4, 3))
    y = np.repeat(np.repeat(coarse, 4, axis=1), 4, axis=2)
    x = np.clip(y + 0.3 * rng.standard_normal(y.shape), -1, 1)
    return x.astype(np.float32), y.astype(np.float32)


def image_model():
    inputs = keras.Input((SIZE, SIZE, 3))
    outputs = keras.layers.Conv2D(3, 3, padding="same", activation="tanh")(inputs)
    return keras.Model(inputs, outputs)


def lpips_of(metric, y_true, y_pred):
    return np.asarray(metric.lpips_model([y_true, y_pred], training=False), np.float64)


def test_fit_and_evaluate_report_the_mean_lpips_over_the_dataset():
    x, y = data()
    metric = LPIPSMetric(net="alex", trunk_weights=None)
    net = image_model()
    net.compile(optimizer="adam", loss="mse", metrics=[metric])
    history = net.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["lpips"][0])
    # batch_size 4 over 10 images: uneven batches, so a mean of batch means would differ.
    result = net.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    expected = lpips_of(metric, y, net.predict(x, verbose=0)).mean()
    assert result["lpips"] == pytest.approx(expected, abs=1e-5)


def test_sum_reduction_sample_weight_and_reset():
    x, y = data(6, seed=1)
    mean_metric = LPIPSMetric(trunk_weights=None)
    d = lpips_of(mean_metric, y, x)
    mean_metric.update_state(y[:4], x[:4])
    mean_metric.update_state(y[4:], x[4:])
    assert float(mean_metric.result()) == pytest.approx(d.mean(), abs=1e-6)

    w = np.array([1, 0, 2, 0.5, 3, 1], np.float32)
    mean_metric.reset_state()
    assert float(mean_metric.result()) == 0.0
    mean_metric.update_state(y, x, sample_weight=w[:, None])  # (N, 1), as Keras passes it
    assert float(mean_metric.result()) == pytest.approx((d * w).sum() / w.sum(), abs=1e-6)

    sum_metric = LPIPSMetric(trunk_weights=None, reduction="sum")
    sum_metric.lpips_model.set_weights(mean_metric.lpips_model.get_weights())
    sum_metric.update_state(y, x, sample_weight=w)
    sum_metric.update_state(y[:2], x[:2], sample_weight=2.0)  # a scalar weight
    expected = (d * w).sum() + 2 * d[:2].sum()
    assert float(sum_metric.result()) == pytest.approx(expected, abs=1e-5)
    sum_metric.reset_state()
    assert float(sum_metric.result()) == 0.0


def test_metric_state_is_only_the_two_sums():
    metric = LPIPSMetric(trunk_weights=None)
    assert sorted(v.name for v in metric.variables) == ["count", "total"]
    assert not metric.lpips_model.trainable


def test_config_round_trip(random_trunk_file):
    metric = LPIPSMetric(net="alex", version="0.0", normalize=True,
                         trunk_weights=random_trunk_file("alex"), reduction="sum", name="perc")
    config = metric.get_config()
    clone = LPIPSMetric.from_config(config)
    assert clone.get_config() == config
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
    assert isinstance(revived, LPIPSMetric) and revived.get_config() == config
    x, y = data(3)
    x01, y01 = (x + 1) / 2, (y + 1) / 2
    for m in (metric, revived):
        m.update_state(y01, x01)
    assert float(revived.result()) == pytest.approx(float(metric.result()), abs=1e-6)


def test_saved_model_compiled_with_the_metric(tmp_path, random_trunk_file):
    # A trunk file, so that the metric rebuilt on loading has the same weights.
    x, y = data(4)
    net = image_model()
    net.compile(optimizer="adam", loss="mse",
                metrics=[LPIPSMetric(trunk_weights=random_trunk_file("alex"))])
    before = net.evaluate(x, y, batch_size=2, verbose=0, return_dict=True)
    net.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    after = loaded.evaluate(x, y, batch_size=2, verbose=0, return_dict=True)
    assert after["lpips"] == pytest.approx(before["lpips"], abs=1e-6)


def test_bad_reduction():
    with pytest.raises(ValueError, match="reduction must be one of"):
        LPIPSMetric(trunk_weights=None, reduction="median")
