r"""Train an LPIPS variant on the BAPPS 2AFC human judgments (the paper's "lin", "tune", "scratch").

    python train.py --data_dir dataset --variant alex-lin --out_dir saved_models

runs the paper's schedule (5 epochs at lr 1e-4, 5 decaying to 0, batch 50, 64 x 64 patches) on
the three BAPPS training subsets (151k triplets) and validates on the six val subsets after every
epoch (see README.md, "Training", for measured times). Offline, on a small synthetic stand-in
(simulated observers, NOT human judgments):

    python -m lpips_tf.data.synthetic --out /tmp/bapps_synth --n_train 2000 --n_val 500
    python train.py --data_dir /tmp/bapps_synth --train_sets train/traditional \
        --val_sets val/traditional --variant alex-lin --epochs 2 --epochs_decay 1 \
        --out_dir /tmp/lpips_runs

train.py downloads torchvision's AlexNet once (before writing anything) unless --trunk_weights
points at a local file.

For the frozen-trunk variants (*-lin, *-cos), --cached_stats trains on per-channel statistics
stored by one trunk pass (lpips_tf/training/cached_stats.py): same judgment network, schedule,
callbacks and output files; no element dropout (--cached_dropout drops whole channels instead,
off by default). Its cache (--stats_cache_dir, default <out_dir>/.stats_cache) is reused until the
trunk or the data change.

Everything lands in <out_dir>/<variant>/: saved_model/ (TF Serving: serving_default(image0,
image1) -> distance), model.keras, judgment_model.keras, lin_weights.npz, history.csv (epochs
counted from 1), accuracy.png, loss.png, config.json, checkpoints/ (the best epoch's weights) and
tensorboard/; the saved models are those of the epoch with the best validation 2AFC score
(--select last keeps the last epoch). Run the same command again after an interruption and it
resumes after the last completed epoch. --list_variants prints the variants.

Exit codes: 0 done, 2 bad usage or bad input (one line on stderr, nothing written).
"""

import argparse
import dataclasses

from absl import logging  # noqa: F401  (defines --verbosity, which these parsers accept)

from lpips_tf.cli import scripts
from lpips_tf.training import config as train_config

__all__ = ["TRAINING_FLAGS", "add_training_flags", "build_parser", "config_from_args", "main",
           "require_data_dir"]


def _verbose(text):
    if text not in ("auto", "0", "1", "2"):
        raise argparse.ArgumentTypeError(f"expected 0, 1, 2 or auto, got {text!r}")
    return text if text == "auto" else int(text)


# TrainConfig field -> (how its flag parses, help). The defaults are TrainConfig's.
TRAINING_FLAGS = {
    "variant": (str, "What to train; see --list_variants."),
    "train_sets": (scripts.comma_list, "2AFC training subsets, relative to 2afc/, "
                   "comma-separated."),
    "val_sets": (scripts.comma_list, "2AFC validation subsets, relative to 2afc/, "
                 "comma-separated; scored after every epoch."),
    "trunk_weights": (str, "Pretrained trunk: 'torchvision' (download once, cached), 'keras' "
                      "(VGG only), 'imagenet' (keras.applications trunks: Keras' download), "
                      "'none' (random), or a path to a torchvision state dict (a .weights.h5 "
                      "file for a keras.applications trunk). Variants with a random trunk "
                      "(vgg-rand-cos, *-scratch) ignore it."),
    "epochs": (int, "Epochs at the constant learning rate."),
    "epochs_decay": (int, "Further epochs of linear decay to 0 (total = epochs + "
                     "epochs_decay)."),
    "batch_size": (int, "Global batch size (split over replicas)."),
    "lr": (float, "Initial learning rate (Adam)."),
    "beta1": (float, "Adam beta_1."),
    "dropout": (float, "Dropout before each lin layer while training (end to end; with "
                "--cached_stats see --cached_dropout)."),
    "load_size": (int, "Patches are resized to load_size x load_size."),
    "out_dir": (str, "Output root; the run goes to <out_dir>/<variant>/."),
    "strategy": (train_config.STRATEGIES,
                 "tf.distribute strategy: default (one device), mirrored (all local GPUs, or all "
                 "logical CPUs), multi_worker (MultiWorkerMirroredStrategy from TF_CONFIG)."),
    "seed": (int, "Seed of initialisation, data order and dropout."),
    "steps_per_epoch": (int, "Cap on steps per epoch, for quick runs (default: one full pass "
                        "over the training triplets)."),
    "select": (train_config.SELECTIONS, "Which epoch's model to save: best validation 2AFC, or "
               "the last."),
    "version": (str, "LPIPS version of the distance (input scaling)."),
    "save_judgment_model": (bool, "Also save the full 2AFC model (distance + G + optimizer) as "
                            "judgment_model.keras."),
    "overwrite": (bool, "Replace a finished (or different) run in the output folder."),
    "verbose": (_verbose, "Keras progress: 1 = progress bar, 2 = one line per epoch, 0 = silent; "
                "auto = 1 on a terminal, 2 when stdout is a file or a pipe."),
    "taps": (str, "Trunk taps the distance reads: k for the first k (vgg-lin --taps 2 reads "
             "block1_conv2, block2_conv2), or names like conv1,conv3; default: all (the "
             "variant's own for vgg2-*/alex4-*). The run goes to <out_dir>/<variant>-taps<k>/."),
    "cached_stats": (bool, "Train on cached per-channel statistics (frozen-trunk variants: *-lin, "
                     "whose distance is linear in the lin weights, and *-cos, whose distance is "
                     "the plain sum of the statistics; not *-tune/*-scratch). One trunk pass over "
                     "the training and validation triplets stores each pair's per-channel mean "
                     "squared differences (1152 numbers for alex, 1472 for vgg) in "
                     "--stats_cache_dir; every epoch is then a tiny fit over those vectors, with "
                     "the same judgment network, schedule, callbacks and output files. Uses "
                     "--cached_dropout instead of --dropout."),
    "cached_dropout": (float, "With --cached_stats: dropout of whole channels of the cached "
                       "statistics while training. The end-to-end --dropout drops (channel, "
                       "position) elements before the spatial average, which the cached averages "
                       "cannot reproduce; channel dropout is a different, much stronger "
                       "regulariser, so it is off by default."),
    "stats_cache_dir": (str, "With --cached_stats: folder of the statistics cache (default: "
                        "<out_dir>/.stats_cache, shared by the runs in --out_dir and kept by "
                        "--overwrite). Entries are keyed by trunk weights, data files, judgments "
                        "and load size; a change recomputes them."),
}


def add_training_flags(parser, names, help=None, defaults=None):
    """Adds the flags of TrainConfig fields `names`, with TrainConfig's defaults.

    `help` / `defaults` replace a flag's help text / default where a command means something
    else by it (the seed experiment's learning rate advice, say).
    """
    help, defaults = help or {}, defaults or {}
    for name in names:
        kind, text = TRAINING_FLAGS[name]
        text = help.get(name, text)
        default = defaults.get(name, train_config.DEFAULTS[name])
        if kind is bool:
            scripts.add_bool(parser, name, default, text)
            continue
        if isinstance(default, tuple):  # comma-separated, as typed (argparse parses it)
            default = ",".join(default)
        if isinstance(kind, tuple):
            parser.add_argument(f"--{name}", choices=kind, default=default, help=text)
        else:
            parser.add_argument(f"--{name}", type=kind, default=default, help=text)


def build_parser():
    parser = scripts.ArgumentParser(prog="python train.py", description=__doc__)
    parser.add_argument("--data_dir", help="Dataset root: the folder holding 2afc/ (and jnd/).")
    scripts.add_bool(parser, "list_variants", False,
                     "Print the variants with a description and exit.")
    names = [f.name for f in dataclasses.fields(train_config.TrainConfig)
             if f.name not in ("data_dir", "dropout")]
    add_training_flags(parser, names)
    # No default here, so that --dropout given with --cached_stats is told apart from the default.
    parser.add_argument("--dropout", type=float, default=None,
                        help=TRAINING_FLAGS["dropout"][1] +
                        f" (default: {train_config.DEFAULTS['dropout']})")
    return parser


def require_data_dir(data_dir):
    """A `UsageError` saying what --data_dir is, when it was not given (not an argparse
    requirement: `--list_variants` needs none)."""
    if not data_dir:
        raise scripts.UsageError(
            "--data_dir is required: the folder holding 2afc/ (and jnd/) in the BAPPS layout. "
            "For an offline stand-in: python -m lpips_tf.data.synthetic --out DIR")


def config_from_args(args):
    """The `TrainConfig` of parsed train.py arguments (a `UsageError` for flags that clash)."""
    require_data_dir(args.data_dir)
    if args.cached_stats and args.dropout is not None:
        raise scripts.UsageError(
            "--dropout is the end-to-end element dropout; with --cached_stats use "
            "--cached_dropout (dropout of whole channels of the cached statistics).")
    values = {f.name: getattr(args, f.name)
              for f in dataclasses.fields(train_config.TrainConfig)}
    if values["dropout"] is None:
        values["dropout"] = train_config.DEFAULTS["dropout"]
    from lpips_tf.core.weights import parse_trunk_weights

    values["trunk_weights"] = parse_trunk_weights(values["trunk_weights"])
    return train_config.TrainConfig(**values)


def _list_variants():
    from lpips_tf import training

    for name, variant in training.VARIANTS.items():
        print(f"{name:14s} {variant.description}")
    print("<Net>-lin, <Net>-cos: the lin and cos families on any keras.applications model, e.g. "
          "ResNet50-lin, MobileNetV3Small-cos (--taps: its layer names, or K for the first K of "
          "its default taps).")
    print("The seed brief's whole comparison (vgg2-*, alex4-*, vgg-rand-cos, evaluation, report) "
          "is one command: python experiment.py --data_dir D --out_dir R")


def run(args):
    from absl import flags

    if not flags.FLAGS["verbosity"].present:
        # TensorFlow's INFO lines (SavedModel writing, ...) drown the progress; --verbosity 0 shows them.
        logging.set_verbosity(logging.WARNING)
    if args.list_variants:
        _list_variants()
        return scripts.EXIT_DONE
    from lpips_tf import training
    from lpips_tf.cli.outputs import check_writable_dir

    config = config_from_args(args)
    # Checked without creating it; `train` refuses bad settings, data and trunk weights (offline:
    # the download error) before it writes anything, so a refused command leaves nothing behind.
    check_writable_dir(config.out_dir, "--out_dir folder", create=False)
    result = training.train(config)
    score = result["saved_val_two_afc"]
    score_text = "n/a" if score is None else f"{100 * score:.2f}"
    print(f"Done: {result['run_dir']} holds the model of epoch {result['saved_epoch']} "
          f"(validation 2AFC {score_text}).")
    return scripts.EXIT_DONE


main = scripts.Command(build_parser, run)
