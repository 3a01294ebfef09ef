"""All-pairs LPIPS with one trunk pass per image, and diversity scores over sets of samples.

    from lpips_tf.uses.pairwise import pairwise, diversity

    model = lpips_tf.LPIPS(net="alex")
    d = pairwise(model, samples)            # one set: condensed vector, scipy `pdist` order
    m = pairwise(model, images_a, images_b) # two sets: (len(a), len(b)) matrix
    print(diversity(d))                     # mean, std, bootstrap 95% interval

Why it is fast. For a non-spatial model the distance is linear in per-tap, per-channel squared
differences of channel-normalised features y:

    d(a, b) = sum_taps (1 / P_t) sum_positions sum_c w_c (y_a - y_b)^2

(w = the lin kernel, or ones for the lpips=False "cosine" distance; P_t = positions of tap t).
With g = y * sqrt(w / P_t) flattened and concatenated over taps, d(a, b) = ||g_a - g_b||^2: a
squared Euclidean distance. So each image goes through the trunk once, its g is stored, and the
whole matrix is ||g_a||^2 + ||g_b||^2 - 2 g_a . g_b, a matrix product.

Precision. That expanded form cancels catastrophically in float32 for near-identical images
(terms of order 1 leave a difference of 1e-6 or less). The stored features are float32 (memory),
but norms and products are accumulated in float64: a product of two float32 numbers is exact in
float64, and the float64 sums' relative error (~1e-16 * sqrt(D)) leaves an absolute error far
below 1e-9 on distances of order 1. Agreement with `model([x0, x1])` is then limited by the
model's own float32 arithmetic (about 1e-7), identical images give < 1e-12, and results are
clamped at 0.

Memory. Channels whose lin weight is 0 are dropped (150 of AlexNet's 1152 official channels,
including 35 of conv1's 64, the largest tap), so a 256 x 256 image takes 1.66 MB of float32
features with AlexNet (SqueezeNet 7.0 MB, VGG16 30.5 MB; see `feature_size`). The features of
both sets live in RAM while they fit in `max_memory_bytes` (1 GiB), otherwise in a float32
`np.memmap` in a temporary directory (`temp_dir`, deleted afterwards). The matrix is accumulated
in float64 over column chunks of the features, so a store on disk is read about
ceil(n_a / block_size) + 1 times; float64 working copies stay under about 64 MiB, plus a
(block_size, n_b) float64 accumulator and the float64 result. Example: 5,000 AlexNet images of
256 x 256 give 8.3 GB of features (on disk under the default budget) and a 100 MB condensed
result; at no point are two feature sets of that size in RAM.
The trunk passes keep to the model's own `max_memory_bytes` (`lpips_tf.LPIPS`, 2 GiB by default):
fewer images per pass than `batch_size` when a batch would exceed it, and an image that alone
exceeds it goes through the trunk in tiles (`lpips_tf.core.tiling`) whose features are written
into the store one tile at a time, with the numbers of the untiled pass.

Only non-spatial models (spatial=False): a spatial map is an upsampled sum per pixel, which has no
such product form. Dropout is never applied (inference distances).
"""

import collections
import os
import shutil
import tempfile

import keras
import numpy as np
from keras import ops

from lpips_tf.core import inputs as lpips_inputs
from lpips_tf.core import tiling
from lpips_tf.core.geometry import GeometryError
from lpips_tf.core.model import LPIPS
from lpips_tf.uses import bootstrap

__all__ = ["pairwise", "diversity", "Diversity", "feature_size"]

# Float64 working copies of feature slices are kept below this many bytes per chunk step.
_WORK_BYTES = 64 * 2**20


# ------------------------------------------------------------------------------------------------
# Input handling: the model's rules and messages (`lpips_tf.core.inputs`), on NumPy batches so that
# a large set is converted batch by batch, and a refused image is named by its index in the set.
def _as_image_set(images, which):
    """A 4-D (N, H, W, 3) array-like, or a sequence of (H, W, 3) images of one size."""
    if hasattr(images, "shape") and hasattr(images, "dtype") and len(images.shape) != 3:
        return images  # Arrays, memmaps, tensors: sliced lazily batch by batch.
    if hasattr(images, "shape") and len(images.shape) == 3:
        raise ValueError(f"{which} must be a 4-D NHWC batch (N, H, W, 3) or a list of (H, W, 3) "
                         f"images. Received one array of shape {tuple(images.shape)}; add a "
                         f"batch axis for a single image.")
    try:
        items = list(images)
    except TypeError:
        raise ValueError(f"{which} must be a 4-D NHWC batch or a list of (H, W, 3) images. "
                         f"Received {type(images).__name__}.") from None
    if not items:
        raise ValueError(f"{which} is empty.")
    arrays = [np.asarray(item) for item in items]
    first = arrays[0].shape
    for k, array in enumerate(arrays):
        if array.ndim != 3:
            raise ValueError(f"{which}[{k}] must be one (H, W, 3) image. Received shape "
                             f"{array.shape}.")
        if array.shape != first:
            raise ValueError(f"All images of {which} must have the same size: {which}[0] is "
                             f"{first}, {which}[{k}] is {array.shape}. Resize or crop them to "
                             f"one size first.")
    return np.stack(arrays)


def _check_shape(shape, which, model):
    # The model's own rank / channel / size rules and messages, plus: a set cannot be empty.
    lpips_inputs.check_static_shape(shape, which, model.min_input_size, model.net)
    if shape[0] == 0:
        raise ValueError(f"{which} is empty.")


def _prepare_batch(batch, which, start, model):
    """One batch as float32 in [-1, 1], after the model's dtype and value rules."""
    x = np.asarray(batch)  # numpy, memmap slices, TensorFlow / JAX / torch CPU tensors.
    kind = lpips_inputs.check_dtype_kind(x.dtype, which, model.normalize)
    if kind == "uint8":
        return lpips_inputs.from_uint8(x.astype(np.float32))
    x = x.astype(np.float32)
    if model.validate_inputs:
        bad = lpips_inputs.bad_images(x, model.normalize)
        if bad.size:
            lpips_inputs.check_values_eager(x[bad[0]], f"{which}[{start + int(bad[0])}]",
                                            model.normalize)
    if model.normalize:
        x = lpips_inputs.from_unit_range(x)
    return x


def _check_model(model):
    if not isinstance(model, LPIPS):
        raise TypeError(f"pairwise needs an lpips_tf.LPIPS model. Received: "
                        f"{type(model).__name__}.")
    if model.spatial:
        raise ValueError("pairwise works only for non-spatial models (spatial=False): a spatial "
                         "distance map is not a product of per-image features. Build the model "
                         "with spatial=False, or loop over pairs with model([x0, x1]).")


def _channel_scales(model):
    """Per tap, the non-negative per-channel weights w (ones for lpips=False)."""
    if not model.lpips:
        return [np.ones(c, np.float64) for c in model.channels]
    scales = []
    for k, lin in enumerate(model.lins):
        w = np.asarray(ops.convert_to_numpy(lin.kernel), np.float64).reshape(-1)
        if (w < 0).any():
            raise ValueError(f"lin{k} has negative weights ({int((w < 0).sum())} of {w.size}): "
                             f"then d(a, b) is not a squared distance and pairwise cannot factor "
                             f"it. LPIPS lin weights are non-negative (NonNeg constraint); clip "
                             f"them with model.set_lin_weights([np.maximum(v, 0) ...]).")
        scales.append(w)
    return scales


# ------------------------------------------------------------------------------------------------
# Features.
class _FeatureStore:
    """Per-image flattened, weighted features g (float32), in RAM or in a temporary memmap."""

    def __init__(self, n, dim, use_disk, temp_dir):
        self.n, self.dim = n, dim
        self.folder = None
        if use_disk:
            self.folder = tempfile.mkdtemp(prefix="lpips_pairwise_", dir=temp_dir)
            self.data = np.memmap(os.path.join(self.folder, "features.f32"), np.float32, "w+",
                                  shape=(n, dim))
        else:
            self.data = np.empty((n, dim), np.float32)
        self.sq_norms = np.empty(n, np.float64)

    def put(self, start, g):
        self.data[start:start + len(g)] = g
        g64 = g.astype(np.float64)
        self.sq_norms[start:start + len(g)] = np.einsum("ij,ij->i", g64, g64)

    def close(self):
        if self.folder is not None:
            self.data = None  # Drops the mapping; the file can then go (it is ours alone).
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def _features(model, x, keep, factors):
    """g for one prepared batch: the model's tap features, weighted, flattened, concatenated."""
    parts = []
    for y, idx, factor in zip(model.tap_features(x, training=False), keep, factors):
        y = ops.convert_to_numpy(y).astype(np.float32)
        positions = y.shape[1] * y.shape[2]
        # sqrt(w / P) folds the lin layer and the spatial mean into a plain squared distance.
        y = y[..., idx] * (factor / np.sqrt(positions)).astype(np.float32)
        parts.append(y.reshape(len(y), -1))
    return np.concatenate(parts, axis=1)


def feature_size(model, height, width):
    """Float32 numbers stored per image of this size by `pairwise` (times 4 for bytes)."""
    _check_model(model)
    scales = _channel_scales(model)
    sizes = model.tap_sizes(height, width)
    return int(sum(h * w * int((s > 0).sum()) for (h, w), s in zip(sizes, scales)))


def _trunk_batch(model, images, batch_size):
    """Images per trunk pass within the model's `max_memory_bytes`, and whether one image alone
    is over it (then its features come from tiles)."""
    budget = model.max_memory_bytes
    if budget is None:
        return batch_size, False
    try:
        per_image = tiling.pair_bytes(model, int(images.shape[1]), int(images.shape[2])) / 2
    except GeometryError:
        return batch_size, False  # A trunk that cannot be tiled runs as it always has.
    return max(1, min(batch_size, int(budget // per_image))), per_image > budget


def _put_tiled(model, store, start, x, keep, factors):
    """g of a batch of large images, written into the store tile by tile: a tile's features are
    the only ones in RAM (the store itself is on disk when large)."""
    sizes = model.tap_sizes(int(x.shape[1]), int(x.shape[2]))
    offsets = np.cumsum([0] + [h * w * len(idx) for (h, w), idx in zip(sizes, keep)])
    norms = np.zeros(len(x), np.float64)
    for t, (r0, r1), (c0, c1), block in tiling.tiled_tap_features(model, x,
                                                                  model.max_memory_bytes):
        (h, w), idx = sizes[t], keep[t]
        g = block[..., idx] * (factors[t] / np.sqrt(h * w)).astype(np.float32)
        for i in range(len(x)):
            flat = store.data[start + i, offsets[t]:offsets[t + 1]]
            flat.reshape(h, w, len(idx))[r0:r1, c0:c1] = g[i]
        g64 = g.astype(np.float64).reshape(len(x), -1)
        norms += np.einsum("ij,ij->i", g64, g64)
    store.sq_norms[start:start + len(x)] = norms


def _extract(model, images, which, store, batch_size, keep, factors, progbar, seen):
    n = len(images)
    batch_size, tiled = _trunk_batch(model, images, batch_size)
    for start in range(0, n, batch_size):
        x = _prepare_batch(images[start:start + batch_size], which, start, model)
        if tiled:
            _put_tiled(model, store, start, x, keep, factors)
        else:
            store.put(start, _features(model, x, keep, factors))
        if progbar is not None:
            progbar.update(seen + start + len(x))
    return seen + n


# ------------------------------------------------------------------------------------------------
# The matrix.
def _gram_rows(a_store, rows, b_store, cols, same):
    """float64 a[rows] . b[cols]^T accumulated over column chunks of the features."""
    a, b = a_store.data, b_store.data
    r0, r1 = rows
    c0, c1 = cols
    dim = a_store.dim
    width = max(1024, _WORK_BYTES // (8 * ((r1 - r0) + (c1 - c0))))
    gram = np.zeros((r1 - r0, c1 - c0), np.float64)
    for k0 in range(0, dim, width):
        ak = np.asarray(a[r0:r1, k0:k0 + width], np.float64)
        if same and (r0, r1) == (c0, c1):
            gram += ak @ ak.T  # Same operand: numpy uses the symmetric (syrk) kernel, half the work.
        else:
            gram += ak @ np.asarray(b[c0:c1, k0:k0 + width], np.float64).T
    return gram


def _distances(a_store, rows, b_store, cols, same):
    gram = _gram_rows(a_store, rows, b_store, cols, same)
    d = (a_store.sq_norms[rows[0]:rows[1], None] + b_store.sq_norms[None, cols[0]:cols[1]]
         - 2.0 * gram)
    # float64 leaves only ~1e-15 of rounding here; negative values are that rounding.
    return np.maximum(d, 0.0, out=d)


def pairwise(model, images_a, images_b=None, batch_size=32, block_size=1024, condensed=None,
             max_memory_bytes=2**30, temp_dir=None, verbose=0):
    """LPIPS distances between all pairs of images, each image through the trunk once.

    Args:
      model: a non-spatial `lpips_tf.LPIPS` (lin or lpips=False); its input conventions apply
        (float in [-1, 1], or [0, 1] with normalize=True; uint8 as 0..255; range and NaN checks
        when the model has validate_inputs=True).
      images_a: (N, H, W, 3) array-like (numpy, memmap, tensor; sliced batch by batch), or a
        sequence of (H, W, 3) images of one size.
      images_b: None for the distances within `images_a`, or a second set of the same H x W.
      batch_size: images per trunk call (fewer when the model's `max_memory_bytes` needs it).
      block_size: rows of the matrix computed per pass over the stored features; bounds the
        (block_size, n_b) float64 accumulator and the number of passes over a disk store.
      condensed: one set only. True (the default for one set): the n(n-1)/2 distances of pairs
        i < j in scipy `pdist` order (0,1), (0,2), ..., (0,n-1), (1,2), ...; convert with
        `scipy.spatial.distance.squareform`. False: the symmetric (n, n) matrix with a zero
        diagonal. Must be None or False with two sets.
      max_memory_bytes: features of both sets (float32, `feature_size` numbers per image) are
        kept in RAM up to this size, beyond it in a temporary np.memmap on disk.
      temp_dir: where that memmap goes (default: the system temporary directory).
      verbose: 1 shows a keras Progbar over the trunk passes.

    Returns:
      float64 numpy array: (n_a, n_b) for two sets; condensed (n(n-1)/2,) or (n, n) for one set.
      Entry [i, j] equals `model([a[i:i+1], b[j:j+1]])` to about 1e-7.
    """
    one_set = images_b is None
    condensed = one_set if condensed is None else condensed
    images_a, images_b = _checked_sets(model, images_a, images_b, batch_size, block_size,
                                       condensed)
    scales = _channel_scales(model)
    keep = [np.nonzero(w > 0)[0] for w in scales]  # Zero-weight channels never contribute.
    factors = [np.sqrt(w[idx]) for w, idx in zip(scales, keep)]
    dim = feature_size(model, int(images_a.shape[1]), int(images_a.shape[2]))
    n_a = len(images_a)
    n_b = 0 if one_set else len(images_b)
    use_disk = 4 * dim * (n_a + n_b) > max_memory_bytes

    progbar = keras.utils.Progbar(n_a + n_b, verbose=verbose, unit_name="image") \
        if verbose else None
    stores = []
    try:
        a_store = _FeatureStore(n_a, dim, use_disk, temp_dir)
        stores.append(a_store)
        seen = _extract(model, images_a, "images_a", a_store, batch_size, keep, factors,
                        progbar, 0)
        if one_set:
            return _one_set_distances(a_store, n_a, block_size, condensed)
        b_store = _FeatureStore(n_b, dim, use_disk, temp_dir)
        stores.append(b_store)
        _extract(model, images_b, "images_b", b_store, batch_size, keep, factors, progbar, seen)
        out = np.empty((n_a, n_b), np.float64)
        for r0 in range(0, n_a, block_size):
            r1 = min(n_a, r0 + block_size)
            out[r0:r1] = _distances(a_store, (r0, r1), b_store, (0, n_b), False)
        return out
    finally:
        for store in stores:
            store.close()


def _checked_sets(model, images_a, images_b, batch_size, block_size, condensed):
    """The arguments of `pairwise` checked; returns the image sets as sliceable arrays."""
    _check_model(model)
    if batch_size < 1 or block_size < 1:
        raise ValueError(f"batch_size and block_size must be >= 1. Received {batch_size}, "
                         f"{block_size}.")
    if condensed and images_b is not None:
        raise ValueError("condensed=True applies to one set (images_b=None); two sets give an "
                         "(n_a, n_b) matrix.")
    images_a = _as_image_set(images_a, "images_a")
    _check_shape(tuple(images_a.shape), "images_a", model)
    if images_b is None:
        return images_a, None
    images_b = _as_image_set(images_b, "images_b")
    _check_shape(tuple(images_b.shape), "images_b", model)
    if tuple(images_a.shape[1:3]) != tuple(images_b.shape[1:3]):
        raise ValueError(f"images_a and images_b must have the same height and width (LPIPS "
                         f"compares same-size images). Received {tuple(images_a.shape)} and "
                         f"{tuple(images_b.shape)}.")
    return images_a, images_b


def _one_set_distances(store, n, block_size, condensed):
    """Pairs i < j of one set: condensed (pdist order) or the symmetric (n, n) matrix."""
    out = np.empty(n * (n - 1) // 2, np.float64) if condensed else np.zeros((n, n), np.float64)
    for r0 in range(0, n, block_size):
        r1 = min(n, r0 + block_size)
        # Only the strip right of the diagonal: columns r0..n.
        strip = _distances(store, (r0, r1), store, (r0, n), True)
        for i in range(r0, r1):
            row = strip[i - r0, i - r0 + 1:]  # d(i, j) for j = i+1 .. n-1
            if condensed:
                offset = i * n - i * (i + 1) // 2  # pdist index of pair (i, i+1)
                out[offset:offset + len(row)] = row
            else:
                out[i, i + 1:] = row
                out[i + 1:, i] = row
    return out


# ------------------------------------------------------------------------------------------------
# Diversity.
Diversity = collections.namedtuple("Diversity", ["mean", "std", "ci_low", "ci_high", "n_pairs"])


def _condensed_to_square(d):
    n = int(round((1 + np.sqrt(1 + 8 * len(d))) / 2))
    if n * (n - 1) // 2 != len(d):
        raise ValueError(f"A condensed distance vector has n(n-1)/2 entries; {len(d)} is not such "
                         f"a number. Pass resample='pairs' for an arbitrary list of distances.")
    square = np.zeros((n, n), np.float64)
    i, j = np.triu_indices(n, 1)
    square[i, j] = d
    square[j, i] = d
    return square


def diversity(distances, n_boot=1000, confidence=0.95, resample="images", seed=0):
    """Mean LPIPS over pairs of samples (the BicycleGAN / MUNIT / MSGAN diversity score).

    Args:
      distances: the output of `pairwise`: a condensed vector (one set: all pairs i < j) or an
        (n_a, n_b) matrix (two sets: every entry is a pair). A square matrix with a zero diagonal
        that is symmetric is refused as ambiguous: pass the condensed form for one set.
      n_boot: bootstrap resamples.
      confidence: coverage of the percentile interval (`lpips_tf.uses.bootstrap`).
      resample: "images" (default) resamples images with replacement and averages the distances
        between the drawn images (pairs of a draw with itself excluded); this respects that every
        image takes part in many pairs, which are therefore not independent. "pairs" resamples
        the distances themselves, the naive interval, which is too narrow for that reason.
      seed: seed of the numpy generator; the same seed gives the same interval.

    Returns:
      Diversity(mean, std, ci_low, ci_high, n_pairs): the mean and the standard deviation
      (ddof=1) of the distances over the pairs, the bootstrap interval of the mean, the number
      of pairs.
    """
    d = _checked_distances(distances)
    if resample not in ("images", "pairs"):
        raise ValueError(f"resample must be 'images' or 'pairs'. Received {resample!r}.")
    bootstrap.check_confidence(confidence)
    values = d.ravel()
    mean = float(values.mean())
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    rng = np.random.default_rng(seed)
    if resample == "pairs":
        boots = bootstrap.resample_means(values, n_boot, rng)
    elif d.ndim == 1:
        boots = _resampled_one_set_means(_condensed_to_square(values), n_boot, rng)
    else:
        boots = _resampled_two_set_means(d, n_boot, rng)
    low, high = bootstrap.percentile_interval(boots, confidence)
    return Diversity(mean, std, low, high, int(values.size))


def _checked_distances(distances):
    """`distances` as float64, refused when empty, not finite, or an ambiguous square matrix."""
    d = np.asarray(distances, np.float64)
    if d.ndim not in (1, 2) or d.size == 0:
        raise ValueError(f"distances must be a non-empty condensed vector or (n_a, n_b) matrix. "
                         f"Received shape {d.shape}.")
    if not np.all(np.isfinite(d)):
        raise ValueError("distances contain NaN or infinite values.")
    if d.ndim == 2 and d.shape[0] == d.shape[1] and d.shape[0] > 1 and \
            np.all(np.diag(d) == 0) and np.array_equal(d, d.T):
        raise ValueError("This square matrix has a zero diagonal and is symmetric: it looks like "
                         "the distances within one set (pairwise(..., condensed=False)), whose "
                         "diagonal and duplicates would bias the mean. Pass the condensed vector "
                         "(pairwise(model, images)) instead, or d.ravel() if you do mean every "
                         "entry.")
    return d


def _resampled_one_set_means(square, n_boot, rng):
    """Mean distance between the drawn images of each resample of one set's images."""
    n = len(square)
    # Counts c of each image in a draw: the sum over ordered pairs of draws is c^T S c (the zero
    # diagonal drops a draw paired with itself), over n^2 - sum(c^2) such pairs.
    counts = bootstrap.resample_counts(n, n_boot, rng)
    totals = np.einsum("bi,bi->b", counts @ square, counts)
    pairs = n * n - np.einsum("bi,bi->b", counts, counts)
    means = np.divide(totals, pairs, out=np.full(n_boot, np.nan), where=pairs > 0)
    return means[np.isfinite(means)]  # A draw of one image repeated has no pair.


def _resampled_two_set_means(d, n_boot, rng):
    """Mean of the (n_a, n_b) matrix over resamples of its rows' and its columns' images."""
    n_a, n_b = d.shape
    rows = bootstrap.resample_counts(n_a, n_boot, rng)
    cols = bootstrap.resample_counts(n_b, n_boot, rng)
    return np.einsum("bi,bi->b", rows @ d, cols) / (n_a * n_b)
