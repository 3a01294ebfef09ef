"""Golden ST-LPIPS values from the authors' PyTorch package, for the ST-LPIPS parity tests.

Run from the repository root, in a PyTorch virtual environment of its own (never the TensorFlow
one: torch and tensorflow must not share a process), with `lpips` 0.1.4 for the LPIPS shift
numbers; about a minute on two CPU cores:

    pip install torch lpips==0.1.4 stlpips-pytorch==0.0.2 IPython torchsummary  # it imports both
    python tools/make_stlpips_golden.py

Everything is computed by `stlpips_pytorch.stlpips.LPIPS(net=..., variant="shift_tolerant")`
(stlpips-pytorch 0.0.2), never re-implemented here, with the weights its wheel ships and the class
loads itself; its loader is non-strict, so the script first checks that every tensor of the
checkpoint is in the model and equal. The cos distance (lpips=False) is the same class, whose
loader then skips the checkpoint: its trunk gets the checkpoint's `net.*` entries, strictly.
Images are RGB uint8 files turned into NCHW float32 in [-1, 1] by the package's `utils.im2tensor`
(x / 127.5 - 1). float32, CPU, 2 threads, eval mode, no_grad.

Shift tolerance: for each photo, the distance between the photo without its last column and the
photo without its first column (the same content shifted by one pixel), by ST-LPIPS and, for
comparison, by the official LPIPS AlexNet (lpips 0.1.4 with torchvision's ImageNet AlexNet from
../shared/weights; skipped when that file is absent). torchvision's VGG16 is not available
offline, so LPIPS-VGG is not measured.

Outputs:
  tests/golden/stlpips.json   {"package": "stlpips-pytorch 0.0.2", "cases": [...], "shift": [...]}
      cases: {"net": "st-alex" | "st-vgg", "lpips": bool, "image0": path, "image1": path
              (as in tests/golden/golden.json), "distance": float, "per_layer": [float, ...],
              "spatial_key": str, "spatial_stride": int (1: full map; 8: map[::8, ::8])}
      shift: {"metric": "stlpips-alex" | "stlpips-vgg" | "alex", "image": path,
              "axis": "horizontal" | "vertical", "distance": float}
  tests/golden/stlpips_spatial.npz   spatial=True output maps, float32, (H, W) or strided.
"""

import json
import os
import sys

import numpy as np
import torch
from PIL import Image
from stlpips_pytorch import stlpips, utils

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
OUT_DIR = os.path.join(ROOT, "tests", "golden")
WEIGHTS_DIR = os.path.join(os.path.dirname(stlpips.__file__), "weights", "vST0.0")
NETS = {"st-alex": "alex", "st-vgg": "vgg"}
FULL_MAP_MAX_SIDE = 128
STRIDE = 8

EX = [f"shared:images/ex_{n}.png" for n in ("ref", "p0", "p1")]
PHOTOS = "lpips_tf/data/photos/"
PAIRS = [
    (EX[0], EX[1]), (EX[0], EX[2]),                                            # 64 x 64
    (PHOTOS + "astronaut_64.png", PHOTOS + "coffee_64.png"),                    # 64 x 64
    (PHOTOS + "astronaut_97x131.png", PHOTOS + "coffee_97x131.png"),            # odd sizes
    (PHOTOS + "astronaut_97x131.png", PHOTOS + "astronaut_97x131_noise.png"),
    (PHOTOS + "chelsea_256.png", PHOTOS + "rocket_256.png"),                    # 256 x 256
    (PHOTOS + "chelsea_256.png", PHOTOS + "chelsea_256_blur.png"),
    (PHOTOS + "coffee_384x512.png", PHOTOS + "rocket_384x512.png"),
]
SHIFT_IMAGES = [EX[0], PHOTOS + "astronaut_64.png", PHOTOS + "coffee_64.png",
                PHOTOS + "astronaut_97x131.png", PHOTOS + "coffee_97x131.png",
                PHOTOS + "chelsea_256.png", PHOTOS + "rocket_256.png"]
LPIPS_ALEX_TRUNK = os.path.join(SHARED, "weights", "alexnet_features.pth")


def resolve(path):
    if path.startswith("shared:"):
        return os.path.join(SHARED, path[len("shared:"):])
    return os.path.join(ROOT, path)


def load_image(path):
    image = np.asarray(Image.open(resolve(path)).convert("RGB"))
    assert image.dtype == np.uint8 and image.ndim == 3, (path, image.shape, image.dtype)
    return utils.im2tensor(image)


def checkpoint(net):
    return torch.load(os.path.join(WEIGHTS_DIR, f"{NETS[net]}_shift_tolerant.pth"),
                      map_location="cpu")


def build(net, use_lpips, spatial):
    model = stlpips.LPIPS(net=NETS[net], variant="shift_tolerant", lpips=use_lpips,
                          spatial=spatial, verbose=False)
    state = checkpoint(net)
    if use_lpips:
        loaded = model.state_dict()
        for key, value in state.items():
            assert key in loaded and torch.equal(loaded[key], value), (net, key)
    else:
        trunk = {k[len("net."):]: v for k, v in state.items() if k.startswith("net.")}
        model.net.load_state_dict(trunk, strict=True)
    model.eval()
    assert not any(m.training for m in model.modules())
    return model


def first_term(model, in0, in1):
    """[tap 0's term]: `retPerLayer` returns the total in its place (the package adds the other
    taps to that tensor in place), so it is asked of the same model reading one tap."""
    taps, model.L = model.L, 1
    try:
        return [model(in0, in1)]
    finally:
        model.L = taps


def stem(path):
    return os.path.splitext(os.path.basename(path))[0]


def golden_cases(images):
    cases, maps = [], {}
    for net in NETS:
        for use_lpips in (True, False):
            plain, spatial = build(net, use_lpips, False), build(net, use_lpips, True)
            for path0, path1 in PAIRS:
                in0, in1 = images[path0], images[path1]
                dist, per_layer = plain(in0, in1, retPerLayer=True)
                per_layer = [*first_term(plain, in0, in1), *per_layer[1:]]
                smap = spatial(in0, in1).numpy().astype(np.float32)[0, 0]
                assert smap.shape == tuple(in0.shape[2:]), (smap.shape, in0.shape)
                stride = STRIDE if max(smap.shape) > FULL_MAP_MAX_SIDE else 1
                key = "_".join([net, "lpips" if use_lpips else "cos", stem(path0), stem(path1)])
                maps[key] = np.ascontiguousarray(smap[::stride, ::stride])
                cases.append({
                    "net": net, "lpips": use_lpips, "image0": path0, "image1": path1,
                    "distance": float(np.float32(dist.numpy().reshape(()))),
                    "per_layer": [float(np.float32(t.numpy().reshape(()))) for t in per_layer],
                    "spatial_key": key, "spatial_stride": stride,
                })
                print(f"{key}: {cases[-1]['distance']:.7f}  map {smap.shape} /{stride}", flush=True)
    return cases, maps


def shifted(image, axis):
    """(image without its last, image without its first) column or row: a one-pixel shift."""
    dim = 3 if axis == "horizontal" else 2
    n = image.shape[dim]
    return image.narrow(dim, 0, n - 1), image.narrow(dim, 1, n - 1)


def lpips_alex():
    """The official LPIPS AlexNet with torchvision's ImageNet trunk, or None without it."""
    if not os.path.isfile(LPIPS_ALEX_TRUNK):
        print(f"{LPIPS_ALEX_TRUNK} is absent: LPIPS-AlexNet shift numbers are skipped")
        return None
    import lpips

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from official_trunk import load_trunk

    model = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
    load_trunk(model, torch.load(LPIPS_ALEX_TRUNK, map_location="cpu"))
    return model.eval()


def shift_cases(images):
    metrics = {"stlpips-alex": build("st-alex", True, False),
               "stlpips-vgg": build("st-vgg", True, False)}
    official = lpips_alex()
    if official is not None:
        metrics["alex"] = official
    out = []
    for metric, model in metrics.items():
        for path in SHIFT_IMAGES:
            for axis in ("horizontal", "vertical"):
                d = model(*shifted(images[path], axis)).numpy().reshape(())
                out.append({"metric": metric, "image": path, "axis": axis,
                            "distance": float(np.float32(d))})
        mean = np.mean([c["distance"] for c in out if c["metric"] == metric])
        print(f"shift {metric}: mean {mean:.6f}", flush=True)
    return out


def main():
    torch.set_num_threads(2)
    torch.manual_seed(0)
    paths = sorted({p for pair in PAIRS for p in pair} | set(SHIFT_IMAGES))
    images = {p: load_image(p) for p in paths}
    with torch.no_grad():
        cases, maps = golden_cases(images)
        shift = shift_cases(images)
    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, "stlpips.json"), "w") as f:
        json.dump({"package": "stlpips-pytorch 0.0.2", "cases": cases, "shift": shift}, f,
                  indent=1)
        f.write("\n")
    np.savez_compressed(os.path.join(OUT_DIR, "stlpips_spatial.npz"), **maps)
    sizes = {n: os.path.getsize(os.path.join(OUT_DIR, n))
             for n in ("stlpips.json", "stlpips_spatial.npz")}
    print(f"{len(cases)} cases, {len(shift)} shift measurements; {sizes}")


if __name__ == "__main__":
    sys.exit(main())
