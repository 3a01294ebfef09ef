"""Parity with the official PyTorch `lpips` 0.1.4 package.

Golden values were computed once by `tools/make_golden.py` in a separate torch environment and are
committed in tests/golden/. Tolerances (float32): |d - d_official| <= 1e-5 for distances and
<= 1e-4 for spatial maps. Real-trunk cases read ../shared/weights and skip without it.
"""

import collections
import functools
import json

import numpy as np
import pytest

import lpips_tf
from lpips_tf.testing.random_weights import random_trunk_state_dict
from lpips_tf.data.images import load_image
from conftest import ROOT, real_trunk_path, shared_path

DISTANCE_ATOL = 1e-5
SPATIAL_ATOL = 1e-4
CASES = json.loads((ROOT / "tests" / "golden" / "golden.json").read_text())
SPATIAL = np.load(ROOT / "tests" / "golden" / "spatial.npz")


def _case_id(case):
    kind = "lpips" if case["lpips"] else "base"
    images = case["image0"].split("/")[-1][:-4] + "-" + case["image1"].split("/")[-1][:-4]
    return f"{case['net']}-v{case['version']}-{kind}-{case['trunk']}-{images}"


def stratified_sample(cases):
    """One golden case per (net, version, lpips) stratum, each taking the image pair the sample
    has used least so far, then the trunk weights (real or random) its net has used least (first
    in file order on ties), so that every image pair, size and kind of trunk appears too: what
    tests/whole/test_backends.py reruns on another backend."""
    strata = {}
    for case in cases:
        strata.setdefault((case["net"], case["version"], case["lpips"]), []).append(case)
    pair_uses, trunk_uses = collections.Counter(), collections.Counter()
    sample = []
    for members in strata.values():
        case = min(members, key=lambda c: (pair_uses[c["image0"], c["image1"]],
                                           trunk_uses[c["net"], c["trunk"]]))
        pair_uses[case["image0"], case["image1"]] += 1
        trunk_uses[case["net"], case["trunk"]] += 1
        sample.append(case)
    return sample


def _image(reference):
    if reference.startswith("shared:"):
        return load_image(shared_path(reference[len("shared:"):]))
    return load_image(ROOT / reference)


@functools.lru_cache(maxsize=None)
def _trunk_file(net, trunk, folder):
    if trunk == "real":
        return str(real_trunk_path(net))
    seed = int(trunk.split(":")[1])
    path = f"{folder}/{net}_seed{seed}.npz"
    np.savez(path, **random_trunk_state_dict(net, seed=seed))
    return path


@functools.lru_cache(maxsize=None)
def _model(net, version, lpips, trunk_file, spatial):
    return lpips_tf.LPIPS(net=net, version=version, lpips=lpips, spatial=spatial,
                          trunk_weights=trunk_file)


@pytest.fixture(scope="module")
def weights_folder(tmp_path_factory):
    return str(tmp_path_factory.mktemp("parity_trunks"))


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_matches_official(case, weights_folder):
    trunk_file = _trunk_file(case["net"], case["trunk"], weights_folder)
    x0, x1 = _image(case["image0"])[None], _image(case["image1"])[None]
    model = _model(case["net"], case["version"], case["lpips"], trunk_file, False)
    d = float(np.asarray(model([x0, x1]))[0])
    assert abs(d - case["distance"]) <= DISTANCE_ATOL, (d, case["distance"])
    if case.get("spatial_key"):
        spatial = _model(case["net"], case["version"], case["lpips"], trunk_file, True)
        stride = case.get("spatial_stride", 1)
        got = np.asarray(spatial([x0, x1]))[0, ::stride, ::stride, 0]
        expected = SPATIAL[case["spatial_key"]]
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=0, atol=SPATIAL_ATOL)


def test_reference_numbers_from_the_spec():
    """The numbers LPIPS_REFERENCE.md section 5 states, independent of golden.json."""
    trunk = str(real_trunk_path("alex"))
    ref, p0, p1 = (load_image(shared_path(f"images/ex_{n}.png"))[None] for n in ("ref", "p0", "p1"))
    for version, expected in (("0.1", (0.721881, 0.137566)), ("0.0", (0.405575, 0.083881))):
        model = _model("alex", version, True, trunk, False)
        got = (float(model([ref, p0])[0]), float(model([ref, p1])[0]))
        np.testing.assert_allclose(got, expected, atol=1e-6)
