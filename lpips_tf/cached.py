"""Cached channel statistics, under the name it had before the training package existed.

The code lives in `lpips_tf.training.cached_stats` (next to the 2AFC model it builds on); this
module keeps `lpips_tf.cached.X` and `from lpips_tf.cached import X` working.
"""

from lpips_tf.training.cached_stats import (  # noqa: F401
    CACHE_FORMAT,
    STATS_KEYS,
    CachedLin,
    build_cached_2afc_model,
    compute_triplet_stats,
    fingerprint,
    stats_dataset,
    stats_training_dataset,
)

__all__ = ["CACHE_FORMAT", "STATS_KEYS", "CachedLin", "build_cached_2afc_model",
           "compute_triplet_stats", "fingerprint", "stats_dataset", "stats_training_dataset"]
