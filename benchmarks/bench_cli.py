"""The command line's batch commands against the official package's per-pair loop, on this CPU.

    python benchmarks/bench_cli.py [--images 100] [--size 256] [--official_pairs 200]
                                   [--dirs_pairs 1000] [--dirs_size 64]
                                   [--torch_python /work/torchenv/bin/python]

1. `python -m lpips_tf all-pairs` over `--images` generated images of `--size` px (alex, seeded
   random trunk from lpips_tf/testing/random_weights.py saved as .npz: no download), against the
   official `lpips` package's per-pair loop (compute_dists_pair.py: one forward call per pair) on
   the first `--official_pairs` of the same pairs, extrapolated to all n(n-1)/2 pairs.
2. `python -m lpips_tf dirs` over `--dirs_pairs` generated pairs of `--dirs_size` px with
   --batch_size 1 and the default (32), and the official per-pair loop (lpips_2dirs.py) on a
   sample of them, extrapolated.

Each lpips_tf run is one `python -m lpips_tf` process, timed from outside (wall clock, with Python
and TensorFlow start-up and the model build) and from its own progress bar (pairs/s from the
first image read to the last distance), with the default thread pools and with one thread
(TF_NUM_INTRAOP_THREADS, OPENBLAS_NUM_THREADS); the faster is compared. The official side runs in the torch environment as a
separate process (TensorFlow and PyTorch never share one), at 1 and 2 threads
(the faster is compared), images read before the
clock starts: only its model calls are timed. Distances of the shared pairs are compared.
This process imports neither TensorFlow nor PyTorch.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

import _common  # benchmarks/ is sys.path[0] when run as a script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.dirname(os.path.abspath(__file__))


def load():
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def write_images(folder, names, size, rng):
    from PIL import Image

    os.makedirs(folder, exist_ok=True)
    # Smooth random images plus noise: closer to photos than pure noise, still distinct.
    yy, xx = np.mgrid[0:size, 0:size] / size
    for name in names:
        base = np.stack([np.sin(2 * np.pi * (rng.uniform(0.5, 3) * xx + rng.uniform(0.5, 3) * yy
                                             + rng.uniform())) for _ in range(3)], axis=-1)
        pixels = 127.5 + 90 * base + rng.normal(0, 20, base.shape)
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(
            os.path.join(folder, name))


# One thread for TensorFlow's and OpenBLAS' pools (pairwise's float64 matrix product), as torch
# gets at 1 thread: on a loaded machine spinning 2-thread pools can be far slower than 1 thread.
ONE_THREAD = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
              "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def run_cli(args, one_thread=False):
    """Runs `python -m lpips_tf ARGS`; returns wall seconds and the progress bar's pairs/s."""
    env = dict(os.environ, **(ONE_THREAD if one_thread else {}))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "lpips_tf", *args], cwd=ROOT,
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"lpips_tf {' '.join(args)} failed ({proc.returncode}):\n"
                         f"{proc.stderr[-3000:]}")
    rates = re.findall(r"(\d+)/(\d+) pairs \[=+\] ([0-9.]+) pairs/s", proc.stderr)
    done = [r for r in rates if r[0] == r[1]]
    return wall, float(done[-1][2]) if done else float("nan"), proc.stdout


def run_official(torch_python, pairs, folder, net, threads):
    """The official per-pair loop at each thread count; the fastest run, and all the rates.

    On a loaded machine torch's 2-thread runs can be several times slower than 1 thread (its
    OpenMP threads wait on each other when the cores are taken): the fastest is the fair figure.
    """
    pairs_file = os.path.join(folder, f"official_pairs_{len(pairs)}.json")
    with open(pairs_file, "w") as f:
        json.dump(pairs, f)
    runs = []
    for n in threads:
        proc = subprocess.run([torch_python, os.path.join(HERE, "_torch_pairs.py"), "--pairs",
                               pairs_file, "--net", net, "--threads", str(n)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"official side failed ({proc.returncode}):\n"
                             f"{proc.stderr[-3000:]}")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    best = min(runs, key=lambda r: r["seconds_per_pair"])
    best["all_rates"] = ", ".join(f"{r['threads']} thread(s) {1 / r['seconds_per_pair']:.1f}"
                                  for r in runs)
    return best


def read_results(path):
    values = {}
    with open(path) as f:
        for line in f:
            if not line.startswith("mean over"):
                key, value = line.rsplit(": ", 1)
                values[key] = float(value)
    return values


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--official_pairs", type=int, default=200)
    parser.add_argument("--official_threads", default="1,2",
                        help="torch thread counts to try; the fastest is compared")
    parser.add_argument("--dirs_pairs", type=int, default=1000)
    parser.add_argument("--dirs_size", type=int, default=64)
    parser.add_argument("--torch_python", default="/work/torchenv/bin/python")
    args = parser.parse_args()
    net = "alex"
    threads = [int(t) for t in args.official_threads.split(",")]
    rng = np.random.default_rng(0)
    print(f"CPU: {_common.cpu_name()}; load average at start (1/5/15 min): {load()}")
    print("The CPU may be shared with other work: numbers are rough when the load average is "
          "above the core count.\n")
    with tempfile.TemporaryDirectory(prefix="bench_cli_") as tmp:
        trunk = os.path.join(tmp, f"{net}_random.npz")
        np.savez(trunk, **_common.random_trunk_state_dict(net, seed=0))

        # ---- all-pairs
        folder = os.path.join(tmp, "all")
        names = [f"{i:04d}.png" for i in range(args.images)]
        write_images(folder, names, args.size, rng)
        n_pairs = args.images * (args.images - 1) // 2
        out = os.path.join(tmp, "pairs.txt")
        runs = {}
        for one_thread in (False, True):
            runs[one_thread] = run_cli(["all-pairs", folder, "-o", out, "--net", net,
                                        "--trunk_weights", trunk], one_thread)
        threads_note = (f"default threads {runs[False][0]:.1f} s wall / {runs[False][1]:.0f} "
                        f"pairs/s, 1 thread {runs[True][0]:.1f} s / {runs[True][1]:.0f} pairs/s")
        wall, rate, stdout = min(runs.values(), key=lambda r: r[0])
        ours = read_results(out)
        pairs = [(a, b) for k, a in enumerate(names) for b in names[k + 1:]]
        sample = pairs[:args.official_pairs]
        official = run_official(args.torch_python,
                                [[os.path.join(folder, a), os.path.join(folder, b)]
                                 for a, b in sample], tmp, net, threads)
        diff = max(abs(ours[f"{a}, {b}"] - d) for (a, b), d in zip(sample, official["distances"]))
        official_total = official["seconds_per_pair"] * n_pairs
        print(f"all-pairs, {args.images} images of {args.size}x{args.size} ({n_pairs} pairs), "
              f"{net}, load average after: {load()}")
        print(f"  lpips_tf all-pairs (pairwise): {wall:.1f} s wall clock for the whole command "
              f"(start-up and model build included); progress bar {rate:.0f} pairs/s "
              f"({n_pairs / rate:.1f} s of reading + trunk + matrix); faster of "
              f"{threads_note}")
        print(f"  official lpips (torch {official['torch']}) per-pair loop: "
              f"{1 / official['seconds_per_pair']:.1f} pairs/s over {len(sample)} pairs "
              f"(model calls only; {official['all_rates']} pairs/s), extrapolated to {n_pairs} "
              f"pairs: {official_total:.0f} s")
        print(f"  speed-up: {official_total / wall:.0f}x on wall clock, "
              f"{official_total / (n_pairs / rate):.0f}x on compute; max |difference| of the "
              f"{len(sample)} shared distances: {diff:.1e}")
        print(f"  {stdout.strip()}\n")

        # ---- dirs
        d0, d1 = os.path.join(tmp, "d0"), os.path.join(tmp, "d1")
        names = [f"{i:05d}.png" for i in range(args.dirs_pairs)]
        write_images(d0, names, args.dirs_size, rng)
        write_images(d1, names, args.dirs_size, rng)
        print(f"dirs, {args.dirs_pairs} pairs of {args.dirs_size}x{args.dirs_size}, {net}")
        results = {}
        for batch_size, one_thread in ((1, False), (32, False), (32, True)):
            out = os.path.join(tmp, f"dirs_{batch_size}.txt")
            wall, rate, _ = run_cli(["dirs", d0, d1, "-o", out, "--net", net, "--trunk_weights",
                                     trunk, "--batch_size", str(batch_size)], one_thread)
            results[batch_size] = read_results(out)
            print(f"  lpips_tf dirs --batch_size {batch_size:>2}"
                  f"{', 1 thread' if one_thread else ''}: {wall:5.1f} s wall clock, "
                  f"progress bar {rate:.0f} pairs/s (load average after: {load()})")
        sample = names[:args.official_pairs]
        official = run_official(args.torch_python, [[os.path.join(d0, n), os.path.join(d1, n)]
                                                    for n in sample], tmp, net, threads)
        diff = max(abs(results[32][n] - d) for n, d in zip(sample, official["distances"]))
        batch_diff = max(abs(results[32][n] - results[1][n]) for n in names)
        print(f"  official per-pair loop (lpips_2dirs.py): {1 / official['seconds_per_pair']:.0f} "
              f"pairs/s over {len(sample)} pairs (model calls only; {official['all_rates']} "
              f"pairs/s), extrapolated to "
              f"{args.dirs_pairs} pairs: {official['seconds_per_pair'] * args.dirs_pairs:.1f} s")
        print(f"  max |difference|: batch 32 vs batch 1 {batch_diff:.1e}; vs official "
              f"{diff:.1e}")
    print(f"\nload average at the end: {load()}")


if __name__ == "__main__":
    sys.exit(main())
