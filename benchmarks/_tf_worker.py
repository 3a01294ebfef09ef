"""The TensorFlow side of benchmarks/bench_lpips.py: a persistent worker (never imports torch).

    python benchmarks/_tf_worker.py --intra 2 --inter 1

Requests (JSON lines, see _common.py): hello, setup, run, matmul, accuracy.
"""

import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import _common  # noqa: E402  (benchmarks/ is sys.path[0] when run as a script)

# Variant name -> (dtype policy, jit_compile). jit_compile None: the plain call model([x0, x1])
# (which runs lpips_tf's compiled fast path); "keras-eager": Keras' layer-by-layer eager call
# (keras.Model.__call__), what the plain call was before it became the fast path.
VARIANTS = {
    "call": ("float32", None),
    "keras-eager": ("float32", "keras-eager"),
    "bf16-call": ("mixed_bfloat16", None),
    "graph": ("float32", False),
    "xla": ("float32", True),
    "bf16": ("mixed_bfloat16", False),
    "bf16-xla": ("mixed_bfloat16", True),
}


class Worker:
    def __init__(self, intra, inter):
        import tensorflow as tf

        from lpips_tf.core.compiled import configure_threads

        configure_threads(intra, inter)
        self.tf = tf
        self.models = {}
        self.fns = {}
        self.inputs = None
        self.tmp = tempfile.mkdtemp(prefix="lpips_bench_tf_")

    # -------------------------------------------------------------------------------------------
    def hello(self):
        import keras
        import tensorflow as tf

        return {"tensorflow": tf.__version__, "keras": keras.__version__,
                "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"),
                "rss_mib": _common.current_rss_mib()}

    def _model(self, net, policy, trunk=None):
        """LPIPS with the seeded random trunk, or with the torchvision state dict at `trunk`."""
        import lpips_tf
        from lpips_tf.testing.random_weights import random_trunk_state_dict

        key = (net, policy, trunk)
        if key not in self.models:
            path = trunk
            if path is None:
                path = os.path.join(self.tmp, f"{net}_seed0.npz")
                if not os.path.exists(path):
                    np.savez(path, **random_trunk_state_dict(net, seed=0))
            self.models[key] = lpips_tf.LPIPS(net=net, trunk_weights=path, dtype=policy)
        return self.models[key]

    def setup(self, net, size, batch, variants, warmup=2):
        """Builds the variants, checks the FLOP count, warms up; returns the distances."""
        from lpips_tf.core.compiled import compiled_distance_fn

        tf = self.tf
        x0, x1 = _common.benchmark_inputs(size, batch)
        self.inputs = (tf.constant(x0), tf.constant(x1))
        self.net = net
        check_flops(self._model(net, "float32").trunk, net, size)
        self.fns = {}
        out = {"distances": {}, "setup_seconds": {}}
        for name in variants:
            policy, jit = VARIANTS[name]
            model = self._model(net, policy)
            if jit is None:
                fn = lambda a, b, model=model: model([a, b])  # noqa: E731
            elif jit == "keras-eager":
                import keras

                fn = lambda a, b, model=model: keras.Model.__call__(model, [a, b])  # noqa: E731
            else:
                fn = compiled_distance_fn(model, jit_compile=jit)
            d, out["setup_seconds"][name] = _common.warm_up(
                lambda fn=fn: fn(*self.inputs).numpy(), calls=warmup)
            out["distances"][name] = d.astype(float).tolist()
            self.fns[name] = fn
        out["rss_mib"] = _common.current_rss_mib()
        return out

    def run(self, variant, seconds):
        fn, (x0, x1) = self.fns[variant], self.inputs
        return _common.timed_calls(lambda: fn(x0, x1).numpy(), seconds)

    def matmul(self, dtype, n, seconds):
        tf = self.tf
        key = ("matmul", dtype, n)
        if key not in self.fns:
            rng = np.random.default_rng(0)
            a = tf.cast(tf.constant(rng.standard_normal((n, n), np.float32)), dtype)
            b = tf.cast(tf.constant(rng.standard_normal((n, n), np.float32)), dtype)
            matmul = tf.function(tf.matmul)
            matmul(a, b)
            self.fns[key] = (matmul, a, b)
        matmul, a, b = self.fns[key]
        result = _common.timed_calls(lambda: matmul(a, b).numpy(), seconds)
        result["gflops"] = 2.0 * n**3 * result["calls"] / result["seconds"] / 1e9
        return result

    def accuracy(self, net, triplets, size=64, seed=0, batch=50, trunk=None):
        """bfloat16 vs float32 on 2AFC triplets of distorted photo patches (see make_triplets)."""
        from lpips_tf.core.compiled import compiled_distance_fn

        tf = self.tf
        ref, p0, p1 = make_triplets(triplets, size, seed)
        m16 = self._model(net, "mixed_bfloat16", trunk)
        lins = [tf.constant(w) for w in m16.get_lin_weights()]
        spec = tf.TensorSpec([None, None, None, 3], tf.float32)

        # The alternative we did not take: the LPIPS head (normalisation, squared differences,
        # lin, average) in bfloat16 too, on the same bfloat16 trunk features.
        @tf.function(input_signature=[spec, spec])
        def bf16_head(a, b):
            x = m16.scaling(tf.concat([a, b], axis=0))
            return head(m16.trunk(x), tf.shape(a)[0], lins, tf.bfloat16)

        fns = {"float32": compiled_distance_fn(self._model(net, "float32", trunk)),
               "mixed_bfloat16": compiled_distance_fn(m16), "bf16_head": bf16_head}
        results = {}
        for name, fn in fns.items():
            d0, d1 = [], []
            for i in range(0, triplets, batch):
                r = ref[i:i + batch]
                d0.append(fn(r, p0[i:i + batch]).numpy())
                d1.append(fn(r, p1[i:i + batch]).numpy())
            results[name] = (np.concatenate(d0), np.concatenate(d1))
        f0, f1 = results["float32"]
        d32 = np.concatenate([f0, f1])
        # How close the float32 decisions that flipped were: |d0 - d1| relative to the distances.
        margin = np.abs(f0 - f1) / np.maximum(f0, f1)
        out = {"triplets": int(triplets), "trunk": trunk or "random (seed 0)",
               "median_distance": float(np.median(d32)), "min_distance": float(d32.min()),
               "median_margin": float(np.median(margin))}
        for name in ("mixed_bfloat16", "bf16_head"):
            b0, b1 = results[name]
            d16 = np.concatenate([b0, b1])
            rel = np.abs(d16 - d32) / np.maximum(np.abs(d32), 1e-6)
            agree = np.sign(b0 - b1) == np.sign(f0 - f1)
            out[name] = {
                "max_rel_err": float(rel.max()),
                # Relative error is largest for the smallest distances: also without the
                # smallest tenth of the float32 distances.
                "max_rel_err_above_p10": float(rel[d32 >= np.quantile(d32, 0.1)].max()),
                "p99_rel_err": float(np.quantile(rel, 0.99)),
                "median_rel_err": float(np.median(rel)),
                "max_abs_err": float(np.abs(d16 - d32).max()),
                "agreement": float(agree.mean()),
                "flipped": int((~agree).sum()),
                "flipped_max_margin": float(margin[~agree].max()) if (~agree).any() else 0.0,
            }
        return out


# ------------------------------------------------------------------------------------------------
def head(features, batch, lin_weights, dtype, eps=1e-10):
    """The LPIPS head computed in `dtype`: what LPIPS.call does after the trunk (non-spatial)."""
    import tensorflow as tf

    total = 0.0
    for f, w in zip(features, lin_weights):
        f = tf.cast(f, dtype)
        f = f / (tf.sqrt(tf.reduce_sum(tf.square(f), axis=-1, keepdims=True)) + eps)
        d = tf.square(f[:batch] - f[batch:])
        per_position = tf.tensordot(d, tf.cast(w, dtype), axes=[[3], [0]])
        total += tf.cast(tf.reduce_mean(per_position, axis=[1, 2]), tf.float32)
    return total


def check_flops(trunk, net, size):
    """The analytic count of _common.trunk_flops must equal one from the Keras trunk's layers."""
    import keras

    convs = [layer for layer in trunk.layers if isinstance(layer, keras.layers.Conv2D)]
    probe = keras.Model(trunk.inputs, [layer.output for layer in convs])
    shapes = probe.compute_output_spec(keras.KerasTensor((1, size, size, 3)))
    macs = 0
    for layer, out in zip(convs, shapes):
        kh, kw, c_in, c_out = layer.kernel.shape
        macs += out.shape[1] * out.shape[2] * c_out * c_in * kh * kw
    expected = _common.trunk_flops(net, size, size)
    if 2 * macs != expected:
        raise AssertionError(f"FLOP count mismatch for {net} at {size}: Keras layers give "
                             f"{2 * macs}, benchmarks/_common.py {expected}")


def make_triplets(count, size, seed):
    """2AFC triplets (reference, p0, p1) from the test photos, float32 in [-1, 1].

    Each reference is a random square crop (side `size` to 4 x `size`, at most the photo's short
    side) of one of lpips_tf/data/photos, resized to `size` with area averaging and randomly
    mirrored; p0 and p1 are independent distortions of it, each one or two of: Gaussian noise,
    Gaussian blur, JPEG, contrast, brightness, saturation, a shift by 1-3 pixels, down-up
    sampling, each with a random strength. Seeded: the same triplets every run.
    """
    import tensorflow as tf

    from lpips_tf.data.images import list_images, load_image

    folder = os.path.join(_common.ROOT, "tests", "data", "photos")
    photos = [load_image(os.path.join(folder, name)) for name in list_images(folder)]
    rng = np.random.default_rng(seed)
    refs = []
    for _ in range(count):
        photo = photos[rng.integers(len(photos))]
        h, w, _ = photo.shape
        side = int(rng.integers(size, max(size, min(h, w, 4 * size)) + 1))
        top, left = rng.integers(h - side + 1), rng.integers(w - side + 1)
        crop = photo[top:top + side, left:left + side]
        crop = tf.image.resize(crop, (size, size), method="area").numpy()
        refs.append(crop[:, ::-1] if rng.random() < 0.5 else crop)
    refs = np.clip(np.stack(refs), -1.0, 1.0).astype(np.float32)
    p0 = np.stack([_distort(r, rng) for r in refs])
    p1 = np.stack([_distort(r, rng) for r in refs])
    return refs, p0, p1


def _gaussian_blur(x, sigma):
    import tensorflow as tf

    radius = max(1, int(np.ceil(3 * sigma)))
    t = np.arange(-radius, radius + 1, dtype=np.float32)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    k /= k.sum()
    padded = np.pad(x, ((radius, radius), (radius, radius), (0, 0)), mode="reflect")
    kernel = np.zeros((2 * radius + 1, 1, 3, 1), np.float32)
    kernel[:, 0, :, 0] = k[:, None]
    y = tf.nn.depthwise_conv2d(padded[None], kernel, [1, 1, 1, 1], "VALID")
    y = tf.nn.depthwise_conv2d(y, np.transpose(kernel, (1, 0, 2, 3)), [1, 1, 1, 1], "VALID")
    return y[0].numpy()


def _distort(ref, rng):
    import tensorflow as tf

    x = ref.copy()
    names = ["noise", "blur", "jpeg", "contrast", "brightness", "saturation", "shift", "downup"]
    for name in rng.choice(names, size=int(rng.integers(1, 3)), replace=False):
        s = rng.uniform(0.05, 1.0)  # strength
        if name == "noise":
            x = x + rng.standard_normal(x.shape).astype(np.float32) * 0.25 * s
        elif name == "blur":
            x = _gaussian_blur(x, 0.4 + 2.0 * s)
        elif name == "jpeg":
            u8 = tf.cast(tf.round((np.clip(x, -1, 1) + 1) * 127.5), tf.uint8)
            quality = int(90 - 85 * s)
            x = tf.cast(tf.image.adjust_jpeg_quality(u8, quality), tf.float32).numpy() / 127.5 - 1
        elif name == "contrast":
            factor = 1.0 + rng.choice([-0.6, 0.6]) * s
            x = (x - x.mean()) * factor + x.mean()
        elif name == "brightness":
            x = x + rng.choice([-0.4, 0.4]) * s
        elif name == "saturation":
            gray = x.mean(axis=-1, keepdims=True)
            x = gray + (x - gray) * (1.0 + rng.choice([-0.9, 0.9]) * s)
        elif name == "shift":
            dy, dx = rng.integers(1, 4, size=2) * rng.choice([-1, 1], size=2)
            h, w, _ = x.shape
            padded = np.pad(x, ((3, 3), (3, 3), (0, 0)), mode="edge")
            x = padded[3 + dy:3 + dy + h, 3 + dx:3 + dx + w]
        else:
            h, w, _ = x.shape
            factor = 1.5 + 2.5 * s
            small = tf.image.resize(x, (max(2, int(h / factor)), max(2, int(w / factor))),
                                    method="area")
            x = tf.image.resize(small, (h, w), method="bilinear").numpy()
        x = np.asarray(x, np.float32)
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--intra", type=int, required=True)
    parser.add_argument("--inter", type=int, required=True)
    args = parser.parse_args()
    worker = Worker(args.intra, args.inter)
    _common.serve({"hello": worker.hello, "setup": worker.setup, "run": worker.run,
                   "matmul": worker.matmul, "accuracy": worker.accuracy})


if __name__ == "__main__":
    main()
