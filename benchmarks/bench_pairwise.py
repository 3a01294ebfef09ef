"""All-pairs LPIPS: `pairwise()` (one trunk pass per image) against looping over pairs.

    python benchmarks/bench_pairwise.py                      # 100 images, 256 x 256, alex
    python benchmarks/bench_pairwise.py --n 50 --size 64

Images are generated (smooth random colour fields plus noise; a random AlexNet trunk, official
v0.1 lin layers), so nothing is downloaded. The per-pair baselines are timed on a prefix of the
n(n-1)/2 pairs and extrapolated to all of them (their cost is the same for every pair of a given
size); the script says how many pairs it timed. It also checks pairwise() against the per-pair
distances of the timed pairs.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# This checkout's lpips_tf, not another installed copy.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import lpips_tf  # noqa: E402
from lpips_tf.uses.pairwise import feature_size, pairwise  # noqa: E402


def generated_images(n, size, seed=0):
    rng = np.random.default_rng(seed)
    cells = max(1, size // 16)
    coarse = rng.uniform(-1, 1, (n, cells, cells, 3))
    x = np.repeat(np.repeat(coarse, size // cells, axis=1), size // cells, axis=2)
    x = np.clip(x + 0.2 * rng.standard_normal(x.shape), -1, 1)
    return x[:, :size, :size].astype(np.float32)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--net", default="alex")
    parser.add_argument("--loop_pairs", type=int, default=100, help="pairs timed at batch 1")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--batched_pairs", type=int, default=200,
                        help="pairs timed at --batch (a multiple of --batch)")
    parser.add_argument("--batch_size", type=int, default=32, help="pairwise() trunk batch")
    args = parser.parse_args()

    model = lpips_tf.LPIPS(net=args.net, trunk_weights=None)
    x = generated_images(args.n, args.size)
    total = args.n * (args.n - 1) // 2
    i_all, j_all = np.triu_indices(args.n, 1)
    try:
        cpu = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
               if line.startswith("model name")][0]
    except (OSError, IndexError):
        cpu = "unknown CPU"
    print(f"{args.net}, {args.n} images of {args.size}x{args.size}, {total} pairs; {cpu}, "
          f"{os.cpu_count()} cores (shared machine: rough numbers)")
    print(f"features per image: {feature_size(model, args.size, args.size) * 4 / 2**20:.2f} MB "
          f"float32")

    # Warm-up of every path (first-call tracing and allocation), not timed.
    pairwise(model, x[:3], batch_size=args.batch_size)
    model([x[:1], x[1:2]])
    model([x[i_all[:args.batch]], x[j_all[:args.batch]]])

    d, t_pairwise = timed(lambda: pairwise(model, x, batch_size=args.batch_size))
    print(f"pairwise():            {t_pairwise:8.2f} s for all {total} pairs  "
          f"{total / t_pairwise:9.1f} pairs/s")

    k = min(args.loop_pairs, total)

    def loop():
        return np.array([float(model([x[a:a + 1], x[b:b + 1]])[0])
                         for a, b in zip(i_all[:k], j_all[:k])])

    loop_d, t_loop = timed(loop)
    rate_loop = k / t_loop
    print(f"model([x0, x1]) batch 1: {total / rate_loop:8.2f} s for all (extrapolated from {k} "
          f"pairs) {rate_loop:9.1f} pairs/s   -> pairwise() is {total / rate_loop / t_pairwise:.0f}x"
          f" faster")

    kb = min(args.batched_pairs, total) // args.batch * args.batch

    def batched():
        out = []
        for s in range(0, kb, args.batch):
            out.append(np.asarray(model([x[i_all[s:s + args.batch]], x[j_all[s:s + args.batch]]])))
        return np.concatenate(out)

    batch_d, t_batch = timed(batched)
    rate_batch = kb / t_batch
    print(f"model([x0, x1]) batch {args.batch}: {total / rate_batch:7.2f} s for all (extrapolated "
          f"from {kb} pairs) {rate_batch:9.1f} pairs/s   -> pairwise() is "
          f"{total / rate_batch / t_pairwise:.0f}x faster")

    diff = max(np.abs(d[:k] - loop_d).max(), np.abs(d[:kb] - batch_d).max())
    print(f"max |pairwise - model| over the {max(k, kb)} timed pairs: {diff:.2e}")


if __name__ == "__main__":
    main()
