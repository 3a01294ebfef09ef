"""Golden LPIPS values from the official PyTorch implementation, for the TensorFlow parity tests.

Run from the repository root, in a PyTorch environment (never the TensorFlow one: torch and
tensorflow must not share a process); about 40 seconds on two CPU cores:

    python -m venv torchenv && torchenv/bin/pip install torch==2.14.1 torchvision==0.29.1 lpips==0.1.4 tqdm keras==3.15.1
    torchenv/bin/pip install scikit-image      # only for tools/make_test_photos.py
    /work/torchenv/bin/python tools/make_golden.py

Everything is computed by the official `lpips.LPIPS` class (lpips 0.1.4), never re-implemented here;
its lin weights are the v0.1 / v0.0 files shipped inside the `lpips` wheel and loaded by the class
itself. Trunk weights are not downloaded: each model is built with `pnet_rand=True` and then given,
with a strict load into its trunk slices,
  - "real": the torchvision ImageNet trunks in ../shared/weights (alex, squeeze), or
  - "random:<seed>": `lpips_tf/_random_weights.random_trunk_state_dict(net, seed)` (vgg, alex,
    squeeze), which the TF tests load into the Keras trunks too.
Images are RGB uint8 files turned into NCHW float32 in [-1, 1] by the official `lpips.im2tensor`
(x / 127.5 - 1, computed in float64, then cast). float32, CPU, 2 threads, eval mode, no_grad.

Outputs:
  tests/golden/golden.json   a list of cases, each
      {"net": "alex" | "vgg" | "squeeze", "version": "0.1" | "0.0", "lpips": bool,
       "trunk": "real" | "random:<seed>",
       "image0": path, "image1": path,     # "shared:images/x.png" = ../shared/images/x.png,
                                           # otherwise relative to the repository root
       "distance": float,                  # spatial=False output, the float32 value exactly
       "per_layer": [float, ...],          # the per-tap terms that sum to distance (retPerLayer)
       "spatial_key": str | null,          # array name in spatial.npz
       "spatial_stride": int}              # 1: full H x W map; 8: map[::8, ::8] (H or W > 128)
  tests/golden/spatial.npz   spatial=True output maps, float32, (H, W) or strided.

The script fails loudly (before writing anything) if the official reference numbers of
../shared/reference/LPIPS_REFERENCE.md section 5 are not reproduced to 1e-6.
"""

import json
import os
import sys

import lpips
import numpy as np
import torch
from PIL import Image
from torchvision import models as tv

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from official_trunk import load_trunk  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
OUT_DIR = os.path.join(ROOT, "tests", "golden")

REAL_TRUNK_FILES = {
    "alex": "weights/alexnet_features.pth",
    "squeeze": "weights/squeezenet1_1_features.pth",
}
TV_FEATURES = {
    "alex": lambda: tv.alexnet(weights=None).features,
    "vgg": lambda: tv.vgg16(weights=None).features,
    "squeeze": lambda: tv.squeezenet1_1(weights=None).features,
}
RANDOM_SEED = 0
# Maps bigger than this on either side are stored subsampled, to keep the npz small.
FULL_MAP_MAX_SIDE = 128
STRIDE = 8

EX = [f"shared:images/ex_{n}.png" for n in ("ref", "p0", "p1")]
PHOTOS = "lpips_tf/data/photos/"
EXAMPLE_PAIRS = [(EX[0], EX[1]), (EX[0], EX[2])]
PHOTO_97x131_PAIRS = [
    (PHOTOS + "astronaut_97x131.png", PHOTOS + "coffee_97x131.png"),
    (PHOTOS + "astronaut_97x131.png", PHOTOS + "astronaut_97x131_noise.png"),
]
REAL_PAIRS = EXAMPLE_PAIRS + PHOTO_97x131_PAIRS + [
    (PHOTOS + "coffee_384x512.png", PHOTOS + "rocket_384x512.png"),
    (PHOTOS + "astronaut_64.png", PHOTOS + "coffee_64.png"),
    (PHOTOS + "chelsea_256.png", PHOTOS + "rocket_256.png"),
    (PHOTOS + "chelsea_256.png", PHOTOS + "chelsea_256_blur.png"),
]
RANDOM_PAIRS = EXAMPLE_PAIRS + PHOTO_97x131_PAIRS

# (net, trunk) -> image pairs; every one is run with versions 0.1 and 0.0, lpips True and False.
PLAN = [
    ("alex", "real", REAL_PAIRS),
    ("squeeze", "real", REAL_PAIRS),
    ("vgg", f"random:{RANDOM_SEED}", RANDOM_PAIRS),
    ("alex", f"random:{RANDOM_SEED}", RANDOM_PAIRS),
    ("squeeze", f"random:{RANDOM_SEED}", RANDOM_PAIRS),
]
VERSIONS = ("0.1", "0.0")

# LPIPS_REFERENCE.md section 5: (net, version) -> (d(ex_ref, ex_p0), d(ex_ref, ex_p1)), real trunk, lpips.
REFERENCE = {
    ("alex", "0.1"): (0.721881, 0.137566),
    ("alex", "0.0"): (0.405575, 0.083881),
    ("squeeze", "0.1"): (0.711048, 0.147902),
}
REFERENCE_TOL = 1e-6


# lpips_tf on Keras' torch backend, for its seeded random trunks: TensorFlow must not load beside
# torch (the reference environment needs `keras` installed for this).
os.environ["KERAS_BACKEND"] = "torch"
sys.path.insert(0, ROOT)
from lpips_tf.testing import random_weights as RW  # noqa: E402


def resolve(path):
    if path.startswith("shared:"):
        return os.path.join(SHARED, path[len("shared:"):])
    return os.path.join(ROOT, path)


def load_image(path):
    """RGB uint8 file -> (1, 3, H, W) float32 in [-1, 1], as the official package does.

    The official `lpips.load_image` reads with cv2 (BGR -> RGB); Pillow gives the same RGB pixels for
    PNG and does not need OpenCV.
    """
    image = np.asarray(Image.open(resolve(path)).convert("RGB"))
    assert image.dtype == np.uint8 and image.ndim == 3, (path, image.shape, image.dtype)
    tensor = lpips.im2tensor(image)
    assert tensor.dtype == torch.float32
    return tensor


def check_param_shapes():
    """TRUNK_PARAM_SHAPES must be exactly torchvision's `.features` parameters."""
    for net, build in TV_FEATURES.items():
        actual = {f"features.{k}": tuple(v.shape) for k, v in build().state_dict().items()}
        expected = {k: tuple(v) for k, v in RW.TRUNK_PARAM_SHAPES[net].items()}
        if actual != expected:
            raise SystemExit(f"TRUNK_PARAM_SHAPES[{net!r}] differs from torchvision: "
                             f"{sorted(set(actual.items()) ^ set(expected.items()))}")


def trunk_state_dict(net, trunk):
    if trunk == "real":
        state = torch.load(os.path.join(SHARED, REAL_TRUNK_FILES[net]), map_location="cpu")
        return {k: v.float() for k, v in state.items()}
    seed = int(trunk.split(":")[1])
    return {k: torch.from_numpy(v) for k, v in RW.random_trunk_state_dict(net, seed).items()}


def check_lin_weights(model, net, version):
    """The official loader is non-strict: make sure the shipped lin weights really were loaded."""
    path = os.path.join(os.path.dirname(lpips.__file__), "weights", f"v{version}", f"{net}.pth")
    shipped = torch.load(path, map_location="cpu")
    assert len(shipped) == len(model.lins), (path, list(shipped))
    for k, lin in enumerate(model.lins):
        assert torch.equal(lin.model[-1].weight, shipped[f"lin{k}.model.1.weight"]), (path, k)


def build(net, version, use_lpips, spatial, trunk_state):
    model = lpips.LPIPS(pretrained=True, net=net, version=version, lpips=use_lpips, spatial=spatial,
                        pnet_rand=True, verbose=False)
    load_trunk(model, trunk_state)
    if use_lpips:
        check_lin_weights(model, net, version)
    model.eval()
    assert not any(m.training for m in model.modules())
    return model


def stem(path):
    return os.path.splitext(os.path.basename(path))[0]


def main():
    torch.set_num_threads(2)
    torch.manual_seed(0)
    check_param_shapes()
    images = {}
    cases, maps = [], {}
    with torch.no_grad():
        for net, trunk, pairs in PLAN:
            state = trunk_state_dict(net, trunk)
            for version in VERSIONS:
                for use_lpips in (True, False):
                    plain = build(net, version, use_lpips, False, state)
                    spatial = build(net, version, use_lpips, True, state)
                    for path0, path1 in pairs:
                        for p in (path0, path1):
                            if p not in images:
                                images[p] = load_image(p)
                        in0, in1 = images[path0], images[path1]
                        assert in0.shape == in1.shape, (path0, path1)
                        dist, per_layer = plain(in0, in1, retPerLayer=True)
                        dist = dist.numpy().astype(np.float32).reshape(())
                        per_layer = [float(np.float32(t.numpy().reshape(()))) for t in per_layer]
                        smap = spatial(in0, in1).numpy().astype(np.float32)[0, 0]
                        h, w = smap.shape
                        assert (h, w) == tuple(in0.shape[2:]), (smap.shape, in0.shape)
                        stride = STRIDE if max(h, w) > FULL_MAP_MAX_SIDE else 1
                        key = "_".join([net, "v" + version, "lpips" if use_lpips else "base",
                                        trunk.replace(":", ""), stem(path0), stem(path1)])
                        assert key not in maps, key
                        maps[key] = np.ascontiguousarray(smap[::stride, ::stride])
                        cases.append({
                            "net": net,
                            "version": version,
                            "lpips": use_lpips,
                            "trunk": trunk,
                            "image0": path0,
                            "image1": path1,
                            "distance": float(dist),
                            "per_layer": per_layer,
                            "spatial_key": key,
                            "spatial_stride": stride,
                        })
                        print(f"{key}: {float(dist):.7f}  map {h}x{w} /{stride}", flush=True)

    check_reference(cases)
    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, "golden.json"), "w") as f:
        json.dump(cases, f, indent=1)
        f.write("\n")
    np.savez_compressed(os.path.join(OUT_DIR, "spatial.npz"), **maps)
    sizes = {n: os.path.getsize(os.path.join(OUT_DIR, n)) for n in ("golden.json", "spatial.npz")}
    print(f"{len(cases)} cases; {sizes}")


def check_reference(cases):
    found = 0
    for case in cases:
        expected = REFERENCE.get((case["net"], case["version"]))
        if (expected is None or case["trunk"] != "real" or not case["lpips"]
                or case["image0"] != EX[0] or case["image1"] not in EX[1:]):
            continue
        want = expected[EX.index(case["image1"]) - 1]
        got = case["distance"]
        print(f"reference {case['net']} v{case['version']} {stem(case['image1'])}: "
              f"got {got:.7f}, want {want:.6f}")
        if abs(got - want) > REFERENCE_TOL:
            raise SystemExit(f"Official reference not reproduced: {case['net']} v{case['version']} "
                             f"ex_ref vs {case['image1']}: got {got!r}, want {want} (tol {REFERENCE_TOL})")
        found += 1
    if found != 2 * len(REFERENCE):
        raise SystemExit(f"Expected {2 * len(REFERENCE)} reference cases, checked {found}")


if __name__ == "__main__":
    sys.exit(main())
