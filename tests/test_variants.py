"""The variant registry (`lpips_tf.training.variants`)."""

import pytest

from lpips_tf import training


def test_variant_registry():
    expected = {"alex-lin", "vgg-lin", "squeeze-lin", "alex-cos", "vgg-cos", "squeeze-cos",
                "vgg-rand-cos", "alex-tune", "vgg-tune", "alex-scratch", "vgg-scratch"}
    assert set(training.VARIANTS) == expected
    for name, v in training.VARIANTS.items():
        assert v.name == name and v.description
        if name.endswith("-cos"):
            assert not v.lpips and not v.trains_distance
            assert "only the judgment network G" in v.description
        else:
            assert v.lpips and v.trains_distance
        assert v.tune_trunk == (name.endswith("-tune") or name.endswith("-scratch"))
        assert v.pretrained == (not name.endswith("-scratch") and name != "vgg-rand-cos")
    with pytest.raises(ValueError, match="Known variants: alex-cos"):
        training.get_variant("alex-linear")

