"""A small BAPPS-layout dataset from real photographs and SIMULATED observers.

    python -m lpips_tf.data.synthetic --out /tmp/bapps_synth --photos lpips_tf/data/photos \
        --n_train 2000 --n_val 500 --n_jnd 300 --patch 64 --seed 0

writes 2,500 triplets and 300 JND pairs of 64 px patches (most of the time goes to PNG encoding
and file creation; the README's "Data" section says how long it takes). It lets the training and
evaluation code run end to end offline (the real BAPPS is a 6.6 GB download).

SYNTHETIC DATA: the judgments are simulated observers, NOT human judgments.
Scores on this data say whether a metric recovers the simulated observers'
rule, nothing about human perception.

How it is made:

* Patches: random square crops (patch to 2 x patch pixels, resized to
  `patch` with an antialiased bilinear filter, randomly mirrored) of the
  given photographs. Train, val and JND draw from the same photographs.
* Distortions ("traditional", as in BAPPS): Gaussian blur, Gaussian noise,
  JPEG re-encoding, saturation change, hue rotation, contrast change,
  brightness change, translation and down-up sampling. Each of p0 and p1 gets
  one or two of them with random strengths in [0.05, 1].
* Observers: each distortion has a hidden visibility, a per-distortion
  sensitivity times a function of its strength, modulated by the reference
  patch's content like visual masking (blur, translation and compression
  are invisible on flat patches, noise hides in texture, colour changes need
  colour). Two distortions combine as the root of the sum of squares. An
  observer perceives `m * exp(0.5 z) + 0.02 z'` (z, z' standard normal)
  for each patch and prefers the smaller one; the 2AFC judge is the fraction
  of K observers preferring p1 (K = 2 for train and 5 for val, as in BAPPS).
  For JND, p0 is the reference and p1 a mild single distortion; each of 3
  observers reports "same" when the perceived magnitude falls under their own
  threshold (the median magnitude times `exp(0.25 z)`).

The same seed gives the same dataset, byte for byte. The three parts use
independent random streams, so changing `--n_train` leaves val and JND as
they were.

The dataset's marker is `synthetic.json` at its root: `is_synthetic(data_dir)`
is how training, evaluation and the experiment tell, and `BANNER` is what
each of them (and this generator) says about it.

TensorFlow (image coding and resizing) is imported when data is made, not
with this module: `--help`, `BANNER` and `is_synthetic` stay light.
"""

import functools
import io
import json
import os
import shutil
import textwrap
import time
from concurrent import futures

import numpy as np

__all__ = ["DISTORTIONS", "BANNER", "MARKER", "generate", "is_synthetic", "load_photos",
           "make_jnd", "make_twoafc"]

BANNER = ("SYNTHETIC DATA: judgments are simulated observers, NOT human judgments; scores on it "
          "say nothing about agreement with people")
MARKER = "synthetic.json"
SUBSET = "traditional"
# (name, sensitivity): how visible the distortion is at full strength.
DISTORTIONS = (
    ("blur", 1.0),
    ("noise", 1.0),
    ("jpeg", 0.8),
    ("saturation", 0.6),
    ("hue", 0.9),
    ("contrast", 0.6),
    ("brightness", 0.5),
    ("shift", 0.3),
    ("downup", 0.9),
)
OBSERVERS = {"train": 2, "val": 5, "jnd": 3}
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
# Shipped with the package (package data), so the generator works from an installed wheel.
_DEFAULT_PHOTOS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "photos")


# ----------------------------------------------------------------------------
# Photographs and patches.


def load_photos(sources):
    """Reads photographs as uint8 (H, W, 3) arrays.

    Args:
      sources: a folder, an image file, a comma-separated string of those, or
        a list of them. Folders contribute their .png/.jpg/.jpeg/.bmp files
        (sorted, not recursive).
    """
    import tensorflow as tf

    from lpips_tf.data import bapps

    if isinstance(sources, (str, os.PathLike)):
        sources = [s for s in str(sources).split(",") if s]
    files = []
    for source in sources:
        source = os.fspath(source)
        if os.path.isdir(source):
            files += sorted(
                os.path.join(source, f) for f in os.listdir(source)
                if os.path.splitext(f)[1].lower() in bapps.IMAGE_EXTENSIONS
            )
        elif os.path.isfile(source):
            files.append(source)
        else:
            raise FileNotFoundError(f"No photograph or folder at {source}.")
    if not files:
        raise ValueError(f"No photographs found. Received: sources={sources!r}")
    photos = []
    for path in files:
        try:
            image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        except tf.errors.InvalidArgumentError as e:
            raise bapps.DataError(f"Corrupt image {path}: {e.message.splitlines()[0]}") from None
        photos.append(image.numpy())
    return photos


def _sample_patches(photos, n, patch, rng):
    """n random crops, resized to patch x patch; uint8 (n, patch, patch, 3)."""
    out = np.empty((n, patch, patch, 3), np.uint8)
    which = rng.integers(0, len(photos), size=n)
    u = rng.random((n, 4))
    crops, sizes = [], np.empty(n, int)
    for i in range(n):
        photo = photos[which[i]]
        h, w = photo.shape[:2]
        short = min(h, w)
        hi = min(2 * patch, short)
        size = min(int(patch + u[i, 0] * (hi - patch + 1)), hi) if hi >= patch else short
        y = int(u[i, 1] * (h - size + 1))
        x = int(u[i, 2] * (w - size + 1))
        crop = photo[y : y + size, x : x + size]
        crops.append(crop[:, ::-1] if u[i, 3] < 0.5 else crop)
        sizes[i] = size
    import tensorflow as tf

    # One resize call per crop size, not per crop: each eager call has a fixed overhead.
    for size in np.unique(sizes):
        sel = np.nonzero(sizes == size)[0]
        batch = np.stack([crops[i] for i in sel])
        if size != patch:
            batch = tf.image.resize(batch, [patch, patch], method="bilinear", antialias=True)
            batch = np.clip(np.round(batch.numpy()), 0, 255).astype(np.uint8)
        out[sel] = batch
    return out


def _content_stats(x):
    """Per-patch texture, colourfulness and contrast of float images in [0, 1]."""
    gray = x @ _LUMA
    gy = np.abs(np.diff(gray, axis=1)).mean(axis=(1, 2))
    gx = np.abs(np.diff(gray, axis=2)).mean(axis=(1, 2))
    texture = gx + gy
    colour = np.sqrt(((x - gray[..., None]) ** 2).sum(-1)).mean(axis=(1, 2))
    contrast = gray.reshape(len(x), -1).std(axis=1)
    return texture, colour, contrast


# ----------------------------------------------------------------------------
# Distortions: batched, float32 images in [0, 1], strengths s in [0, 1].


def _reflect(idx, n):
    period = 2 * (n - 1)
    idx = np.mod(idx, period)
    return np.where(idx >= n, period - idx, idx)


def _blur(x, s, rng):
    del rng
    sigma = 0.4 + 2.6 * s
    radius = int(np.ceil(3 * sigma.max()))
    taps = np.arange(-radius, radius + 1, dtype=np.float32)
    kernels = np.exp(-0.5 * (taps[None] / sigma[:, None]) ** 2)
    kernels /= kernels.sum(axis=1, keepdims=True)
    for axis in (1, 2):
        n = x.shape[axis]
        idx = _reflect(np.arange(-radius, n + radius), n)
        padded = np.take(x, idx, axis=axis)
        windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * radius + 1, axis=axis)
        x = np.einsum("bhwck,bk->bhwc", windows, kernels.astype(np.float32), optimize=True)
    return x


def _noise(x, s, rng):
    std = (0.01 + 0.12 * s).astype(np.float32)
    return x + rng.standard_normal(x.shape, dtype=np.float32) * std[:, None, None, None]


def _jpeg(x, s, rng):
    import tensorflow as tf

    del rng
    out = np.empty_like(x)
    quality = np.round(90 - 80 * s).astype(int)
    for i in range(len(x)):
        u8 = np.clip(np.round(x[i] * 255), 0, 255).astype(np.uint8)
        data = tf.io.encode_jpeg(u8, quality=int(quality[i]))
        out[i] = tf.io.decode_jpeg(data, channels=3).numpy() / 255.0
    return out


def _signs(rng, n):
    return np.where(rng.random(n) < 0.5, -1.0, 1.0).astype(np.float32)


def _saturation(x, s, rng):
    factor = np.maximum(0.0, 1.0 + _signs(rng, len(x)) * 0.9 * s)[:, None, None, None]
    gray = (x @ _LUMA)[..., None]
    return gray + factor * (x - gray)


def _hue(x, s, rng):
    # Rotation of the chroma plane of YIQ.
    angle = _signs(rng, len(x)) * s * np.pi / 3
    to_yiq = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    cos, sin = np.cos(angle), np.sin(angle)
    rot = np.zeros((len(x), 3, 3))
    rot[:, 0, 0] = 1.0
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    m = np.linalg.inv(to_yiq)[None] @ rot @ to_yiq[None]
    return np.einsum("bhwc,bdc->bhwd", x, m.astype(np.float32))


def _contrast(x, s, rng):
    factor = np.maximum(0.05, 1.0 + _signs(rng, len(x)) * 0.6 * s)[:, None, None, None]
    mean = (x @ _LUMA).mean(axis=(1, 2))[:, None, None, None]
    return mean + factor * (x - mean)


def _brightness(x, s, rng):
    return x + (_signs(rng, len(x)) * 0.3 * s)[:, None, None, None]


def _shift(x, s, rng):
    pixels = np.round(1 + 3 * s).astype(int)
    angle = rng.random(len(x)) * 2 * np.pi
    dy = np.round(pixels * np.sin(angle)).astype(int)
    dx = np.round(pixels * np.cos(angle)).astype(int)
    n, h, w, _ = x.shape
    rows = _reflect(np.arange(h)[None] - dy[:, None], h)
    cols = _reflect(np.arange(w)[None] - dx[:, None], w)
    return x[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def _downup_factor(s):
    return np.minimum(2 + np.floor(s * 3), 4).astype(int)


def _downup(x, s, rng):
    import tensorflow as tf

    del rng
    out = np.empty_like(x)
    factors = _downup_factor(s)
    h, w = x.shape[1:3]
    for f in np.unique(factors):
        sel = factors == f
        small = tf.image.resize(x[sel], [max(1, round(h / f)), max(1, round(w / f))],
                                method="bilinear", antialias=True)
        out[sel] = tf.image.resize(small, [h, w], method="bilinear").numpy()
    return out


_FUNCTIONS = {
    "blur": _blur, "noise": _noise, "jpeg": _jpeg, "saturation": _saturation, "hue": _hue,
    "contrast": _contrast, "brightness": _brightness, "shift": _shift, "downup": _downup,
}


def _visibility(name, s, stats):
    """Hidden perceptual magnitude of one distortion on each reference patch."""
    texture, colour, contrast = stats
    sensitivity = dict(DISTORTIONS)[name]
    if name == "blur":
        v = s**0.8 * np.sqrt(texture)
    elif name == "noise":
        v = s / np.sqrt(0.25 + texture)
    elif name == "jpeg":
        v = s**1.5 * np.sqrt(texture)
    elif name in ("saturation", "hue"):
        v = s * np.sqrt(colour)
    elif name == "contrast":
        v = s * np.sqrt(contrast)
    elif name == "brightness":
        v = s
    elif name == "shift":
        v = s * np.sqrt(texture)
    else:  # downup: the strength is the rounded factor.
        v = ((_downup_factor(s) - 1) / 3.0) * texture**0.7
    return sensitivity * v


def _normalized_stats(refs):
    stats = _content_stats(refs)
    # Relative to the typical patch, so the sensitivities mean the same thing
    # for any photo collection; the floor keeps flat patches from dividing by 0.
    return tuple(v / max(np.median(v), 1e-6) for v in stats)


def _distort(refs, stats, rng, n_min, n_max, strength):
    """Applies 1..n_max random distortions to each patch; returns images and magnitudes."""
    n = len(refs)
    x = refs.copy()
    count = rng.integers(n_min, n_max + 1, size=n)
    names = [d[0] for d in DISTORTIONS]
    magnitude_sq = np.zeros(n)
    kinds = [[] for _ in range(n)]
    for step in range(n_max):
        active = count > step
        choice = rng.integers(0, len(names), size=n)
        s = strength(rng, n)
        for k, name in enumerate(names):
            sel = active & (choice == k)
            if not sel.any():
                continue
            x[sel] = _FUNCTIONS[name](x[sel], s[sel].astype(np.float32), rng)
            x[sel] = np.clip(x[sel], 0.0, 1.0)
            v = _visibility(name, s[sel], tuple(t[sel] for t in stats))
            magnitude_sq[sel] += v**2
            for i in np.nonzero(sel)[0]:
                kinds[i].append(f"{name}:{s[i]:.2f}")
    x = np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)
    return x, np.sqrt(magnitude_sq), kinds


def _perceive(magnitude, rng, k):
    """k observers' noisy perception of each magnitude; (n, k)."""
    n = len(magnitude)
    return magnitude[:, None] * np.exp(0.5 * rng.standard_normal((n, k))) + 0.02 * rng.standard_normal((n, k))


def make_twoafc(photos, n, patch, rng, observers):
    """In-memory 2AFC triplets.

    Returns:
      dict with uint8 `ref`, `p0`, `p1` (n, patch, patch, 3), float `judge`
      (n,) = fraction of `observers` simulated observers preferring p1, the
      hidden magnitudes `m0`, `m1` and the applied distortions `kinds0/1`.
    """
    refs = _sample_patches(photos, n, patch, rng)
    x = refs.astype(np.float32) / 255.0
    stats = _normalized_stats(x)
    strength = lambda r, m: r.uniform(0.05, 1.0, size=m)
    p0, m0, kinds0 = _distort(x, stats, rng, 1, 2, strength)
    p1, m1, kinds1 = _distort(x, stats, rng, 1, 2, strength)
    prefer_p1 = _perceive(m1, rng, observers) < _perceive(m0, rng, observers)
    judge = prefer_p1.mean(axis=1)
    return dict(ref=refs, p0=p0, p1=p1, judge=judge, m0=m0, m1=m1, kinds0=kinds0, kinds1=kinds1)


def make_jnd(photos, n, patch, rng, observers):
    """In-memory JND pairs: p0 = reference, p1 = a mild distortion of it.

    Returns:
      dict with uint8 `p0`, `p1`, float `same` (n,) = fraction of observers
      who saw no difference, the hidden magnitudes `m` and `kinds`.
    """
    refs = _sample_patches(photos, n, patch, rng)
    x = refs.astype(np.float32) / 255.0
    stats = _normalized_stats(x)
    # Mostly mild distortions, so that many pairs sit near the threshold.
    strength = lambda r, m: 0.6 * r.random(m) ** 2
    p1, m, kinds = _distort(x, stats, rng, 1, 1, strength)
    threshold = np.median(m) * np.exp(0.25 * rng.standard_normal((1, observers)))
    same = (_perceive(m, rng, observers) < threshold).mean(axis=1)
    return dict(p0=refs, p1=p1, same=same, m=m, kinds=kinds)


# ----------------------------------------------------------------------------
# Writing the BAPPS layout.

@functools.lru_cache(maxsize=None)
def _png_encoder():
    import tensorflow as tf

    return tf.function(
        lambda images: tf.map_fn(lambda im: tf.io.encode_png(im, compression=1), images,
                                 fn_output_signature=tf.string, parallel_iterations=16),
        reduce_retracing=True,
    )


def _write_files(folder, named_bytes):
    os.makedirs(folder, exist_ok=True)

    def write(item):
        with open(os.path.join(folder, item[0]), "wb") as f:
            f.write(item[1])

    # Creating thousands of small files is latency-bound; threads overlap it.
    with futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, named_bytes))


def _write_images(folder, images, stems):
    import tensorflow as tf

    encode = _png_encoder()
    encoded = []
    for start in range(0, len(images), 512):
        encoded += list(encode(tf.constant(images[start : start + 512])).numpy())
    _write_files(folder, [(stem + ".png", data) for stem, data in zip(stems, encoded)])


def _npy_bytes(value):
    buf = io.BytesIO()
    # Shape (1,) float64, as the official dataset's .npy files.
    np.save(buf, np.array([value], np.float64))
    return buf.getvalue()


def _write_values(folder, values, stems):
    _write_files(folder, [(stem + ".npy", _npy_bytes(v)) for stem, v in zip(stems, values)])


def _readme(summary):
    return f"""{BANNER}.

This folder was written by `python -m lpips_tf.data.synthetic` (lpips_tf). It has the
layout of the BAPPS dataset (Zhang et al., CVPR 2018) so that training and evaluation code
runs offline, but it is NOT BAPPS and it holds NO human judgments:

- patches are crops of the photographs listed in synthetic.json;
- p0/p1 are "traditional" distortions (blur, noise, JPEG, saturation, hue, contrast,
  brightness, translation, down-up sampling) with random strengths;
- 2afc/*/judge/*.npy is the fraction of SIMULATED observers (2 for train, 5 for val) who
  preferred p1, each observer comparing noisy versions of a hidden, hand-made "visibility"
  of the distortions; jnd/val/*/same/*.npy is the fraction of 3 simulated observers whose
  perceived magnitude fell under their threshold.

Scores on this data measure how well a metric recovers that simulation, not agreement with
people. Do not report them as BAPPS or human-judgment results.

Contents: {json.dumps(summary["counts"])}; seed {summary["seed"]}; patch {summary["patch"]} px.
"""


def generate(out_dir, photos, n_train=2000, n_val=500, n_jnd=300, patch=64, seed=0,
             overwrite=False, verbose=True):
    """Writes a synthetic BAPPS-layout dataset with simulated observers.

    Layout: `2afc/train/traditional/{ref,p0,p1,judge}`,
    `2afc/val/traditional/{ref,p0,p1,judge}`, `jnd/val/traditional/{p0,p1,same}`,
    plus `README.txt` and `synthetic.json` at the root. A count of 0 skips a
    part.

    Args:
      out_dir: dataset root to create.
      photos: photographs, see `load_photos` (or a list of uint8 arrays).
      n_train, n_val, n_jnd: triplets / pairs per part.
      patch: patch size in pixels (at least 8).
      seed: random seed; the output is a deterministic function of it.
      overwrite: replace the parts this function writes if they exist.
      verbose: print the banner and a summary.

    Returns:
      A summary dict (also written to `synthetic.json`).
    """
    if patch < 8:
        raise ValueError(f"patch must be at least 8 pixels. Received: patch={patch}")
    if min(n_train, n_val, n_jnd) < 0:
        raise ValueError(f"Counts must be >= 0. Received: {n_train}, {n_val}, {n_jnd}")
    start = time.perf_counter()
    photo_arrays, photo_desc = _photos_and_description(photos)
    parts = {
        "2afc/train/" + SUBSET: ("train", n_train),
        "2afc/val/" + SUBSET: ("val", n_val),
        "jnd/val/" + SUBSET: ("jnd", n_jnd),
    }
    _clear_parts(out_dir, parts, overwrite)
    counts, judgments = _write_parts(out_dir, parts, photo_arrays, patch, seed)
    summary = {
        "warning": BANNER,
        "generator": "lpips_tf.data.synthetic",
        "seed": seed,
        "patch": patch,
        "counts": counts,
        "observers": OBSERVERS,
        "distortions": dict(DISTORTIONS),
        "photos": photo_desc,
        "judgments": judgments,
    }
    _write_description(out_dir, summary)
    summary["seconds"] = time.perf_counter() - start
    if verbose:
        print(BANNER)
        print(f"Wrote {counts} to {out_dir} in {summary['seconds']:.1f} s "
              f"(see {os.path.join(out_dir, 'README.txt')}).")
    return summary


def _write_parts(out_dir, parts, photos, patch, seed):
    """Writes each part with a count; returns ({part folder: count}, {part folder: judgments})."""
    # Independent streams: each part depends only on the seed and its own count.
    streams = dict(zip(["train", "val", "jnd"], np.random.SeedSequence(seed).spawn(3)))
    counts, judgments = {}, {}
    for rel, (part, n) in parts.items():
        if n == 0:
            continue
        rng = np.random.default_rng(streams[part])
        judgments[rel] = _write_part(os.path.join(out_dir, rel), part, n, photos, patch, rng)
        counts[rel] = n
    return counts, judgments


def _write_description(out_dir, summary):
    """synthetic.json (the marker every reader checks) and README.txt at the dataset root."""
    with open(os.path.join(out_dir, MARKER), "w") as f:
        json.dump(summary, f, indent=2)
    with open(os.path.join(out_dir, "README.txt"), "w") as f:
        f.write(_readme(summary))


def _photos_and_description(photos):
    """(uint8 arrays, what synthetic.json says they are) for `generate`'s `photos`."""
    if isinstance(photos, (list, tuple)) and photos and isinstance(photos[0], np.ndarray):
        return list(photos), f"{len(photos)} in-memory arrays"
    if isinstance(photos, (str, os.PathLike)):
        return load_photos(photos), os.fspath(photos)
    return load_photos(photos), [os.fspath(p) for p in photos]


def _clear_parts(out_dir, parts, overwrite):
    """Refuses (or, with `overwrite`, removes) the part folders that already exist."""
    for rel in parts:
        folder = os.path.join(out_dir, rel)
        if os.path.exists(folder):
            if not overwrite:
                raise FileExistsError(f"{folder} exists; pass overwrite=True (--overwrite) to replace it.")
            shutil.rmtree(folder)
    os.makedirs(out_dir, exist_ok=True)


def _write_part(folder, part, n, photos, patch, rng):
    """Writes one part ("train", "val" or "jnd") of n items; returns its mean judgment."""
    stems = [f"{i:06d}" for i in range(n)]
    if part == "jnd":
        data = make_jnd(photos, n, patch, rng, OBSERVERS[part])
        _write_images(os.path.join(folder, "p0"), data["p0"], stems)
        _write_images(os.path.join(folder, "p1"), data["p1"], stems)
        _write_values(os.path.join(folder, "same"), data["same"], stems)
        return {"mean_same": float(np.mean(data["same"]))}
    data = make_twoafc(photos, n, patch, rng, OBSERVERS[part])
    for key in ("ref", "p0", "p1"):
        _write_images(os.path.join(folder, key), data[key], stems)
    _write_values(os.path.join(folder, "judge"), data["judge"], stems)
    return {"mean_judge": float(np.mean(data["judge"]))}


def is_synthetic(data_dir):
    """True when `data_dir` was written by this generator: its root holds the marker
    `synthetic.json` (a marker that cannot be parsed still counts: better labelled than not)."""
    return os.path.isfile(os.path.join(data_dir, MARKER))


def build_parser():
    from lpips_tf.cli import scripts

    parser = scripts.ArgumentParser(
        prog="python -m lpips_tf.data.synthetic",
        description=textwrap.fill(
            "Write a small BAPPS-layout dataset from photographs with traditional distortions "
            "and SIMULATED observers (" + BANNER + ").", 78)
        + "\n\nExit codes: 0 done, 2 bad usage or bad input (one line on stderr).",
    )
    parser.add_argument("--out", required=True, help="dataset root to write")
    parser.add_argument("--photos", default=_DEFAULT_PHOTOS,
                        help="folder(s) or image file(s), comma-separated (default: the "
                             "photographs shipped in lpips_tf/data/photos)")
    parser.add_argument("--n_train", type=int, default=2000, help="2AFC train triplets")
    parser.add_argument("--n_val", type=int, default=500, help="2AFC val triplets")
    parser.add_argument("--n_jnd", type=int, default=300, help="JND pairs")
    parser.add_argument("--patch", type=int, default=64, help="patch size in pixels")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--overwrite", action="store_true", help="replace existing parts")
    return parser


def _run(args):
    generate(args.out, args.photos, args.n_train, args.n_val, args.n_jnd, args.patch, args.seed,
             args.overwrite)


def main(argv=None):
    """`python -m lpips_tf.data.synthetic` with `argv`; returns the exit code
    (`lpips_tf.cli.scripts`, imported here: training and evaluation import this module for
    `BANNER` and `is_synthetic` only)."""
    from lpips_tf.cli import scripts

    return scripts.Command(build_parser, _run)(argv)


if __name__ == "__main__":
    from lpips_tf.cli import scripts

    scripts.run_script(scripts.Command(build_parser, _run))
