r"""Speed of LPIPS on keras.applications trunks: milliseconds per image pair on this CPU.

    python benchmarks/bench_backbones.py                       # the README's table
    python benchmarks/bench_backbones.py --nets ResNet50,VGG19 --sizes 64 --pairs 8

For each backbone: its default taps (count), channels, input scaling, minimum input size and
tap strides, and the time of one plain eager call (`model([x0, x1])`, the compiled fast path,
cos distance: lin layers add one dot product per tap) on a batch of `--pairs` pairs, the median
of `--repeats` calls after one warm-up call, divided by the pairs. Random weights (no download);
they time the same as ImageNet ones. Prints a Markdown table headed by the CPU (`lscpu`) and
writes it as JSON with `--out`.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from benchmarks._common import cpu_name  # noqa: E402

NETS = ("ResNet50", "ResNet50V2", "MobileNetV2", "MobileNetV3Small", "EfficientNetB0",
        "EfficientNetV2B0", "DenseNet121", "ConvNeXtTiny", "VGG19", "InceptionV3", "Xception")


def measure(net, sizes, pairs, repeats):
    import lpips_tf

    model = lpips_tf.LPIPS(net=net, trunk_weights=None, lpips=False)
    row = {"net": net, "taps": list(model.taps), "channels": list(model.channels),
           "input_scaling": model.input_scaling, "min_input_size": model.min_input_size,
           "tap_strides": list(model.tap_strides), "ms_per_pair": {}}
    rng = np.random.default_rng(0)
    for size in sizes:
        if size < model.min_input_size:
            row["ms_per_pair"][size] = None
            continue
        x0, x1 = (rng.uniform(-1, 1, (pairs, size, size, 3)).astype(np.float32)
                  for _ in range(2))
        np.asarray(model([x0, x1]))  # compiles
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            np.asarray(model([x0, x1]))
            times.append(time.perf_counter() - start)
        row["ms_per_pair"][size] = 1000 * float(np.median(times)) / pairs
    return row


def table(rows, sizes):
    head = (["backbone", "taps", "channels", "scaling", "min size", "strides"]
            + [f"ms/pair {s} px" for s in sizes])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        times = [("-" if r["ms_per_pair"][s] is None else f"{r['ms_per_pair'][s]:.1f}")
                 for s in sizes]
        lines.append("| " + " | ".join(
            [r["net"], str(len(r["taps"])), "/".join(map(str, r["channels"])),
             r["input_scaling"], str(r["min_input_size"]),
             "/".join(map(str, r["tap_strides"]))] + times) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", default=",".join(NETS), help="comma-separated backbones")
    parser.add_argument("--sizes", default="64,256", help="comma-separated image sides (px)")
    parser.add_argument("--pairs", type=int, default=4, help="pairs per call")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per size")
    parser.add_argument("--out", help="write the rows as JSON here")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for net in args.nets.split(","):
        rows.append(measure(net, sizes, args.pairs, args.repeats))
        print(f"{net}: " + ", ".join(f"{s} px {t if t is None else round(t, 1)} ms/pair"
                                     for s, t in rows[-1]["ms_per_pair"].items()),
              file=sys.stderr, flush=True)
    import keras

    print(f"CPU: {cpu_name()}; Keras {keras.__version__}, backend {keras.backend.backend()}; "
          f"{args.pairs} pairs per call, median of {args.repeats} calls; random weights.\n")
    print(table(rows, sizes))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"cpu": cpu_name(), "pairs": args.pairs, "repeats": args.repeats,
                       "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
