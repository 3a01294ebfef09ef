"""What the metric is used for, built on `lpips_tf.core`.

  losses.py     `LPIPSLoss`: LPIPS as a differentiable Keras loss
  metrics.py    `LPIPSMetric`: running mean LPIPS for `compile(metrics=...)`
  pairwise.py   `pairwise`, `diversity`: all pairs of a set with one trunk pass per image
  bootstrap.py  `bootstrap_interval`: the percentile bootstrap behind every reported interval
  judgment.py   the 2AFC judgment model (ref, p0, p1) -> predicted human judgment
  schedule.py   the official trainer's learning-rate schedule (saved with 2AFC models)
  export.py     SavedModel export for TF Serving (TensorFlow)
"""
