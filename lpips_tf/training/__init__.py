"""Training LPIPS on 2AFC human judgments with `compile`/`fit` (the paper's section 3.3).

    from lpips_tf import training
    result = training.train(training.TrainConfig(data_dir="dataset", variant="alex-lin"))

One module per job; imports run one way, from `loop` down to `judgment` and the metric itself
(`lpips_tf.lpips_model`), and none of these modules imports this package's `__init__`:

  loop.py          `train()`: the run as a sequence of steps, using the modules below
  config.py        `TrainConfig`, its defaults, `ConfigError`, settings a resume may change
  checks.py        `check_config`, `check_data_dir`: refuse bad settings before writing anything
  variants.py      `Variant`, `VARIANTS`, `get_variant`, `build_distance_model`
  strategy.py      `make_strategy` (tf.distribute by name), `worker_role` (chief or not)
  run_folder.py    `RunFolder`: file names, fresh start or resume, history.csv, backup, config.json
  run_record.py    what config.json says about a run, at the start and at the end
  datasets.py      `RunData` (indexes, steps, epochs), the per-epoch order shared by both paths
  setups.py        datasets and models, end to end on images or on cached statistics
  cached_stats.py  cached channel statistics, `CachedLin`, the statistics-input 2AFC model
                   (also importable as `lpips_tf.cached`)
  callbacks.py     `fit`'s callbacks: checkpoint, logs, backup, the kill-after-epoch test hook
  artefacts.py     SavedModel, .keras files, lin_weights.npz and plots of a finished run
  plots.py         `plot_history`: accuracy.png and loss.png
  schedule.py      `LinearDecaySchedule`: constant learning rate, then linear decay to 0
  judgment.py      `JudgmentHead` (G), `TwoAFCScore`, `judgment_loss`, `TwoAFCModel`,
                   `build_2afc_model`

The names below are re-exported so that `lpips_tf.training.X` works for every public name.
"""

from lpips_tf.training.artefacts import write_lin_weights
from lpips_tf.training.callbacks import KILL_ENV, KILL_EXIT_CODE
from lpips_tf.training.checks import check_config, check_data_dir
from lpips_tf.training.config import (DEFAULT_TRAIN_SETS, DEFAULT_VAL_SETS, SELECTIONS,
                                      ConfigError, TrainConfig)
from lpips_tf.training.judgment import (JudgmentHead, TwoAFCModel, TwoAFCScore,
                                        assemble_2afc_model, build_2afc_model, judgment_loss,
                                        two_afc_scores)
from lpips_tf.training.loop import train
from lpips_tf.training.plots import plot_history
from lpips_tf.training.schedule import LinearDecaySchedule
from lpips_tf.training.strategy import STRATEGIES, make_strategy, worker_role
from lpips_tf.training.variants import VARIANTS, Variant, build_distance_model, get_variant

__all__ = [
    "DEFAULT_TRAIN_SETS", "DEFAULT_VAL_SETS", "KILL_ENV", "KILL_EXIT_CODE", "SELECTIONS",
    "STRATEGIES", "VARIANTS", "ConfigError", "JudgmentHead", "LinearDecaySchedule", "TrainConfig",
    "TwoAFCModel", "TwoAFCScore", "Variant", "assemble_2afc_model", "build_2afc_model",
    "build_distance_model", "check_config", "check_data_dir", "get_variant", "judgment_loss",
    "make_strategy", "plot_history", "train", "two_afc_scores", "worker_role",
    "write_lin_weights",
]
