"""The settings of a training run: `TrainConfig`, its defaults, `ConfigError`, and which settings a
resumed run may change.

The defaults are written once, in `TrainConfig`; `DEFAULTS` reads them for the command lines
(train.py's and experiment.py's flags) and for settings a run recorded before they existed.

The checks that need the variant registry or the trunks live in `lpips_tf.training.checks`, so
that this module imports nothing from the rest of the package (the registry raises `ConfigError`).
"""

import dataclasses
import os
import sys

DEFAULT_TRAIN_SETS = ("train/traditional", "train/cnn", "train/mix")
DEFAULT_VAL_SETS = ("val/traditional", "val/cnn", "val/superres", "val/deblur", "val/color",
                    "val/frameinterp")
SELECTIONS = ("best", "last")
# The names `lpips_tf.training.strategy.make_strategy` takes (here: flags list them without
# loading TensorFlow).
STRATEGIES = ("default", "mirrored", "multi_worker")


class ConfigError(ValueError):
    """A training setting is invalid (unknown variant, bad value, resume with other settings)."""


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run depends on; written to `config.json`.

    `epochs` epochs at the constant rate are followed by `epochs_decay` epochs of linear decay, so
    a run has `epochs + epochs_decay` epochs (the paper: 5 + 5). `batch_size` is the global batch,
    split over the replicas of the strategy. An epoch is one shuffled pass over the training
    triplets (ceil(N / batch_size) steps, the last batch partial), or `steps_per_epoch` steps of
    it when that cap is set.

    `cached_stats=True` (frozen-trunk lin variants only: `*-lin`) trains on per-channel statistics
    computed once per triplet and cached on disk in `stats_cache_dir` (None:
    `<out_dir>/.stats_cache`, shared by the runs under `out_dir` and kept by `overwrite`); see
    `lpips_tf.training.cached_stats`. It uses `cached_dropout` (channel dropout on the statistics, default off)
    instead of `dropout` (element dropout, which cannot be reproduced on the averages) and runs
    with the default strategy only. Cosine variants (frozen trunk, no lin layers) may use it too:
    their distance is the plain sum of the statistics, so only the judgment network trains.

    `taps` selects the trunk taps the distance reads, as `lpips_tf.LPIPS(taps=...)` takes them
    (an int k for the first k, or tap names); None keeps the variant's own (all taps for the
    paper's variants, 2 for `vgg2-*`, 4 for `alex4-*`). A run with `taps` set goes to
    `<out_dir>/<variant>-taps<k>` (see `run_name`), so it never mixes with the full-depth run.

    `verbose` is Keras' `fit` verbosity; "auto" is a progress bar on a terminal and one line per
    epoch otherwise (log files, pipes), see `resolve_verbose`.
    """

    data_dir: str
    variant: str = "alex-lin"
    train_sets: tuple = DEFAULT_TRAIN_SETS
    val_sets: tuple = DEFAULT_VAL_SETS
    trunk_weights: object = "torchvision"
    epochs: int = 5
    epochs_decay: int = 5
    batch_size: int = 50
    lr: float = 1e-4
    beta1: float = 0.5
    dropout: float = 0.5
    load_size: int = 64
    out_dir: str = "saved_models"
    strategy: str = "default"
    seed: int = 0
    steps_per_epoch: object = None
    version: str = "0.1"
    select: str = "best"
    save_judgment_model: bool = True
    overwrite: bool = False
    verbose: object = "auto"
    cached_stats: bool = False
    cached_dropout: float = 0.0
    stats_cache_dir: object = None
    taps: object = None

    def __post_init__(self):
        for key in ("train_sets", "val_sets"):
            value = getattr(self, key)
            if isinstance(value, str):
                value = [s.strip() for s in value.split(",") if s.strip()]
            setattr(self, key, tuple(value))
        self.taps = parse_taps(self.taps)

    def flags(self):
        """The config as JSON-friendly values."""
        out = dataclasses.asdict(self)
        out["train_sets"] = list(self.train_sets)
        out["val_sets"] = list(self.val_sets)
        out["taps"] = list(self.taps) if isinstance(self.taps, tuple) else self.taps
        return out

    def stats_cache(self):
        """The folder of the cached statistics (with `cached_stats`)."""
        return self.stats_cache_dir or os.path.join(self.out_dir, ".stats_cache")



def parse_taps(value):
    """A taps setting in one canonical form: None, an int k, or a tuple of tap names / indices.

    Strings come from command lines: "4" is the first 4 taps, "conv1,conv3" (or "conv1+conv3",
    since commas separate items elsewhere) names them; "all" or "" is None. A list read back from
    config.json becomes the same tuple, so a resumed run compares equal.
    """
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("", "all", "none"):
            return None
        if text.isdigit():
            return int(text)
        return tuple(t.strip() for t in text.replace("+", ",").split(",") if t.strip())
    return tuple(value)


def run_name(variant, taps=None):
    """The run folder's name: the variant's, plus "-taps<k>" (or "-taps<a+b>") when `taps`
    overrides it, so that runs reading different taps never share a folder."""
    if taps is None:
        return variant.name
    spec = str(taps) if isinstance(taps, int) else "+".join(str(t) for t in taps)
    return f"{variant.name}-taps{spec}"


def resolve_verbose(verbose):
    """Keras' `fit` verbosity for a `verbose` setting: "auto" (or None) is the per-step progress
    bar on a terminal and one line per epoch when stdout is a file or a pipe, where a progress
    bar's carriage returns turn into thousands of lines."""
    if verbose in ("auto", None):
        isatty = getattr(sys.stdout, "isatty", None)
        return 1 if isatty is not None and isatty() else 2
    return verbose


# Settings that may change when a killed run is resumed; any other change is refused.
RESUMABLE_CHANGES = ("strategy", "verbose", "overwrite", "out_dir", "select",
                     "save_judgment_model", "stats_cache_dir")
# Every setting's default; a run recorded before a setting existed used its default.
DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig)}


def changed_settings(config, saved_flags):
    """Settings of `config` that differ from a recorded run's `flags` and may not change on
    resume, as {name: (saved, now)}."""
    saved = {**DEFAULTS, **saved_flags}
    return {k: (saved.get(k), v) for k, v in config.flags().items()
            if k not in RESUMABLE_CHANGES and saved.get(k) != v}
