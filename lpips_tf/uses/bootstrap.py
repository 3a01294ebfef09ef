"""Percentile bootstrap intervals, the one rule behind every interval the package reports.

    from lpips_tf.uses.bootstrap import bootstrap_interval
    low, high = bootstrap_interval(per_triplet_scores)                  # 95% interval of the mean
    low, high = bootstrap_interval((d, same), statistic=jnd_map, confidence=0.9)

Every function takes `confidence`, the coverage of the interval (0.95 for a 95% interval), and a
`seed` or a NumPy generator, so that the same seed gives the same interval. The interval is the
(1 - confidence) / 2 and (1 + confidence) / 2 quantiles of the resampled statistic (linear
interpolation). Evaluation scores (`lpips_tf.evaluation`), the diversity of a set of samples
(`lpips_tf.uses.pairwise.diversity`) and the experiment's paired differences all resample through
this module. NumPy only: no backend is imported.
"""

import warnings

import numpy as np

__all__ = [
    "bootstrap_interval",
    "bootstrap_interval_of_group_means",
    "percentile_interval",
    "resample_counts",
    "resample_means",
]

# Resampled indices are drawn in chunks of about this many entries, whatever the sample size.
_INDEX_CHUNK = 8_000_000


def check_confidence(confidence):
    """`confidence` as a float in [0.5, 1), or a ValueError saying what was expected.

    Coverage below one half is refused: such a value is almost always an `alpha`
    (1 - confidence, 0.05 for a 95% interval) passed where the coverage is expected.
    """
    value = float(confidence)
    if not 0.5 <= value < 1.0:
        raise ValueError(f"confidence is the coverage of the interval, in [0.5, 1) (0.95 for a "
                         f"95% interval). Received: confidence={confidence!r}")
    return value


def confidence_from_alpha(alpha, confidence, caller):
    """The confidence a caller means when it still passes the deprecated `alpha` (None: unset)."""
    if alpha is None:
        return confidence
    warnings.warn(f"{caller}(alpha=...) is deprecated: pass confidence={1 - alpha:g} instead.",
                  DeprecationWarning, stacklevel=3)
    return 1.0 - alpha


def percentile_interval(values, confidence=0.95):
    """(low, high): the central `confidence` quantile range of resampled statistics."""
    tail = (1.0 - check_confidence(confidence)) / 2.0
    low, high = np.quantile(np.asarray(values, np.float64), [tail, 1.0 - tail])
    return float(low), float(high)


def _generator(seed):
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def resample_means(values, n_boot, rng):
    """(n_boot,) means of `values` resampled with replacement, drawn from `rng`.

    The index matrix is built in chunks of rows, so memory stays bounded for any sample size.
    """
    values = np.asarray(values, np.float64).reshape(-1)
    n = values.size
    chunk = max(1, _INDEX_CHUNK // max(1, n))
    means = [values[rng.integers(0, n, size=(min(chunk, n_boot - start), n))].mean(axis=1)
             for start in range(0, n_boot, chunk)]
    return np.concatenate(means) if means else np.empty(0, np.float64)


def resample_counts(n, n_boot, rng):
    """(n_boot, n) float64: how often each of n units is drawn in each resample of size n.

    For statistics of pairs of units (the mean distance between the drawn images), where the
    units, not the pairs, are the independent draws.
    """
    return np.stack([np.bincount(rng.integers(0, n, n), minlength=n)
                     for _ in range(n_boot)]).astype(np.float64)


def _statistic_values(arrays, statistic, n_boot, rng):
    """The statistic on each joint resample of `arrays`; resamples where it raises ValueError
    (a JND resample without a "same" pair has no mAP) are skipped."""
    n = arrays[0].size
    values = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, size=n)
        try:
            values.append(statistic(*[a[idx] for a in arrays]))
        except ValueError:
            continue
    if not values:
        raise ValueError("The statistic failed on every bootstrap resample.")
    return np.asarray(values, np.float64)


def bootstrap_interval(data, statistic=None, n_boot=1000, confidence=0.95, seed=0):
    """Percentile bootstrap interval of a statistic of per-item data.

    Args:
      data: per-item values (any shape, flattened), or a tuple of equally long arrays resampled
        together (e.g. `(distances, same)` for JND).
      statistic: function of the resampled arrays returning a float; None: the mean of the
        values (vectorised).
      n_boot: number of resamples.
      confidence: coverage of the interval, 0.95 for a 95% interval.
      seed: seed of NumPy's default generator (or a `np.random.Generator`).

    Returns:
      `(low, high)`.
    """
    check_confidence(confidence)
    rng = _generator(seed)
    if statistic is None:
        values = np.asarray(data, np.float64).reshape(-1)
        if values.size == 0:
            raise ValueError("Cannot bootstrap an empty set of scores.")
        return percentile_interval(resample_means(values, n_boot, rng), confidence)
    arrays = data if isinstance(data, (tuple, list)) else (data,)
    arrays = [np.asarray(a).reshape(-1) for a in arrays]
    if arrays[0].size == 0 or any(a.size != arrays[0].size for a in arrays):
        raise ValueError(f"bootstrap_interval needs non-empty arrays of equal length. Received: "
                         f"sizes {[a.size for a in arrays]}")
    return percentile_interval(_statistic_values(arrays, statistic, n_boot, rng), confidence)


def bootstrap_interval_of_group_means(groups, n_boot=1000, confidence=0.95, seed=0):
    """Interval of the unweighted mean of per-group means, each group resampled within itself.

    This is the interval of "the mean 2AFC score over subsets": each subset is its own sample.
    With per-triplet differences of two models as the groups, it is a paired interval.

    Args:
      groups: non-empty list of 1-D arrays of per-item values.
      n_boot, confidence, seed: as for `bootstrap_interval`.

    Returns:
      `(low, high)`.
    """
    if not groups:
        raise ValueError("bootstrap_interval_of_group_means needs at least one group.")
    check_confidence(confidence)
    rng = _generator(seed)
    means = np.mean([resample_means(g, n_boot, rng) for g in groups], axis=0)
    return percentile_interval(means, confidence)
