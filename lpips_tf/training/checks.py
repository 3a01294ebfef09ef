"""Configuration checks: refuse a bad `TrainConfig`, a missing dataset or trunk weights that cannot
be had before anything is written.

`check_config` gathers every problem into one `ConfigError`, so a user fixes a command line once.
"""

import os

from lpips_tf.training.config import SELECTIONS, STRATEGIES, ConfigError
from lpips_tf.training.variants import VARIANTS, get_variant
from lpips_tf.core.trunks import get_trunk_module, select_taps


def check_config(config):
    """The config's `Variant`, or a `ConfigError` naming every invalid setting."""
    variant = get_variant(config.variant)
    problems = []
    if config.epochs < 0 or config.epochs_decay < 0 or config.epochs + config.epochs_decay < 1:
        problems.append(f"epochs={config.epochs} and epochs_decay={config.epochs_decay} must be "
                        f">= 0 with at least one epoch in all")
    if config.batch_size < 1:
        problems.append(f"batch_size={config.batch_size} must be >= 1")
    if not config.lr > 0:
        problems.append(f"lr={config.lr} must be > 0")
    if not 0 <= config.beta1 < 1:
        problems.append(f"beta1={config.beta1} must be in [0, 1)")
    if not 0 <= config.dropout < 1:
        problems.append(f"dropout={config.dropout} must be in [0, 1)")
    if config.steps_per_epoch is not None and config.steps_per_epoch < 1:
        problems.append(f"steps_per_epoch={config.steps_per_epoch} must be >= 1 (or None)")
    if config.strategy not in STRATEGIES:
        problems.append(f"strategy={config.strategy!r} must be one of {STRATEGIES}")
    if config.select not in SELECTIONS:
        problems.append(f"select={config.select!r} must be one of {SELECTIONS}")
    if not 0 <= config.cached_dropout < 1:
        problems.append(f"cached_dropout={config.cached_dropout} must be in [0, 1)")
    if config.cached_dropout and not config.cached_stats:
        problems.append(f"cached_dropout={config.cached_dropout} applies only with "
                        f"cached_stats=True (end-to-end training uses dropout)")
    if config.cached_dropout and not variant.lpips:
        problems.append(f"cached_dropout={config.cached_dropout} needs lin layers to regularise; "
                        f"{variant.name} is a cosine distance")
    if config.cached_stats and not variant.cacheable:
        tuned = ", ".join(n for n, v in VARIANTS.items() if not v.cacheable)
        problems.append(f"cached_stats needs a frozen trunk (any variant but {tuned}); "
                        f"{variant.name} "
                        f"trains its trunk, so the channel statistics change at every step. "
                        f"Train it end to end (without --cached_stats)")
    if config.cached_stats:
        if config.strategy != "default":
            problems.append(f"cached_stats trains with the default strategy only (each step is a "
                            f"few small matrix products); received strategy={config.strategy!r}")
    trunk_module = get_trunk_module(variant.net)
    if config.taps is not None:
        if variant.taps is not None:
            full = variant.name.replace(f"{variant.net}{variant.taps}-", f"{variant.net}-")
            problems.append(f"taps={config.taps!r}: {variant.name} already reads its first "
                            f"{variant.taps} taps; use --taps with a full-depth variant "
                            f"({full})")
        else:
            try:
                select_taps(trunk_module, config.taps)
            except ValueError as e:
                problems.append(str(e).rstrip("."))
    min_size = trunk_module.MIN_INPUT_SIZE
    if config.load_size < min_size:
        problems.append(f"load_size={config.load_size} is below {min_size}, the smallest input "
                        f"the {variant.net} trunk takes")
    if problems:
        raise ConfigError("Invalid training configuration: " + "; ".join(problems) + ".")
    return variant


def check_data_dir(data_dir):
    """Refuses a missing dataset folder, naming what was expected."""
    hint = ("Expected the BAPPS layout: <data_dir>/2afc/{train,val}/<subset>/{ref,p0,p1,judge}/ "
            "(and jnd/). Download BAPPS with the official scripts/download_dataset.sh, or write a "
            "small offline stand-in with `python -m lpips_tf.data.synthetic --out DIR`.")
    if not data_dir or not os.path.isdir(data_dir):
        raise FileNotFoundError(f"data_dir {data_dir!r} does not exist. {hint}")
    if not os.path.isdir(os.path.join(data_dir, "2afc")):
        raise FileNotFoundError(f"data_dir {data_dir!r} has no 2afc/ folder. {hint}")



def check_trunk_weights(variant, trunk_weights):
    """Makes sure the pretrained trunk a run starts from is at hand: torchvision's checkpoint is
    downloaded now if it is not cached (offline, the `WeightsDownloadError` saying what to fetch
    comes before anything is written), a path must be a file. Random-trunk variants need none."""
    from lpips_tf.core.weights import ensure_trunk_weights

    if variant.pretrained and trunk_weights is not None:
        ensure_trunk_weights(variant.net, os.fspath(trunk_weights))

