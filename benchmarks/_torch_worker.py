"""The PyTorch side of benchmarks/bench_lpips.py: the official `lpips` package (never imports TF).

    torchenv/bin/python benchmarks/_torch_worker.py --threads 2

The official `lpips.LPIPS` class runs as published (v0.1 lin weights shipped in its wheel); only
its trunk is replaced, with a strict load, by the seeded random weights of
`lpips_tf/testing/random_weights.py`, which the TensorFlow worker loads too. Eval mode, torch.no_grad().
"""

import argparse
import os
import sys

# lpips_tf (for the shared random trunk) on Keras' torch backend: TensorFlow must not load here.
os.environ["KERAS_BACKEND"] = "torch"

import numpy as np

import _common

sys.path.insert(0, os.path.join(_common.ROOT, "tools"))
from official_trunk import load_trunk  # noqa: E402


class Worker:
    def __init__(self, threads):
        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
        self.torch = torch
        self.model = None

    def hello(self):
        import importlib.metadata

        import torch

        return {"torch": torch.__version__, "lpips": importlib.metadata.version("lpips"),
                "threads": torch.get_num_threads(), "rss_mib": _common.current_rss_mib()}

    def _build(self, net):
        import lpips

        torch = self.torch
        model = lpips.LPIPS(pretrained=True, net=net, version="0.1", pnet_rand=True, verbose=False)
        state = _common.random_trunk_state_dict(net, seed=0)
        load_trunk(model, {k: torch.from_numpy(v) for k, v in state.items()})
        return model.eval()

    def setup(self, net, size, batch):
        torch = self.torch
        self.model = self._build(net)
        x0, x1 = _common.benchmark_inputs(size, batch)
        # NHWC -> NCHW, contiguous, as a torch user would hold them.
        self.inputs = tuple(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
                            for x in (x0, x1))
        with torch.no_grad():
            d, seconds = _common.warm_up(lambda: self.model(*self.inputs).numpy().reshape(-1))
        return {"distances": d.astype(float).tolist(), "setup_seconds": seconds,
                "rss_mib": _common.current_rss_mib()}

    def run(self, seconds):
        torch = self.torch
        x0, x1 = self.inputs

        def call():
            with torch.no_grad():
                self.model(x0, x1).numpy()

        return _common.timed_calls(call, seconds)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, required=True)
    args = parser.parse_args()
    worker = Worker(args.threads)
    _common.serve({"hello": worker.hello, "setup": worker.setup, "run": worker.run})


if __name__ == "__main__":
    sys.exit(main())
