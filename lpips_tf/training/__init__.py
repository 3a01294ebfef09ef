"""Training LPIPS on 2AFC human judgments with `compile`/`fit` (the paper's section 3.3).

    from lpips_tf import training
    result = training.train(training.TrainConfig(data_dir="dataset", variant="alex-lin"))

One module per job; imports run one way, from `loop` down to the 2AFC model
(`lpips_tf.uses.judgment`) and the metric itself (`lpips_tf.core`), and none of these modules
imports this package's `__init__`:

  loop.py          `train()`: the run as a sequence of steps, using the modules below
  config.py        `TrainConfig`, its defaults, `ConfigError`, settings a resume may change
  checks.py        `check_config`, `check_data_dir`, `check_trunk_weights`: refuse bad settings,
                   missing data or trunk weights that cannot be had before writing anything
  variants.py      `Variant`, `VARIANTS`, `get_variant`, `build_distance_model`
  strategy.py      `make_strategy` (tf.distribute by name), `worker_role` (chief or not)
  run_folder.py    `RunFolder`: file names, fresh start or resume, history.csv, backup, config.json
  run_record.py    what config.json says about a run, at the start and at the end
  run_lock.py      one run per run folder: the lock, and config.json marked when a run fails
  run_files.py     atomic writes of run files (temporary name, sync, rename), damage checks
  datasets.py      `RunData` (indexes, steps, epochs), the per-epoch order shared by both paths
  setups.py        datasets and models, end to end on images or on cached statistics
  cached_stats.py  cached channel statistics and the statistics-input 2AFC model
  callbacks.py     `fit`'s callbacks: checkpoint, logs, backup
  artefacts.py     SavedModel, .keras files, lin_weights.npz and plots of a finished run
  plots.py         `plot_history`: accuracy.png and loss.png

The public names below load their module on first use (`lpips_tf.training.X`).
"""

from lpips_tf._lazy import lazy_attributes as _lazy_attributes

_NAMES = {
    "lpips_tf.training.artefacts": ("write_lin_weights",),
    "lpips_tf.training.checks": ("check_config", "check_data_dir", "check_trunk_weights"),
    "lpips_tf.training.config": ("DEFAULTS", "DEFAULT_TRAIN_SETS", "DEFAULT_VAL_SETS",
                                 "SELECTIONS", "STRATEGIES", "ConfigError", "TrainConfig"),
    "lpips_tf.uses.judgment": ("JudgmentHead", "TwoAFCModel", "TwoAFCScore",
                               "assemble_2afc_model", "build_2afc_model", "judgment_loss",
                               "two_afc_scores"),
    "lpips_tf.training.loop": ("train",),
    "lpips_tf.training.plots": ("plot_history",),
    "lpips_tf.uses.schedule": ("LinearDecaySchedule",),
    "lpips_tf.training.strategy": ("make_strategy", "worker_role"),
    "lpips_tf.training.variants": ("VARIANTS", "Variant", "build_distance_model", "get_variant"),
}
_TABLE = {name: module for module, names in _NAMES.items() for name in names}
__getattr__, __dir__ = _lazy_attributes(globals(), _TABLE)
__all__ = sorted(_TABLE)
