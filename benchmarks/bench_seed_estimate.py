"""How long the seed experiment (`experiment.py`) would take on full BAPPS on this machine.

Full BAPPS cannot be downloaded here, so this times every step of the experiment on a synthetic
set with BAPPS' file format (PNG patches stored at 256 px, loaded at 64) and scales each by
BAPPS' counts. Random trunk weights: the trunk pass costs the same with pretrained ones.

    python benchmarks/bench_seed_estimate.py                 # about 10 minutes on 2 cores
    python benchmarks/bench_seed_estimate.py --triplets 150  # a quick look

Steps timed (the seed study's plan, `lpips_tf.experiments.seed`):
  * the statistics passes (`lpips_tf.training.cached_stats.compute_triplet_stats`, decoding
    included) over the train and val triplets: AlexNet once (alex4-* read alex-lin's), the
    pretrained VGG16 once (vgg2-* read vgg-lin's) and the untrained VGG16 of vgg-rand-cos;
  * the epochs on vectors (`build_cached_2afc_model` + `model.fit`, one step per batch of 50);
  * the evaluation: 2AFC scored from the cached statistics, so only decoding and the L2 / SSIM
    baselines touch those images; JND pairs through every model's trunk.
"""

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import cpu_name  # noqa: E402

# BAPPS: 2AFC train (traditional 56.6k + cnn 38.1k + mix 56.6k), 2AFC val (six subsets), JND val.
BAPPS = {"train": 151_400, "val": 36_344, "jnd": 9_600}
# Models of the seed study per trunk pass kind; "vgg2" reads the first two taps only.
JND_MODELS = {"alex": 3, "vgg": 2, "vgg2": 2}  # alex-lin alex4-lin alex4-cos / vgg-lin
MODELS = 7                                     # vgg-rand-cos / vgg2-lin vgg2-cos


def _first(index, n):
    """The index's first `n` triplets (a warm-up that traces the functions at full batch)."""
    import dataclasses

    return dataclasses.replace(index, ref=index.ref[:n], p0=index.p0[:n], p1=index.p1[:n],
                               judge=index.judge[:n], subset_ids=index.subset_ids[:n])


def stats_rate(net, index, taps, batch_size):
    """Triplets per second of the statistics pass (decoding included) once it runs: the time of
    the whole index minus that of its first half, so that what every call pays once (tracing,
    hashing the trunk weights and the files) cancels out, as it does over 187k triplets."""
    import lpips_tf
    from lpips_tf.training.cached_stats import compute_triplet_stats

    model = lpips_tf.LPIPS(net=net, trunk_weights=None, lin_weights=None, taps=taps)
    half = _first(index, len(index) // 2)
    seconds = []
    for part in (_first(index, batch_size), half, index):
        start = time.perf_counter()
        compute_triplet_stats(model, part, verbose=0, batch_size=batch_size)
        seconds.append(time.perf_counter() - start)
    return (len(index) - len(half)) / (seconds[2] - seconds[1]), sum(model.channels)


def decode_rate(index, batch_size):
    """Triplets per second of decoding alone (the same `tf.data` pipeline, no trunk)."""
    from lpips_tf.data.bapps import twoafc_dataset

    start = time.perf_counter()
    for _ in twoafc_dataset(index, batch_size=batch_size):
        pass
    return len(index) / (time.perf_counter() - start)


def fit_rate(channels, steps, batch_size):
    """Training steps per second on cached statistics (the vgg-lin width)."""
    import numpy as np

    from lpips_tf.training.cached_stats import build_cached_2afc_model, stats_dataset

    rng = np.random.default_rng(0)
    n = steps * batch_size
    stats = {"s0": rng.random((n, channels), np.float32), "s1": rng.random((n, channels),
                                                                              np.float32),
             "judge": rng.random(n).astype(np.float32)}
    model = build_cached_2afc_model([channels])
    data = stats_dataset(stats, batch_size)
    model.fit(data.take(5), verbose=0)
    start = time.perf_counter()
    model.fit(data, verbose=0)
    return steps / (time.perf_counter() - start)


def baseline_rate(data_dir):
    """Triplets per second of 2AFC scoring with L2 and SSIM only (the images of every triplet
    are decoded; the LPIPS models' 2AFC distances come from their cached statistics)."""
    from lpips_tf.evaluation import evaluate as evaluation

    variants = evaluation.resolve_variants(["l2", "ssim"], baselines=True)
    start = time.perf_counter()
    evaluation.evaluate(data_dir, variants, sets="2afc", n_boot=10, progress=False)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--triplets", type=int, default=600,
                        help="synthetic triplets timed per step (default 600; the statistics "
                             "passes are timed on the second half)")
    parser.add_argument("--batch_size", type=int, default=50)
    parser.add_argument("--fit_steps", type=int, default=600)
    args = parser.parse_args()

    from lpips_tf.data import bapps
    from lpips_tf.data.synthetic import generate

    print(f"CPU: {cpu_name()}")
    with tempfile.TemporaryDirectory() as root:
        generate(root, os.path.join(ROOT, "lpips_tf", "data", "photos"), n_train=args.triplets,
                 n_val=args.triplets, n_jnd=0, patch=256, verbose=False)
        index = bapps.index_2afc(root, "train/traditional")
        rates = {"decode": decode_rate(index, args.batch_size)}
        channels = {}
        for name, net, taps in (("alex", "alex", None), ("vgg", "vgg", None),
                                ("vgg2", "vgg", 2)):
            rates[name], channels[name] = stats_rate(net, index, taps, args.batch_size)
        steps_per_s = fit_rate(channels["vgg"], args.fit_steps, args.batch_size)
        baseline_s = baseline_rate(root) / args.triplets

    triplets = BAPPS["train"] + BAPPS["val"]
    rows = [  # (step, count, per second, seconds)
        ("statistics pass, AlexNet (alex-lin; alex4-* reuse it)", triplets, rates["alex"]),
        ("statistics pass, pretrained VGG16 (vgg-lin; vgg2-* reuse it)", triplets, rates["vgg"]),
        ("statistics pass, untrained VGG16 (vgg-rand-cos)", triplets, rates["vgg"]),
    ]
    # 10 epochs (5 + 5 decay) of training and one validation pass per epoch, 7 models.
    steps = MODELS * 10 * (BAPPS["train"] + BAPPS["val"]) // args.batch_size
    rows.append((f"epochs on vectors ({MODELS} models x 10, steps)", steps, steps_per_s))
    rows.append(("evaluation 2AFC: decoding + L2 + SSIM (triplets)", BAPPS["val"],
                 1.0 / baseline_s))
    for kind, count in JND_MODELS.items():
        # A JND pair is two images; a triplet of the statistics pass three.
        rows.append((f"evaluation JND through {count} {kind} model(s) (pairs)",
                     count * BAPPS["jnd"], rates[kind] * 1.5))
    print(f"\nMeasured on {args.triplets} synthetic triplets of 256 px PNGs loaded at 64 px, "
          f"batch {args.batch_size}:")
    print(f"  decoding alone {rates['decode']:.1f} triplets/s; statistics passes (triplets/s): "
          f"alex {rates['alex']:.1f}, vgg {rates['vgg']:.1f}, vgg first 2 taps "
          f"{rates['vgg2']:.1f}; fit {steps_per_s:.0f} steps/s; L2+SSIM 2AFC "
          f"{1 / baseline_s:.1f} triplets/s")
    print(f"\nFull BAPPS ({BAPPS['train']} train / {BAPPS['val']} val triplets, "
          f"{BAPPS['jnd']} JND pairs), estimated:\n")
    print("| step | count | per second | hours |\n|---|---|---|---|")
    total = 0.0
    for step, count, rate in rows:
        hours = count / rate / 3600
        total += hours
        print(f"| {step} | {count:,} | {rate:.1f} | {hours:.2f} |")
    print(f"| **total** | | | **{total:.2f}** |")


if __name__ == "__main__":
    main()
