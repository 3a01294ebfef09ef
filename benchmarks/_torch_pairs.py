"""The official side of benchmarks/bench_cli.py: the official package's per-pair loop (never
imports TensorFlow; run with the torch environment's Python).

    torchenv/bin/python benchmarks/_torch_pairs.py --pairs pairs.json --threads 2

`pairs.json` lists [path0, path1] pairs. As in the official scripts (compute_dists_pair.py,
lpips_2dirs.py) each pair is one `model.forward(img0, img1)` call on one image each; unlike them,
the images are read and converted before the clock starts, so only the model calls are timed
(this favours the official side). Prints one JSON line: seconds per pair and the distances.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _torch_worker  # noqa: E402  (builds lpips.LPIPS with the seeded random trunk)


def _tensor(torch, path):
    from PIL import Image

    # lpips.im2tensor: image / 127.5 - 1, NCHW.
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"), np.float32)
    return torch.from_numpy(np.ascontiguousarray((pixels / 127.5 - 1.0).transpose(2, 0, 1)[None]))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", required=True)
    parser.add_argument("--net", default="alex")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    worker = _torch_worker.Worker(args.threads)
    torch = worker.torch
    model = worker._build(args.net)
    with open(args.pairs) as f:
        pairs = json.load(f)
    cache = {}
    inputs = []
    for p0, p1 in pairs:
        for p in (p0, p1):
            if p not in cache:
                cache[p] = _tensor(torch, p)
        inputs.append((cache[p0], cache[p1]))
    distances = []
    with torch.no_grad():
        for x0, x1 in inputs[:3]:  # warm-up, untimed
            model.forward(x0, x1)
        start = time.perf_counter()
        for x0, x1 in inputs:
            distances.append(float(model.forward(x0, x1).reshape(-1)[0]))
        seconds = time.perf_counter() - start
    print(json.dumps({"seconds_per_pair": seconds / len(inputs), "seconds": seconds,
                      "distances": distances, "threads": torch.get_num_threads(),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    sys.exit(main())
