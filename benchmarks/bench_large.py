"""Large images in bounded memory: peak resident memory and time of one LPIPS pair, tiled or not.

    python benchmarks/bench_large.py            # every row, each in its own child process
    python benchmarks/bench_large.py --rows vgg-4096 alex-8k

Each row runs in a fresh child process (so that one row's memory is not another's), which builds
the model (seeded random trunk: the cost is the same as ImageNet weights', and the
distance column shows that a tiled row gives its untiled row's number), makes one pair of random
float32 images in [-1, 1], times one plain call `model([x0, x1])` (its first: the tracing of the
compiled function is included, as a one-off command line call pays it) and reports its peak
resident memory (`ru_maxrss`, which includes the two input images and the Python / TensorFlow
runtime). The CPU is named from `lscpu`. Rows:

- vgg-4096, alex-8k: the default budget (`LPIPS(max_memory_bytes=2 GiB)`), which tiles them;
- {alex,vgg,squeeze}-2048-{untiled,tiled}: the same pair with `max_memory_bytes=None` (one pass)
  and with a budget that tiles it (the default for vgg and squeeze; 512 MiB for alex, whose
  2048 x 2048 pair fits the default).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ROOT, cpu_name  # noqa: E402

GiB, MiB = 2**30, 2**20
DEFAULT = "default"
# name -> (net, height, width, budget)
ROWS = {
    "vgg-4096": ("vgg", 4096, 4096, DEFAULT),
    "alex-8k": ("alex", 4320, 7680, DEFAULT),
    "alex-2048-untiled": ("alex", 2048, 2048, None),
    "alex-2048-tiled": ("alex", 2048, 2048, 512 * MiB),
    "squeeze-2048-untiled": ("squeeze", 2048, 2048, None),
    "squeeze-2048-tiled": ("squeeze", 2048, 2048, DEFAULT),
    "vgg-2048-untiled": ("vgg", 2048, 2048, None),
    "vgg-2048-tiled": ("vgg", 2048, 2048, DEFAULT),
}


def run_row(name):
    """In the child: one pair of the row; returns its numbers as a dict."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, ROOT)
    import keras
    import numpy as np

    import lpips_tf
    from lpips_tf.core import tiling

    net, height, width, budget = ROWS[name]
    kwargs = {} if budget == DEFAULT else {"max_memory_bytes": budget}
    keras.utils.set_random_seed(0)  # The same random trunk in every row of a net.
    model = lpips_tf.LPIPS(net=net, trunk_weights=None, **kwargs)
    rng = np.random.default_rng(0)
    # Made in float32 and in place: float64 temporaries would count in the peak.
    x0 = rng.random((1, height, width, 3), dtype=np.float32)
    x0 *= 2
    x0 -= 1
    x1 = rng.standard_normal(x0.shape, dtype=np.float32)
    x1 *= 0.2
    x1 += x0
    np.clip(x1, -1, 1, out=x1)
    tiles = 1
    if model.max_memory_bytes is not None and \
            tiling.pair_bytes(model, height, width) > model.max_memory_bytes:
        rows, cols = tiling.tile_plan(model, height, width, model.max_memory_bytes)
        tiles = len(rows) * len(cols)
    start = time.perf_counter()
    distance = float(np.asarray(model([x0, x1]))[0])
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    return {"row": name, "net": net, "size": f"{width}x{height}",
            "budget": "none" if model.max_memory_bytes is None else
            f"{model.max_memory_bytes / GiB:g} GiB", "tiles": tiles, "seconds": seconds,
            "peak_gb": peak / 1e9, "estimate_gb": tiling.pair_bytes(model, height, width) / 1e9,
            "distance": distance}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", nargs="+", choices=sorted(ROWS), default=list(ROWS))
    parser.add_argument("--child", choices=sorted(ROWS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_row(args.child)))
        return 0
    print(f"# bench_large on {cpu_name()}")
    print("| row | net | W x H | budget | tiles | untiled estimate (GB) | time (s) | "
          "peak RSS (GB) | distance |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.rows:
        run = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", name],
                             capture_output=True, text=True)
        if run.returncode != 0:
            print(f"| {name} | failed: {run.stderr.strip().splitlines()[-1:]} |", flush=True)
            continue
        r = json.loads(run.stdout.strip().splitlines()[-1])
        print(f"| {r['row']} | {r['net']} | {r['size']} | {r['budget']} | {r['tiles']} | "
              f"{r['estimate_gb']:.2f} | {r['seconds']:.1f} | {r['peak_gb']:.2f} | "
              f"{r['distance']:.6f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
