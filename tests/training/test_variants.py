"""The variant registry (`lpips_tf.training.variants`)."""

import pytest

from lpips_tf import training


def test_variant_registry():
    expected = {"alex-lin", "vgg-lin", "squeeze-lin", "alex-cos", "vgg-cos", "squeeze-cos",
                "vgg-rand-cos", "alex-tune", "vgg-tune", "alex-scratch", "vgg-scratch",
                # The seed brief's shallow models.
                "vgg2-lin", "vgg2-cos", "alex4-lin", "alex4-cos"}
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
        assert v.taps == {"vgg2": 2, "alex4": 4}.get(name.split("-")[0])
        assert v.cacheable == (not v.tune_trunk)
    with pytest.raises(ValueError, match="Known variants: alex-cos"):
        training.get_variant("alex-linear")

