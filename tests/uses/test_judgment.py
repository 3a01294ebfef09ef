"""The judgment network G, the 2AFC score, and the 2AFC model around one distance model
(`lpips_tf.uses.judgment`).

Trunks: seeded random AlexNet weights; data: the synthetic `dataset` of conftest.
"""

import numpy as np
import pytest
import keras

from lpips_tf import training
from lpips_tf.data import bapps

TRAIN = "train/traditional"


def _head_numpy(head, d0, d1):
    w = [np.asarray(v) for v in head.get_weights()]
    x = np.stack([d0, d1, d0 - d1, d0 / (d1 + 0.1), d1 / (d0 + 0.1)], axis=-1)
    for kernel, bias in ((w[0], w[1]), (w[2], w[3])):
        x = x @ kernel + bias
        x = np.where(x > 0, x, 0.2 * x)
    logit = (x @ w[4] + w[5])[:, 0]
    return 1.0 / (1.0 + np.exp(-logit))


def test_judgment_head_numbers_and_config_round_trip():
    keras.utils.set_random_seed(0)
    head = training.JudgmentHead(name="g")
    d0 = np.array([0.1, 0.5, 0.0, 2.0], np.float32)
    d1 = np.array([0.3, 0.5, 1.0, 0.2], np.float32)
    p = np.asarray(head([d0, d1]))
    assert p.shape == (4,) and np.all((p > 0) & (p < 1))
    np.testing.assert_allclose(p, _head_numpy(head, d0, d1), rtol=1e-5)

    config = head.get_config()
    assert (config["hidden_units"], config["negative_slope"], config["epsilon"]) == (32, 0.2, 0.1)
    clone = training.JudgmentHead.from_config(config)
    clone.build()
    clone.set_weights(head.get_weights())
    assert clone.get_config() == config
    np.testing.assert_allclose(np.asarray(clone([d0, d1])), p, rtol=1e-6)
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(head))
    assert isinstance(revived, training.JudgmentHead) and revived.get_config() == config



def test_two_afc_score_by_hand_including_ties():
    d0 = np.array([1.0, 2.0, 3.0, 3.0, 0.5], np.float32)
    d1 = np.array([2.0, 1.0, 3.0, 4.0, 0.5], np.float32)
    h = np.array([0.2, 0.6, 0.7, 1.0, 0.0], np.float32)
    # d0<d1: 1-h | d1<d0: h | tie: 0.5
    by_hand = [0.8, 0.6, 0.5, 0.0, 0.5]
    np.testing.assert_allclose(np.asarray(training.two_afc_scores(d0, d1, h)), by_hand, rtol=1e-6)

    metric = training.TwoAFCScore()
    distances = np.stack([d0, d1], axis=-1)
    metric.update_state(h[:2], distances[:2])
    metric.update_state(h[2:], distances[2:])
    assert float(metric.result()) == pytest.approx(np.mean(by_hand))
    from lpips_tf.evaluation.scoring import score_2afc

    assert float(metric.result()) == pytest.approx(score_2afc(d0, d1, h)[0])
    metric.reset_state()
    assert float(metric.result()) == 0.0
    metric.update_state(h, distances, sample_weight=np.array([1, 1, 0, 0, 0], np.float32))
    assert float(metric.result()) == pytest.approx(0.7)


def test_2afc_model_outputs_share_one_distance_model(random_trunk_file):
    distance = training.build_distance_model("alex-lin", random_trunk_file("alex"))
    model = training.build_2afc_model(distance, image_size=48)
    rng = np.random.default_rng(0)
    x = {k: rng.uniform(-1, 1, (3, 48, 48, 3)).astype(np.float32) for k in ("ref", "p0", "p1")}
    out = model(x, training=False)
    assert set(out) == {"judgment", "distances"}
    assert tuple(out["judgment"].shape) == (3,) and tuple(out["distances"].shape) == (3, 2)
    np.testing.assert_allclose(np.asarray(out["distances"][:, 0]),
                               np.asarray(distance([x["ref"], x["p0"]])), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(out["distances"][:, 1]),
                               np.asarray(distance([x["ref"], x["p1"]])), rtol=1e-5)
    # One shared distance model: its weights appear once.
    assert sum(w.name == "kernel" and "lin0" in w.path for w in model.weights) == 1


def test_short_fit_improves_the_loss_and_keeps_lin_weights_non_negative(dataset,
                                                                        random_trunk_file):
    keras.utils.set_random_seed(0)
    distance = training.build_distance_model("alex-lin", random_trunk_file("alex"))
    model = training.build_2afc_model(distance, image_size=64, learning_rate=3e-3)
    initial = np.concatenate(distance.get_lin_weights())
    train_ds = bapps.twoafc_dataset(dataset, [TRAIN], batch_size=25, shuffle=True, seed=0)
    before = model.evaluate(train_ds, verbose=0, return_dict=True)
    history = model.fit(train_ds, epochs=4, verbose=0, shuffle=False)
    after = model.evaluate(train_ds, verbose=0, return_dict=True)
    assert set(history.history) == {"loss", "two_afc"}
    assert after["loss"] < before["loss"] - 1e-3, (before, after)
    lin = np.concatenate(distance.get_lin_weights())
    assert np.all(lin >= 0.0)
    assert not np.allclose(lin, initial)
