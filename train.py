"""Train an LPIPS variant on the BAPPS 2AFC human judgments (the paper's "lin", "tune", "scratch").

    python train.py --data_dir dataset --variant alex-lin --out_dir saved_models

runs the paper's schedule (5 epochs at lr 1e-4, 5 decaying to 0, batch 50, 64 x 64 patches) on
the three BAPPS training subsets (151k triplets) and validates on the six val subsets after every
epoch. alex-lin measured 0.21 s per step of 50 triplets on two CPU cores, so an epoch of 3022 steps
plus validation takes about 12 minutes and the 10 epochs about 2 hours (extrapolated: BAPPS itself
was not available here; its 256 px PNGs also cost decoding time); vgg takes several times longer.
Offline, on a small synthetic stand-in (simulated observers, NOT human judgments):

    python -m lpips_tf.data.synthetic --out /tmp/bapps_synth --n_train 2000 --n_val 500
    python train.py --data_dir /tmp/bapps_synth --train_sets train/traditional \
        --val_sets val/traditional --variant alex-lin --epochs 2 --epochs_decay 1 \
        --out_dir /tmp/lpips_runs

takes about a minute on two CPU cores (10 s for the data, 51 s for 3 epochs of 40 steps);
`train.py` downloads torchvision's AlexNet once unless --trunk_weights points at a local file.

For the *-lin variants (frozen trunk), `--cached_stats` trains on per-channel statistics stored
by one trunk pass (lpips_tf/training/cached_stats.py): same judgment network, schedule, callbacks and output
files; no element dropout (`--cached_dropout` drops whole channels instead, off by default). Its
cache (`--stats_cache_dir`, default `<out_dir>/.stats_cache`) is reused until the trunk or the data
change. Measured on two shared CPU cores, alex-lin, the paper's 10 epochs on synthetic triplets:
2000 train / 500 val, 108 s end to end vs 18 s cached (9 s with a warm cache); 6000 / 2000, 343 s
vs 60 s (12 s warm); best validation 2AFC within 0.3 points of each other. Estimated for full
BAPPS (151k train, 36k val triplets; ranges: 64 px vs 256 px PNG files to decode): alex-lin 2-5 h
end to end vs 11-28 min cached (mostly the one statistics pass), vgg-lin 49-52 h vs 3.5-3.7 h.

Everything lands in `<out_dir>/<variant>/`: `saved_model/` (TF Serving: serving_default(image0,
image1) -> distance), `model.keras`, `judgment_model.keras`, `lin_weights.npz`, `history.csv`,
`accuracy.png`, `loss.png` and `config.json`; the saved models are those of the epoch with the best
validation 2AFC score (`--select last` keeps the last epoch). Run the same command again after an
interruption and it resumes after the last completed epoch. `--list_variants` prints the variants.
"""

import os
import sys

from absl import app
from absl import flags
from absl import logging

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from lpips_tf import training  # noqa: E402
from lpips_tf.data.bapps import DataError  # noqa: E402
from lpips_tf.core.weights import parse_trunk_weights  # noqa: E402

FLAGS = flags.FLAGS

flags.DEFINE_string("data_dir", None, "Dataset root: the folder holding 2afc/ (and jnd/).")
flags.DEFINE_list("train_sets", list(training.DEFAULT_TRAIN_SETS),
                  "2AFC training subsets, relative to 2afc/.")
flags.DEFINE_list("val_sets", list(training.DEFAULT_VAL_SETS),
                  "2AFC validation subsets, relative to 2afc/, scored after every epoch.")
flags.DEFINE_string("variant", "alex-lin", "What to train; see --list_variants.")
flags.DEFINE_bool("list_variants", False, "Print the variants with a description and exit.")
flags.DEFINE_string("trunk_weights", "torchvision",
                    "Pretrained trunk: 'torchvision' (download once, cached), 'keras' (VGG only), "
                    "'none' (random), or a path to a torchvision state dict. Variants with a "
                    "random trunk (vgg-rand-cos, *-scratch) ignore it.")
flags.DEFINE_integer("epochs", 5, "Epochs at the constant learning rate.")
flags.DEFINE_integer("epochs_decay", 5, "Further epochs of linear decay to 0 (total = epochs + "
                     "epochs_decay).")
flags.DEFINE_integer("batch_size", 50, "Global batch size (split over replicas).")
flags.DEFINE_float("lr", 1e-4, "Initial learning rate (Adam).")
flags.DEFINE_float("beta1", 0.5, "Adam beta_1.")
flags.DEFINE_float("dropout", 0.5, "Dropout before each lin layer while training (end to end; "
                   "with --cached_stats see --cached_dropout).")
flags.DEFINE_integer("load_size", 64, "Patches are resized to load_size x load_size.")
flags.DEFINE_string("out_dir", "saved_models", "Output root; the run goes to <out_dir>/<variant>/.")
flags.DEFINE_enum("strategy", "default", list(training.STRATEGIES),
                  "tf.distribute strategy: default (one device), mirrored (all local GPUs, or all "
                  "logical CPUs), multi_worker (MultiWorkerMirroredStrategy from TF_CONFIG).")
flags.DEFINE_integer("seed", 0, "Seed of initialisation, data order and dropout.")
flags.DEFINE_integer("steps_per_epoch", None, "Cap on steps per epoch, for quick runs (default: "
                     "one full pass over the training triplets).")
flags.DEFINE_enum("select", "best", list(training.SELECTIONS),
                  "Which epoch's model to save: best validation 2AFC, or the last.")
flags.DEFINE_string("version", "0.1", "LPIPS version of the distance (input scaling).")
flags.DEFINE_bool("save_judgment_model", True, "Also save the full 2AFC model (distance + G + "
                  "optimizer) as judgment_model.keras.")
flags.DEFINE_bool("overwrite", False, "Replace a finished (or different) run in the output folder.")
flags.DEFINE_string("verbose", "auto", "Keras progress: 1 = progress bar, 2 = one line per epoch, "
                    "0 = silent; auto = 1 on a terminal, 2 when stdout is a file or a pipe.")
flags.DEFINE_string("taps", None, "Trunk taps the distance reads: k for the first k (vgg-lin "
                    "--taps 2 reads block1_conv2, block2_conv2), or names like conv1,conv3; "
                    "default: all (the variant's own for vgg2-*/alex4-*). The run goes to "
                    "<out_dir>/<variant>-taps<k>/.")
flags.DEFINE_bool("cached_stats", False,
                  "Train on cached per-channel statistics (frozen-trunk variants: *-lin, whose "
                  "distance is linear in the lin weights, and *-cos, whose distance is the plain "
                  "sum of the statistics; not *-tune/*-scratch). One trunk pass over the "
                  "training and validation triplets stores each pair's per-channel mean squared "
                  "differences (1152 numbers for alex, 1472 for vgg) in --stats_cache_dir; every "
                  "epoch is then a tiny fit over those vectors, with the same judgment network, "
                  "schedule, callbacks and output files. Uses --cached_dropout instead of "
                  "--dropout.")
flags.DEFINE_float("cached_dropout", 0.0,
                   "With --cached_stats: dropout of whole channels of the cached statistics while "
                   "training. The end-to-end --dropout drops (channel, position) elements before "
                   "the spatial average, which the cached averages cannot reproduce; channel "
                   "dropout is a different, much stronger regulariser, so it is off by default.")
flags.DEFINE_string("stats_cache_dir", None,
                    "With --cached_stats: folder of the statistics cache (default: "
                    "<out_dir>/.stats_cache, shared by the runs in --out_dir and kept by "
                    "--overwrite). Entries are keyed by trunk weights, data files, judgments and "
                    "load size; a change recomputes them.")


def _list_variants():
    for name, variant in training.VARIANTS.items():
        print(f"{name:14s} {variant.description}")
    print("The seed brief's whole comparison (vgg2-*, alex4-*, vgg-rand-cos, evaluation, report) "
          "is one command: python experiment.py --data_dir D --out_dir R")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not FLAGS["verbosity"].present:
        # TensorFlow's INFO lines (SavedModel writing, ...) drown the progress; --verbosity 0 shows them.
        logging.set_verbosity(logging.WARNING)
    if FLAGS.list_variants:
        _list_variants()
        return 0
    if not FLAGS.data_dir:
        print("error: --data_dir is required: the folder holding 2afc/ (and jnd/) in the BAPPS "
              "layout. For an offline stand-in: python -m lpips_tf.data.synthetic --out DIR",
              file=sys.stderr)
        return 2
    if FLAGS.cached_stats and FLAGS["dropout"].present:
        print("error: --dropout is the end-to-end element dropout; with --cached_stats use "
              "--cached_dropout (dropout of whole channels of the cached statistics).",
              file=sys.stderr)
        return 2
    try:
        trunk_weights = parse_trunk_weights(FLAGS.trunk_weights)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    verbose = FLAGS.verbose
    if verbose != "auto":
        if verbose not in ("0", "1", "2"):
            print(f"error: --verbose must be 0, 1, 2 or auto. Received: {verbose!r}",
                  file=sys.stderr)
            return 2
        verbose = int(verbose)
    config = training.TrainConfig(
        data_dir=FLAGS.data_dir, variant=FLAGS.variant, train_sets=FLAGS.train_sets,
        val_sets=FLAGS.val_sets, trunk_weights=trunk_weights, epochs=FLAGS.epochs,
        epochs_decay=FLAGS.epochs_decay, batch_size=FLAGS.batch_size, lr=FLAGS.lr,
        beta1=FLAGS.beta1, dropout=FLAGS.dropout, load_size=FLAGS.load_size,
        out_dir=FLAGS.out_dir, strategy=FLAGS.strategy, seed=FLAGS.seed,
        steps_per_epoch=FLAGS.steps_per_epoch, version=FLAGS.version, select=FLAGS.select,
        save_judgment_model=FLAGS.save_judgment_model, overwrite=FLAGS.overwrite,
        verbose=verbose, cached_stats=FLAGS.cached_stats,
        cached_dropout=FLAGS.cached_dropout, stats_cache_dir=FLAGS.stats_cache_dir,
        taps=FLAGS.taps)
    from lpips_tf.cli.outputs import OutputError, check_writable_dir

    try:
        check_writable_dir(FLAGS.out_dir, "--out_dir folder")  # before indexing and building
        result = training.train(config)
    except (FileNotFoundError, FileExistsError, training.ConfigError, DataError,
            OutputError) as e:
        # Mistakes in the command or the data: one line. Anything else keeps its traceback.
        print(f"error: {e}", file=sys.stderr)
        return 2
    score = result["saved_val_two_afc"]
    score_text = "n/a" if score is None else f"{100 * score:.2f}"
    print(f"Done: {result['run_dir']} holds the model of epoch {result['saved_epoch']} "
          f"(validation 2AFC {score_text}).")
    return 0


if __name__ == "__main__":
    app.run(main)
