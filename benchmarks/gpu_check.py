"""GPU check: golden parity under the JAX (and PyTorch) backend, and speed against the official
`lpips` on the same GPU. Run by `benchmarks/gpu_check.sh`; each step is its own process, because
the official package's torch and our JAX side should not share a GPU process.

    python benchmarks/gpu_check.py parity jax        # golden cases, float32 ("highest" precision)
    python benchmarks/gpu_check.py parity torch      # the same under Keras' PyTorch backend, TF32 off
    python benchmarks/gpu_check.py speed jax         # lpips_tf on JAX: default precision and bf16
    python benchmarks/gpu_check.py speed official    # official lpips 0.1.4 on torch: fp32 and bf16
    python benchmarks/gpu_check.py report            # the table, from the JSON files in $OUT

Also runs on a CPU (`--quick` shrinks the speed grid) to check the script end to end. Images are
read with Pillow; the real trunks and example images come from $LPIPS_SHARED (default ../shared).
"""

import argparse
import json
import os
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = pathlib.Path(os.environ.get("OUT", "/tmp/lpips_gpu_check"))
SHARED = pathlib.Path(os.environ.get("LPIPS_SHARED", ROOT.parent / "shared"))
REAL_TRUNKS = {"alex": "weights/alexnet_features.pth", "squeeze": "weights/squeezenet1_1_features.pth"}
NETS = ("alex", "vgg", "squeeze")
CONFIGS = ((64, 50), (64, 512), (256, 8), (256, 64), (1024, 2))
QUICK_CONFIGS = ((64, 8), (128, 2))
DISTANCE_ATOL, SPATIAL_ATOL = 1e-5, 1e-4


def _load_image(path):
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), np.float32) / 127.5 - 1.0


def _image(reference):
    if reference.startswith("shared:"):
        return _load_image(SHARED / reference[len("shared:"):])
    return _load_image(ROOT / reference)


def _save(name, data):
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / name).write_text(json.dumps(data, indent=1))


def _inputs(size, batch, seed=0):
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)
    x1 = np.clip(x0 + rng.normal(0, 0.1, x0.shape), -1, 1).astype(np.float32)
    return x0, x1


def _rate(call, sync, batch, budget=1.0):
    """Pairs per second: two warm-up calls, then calls for about `budget` seconds."""
    call(), call()
    sync()
    start, count = time.perf_counter(), 0
    while time.perf_counter() - start < budget or count < 3:
        call()
        count += 1
    sync()
    return count * batch / (time.perf_counter() - start)


def _measure(results, key, call, sync, batch, budget):
    """One row: pairs/s into results[key] (or the error, e.g. out of memory), printed."""
    try:
        rate = _rate(call, sync, batch, budget)
    except Exception as error:  # noqa: BLE001 (a failed row is reported, the others still run)
        rate = repr(error)[:100]
    results[key] = rate
    print(f"  {key}: {rate if isinstance(rate, str) else round(rate, 1)} pairs/s", flush=True)


# ------------------------------------------------------------------------------------------------
def parity(backend):
    os.environ["KERAS_BACKEND"] = backend
    sys.path.insert(0, str(ROOT))
    if backend == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", "highest")
        device = str(jax.devices()[0])
    else:
        import torch

        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        device = "cuda" if torch.cuda.is_available() else "cpu"
    import lpips_tf
    from lpips_tf.testing.random_weights import random_trunk_state_dict

    cases = json.loads((ROOT / "tests" / "golden" / "golden.json").read_text())
    spatial_golden = np.load(ROOT / "tests" / "golden" / "spatial.npz")
    folder = pathlib.Path("/tmp/lpips_gpu_trunks")
    folder.mkdir(exist_ok=True)
    models, results = {}, []
    for case in cases:
        net, trunk = case["net"], case["trunk"]
        if trunk == "real":
            path = SHARED / REAL_TRUNKS[net]
            if not path.exists():
                results.append({"case": case, "skipped": f"{path} missing"})
                continue
            trunk_file = str(path)
        else:
            trunk_file = str(folder / f"{net}_{trunk.replace(':', '')}.npz")
            if not os.path.exists(trunk_file):
                np.savez(trunk_file, **random_trunk_state_dict(net, seed=int(trunk.split(":")[1])))

        def model(spatial):
            key = (net, case["version"], case["lpips"], trunk_file, spatial)
            if key not in models:
                models[key] = lpips_tf.LPIPS(net=net, version=case["version"], lpips=case["lpips"],
                                             spatial=spatial, trunk_weights=trunk_file)
            return models[key]

        x0, x1 = _image(case["image0"])[None], _image(case["image1"])[None]
        from keras import ops

        d = float(ops.convert_to_numpy(model(False)([x0, x1]))[0])
        row = {"net": net, "trunk": trunk, "version": case["version"], "lpips": case["lpips"],
               "image": case["image1"], "distance_error": abs(d - case["distance"])}
        if case.get("spatial_key"):
            stride = case.get("spatial_stride", 1)
            got = ops.convert_to_numpy(model(True)([x0, x1]))[0, ::stride, ::stride, 0]
            row["spatial_error"] = float(np.max(np.abs(got - spatial_golden[case["spatial_key"]])))
        results.append(row)
    checked = [r for r in results if "skipped" not in r]
    worst_d = max(r["distance_error"] for r in checked)
    worst_s = max(r.get("spatial_error", 0.0) for r in checked)
    failures = [r for r in checked if r["distance_error"] > DISTANCE_ATOL
                or r.get("spatial_error", 0.0) > SPATIAL_ATOL]
    groups = {}
    for r in checked:
        g = groups.setdefault(f"{r['net']} {r['trunk']}", [0.0, 0.0])
        g[0], g[1] = max(g[0], r["distance_error"]), max(g[1], r.get("spatial_error", 0.0))
    summary = {"backend": backend, "device": device, "cases": len(checked),
               "skipped": len(results) - len(checked), "max_distance_error": worst_d,
               "max_spatial_error": worst_s, "failures": len(failures), "groups": groups}
    _save(f"parity_{backend}.json", summary)
    print(f"parity {backend} on {device}: {len(checked)} cases, {len(failures)} failures, "
          f"max |d| error {worst_d:.2e} (tol {DISTANCE_ATOL}), max map error {worst_s:.2e} "
          f"(tol {SPATIAL_ATOL})", flush=True)
    for name, (dd, ss) in sorted(groups.items()):
        print(f"  {name:18s} |d| {dd:.2e}  map {ss:.2e}", flush=True)
    return 1 if failures else 0


# ------------------------------------------------------------------------------------------------
def speed_jax(configs, budget, nets=NETS):
    os.environ["KERAS_BACKEND"] = "jax"
    sys.path.insert(0, str(ROOT))
    import jax
    import jax.numpy as jnp
    import lpips_tf

    device = str(jax.devices()[0])
    print(f"lpips_tf on JAX {jax.__version__}, {device}", flush=True)
    previous = OUT / "speed_jax.json"
    results = json.loads(previous.read_text())["results"] if previous.exists() else {}
    for net in nets:
        for mode, dtype in (("default", "float32"), ("bf16", "mixed_bfloat16")):
            model = lpips_tf.LPIPS(net=net, trunk_weights=None, dtype=dtype)
            compiled = lpips_tf.compiled_distance_fn(model)
            for size, batch in configs:
                h0, h1 = _inputs(size, batch)
                x0, x1 = jnp.asarray(h0), jnp.asarray(h1)
                for door, fn in (("call", lambda: model([x0, x1])),
                                 ("compiled", lambda: compiled(x0, x1))):
                    _measure(results, f"{net} {size}x{batch} {mode} {door}",
                             lambda: fn().block_until_ready(), lambda: None, batch, budget)
                    # Saved after every row: a step stopped by its time limit keeps what it measured.
                    _save("speed_jax.json", {"device": device, "results": results})
                if mode == "default":
                    _measure_host_inputs(results, f"{net} {size}x{batch}", model, compiled,
                                         (h0, h1), batch, budget)
                    _save("speed_jax.json", {"device": device, "results": results})
    return 0


def _measure_host_inputs(results, base, model, compiled, pair, batch, budget):
    """NumPy inputs, as an application holds them: each call transfers its batches; the plain
    call checks their values on the host and reads nothing back, so calls queue on the device
    like the compiled function's, and only the last result is waited for."""
    h0, h1 = pair
    for door, fn in (("call host", lambda: model([h0, h1])),
                     ("compiled host", lambda: compiled(h0, h1))):
        last = [None]

        def call(fn=fn, last=last):
            last[0] = fn()

        _measure(results, f"{base} default {door}", call,
                 lambda last=last: last[0].block_until_ready(), batch, budget)


def speed_official(configs, budget):
    import torch
    import lpips

    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"official lpips on torch {torch.__version__}, {device}", flush=True)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    results = {}
    for net in NETS:
        model = lpips.LPIPS(net=net, pnet_rand=True, verbose=False).eval().to(device)
        for size, batch in configs:
            a, c = (torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).to(device)
                    for x in _inputs(size, batch))
            for mode in ("default", "bf16"):
                def fn():
                    with torch.no_grad():
                        if mode == "default":
                            return model(a, c)
                        with torch.autocast(device, dtype=torch.bfloat16):
                            return model(a, c)

                _measure(results, f"{net} {size}x{batch} {mode}", fn, sync, batch, budget)
    _save("speed_official.json", {"device": device, "results": results})
    return 0


def report(configs):
    def load(name):
        path = OUT / name
        return json.loads(path.read_text()) if path.exists() else None

    ours, official = load("speed_jax.json"), load("speed_official.json")
    lines = []
    for backend in ("jax", "torch"):
        p = load(f"parity_{backend}.json")
        if p:
            lines.append(f"Parity, Keras {backend} backend on {p['device']}: {p['cases']} golden "
                         f"cases, {p['failures']} failures; max |d| error "
                         f"{p['max_distance_error']:.2e}, max map error "
                         f"{p['max_spatial_error']:.2e}.")
    if ours and official:
        lines.append(f"\nSpeed, pairs/s (lpips_tf: {ours['device']}; official: "
                     f"{official['device']}); ratio to the official package at the same "
                     f"precision class in brackets.\n")
        lines.append("| net | size x batch | official fp32 (TF32) | official bf16 autocast | "
                     "lpips_tf call, default | lpips_tf compiled, default | lpips_tf call, bf16 | "
                     "lpips_tf compiled, bf16 | NumPy input: call | NumPy input: compiled |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        for net in NETS:
            for size, batch in configs:
                base = f"{net} {size}x{batch}"
                o32, o16 = official["results"].get(f"{base} default"), \
                    official["results"].get(f"{base} bf16")
                cells = [_fmt(o32), _fmt(o16)]
                for mode, ref in (("default", o32), ("bf16", o16)):
                    for door in ("call", "compiled"):
                        cells.append(_fmt(ours["results"].get(f"{base} {mode} {door}"), ref))
                for door in ("call host", "compiled host"):
                    cells.append(_fmt(ours["results"].get(f"{base} default {door}"), o32))
                lines.append(f"| {net} | {size}x{size} x {batch} | " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    print(text)
    (OUT / "gpu_report.md").write_text(text + "\n")
    return 0


def _fmt(value, reference=None):
    if value is None:
        return "-"
    if isinstance(value, str):
        return "error"
    text = f"{value:,.0f}" if value >= 100 else f"{value:.1f}"
    if isinstance(reference, (int, float)) and reference:
        text += f" ({value / reference:.2f}x)"
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["parity", "speed", "report"])
    parser.add_argument("side", nargs="?", default="jax")
    parser.add_argument("--quick", action="store_true", help="small speed grid (CPU check)")
    parser.add_argument("--budget", type=float, default=1.0, help="seconds per measurement")
    parser.add_argument("--nets", default=",".join(NETS), help="speed: comma-separated nets")
    args = parser.parse_args()
    configs = QUICK_CONFIGS if args.quick else CONFIGS
    if args.step == "parity":
        return parity(args.side)
    if args.step == "speed":
        if args.side == "jax":
            return speed_jax(configs, args.budget, tuple(args.nets.split(",")))
        return speed_official(configs, args.budget)
    return report(configs)


if __name__ == "__main__":
    sys.exit(main())
