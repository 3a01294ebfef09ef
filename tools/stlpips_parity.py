"""How far lpips_tf's ST-LPIPS presets are from stlpips-pytorch 0.0.2: the README's parity table.

Compares every case of tests/golden/stlpips.json (written by tools/make_stlpips_golden.py from the
authors' package) with `LPIPS.from_preset("stlpips-alex" | "stlpips-vgg" [-cos])` on the current
Keras backend, and prints per net and distance the largest absolute differences of the distance,
the per-tap terms and the spatial map, and the one-pixel shift numbers. Run from the repository
root, with the authors' two checkpoints in a folder (`unzip` them from their wheel, or leave
--weights_dir out to use the package's own download):

    KERAS_BACKEND=jax python tools/stlpips_parity.py --weights_dir /path/to/vST0.0
"""

import argparse
import json
import os
import sys

import keras
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import lpips_tf  # noqa: E402  (after the path: the checkout's package)
from lpips_tf.core import weights  # noqa: E402
from lpips_tf.data.images import load_image  # noqa: E402

PRESETS = {"st-alex": "stlpips-alex", "st-vgg": "stlpips-vgg"}


def image(reference):
    if reference.startswith("shared:"):
        return load_image(os.path.join(os.path.dirname(ROOT), "shared", reference[7:]))
    return load_image(os.path.join(ROOT, reference))


def checkpoint(net, weights_dir):
    if weights_dir is None:
        return weights.fetch_stlpips_weights(net)
    return os.path.join(weights_dir, weights.STLPIPS_FILES[net][0])


def case_differences(case, models):
    """(|distance difference|, largest |per-tap difference|, largest |map difference|)."""
    plain, spatial = models
    x0, x1 = image(case["image0"])[None], image(case["image1"])[None]
    d = float(np.asarray(plain([x0, x1]))[0])
    f0, f1 = plain.batch_tap_features([x0, x1])
    maps = [plain.tap_distance_map(k, a, b) for k, (a, b) in enumerate(zip(f0, f1))]
    terms = [float(keras.ops.convert_to_numpy(plain.reduce_tap_map(m, x0))[0, 0]) for m in maps]
    stride = case["spatial_stride"]
    got = np.asarray(spatial([x0, x1]))[0, ::stride, ::stride, 0]
    spatial_golden = np.load(os.path.join(ROOT, "tests", "golden", "stlpips_spatial.npz"))
    want = spatial_golden[case["spatial_key"]]
    return (abs(d - case["distance"]), float(np.max(np.abs(np.subtract(terms, case["per_layer"])))),
            float(np.max(np.abs(got - want))))


def shift_table(shifts, weights_dir):
    """Mean and largest one-pixel-shift distance per metric, ours and the golden ones."""
    models = {}
    for metric in dict.fromkeys(c["metric"] for c in shifts):
        if metric == "alex":  # LPIPS AlexNet on torchvision's ImageNet trunk, from ../shared
            trunk = os.path.join(os.path.dirname(ROOT), "shared", "weights", "alexnet_features.pth")
            models[metric] = lpips_tf.LPIPS(net="alex", trunk_weights=trunk)
        else:
            path = checkpoint({v: k for k, v in PRESETS.items()}[metric], weights_dir)
            models[metric] = lpips_tf.LPIPS.from_preset(metric, trunk_weights=path,
                                                        lin_weights=path)
    print("\none-pixel shift (the photo without its last vs its first column or row):")
    for metric, model in models.items():
        ours, theirs = [], []
        for case in (c for c in shifts if c["metric"] == metric):
            x = image(case["image"])
            a, b = (x[:, :-1], x[:, 1:]) if case["axis"] == "horizontal" else (x[:-1], x[1:])
            ours.append(float(np.asarray(model([a[None], b[None]]))[0]))
            theirs.append(case["distance"])
        worst = np.max(np.abs(np.subtract(ours, theirs)))
        print(f"  {metric:14s} mean {np.mean(ours):.4f} (PyTorch {np.mean(theirs):.4f})  max "
              f"{np.max(ours):.4f}  largest |difference| {worst:.1e}  ({len(ours)} shifts)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights_dir", default=None,
                        help="folder with alex_shift_tolerant.pth and vgg_shift_tolerant.pth")
    args = parser.parse_args(argv)
    golden = json.load(open(os.path.join(ROOT, "tests", "golden", "stlpips.json")))
    print(f"Keras backend: {keras.backend.backend()}")
    worst = {}
    for case in golden["cases"]:
        path = checkpoint(case["net"], args.weights_dir)
        name = PRESETS[case["net"]] + ("" if case["lpips"] else "-cos")
        lin = {"lin_weights": path} if case["lpips"] else {}
        models = [lpips_tf.LPIPS.from_preset(name, trunk_weights=path, spatial=s, **lin)
                  for s in (False, True)]
        diffs = case_differences(case, models)
        worst[name] = np.maximum(worst.get(name, 0.0), diffs)
        print(f"{name:18s} {case['image0']} / {case['image1']}: " +
              " ".join(f"{v:.1e}" for v in diffs), flush=True)
    print("\nlargest |difference| (distance, per-tap term, map):")
    for name, values in worst.items():
        print(f"  {name:18s} " + "  ".join(f"{v:.1e}" for v in values))
    shift_table(golden["shift"], args.weights_dir)

if __name__ == "__main__":
    sys.exit(main())
