"""lpips_tf against the official PyTorch `lpips` package, side by side, interleaved, on this CPU.

    /work/venv/bin/python benchmarks/bench_lpips.py                  # default run, 4-5 minutes
    /work/venv/bin/python benchmarks/bench_lpips.py --large          # + 1024 x 1024, batch 1
    /work/venv/bin/python benchmarks/bench_lpips.py --configs vgg:64:50 --rounds 5

This script imports neither TensorFlow nor PyTorch (they cannot share a process). For every
configuration (net, image size, batch) it starts two persistent worker processes and talks to them
over pipes: benchmarks/_tf_worker.py (lpips_tf, in this interpreter's environment) and
benchmarks/_torch_worker.py (official lpips 0.1.4, in the reference environment). Both load the same
seeded random trunk (lpips_tf/testing/random_weights.py) and the official v0.1 lin weights, time the same
inputs with the same number of threads, and the distances they return are compared. Rounds
alternate between the workers (official, TF variants, then the reverse order in the next round), so
that load from other processes hits both sides alike. The headline rate of each side is its
fastest call (timeit's estimator of speed on an idle machine: other processes only ever slow a call
down, and the two libraries suffer from them very differently); the median call, the median of
per-round ratios and the share of the CPU that other processes used during the timed runs are
printed too. On a busy machine each timed run first waits a little for the other processes to quiet
down, and a disturbed run is repeated once (--max-foreign, --wait, --retries).

The reference environment (any folder; pass it with --torch-python or $LPIPS_TORCH_PYTHON):

    python -m venv torchenv && torchenv/bin/pip install torch==2.14.1 torchvision==0.29.1 lpips==0.1.4 tqdm keras==3.15.1

TF variants (--variants):
  call         model([x0, x1]): the plain call, float32 (lpips_tf's compiled fast path).
  keras-eager  keras.Model.__call__(model, [x0, x1]): Keras' layer-by-layer eager call, float32
               (what the plain call did before it became the fast path).
  bf16-call    the plain call of LPIPS(..., dtype="mixed_bfloat16").
  graph     lpips_tf.core.compiled.compiled_distance_fn(model): one tf.function, float32 (oneDNN fusions).
  xla       the same with jit_compile=True, float32.
  bf16      compiled_distance_fn(LPIPS(..., dtype="mixed_bfloat16")): bfloat16 trunk, float32 head.
  bf16-xla  both.

Also reported: convolution GFLOP/s (analytic count of each trunk at the input size, two images per
pair) against a tf.matmul float32 / bfloat16 peak measured in the same run; peak resident memory of
each worker (getrusage high-water mark: the process's whole life, imports included, so a TF
worker's peak covers all its variants); and, for bf16, the accuracy cost against float32 on
generated 2AFC triplets of distorted photo patches (max relative error of the distances, fraction
of 2AFC decisions that agree).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CONFIGS = "alex:64:50,vgg:64:50,squeeze:64:50,alex:256:8,vgg:256:8,squeeze:256:8"
ALL_VARIANTS = ("call", "keras-eager", "graph", "xla", "bf16-call", "bf16", "bf16-xla")
DEFAULT_VARIANTS = "call,graph,bf16-call,bf16"


# Torchvision trunk files that --real-trunks looks for.
REAL_TRUNKS = {"alex": "alexnet_features.pth", "vgg": "vgg16_features.pth",
               "squeeze": "squeezenet1_1_features.pth"}


class WorkerError(RuntimeError):
    pass


class Worker:
    """A worker process spoken to with JSON lines; its stderr goes to a log file."""

    def __init__(self, name, argv, log_dir, env=None):
        self.name = name
        self.log_path = os.path.join(log_dir, f"{name}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, cwd=HERE, env=env, bufsize=1)

    def request(self, cmd, **kwargs):
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kwargs}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise WorkerError(f"{self.name} worker died; its log ({self.log_path}) ends:\n"
                              + self._log_tail())
        reply = json.loads(line)
        if isinstance(reply, dict) and "error" in reply:
            raise WorkerError(f"{self.name} worker failed on {cmd!r}:\n{reply['error']}")
        return reply

    def close(self):
        try:
            usage = self.request("quit")
        finally:
            self.proc.wait(timeout=60)
            self.log.close()
        return usage

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def _log_tail(self, lines=30):
        self.log.flush()
        with open(self.log_path) as f:
            return "".join(f.readlines()[-lines:])


def default_torch_python():
    candidates = [os.environ.get("LPIPS_TORCH_PYTHON"),
                  os.path.join(_common.ROOT, "torchenv", "bin", "python"),
                  os.path.join(os.path.dirname(_common.ROOT), "torchenv", "bin", "python")]
    for path in candidates:
        if path and os.path.exists(path):
            return path
    return None


def parse_configs(text, nets, large):
    configs = []
    for item in text.split(","):
        net, size, batch = item.strip().split(":")
        configs.append((net, int(size), int(batch)))
    if large:
        configs += [(net, 1024, 1) for net in dict.fromkeys(c[0] for c in configs)]
    if nets:
        configs = [c for c in configs if c[0] in nets]
    for net, _, _ in configs:
        if net not in _common.ARCHITECTURES:
            raise SystemExit(f"unknown net {net!r} in --configs")
    return configs


def start_workers(args, net, size, log_dir):
    tag = f"{net}_{size}"
    env = dict(os.environ)
    if args.onednn != "default":
        env["TF_ENABLE_ONEDNN_OPTS"] = args.onednn
    tf = Worker(f"tf_{tag}", [args.tf_python, os.path.join(HERE, "_tf_worker.py"),
                              "--intra", str(args.threads), "--inter", str(args.inter_op)],
                log_dir, env)
    torch = Worker(f"torch_{tag}", [args.torch_python, os.path.join(HERE, "_torch_worker.py"),
                                    "--threads", str(args.threads)], log_dir)
    return tf, torch


def measure_matmul(tf, args, peak):
    """tf.matmul n x n, float32 and bfloat16 alternating; keeps the fastest call of each in
    `peak` (GFLOP/s). Run in every configuration's worker, so that the run's peak comes from its
    quietest moment."""
    for _ in range(2):
        for dtype in ("float32", "bfloat16"):
            out = tf.request("matmul", dtype=dtype, n=args.matmul_n, seconds=0.25)
            gflops = 2.0 * args.matmul_n**3 / min(out["call_seconds"]) / 1e9
            peak[dtype] = max(peak.get(dtype, 0.0), gflops)


def wait_for_quiet(args, budget):
    """Waits, while budget["seconds"] lasts, until other processes use at most --max-foreign of
    the CPU (sampled over 0.2 s while both workers are idle, so all busy time is theirs)."""
    while budget["seconds"] > 0:
        busy0, t0 = _common.cpu_busy_seconds(), time.time()
        time.sleep(0.2)
        share = (_common.cpu_busy_seconds() - busy0) / ((time.time() - t0) * os.cpu_count())
        if share <= args.max_foreign:
            return
        time.sleep(0.3)
        budget["seconds"] -= 0.5
        budget["waited"] += 0.5


def measured(worker, kwargs, seconds):
    """One timed run; also the share of the machine's CPU that other processes used meanwhile."""
    pid = worker.proc.pid
    busy0, own0, t0 = _common.cpu_busy_seconds(), _common.process_cpu_seconds(pid), time.time()
    out = worker.request("run", seconds=seconds, **kwargs)
    busy1, own1, t1 = _common.cpu_busy_seconds(), _common.process_cpu_seconds(pid), time.time()
    foreign = max(0.0, (busy1 - busy0) - (own1 - own0)) / ((t1 - t0) * os.cpu_count())
    return out, foreign


def run_config(args, net, size, batch, log_dir, state):
    tf, torch = start_workers(args, net, size, log_dir)
    try:
        info = {"tf": tf.request("hello"), "torch": torch.request("hello")}
        state.setdefault("versions", info)
        if args.matmul:
            measure_matmul(tf, args, state.setdefault("matmul", {}))
        tf_setup = tf.request("setup", net=net, size=size, batch=batch, variants=args.variants)
        torch_setup = torch.request("setup", net=net, size=size, batch=batch)
        names = ["official"] + args.variants
        budget = {"seconds": args.wait, "waited": 0.0}
        rates = {name: [] for name in names}  # per round: pairs / second over the round
        calls = {name: [] for name in names}  # every call's seconds, all rounds
        foreign = {name: [] for name in names}
        for r in range(args.rounds):
            for name in (names if r % 2 == 0 else names[::-1]):
                worker = torch if name == "official" else tf
                kwargs = {} if name == "official" else {"variant": name}
                for attempt in range(args.retries + 1):
                    wait_for_quiet(args, budget)
                    out, busy = measured(worker, kwargs, args.seconds)
                    if busy <= args.max_foreign or attempt == args.retries:
                        break
                    state["retries"] += 1
                rates[name].append(out["calls"] * batch / out["seconds"])
                calls[name] += out["call_seconds"]
                foreign[name].append(busy)
        accuracy = None
        if args.triplets and "bf16" in "".join(args.variants) and net not in state["accuracy"] \
                and size == args.accuracy_size:
            trunk = None
            path = os.path.join(args.real_trunks or "", REAL_TRUNKS[net])
            if args.real_trunks and os.path.exists(path):
                trunk = path
            accuracy = tf.request("accuracy", net=net, triplets=args.triplets, size=size,
                                  trunk=trunk)
            state["accuracy"][net] = accuracy
        tf_usage, torch_usage = tf.close(), torch.close()
    except BaseException:
        tf.kill()
        torch.kill()
        raise
    import numpy as np

    official = np.asarray(torch_setup["distances"])
    check = {name: float(np.max(np.abs(np.asarray(d) - official)))
             for name, d in tf_setup["distances"].items()}
    reference32 = np.asarray(tf_setup["distances"].get("graph", official))
    rel_bf16 = {name: float(np.max(np.abs(np.asarray(d) / reference32 - 1)))
                for name, d in tf_setup["distances"].items() if name.startswith("bf16")}
    flops = 2 * _common.trunk_flops(net, size, size)  # per pair: two images through the trunk
    result = {
        "net": net, "size": size, "batch": batch,
        # Headline: the fastest call of each side (an estimate of its speed on an idle machine,
        # as timeit's minimum); also the median call and the median of per-round ratios.
        "rates": {k: batch / min(v) for k, v in calls.items()},
        "median_rates": {k: batch / statistics.median(v) for k, v in calls.items()},
        "round_rates": rates,
        "calls": {k: len(v) for k, v in calls.items()},
        "round_ratios": {k: statistics.median(a / b for a, b in zip(v, rates["official"]))
                         for k, v in rates.items() if k != "official"},
        "gflops_per_pair": flops / 1e9,
        "max_abs_diff_vs_official": check,
        "bf16_max_rel_err_vs_float32": rel_bf16,
        "median_distance": float(np.median(official)),
        "setup_seconds": tf_setup["setup_seconds"],
        "foreign_cpu_share": {k: statistics.median(v) for k, v in foreign.items()},
        "waited_seconds": budget["waited"],
        "peak_rss_mib": {"official": torch_usage["peak_rss_mib"], "tf": tf_usage["peak_rss_mib"]},
        "import_rss_mib": {"official": info["torch"]["rss_mib"], "tf": info["tf"]["rss_mib"]},
    }
    result["ratios"] = {k: v / result["rates"]["official"] for k, v in result["rates"].items()
                        if k != "official"}
    result["median_ratios"] = {k: v / result["median_rates"]["official"]
                               for k, v in result["median_rates"].items() if k != "official"}
    result["gflops"] = {k: v * result["gflops_per_pair"] for k, v in result["rates"].items()}
    return result


# ------------------------------------------------------------------------------------------------
def fmt_rate(x):
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def print_report(results, state, args, elapsed, load):
    variants = args.variants
    peak = state.get("matmul")
    print()
    print("Pairs/s of the fastest call of each side, interleaved in one run (ratio to official):")
    header = ["net", "size x batch", "official"] + [f"TF {v}" for v in variants]
    header += ["GFLOP/s official / " + " / ".join(variants), "peak RSS MiB official / TF"]
    rows = []
    for r in results:
        row = [r["net"], f"{r['size']}x{r['size']} x {r['batch']}",
               fmt_rate(r["rates"]["official"])]
        row += [f"{fmt_rate(r['rates'][v])} ({r['ratios'][v]:.2f}x)" for v in variants]
        row.append(" / ".join(f"{r['gflops'][v]:.0f}" for v in ["official"] + variants))
        row.append(f"{r['peak_rss_mib']['official']:.0f} / {r['peak_rss_mib']['tf']:.0f}")
        rows.append(row)
    print_table(header, rows)
    print("\nMedian call (ratio of medians; median of per-round ratios), calls timed, and the "
          "share of the CPU other processes used during the timed runs:")
    header = ["net", "size", "official"] + [f"TF {v}" for v in variants] + ["calls", "other load"]
    rows = []
    for r in results:
        row = [r["net"], str(r["size"]), fmt_rate(r["median_rates"]["official"])]
        row += [f"{fmt_rate(r['median_rates'][v])} ({r['median_ratios'][v]:.2f}x; "
                f"{r['round_ratios'][v]:.2f}x)" for v in variants]
        row.append("/".join(str(r["calls"][k]) for k in ["official"] + variants))
        row.append(f"{max(r['foreign_cpu_share'].values()):.0%}; "
                   f"waited {r['waited_seconds']:.0f} s")
        rows.append(row)
    print_table(header, rows)
    if peak:
        print(f"\ntf.matmul {args.matmul_n}x{args.matmul_n} peak (fastest call): "
              f"float32 {peak['float32']:.0f} GFLOP/s, bfloat16 {peak['bfloat16']:.0f} GFLOP/s. "
              f"Convolution GFLOP/s as a share of it (bf16 variants: of the bfloat16 peak):")
        for r in results:
            parts = [f"official {r['gflops']['official'] / peak['float32']:.0%}"]
            for v in variants:
                ref = peak["bfloat16"] if v.startswith("bf16") else peak["float32"]
                parts.append(f"{v} {r['gflops'][v] / ref:.0%}")
            print(f"  {r['net']} {r['size']}: " + ", ".join(parts))
    print("\nSame numbers: max |d_TF - d_official| on the timed inputs (float32 variants); bf16: "
          "max relative error vs TF float32")
    for r in results:
        parts = [f"{k} {v:.1e}" for k, v in r["max_abs_diff_vs_official"].items()
                 if not k.startswith("bf16")]
        parts += [f"{k} {v:.2%}" for k, v in r["bf16_max_rel_err_vs_float32"].items()]
        print(f"  {r['net']} {r['size']} (median d {r['median_distance']:.3f}): "
              + ", ".join(parts))
    if state["accuracy"]:
        print(f"\nmixed_bfloat16 vs float32 on {args.triplets} generated 2AFC triplets of "
              f"{args.accuracy_size}x{args.accuracy_size} distorted photo patches "
              f"(lpips_tf/data/photos):")
        header = ["net (trunk; median d)", "head", "2AFC agreement", "max rel err",
                  "max rel err, d > p10", "p99 rel err", "median rel err", "max abs err",
                  "largest margin flipped"]
        rows = []
        for net, acc in state["accuracy"].items():
            trunk = "random" if acc["trunk"].startswith("random") else "real"
            for name, label in (("mixed_bfloat16", "float32 (lpips_tf)"),
                                ("bf16_head", "bfloat16")):
                a = acc[name]
                rows.append([f"{net} ({trunk}; {acc['median_distance']:.3f})", label,
                             f"{a['agreement']:.2%} ({a['flipped']} of {acc['triplets']} flip)",
                             f"{a['max_rel_err']:.1%}", f"{a['max_rel_err_above_p10']:.1%}",
                             f"{a['p99_rel_err']:.1%}", f"{a['median_rel_err']:.2%}",
                             f"{a['max_abs_err']:.1e}", f"{a['flipped_max_margin']:.2%}"])
        print_table(header, rows)
        print("  bfloat16 trunk in both rows; the second computes the head in bfloat16 too. "
              "Relative error |d_bf16 / d_fp32 - 1| over d0 and d1 of all triplets; \"d > p10\": "
              "without the smallest tenth of the distances. Margin: |d0 - d1| / max(d0, d1) in "
              "float32 of a decision that flipped.")
    tf_info = state.get("versions", {}).get("tf", {})
    torch_info = state.get("versions", {}).get("torch", {})
    print(f"\n{cpu_name()}, {os.cpu_count()} cores; threads: TF intra-op {args.threads}, inter-op "
          f"{args.inter_op}; torch {args.threads} (interop 1). TF {tf_info.get('tensorflow')}, "
          f"Keras {tf_info.get('keras')}, oneDNN opts {tf_info.get('onednn')}; "
          f"torch {torch_info.get('torch')}, lpips {torch_info.get('lpips')}.")
    print(f"Rounds {args.rounds} x {args.seconds:g} s per side; load average before / after "
          f"{load[0]:.2f} / {load[1]:.2f}; {state['retries']} disturbed runs repeated; "
          f"total {elapsed:.0f} s.")


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def print_table(header, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def line(cells):
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line(row))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--configs", default=DEFAULT_CONFIGS,
                        help="net:size:batch,... (default: %(default)s)")
    parser.add_argument("--nets", default=None, help="only these nets, e.g. alex,vgg")
    parser.add_argument("--large", action="store_true",
                        help="also 1024x1024 batch 1 for each net (VGG: ~30 s per round)")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS,
                        help=f"TF variants, from {','.join(ALL_VARIANTS)} (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--seconds", type=float, default=1.0,
                        help="time per side per round; at least one call (default 1)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="torch.set_num_threads and TF intra-op threads (default: all cores)")
    parser.add_argument("--inter-op", type=int, default=1, help="TF inter-op threads (default 1)")
    parser.add_argument("--max-foreign", type=float, default=0.3,
                        help="before a timed run, wait until other processes use at most this "
                             "share of the machine's CPU (see --wait); repeat a run during which "
                             "they used more (see --retries) (default 0.3)")
    parser.add_argument("--wait", type=float, default=10.0,
                        help="seconds per configuration that may be spent waiting for a quiet "
                             "machine (default 10)")
    parser.add_argument("--retries", type=int, default=1,
                        help="repeats of a disturbed run before it is kept anyway (default 1)")
    parser.add_argument("--onednn", choices=("default", "0", "1"), default="default",
                        help="TF_ENABLE_ONEDNN_OPTS for the TF worker")
    parser.add_argument("--triplets", type=int, default=200,
                        help="2AFC triplets for the bf16 accuracy check, 0 to skip (default 200)")
    parser.add_argument("--accuracy-size", type=int, default=64,
                        help="patch size of the triplets; checked in the config of that size")
    parser.add_argument("--real-trunks", default=None,
                        help="folder with torchvision trunk state dicts (" +
                             ", ".join(REAL_TRUNKS.values()) + ") for the accuracy check; "
                             "nets without a file there use the random trunk")
    parser.add_argument("--no-matmul", dest="matmul", action="store_false",
                        help="skip the tf.matmul peak measurement")
    parser.add_argument("--matmul-n", type=int, default=2048)
    parser.add_argument("--torch-python", default=default_torch_python(),
                        help="python of the reference environment (default: $LPIPS_TORCH_PYTHON, "
                             "./torchenv or ../torchenv)")
    parser.add_argument("--tf-python", default=sys.executable)
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for v in args.variants:
        if v not in ALL_VARIANTS:
            parser.error(f"unknown variant {v!r}; choose from {ALL_VARIANTS}")
    if not args.torch_python:
        parser.error("no reference environment found: create one (see --help) and pass "
                     "--torch-python or set LPIPS_TORCH_PYTHON")
    nets = set(args.nets.split(",")) if args.nets else None
    configs = parse_configs(args.configs, nets, args.large)

    start, load_before = time.time(), os.getloadavg()[0]
    state = {"accuracy": {}, "retries": 0}
    results = []
    with tempfile.TemporaryDirectory(prefix="lpips_bench_") as log_dir:
        for net, size, batch in configs:
            t = time.time()
            result = run_config(args, net, size, batch, log_dir, state)
            results.append(result)
            print(f"{net} {size}x{size} batch {batch}: official "
                  f"{fmt_rate(result['rates']['official'])} pairs/s; "
                  + ", ".join(f"{v} {fmt_rate(result['rates'][v])} ({result['ratios'][v]:.2f}x)"
                              for v in args.variants)
                  + f"  [{time.time() - t:.0f} s]", flush=True)
    elapsed = time.time() - start
    print_report(results, state, args, elapsed, (load_before, os.getloadavg()[0]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": results, "matmul_peak_gflops": state.get("matmul"),
                       "accuracy": state["accuracy"], "versions": state.get("versions"),
                       "args": vars(args), "seconds": elapsed}, f, indent=1)


if __name__ == "__main__":
    main()
