"""Scores for perceptual metrics on BAPPS-style data, and the classic baselines.

Pure numpy, no TensorFlow: every function takes arrays and returns arrays or
`(score, details)` tuples, so scoring can be tested and reused without a model.

Scores (section 3 of the LPIPS reference):

* 2AFC: a metric "agrees" with an observer when it calls the patch the
  observer preferred the closer one. With `h` the fraction of observers that
  preferred `p1`, a triplet scores `(d0 < d1) * (1 - h) + (d1 < d0) * h +
  (d0 == d1) * 0.5`. The human ceiling, the expected agreement of one random
  observer with another, is `h^2 + (1 - h)^2`.
* JND: pairs sorted by distance should put the pairs that looked the same
  first; the score is the VOC average precision of that ranking, treating the
  fraction of observers that saw no difference as a soft label.

Baselines (the paper's L2 and SSIM, computed in Lab like the official scripts):

* `l2_distance(x0, x1, "Lab")` = `0.5 * mean((lab0 / 100 - lab1 / 100)^2)`;
  `"RGB"` = `mean((x0 - x1)^2)` on the [-1, 1] inputs, as in the official code.
* `ssim_distance` = DSSIM = `(1 - SSIM) / 2`, with SSIM as scikit-image's
  `structural_similarity` defaults used by the official code (7 x 7 uniform
  window, K1 = 0.01, K2 = 0.03, sample covariance, mean over channels);
  data range 100 in Lab and 255 in RGB.

The official code first truncates [-1, 1] tensors to uint8 before the Lab
conversion; we convert the float values directly (the loaders in
`lpips_tf.data` already produce uint8-quantised values, so the two agree to
float precision on real data).
"""

import numpy as np

from lpips_tf.uses import bootstrap

__all__ = [
    "average_precision",
    "bootstrap_ci",
    "bootstrap_ci_of_mean",
    "human_ceiling_2afc",
    "l2_distance",
    "rgb_to_lab",
    "score_2afc",
    "score_jnd",
    "ssim",
    "ssim_distance",
]


def _flat(x, name):
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"`{name}` contains NaN or inf values.")
    return x


def score_2afc(d0, d1, judge):
    """2AFC agreement of a metric with the observers.

    Args:
      d0: distances d(ref, p0), any shape with N elements.
      d1: distances d(ref, p1), N elements.
      judge: fraction of observers that preferred p1, N values in [0, 1].

    Returns:
      `(score, details)`: the mean agreement in [0, 1] and a dict with the
      flattened `d0s`, `d1s`, `gts` and per-triplet `scores`.
    """
    d0 = _flat(d0, "d0")
    d1 = _flat(d1, "d1")
    h = _flat(judge, "judge")
    if not d0.size == d1.size == h.size:
        raise ValueError(
            "d0, d1 and judge must have the same number of elements. "
            f"Received: sizes {d0.size}, {d1.size}, {h.size}"
        )
    if d0.size == 0:
        raise ValueError("Cannot score an empty set of triplets.")
    scores = (d0 < d1) * (1.0 - h) + (d1 < d0) * h + (d0 == d1) * 0.5
    return float(np.mean(scores)), dict(d0s=d0, d1s=d1, gts=h, scores=scores)


def human_ceiling_2afc(judge):
    """Expected agreement between two random observers, `mean(h^2 + (1-h)^2)`.

    Returns:
      `(score, details)` with per-triplet `scores`.
    """
    h = _flat(judge, "judge")
    if h.size == 0:
        raise ValueError("Cannot score an empty set of triplets.")
    scores = h**2 + (1.0 - h) ** 2
    return float(np.mean(scores)), dict(scores=scores)


def average_precision(recall, precision):
    """VOC average precision: area under the monotone precision envelope.

    Recall is padded with 0 and 1 and precision with 0 and 0; the envelope
    makes precision non-increasing in recall before integrating.
    """
    mrec = np.concatenate(([0.0], np.asarray(recall, np.float64), [1.0]))
    mpre = np.concatenate(([0.0], np.asarray(precision, np.float64), [0.0]))
    # Running maximum from the right = the precision envelope.
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def score_jnd(distances, same):
    """JND mean average precision of a metric.

    Inputs are flattened first: the official script sorts (N, 1, 1, 1) arrays
    without flattening, which scrambles its ranking.

    Args:
      distances: d(p0, p1), N elements.
      same: fraction of observers who saw no difference, N values in [0, 1].

    Returns:
      `(score, details)`: the mAP in [0, 1] and a dict with `ds`, `sames`,
      `precision` and `recall` (in ascending distance order).
    """
    ds = _flat(distances, "distances")
    sames = _flat(same, "same")
    if ds.size != sames.size:
        raise ValueError(
            "distances and same must have the same number of elements. "
            f"Received: sizes {ds.size}, {sames.size}"
        )
    if ds.size == 0:
        raise ValueError("Cannot score an empty set of pairs.")
    if np.sum(sames) <= 0:
        raise ValueError("JND mAP is undefined when no pair was judged the same.")
    # A stable sort keeps ties in input order, like the official argsort on
    # unique distances; ties between real distances are rare.
    order = np.argsort(ds, kind="stable")
    sorted_same = sames[order]
    tp = np.cumsum(sorted_same)
    fp = np.cumsum(1.0 - sorted_same)
    recall = tp / np.sum(sorted_same)
    precision = tp / (tp + fp)
    score = average_precision(recall, precision)
    return score, dict(ds=ds, sames=sames, precision=precision, recall=recall)


def bootstrap_ci(data, statistic=None, n_boot=1000, confidence=0.95, seed=0, *, alpha=None):
    """Percentile bootstrap interval: `lpips_tf.uses.bootstrap.bootstrap_interval`.

    `alpha` (0.05 for a 95% interval) is deprecated: pass `confidence` instead.

    Returns:
      `(low, high)`.
    """
    confidence = bootstrap.confidence_from_alpha(alpha, confidence, "bootstrap_ci")
    return bootstrap.bootstrap_interval(data, statistic, n_boot, confidence, seed)


def bootstrap_ci_of_mean(groups, n_boot=1000, confidence=0.95, seed=0, *, alpha=None):
    """Interval of the mean of per-group means, each group resampled within itself:
    `lpips_tf.uses.bootstrap.bootstrap_interval_of_group_means`.

    `alpha` is deprecated: pass `confidence` instead.

    Returns:
      `(low, high)`.
    """
    confidence = bootstrap.confidence_from_alpha(alpha, confidence, "bootstrap_ci_of_mean")
    return bootstrap.bootstrap_interval_of_group_means(groups, n_boot, confidence, seed)


# ----------------------------------------------------------------------------
# Baselines.

# sRGB (D65) -> XYZ, and the D65 2-degree white point, as in scikit-image.
_XYZ_FROM_RGB = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
_D65_WHITE = np.array([0.95047, 1.0, 1.08883])


def rgb_to_lab(rgb):
    """sRGB in [0, 1] (..., 3) -> CIE Lab (D65, 2 degree observer), float64.

    Matches `skimage.color.rgb2lab` (same matrix, white point and the 7.787
    linear segment).
    """
    rgb = np.asarray(rgb, np.float64)
    lin = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = lin @ _XYZ_FROM_RGB.T / _D65_WHITE
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
    return np.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def _as_batch(x, name):
    x = np.asarray(x, np.float64)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"`{name}` must be NHWC (or HWC) RGB images. Received: shape={x.shape}")
    return x


def _to_space(x, colorspace):
    """[-1, 1] RGB -> (values, data range) in the requested colour space."""
    if colorspace == "Lab":
        return rgb_to_lab(np.clip((x + 1.0) / 2.0, 0.0, 1.0)), 100.0
    if colorspace == "RGB":
        return (x + 1.0) * 127.5, 255.0
    raise ValueError(f'colorspace must be "Lab" or "RGB". Received: colorspace={colorspace!r}')


def _check_pair(x0, x1):
    x0 = _as_batch(x0, "x0")
    x1 = _as_batch(x1, "x1")
    if x0.shape != x1.shape:
        raise ValueError(f"x0 and x1 must have the same shape. Received: {x0.shape} and {x1.shape}")
    return x0, x1


def l2_distance(x0, x1, colorspace="Lab"):
    """The paper's L2 baseline, one distance per image pair.

    Args:
      x0, x1: RGB images in [-1, 1], NHWC (or one HWC image).
      colorspace: "Lab" (default, as the official scripts) or "RGB".

    Returns:
      float64 array (N,).
    """
    x0, x1 = _check_pair(x0, x1)
    if colorspace == "RGB":
        # Official RGB L2: plain mean squared error of the [-1, 1] tensors.
        return np.mean((x0 - x1) ** 2, axis=(1, 2, 3))
    a, data_range = _to_space(x0, colorspace)
    b, _ = _to_space(x1, colorspace)
    return 0.5 * np.mean((a / data_range - b / data_range) ** 2, axis=(1, 2, 3))


def _box_valid(x, size):
    """Mean over every size x size window fully inside the image (axes 1, 2)."""
    for axis in (1, 2):
        c = np.cumsum(x, axis=axis)
        pad_shape = list(c.shape)
        pad_shape[axis] = 1
        c = np.concatenate([np.zeros(pad_shape), c], axis=axis)
        n = c.shape[axis]
        x = np.take(c, np.arange(size, n), axis=axis) - np.take(c, np.arange(0, n - size), axis=axis)
    return x / (size * size)


def ssim(x, y, data_range, win_size=7, k1=0.01, k2=0.03):
    """Mean SSIM per image, like `skimage.metrics.structural_similarity`.

    Uniform `win_size` window, sample covariance, averaged over the windows
    that lie fully inside the image (skimage crops the border) and then over
    channels.

    Args:
      x, y: NHWC arrays (any real values).
      data_range: the dynamic range of the values, e.g. 255 or 100.

    Returns:
      float64 array (N,).
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if min(x.shape[1:3]) < win_size:
        raise ValueError(
            f"Images must be at least {win_size} x {win_size} for SSIM. Received: shape={x.shape}"
        )
    cov_norm = win_size**2 / (win_size**2 - 1.0)
    ux, uy = _box_valid(x, win_size), _box_valid(y, win_size)
    vx = cov_norm * (_box_valid(x * x, win_size) - ux * ux)
    vy = cov_norm * (_box_valid(y * y, win_size) - uy * uy)
    vxy = cov_norm * (_box_valid(x * y, win_size) - ux * uy)
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    # Mean over positions per channel, then over channels (skimage's order;
    # equal to one global mean since every channel has the same count).
    return s.mean(axis=(1, 2)).mean(axis=-1)


def ssim_distance(x0, x1, colorspace="Lab"):
    """The paper's SSIM baseline as a distance: DSSIM = (1 - SSIM) / 2.

    Args:
      x0, x1: RGB images in [-1, 1], NHWC (or one HWC image).
      colorspace: "Lab" (default, data range 100) or "RGB" (0-255, range 255).

    Returns:
      float64 array (N,).
    """
    x0, x1 = _check_pair(x0, x1)
    a, data_range = _to_space(x0, colorspace)
    b, _ = _to_space(x1, colorspace)
    return (1.0 - ssim(a, b, data_range)) / 2.0
