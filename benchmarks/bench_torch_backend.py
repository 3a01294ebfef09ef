"""lpips_tf on Keras' PyTorch backend (CPU) against the official `lpips` package, pairs per second.

    KERAS_BACKEND=torch PYTHONPATH=. /work/torchenv/bin/python benchmarks/bench_torch_backend.py
    ... --compile --nets alex      # also torch.compile around the fast path's core (slow to build)

Rows, per net (alex / vgg / squeeze, seeded random trunks, v0.1 lin weights) and shape
(64x64 batch 50, 256x256 batch 8):

- `lpips_tf eager`: the plain call `model([x0, x1])`, i.e. lpips_tf.core.compiled's PyTorch path (eager
  kernels under torch.no_grad()), on NHWC float32 torch tensors;
- `lpips_tf compile(dynamic=True)` / `compile(default)` (with --compile): `torch.compile` of the
  same core (`lpips_tf.core.compiled._core`), under torch.no_grad(); "first call" is compilation plus one
  call, measured separately from the steady rate;
- `official lpips 0.1.4`: `lpips.LPIPS(net=..., pnet_rand=True)` with the same trunk weights, eval
  mode, torch.no_grad(), on NCHW tensors.

All run with torch.set_num_threads(--threads, default 2) in this one process. Each row: one
warm-up call, then calls until --seconds have passed (at least --min-calls); pairs/s is batch /
median call time. The last column checks that each lpips_tf variant agrees with the official
package on these inputs (max |d - d_official|).
"""

import argparse
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "torch")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tools"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import _common  # noqa: E402  (benchmarks/ is sys.path[0] when run as a script)

SHAPES = ((64, 50), (256, 8))


def timed(fn, seconds, min_calls):
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < min_calls:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), len(times)


def official_model(net, state):
    import lpips
    from official_trunk import load_trunk

    model = lpips.LPIPS(pretrained=True, net=net, version="0.1", pnet_rand=True, verbose=False)
    load_trunk(model, {k: torch.from_numpy(v) for k, v in state.items()})
    return model.eval()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nets", default="alex,vgg,squeeze")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--min-calls", type=int, default=3)
    parser.add_argument("--compile", action="store_true",
                        help="also time torch.compile(dynamic=True) and torch.compile() of the core")
    args = parser.parse_args()

    import keras

    import lpips_tf
    from lpips_tf.core import compiled as fast
    from lpips_tf.testing.random_weights import random_trunk_state_dict

    if keras.backend.backend() != "torch":
        raise SystemExit("Run with KERAS_BACKEND=torch.")
    torch.set_num_threads(args.threads)
    print(f"CPU: {_common.cpu_name()}; torch {torch.__version__}, keras {keras.__version__}, "
          f"threads {torch.get_num_threads()}", flush=True)
    header = f"{'net':8} {'shape':>12} {'variant':34} {'pairs/s':>9} {'ms/call':>9} " \
             f"{'calls':>5} {'first call s':>12} {'max|d-off|':>10}"
    print(header + "\n" + "-" * len(header), flush=True)
    rng = np.random.default_rng(0)
    folder = os.path.join(os.environ.get("TMPDIR", "/tmp"), "bench_torch_backend")
    os.makedirs(folder, exist_ok=True)
    for net in args.nets.split(","):
        state = random_trunk_state_dict(net, seed=0)
        path = os.path.join(folder, f"{net}_seed0.npz")
        np.savez(path, **state)
        model = lpips_tf.LPIPS(net=net, trunk_weights=path)
        official = official_model(net, state)
        core = fast._core(model)
        compiled = {}
        if args.compile:
            torch._dynamo.reset()
            compiled = {"lpips_tf compile(dynamic=True)": torch.compile(core, dynamic=True),
                        "lpips_tf compile(default)": torch.compile(core)}
        for size, batch in SHAPES:
            x0, x1 = (rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)
                      for _ in range(2))
            t0, t1 = torch.from_numpy(x0), torch.from_numpy(x1)
            n0, n1 = (torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
                      for x in (x0, x1))
            variants = {"lpips_tf eager": lambda: model([t0, t1])}
            variants.update({name: (lambda c=c: c(t0, t1)[0]) for name, c in compiled.items()})
            variants["official lpips 0.1.4"] = lambda: official(n0, n1).reshape(-1)
            reference = None
            rows = []
            with torch.no_grad():
                for name, fn in variants.items():
                    t = time.perf_counter()
                    d = np.asarray(fn(), np.float64).reshape(-1)
                    first = time.perf_counter() - t
                    median, calls = timed(fn, args.seconds, args.min_calls)
                    rows.append((name, median, calls, first, d))
                    if name.startswith("official"):
                        reference = d
            for name, median, calls, first, d in rows:
                err = "" if name.startswith("official") else f"{np.abs(d - reference).max():.1e}"
                print(f"{net:8} {f'{size}x{size}x{batch}':>12} {name:34} {batch / median:9.1f} "
                      f"{1000 * median:9.1f} {calls:5d} {first:12.1f} {err:>10}", flush=True)


if __name__ == "__main__":
    main()
