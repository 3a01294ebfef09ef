"""What the benchmark's parent and its two workers share; imports neither TensorFlow nor PyTorch.

* A line protocol: the parent writes one JSON request per line to a worker's stdin; the worker
  answers with one JSON line on its original stdout, which nothing else may write to (a worker
  points file descriptor 1 at stderr once it has kept a copy for the protocol).
* Analytic convolution FLOP counts of the three trunks for an input size.
* The CPU's name for the tables, and the seeded random trunks of both sides.
"""

import json
import os
import resource
import subprocess
import sys
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_name():
    """lscpu's model name and CPU count, e.g. "AMD EPYC, 2 CPU(s)", for every table printed."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown CPU (lscpu failed)"
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    name = fields.get("Model name", "unknown").strip()
    cpus = fields.get("CPU(s)", "?").strip()
    return f"{name}, {cpus} CPU(s)"


def random_trunk_state_dict(net, seed=0):
    """The seeded random trunk both sides use (`lpips_tf.testing.random_weights`). A torch-side
    process sets KERAS_BACKEND=torch (or numpy) before this import, so that `import lpips_tf`
    does not start TensorFlow there."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from lpips_tf.testing.random_weights import random_trunk_state_dict as make

    return make(net, seed=seed)


# ------------------------------------------------------------------------------------------------
# Worker side of the protocol.
def serve(handlers):
    """Answers requests `{"cmd": name, ...}` with `handlers[name](**rest)` until "quit" or EOF."""
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    for line in sys.stdin:
        request = json.loads(line)
        command = request.pop("cmd")
        if command == "quit":
            channel.write(json.dumps(usage()) + "\n")
            break
        try:
            reply = handlers[command](**request)
        except Exception:  # reported to the parent, which stops with the worker's traceback
            reply = {"error": traceback.format_exc()}
        channel.write(json.dumps(reply) + "\n")
    channel.close()


def usage():
    """Peak resident set size (the high-water mark since the process started) in MiB."""
    # Linux reports ru_maxrss in KiB.
    return {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}


def current_rss_mib():
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def timed_calls(fn, seconds, min_calls=1):
    """Calls `fn()` until `seconds` have passed and at least `min_calls` were made.

    Returns the number of calls, the total time and the time of each call.
    """
    times = []
    start = time.perf_counter()
    while True:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and len(times) >= min_calls:
            return {"calls": len(times), "seconds": elapsed, "call_seconds": times}


def warm_up(fn, calls=2, seconds=2.0):
    """The first call (tracing, primitive creation), then more until `calls` or `seconds`."""
    start = time.perf_counter()
    result = fn()
    for _ in range(calls - 1):
        if time.perf_counter() - start > seconds:
            break
        result = fn()
    return result, time.perf_counter() - start


def cpu_busy_seconds():
    """Busy CPU time of the whole machine (all processes, all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid):
    """User + system CPU time of a process (all its threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def benchmark_inputs(size, batch, seed=0):
    """The pairs both sides time: (x0, x1), float32 NHWC in [-1, 1], from a seeded generator.

    x0 is uniform noise and x1 is x0 plus Gaussian noise (clipped), so that distances are neither
    zero nor saturated. Speed does not depend on the content; the distances are compared between
    the two sides as a check that they run the same model on the same data.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    x0 = rng.uniform(-1.0, 1.0, (batch, size, size, 3)).astype(np.float32)
    x1 = np.clip(x0 + 0.3 * rng.standard_normal(x0.shape), -1.0, 1.0).astype(np.float32)
    return x0, x1


# ------------------------------------------------------------------------------------------------
# Analytic FLOPs: 2 x multiply-adds of every convolution the LPIPS trunk runs (up to its last
# tap: neither package runs a trunk's final max-pool). Bias adds, ReLUs, pooling and the LPIPS
# head are left out (well under 1% of the total).
def _conv(c_out, k, stride=1, pad=0):
    return ("conv", c_out, k, stride, pad)


def _pool(k, stride, ceil=False):
    return ("pool", k, stride, ceil)


_VGG = []
for _block, (_convs, _width) in enumerate(((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))):
    if _block:
        _VGG.append(_pool(2, 2))
    _VGG += [_conv(_width, 3, 1, 1)] * _convs


def _fire(squeeze, expand):
    return [("fire", squeeze, expand)]


_SQUEEZE = [_conv(64, 3, 2, 0), _pool(3, 2, True)]
_SQUEEZE += _fire(16, 64) + _fire(16, 64) + [_pool(3, 2, True)]
_SQUEEZE += _fire(32, 128) + _fire(32, 128) + [_pool(3, 2, True)]
_SQUEEZE += _fire(48, 192) + _fire(48, 192) + _fire(64, 256) + _fire(64, 256)

ARCHITECTURES = {
    "alex": [_conv(64, 11, 4, 2), _pool(3, 2), _conv(192, 5, 1, 2), _pool(3, 2),
             _conv(384, 3, 1, 1), _conv(256, 3, 1, 1), _conv(256, 3, 1, 1)],
    "vgg": _VGG,
    "squeeze": _SQUEEZE,
}


def _out(n, k, stride, pad, ceil=False):
    span = n + 2 * pad - k
    return (-(-span // stride) if ceil else span // stride) + 1


def trunk_flops(net, height, width, channels=3):
    """Convolution FLOPs (2 x multiply-adds) of one image of height x width through the trunk."""
    h, w, c, macs = height, width, channels, 0
    for layer in ARCHITECTURES[net]:
        if layer[0] == "conv":
            _, c_out, k, stride, pad = layer
            h, w = _out(h, k, stride, pad), _out(w, k, stride, pad)
            macs += h * w * c_out * c * k * k
            c = c_out
        elif layer[0] == "pool":
            _, k, stride, ceil = layer
            h, w = _out(h, k, stride, 0, ceil), _out(w, k, stride, 0, ceil)
        else:
            _, squeeze, expand = layer
            macs += h * w * squeeze * c  # squeeze 1x1
            macs += h * w * expand * squeeze  # expand 1x1
            macs += h * w * expand * squeeze * 9  # expand 3x3, "same"
            c = 2 * expand
    return 2 * macs
