"""The learning-rate schedule (`lpips_tf.uses.schedule`)."""

import numpy as np
import pytest
import keras

from lpips_tf import training


def test_linear_decay_schedule_matches_the_official_staircase():
    s = training.LinearDecaySchedule(1e-4, steps_per_epoch=10, epochs=5, epochs_decay=5)
    # Official: epochs 1..6 (1-based) at lr, then lr drops by lr/5 after each epoch.
    steps = [0, 9, 50, 59, 60, 69, 70, 99, 100, 10_000]
    expected = [1, 1, 1, 1, 0.8, 0.8, 0.6, 0.2, 0.0, 0.0]
    got = [float(s(step)) for step in steps]
    np.testing.assert_allclose(got, np.array(expected) * 1e-4, rtol=1e-6, atol=1e-12)

    smooth = training.LinearDecaySchedule(1e-4, 10, 5, 5, staircase=False)
    np.testing.assert_allclose([float(smooth(x)) for x in (50, 75, 100)], [1e-4, 0.5e-4, 0.0],
                               rtol=1e-6, atol=1e-12)
    constant = training.LinearDecaySchedule(1e-3, 10, 5, 0)
    assert float(constant(10_000)) == pytest.approx(1e-3)

    revived = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(s))
    assert isinstance(revived, training.LinearDecaySchedule)
    assert revived.get_config() == s.get_config()
    with pytest.raises(ValueError, match="steps_per_epoch"):
        training.LinearDecaySchedule(1e-4, 0, 5, 5)

