"""The seed brief's comparison in one command: train its five models (and the paper's alex-lin and
vgg-lin for reference), evaluate them with the L2 / SSIM baselines, and write one report folder.

    python experiment.py --data_dir ./dataset --out_dir outputs/seed_experiment

Models (train.py variants, in <out_dir>/runs/): vgg2-cos, vgg2-lin ("VGG16 pretrained, 2
convolutional layers", cosine / LPIPS distance), alex4-cos, alex4-lin ("AlexNet pretrained, 4
convolutional layers"), vgg-rand-cos ("VGG16 untrained network + cosine distance"), alex-lin and
vgg-lin (all taps, the paper's). Every one has a frozen trunk, so all train on cached channel
statistics (one trunk pass per triplet, then epochs over vectors).

<out_dir>/report/: report.md and report.json (the table: model, distance, layers, 2AFC per subset
and mean, JND mAP, 95% intervals; the claims (a) LPIPS beats cosine, (b) VGG beats AlexNet with
LPIPS, (c) AlexNet beats VGG with cosine, each supported / contradicted / not resolved from
paired bootstrap intervals), accuracy_best_model.png and loss_best_model.png (the brief's
Grafic 1 and 2), val_2afc_curves.png, and evaluation/ (evaluate.py's files).

Run the same command again after an interruption: finished models are skipped, an interrupted one
resumes after its last epoch, the evaluation runs again. Offline, with the AlexNet trunk at hand
and no VGG16 weights (simulated observers, NOT human judgments; labelled so in every output):

    python -m lpips_tf.data.synthetic --out /tmp/bapps_synth --n_train 2000 --n_val 500
    python experiment.py --data_dir /tmp/bapps_synth --out_dir /tmp/seed_experiment \\
        --trunk_weights alex=../shared/weights/alexnet_features.pth,vgg=random --lr 1e-2

See README.md ("The seed experiment") for measured times.
"""

import os
import sys

from absl import app
from absl import flags
from absl import logging

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "Dataset root in the BAPPS layout (2afc/ and jnd/).")
flags.DEFINE_string("out_dir", "outputs/seed_experiment",
                    "Output root: runs/<variant>/ (train.py folders) and report/.")
flags.DEFINE_string("trunk_weights", "torchvision",
                    'Pretrained trunks: "torchvision" (download once), "random" (none: random '
                    'weights, labelled so), a path, or per net "alex=PATH,vgg=random".')
flags.DEFINE_list("models", None, "Subset of the models (default: all): vgg2-cos, vgg2-lin, "
                  "alex4-cos, alex4-lin, vgg-rand-cos, alex-lin, vgg-lin.")
flags.DEFINE_integer("epochs", 5, "Epochs at the constant learning rate.")
flags.DEFINE_integer("epochs_decay", 5, "Further epochs of linear decay to 0.")
flags.DEFINE_float("lr", 1e-4, "Initial learning rate (Adam; the paper's 1e-4 is tuned for "
                   "BAPPS' 151k triplets, use 1e-2 for a 2000-triplet synthetic set).")
flags.DEFINE_integer("batch_size", 50, "Batch size (training and evaluation).")
flags.DEFINE_integer("steps_per_epoch", None, "Cap on steps per epoch, for quick runs.")
flags.DEFINE_integer("seed", 0, "Seed of initialisation, data order and bootstrap.")
flags.DEFINE_integer("load_size", 64, "Patches are resized to load_size x load_size.")
flags.DEFINE_list("train_sets", None, "2AFC training subsets (default: every train subset).")
flags.DEFINE_list("val_sets", None, "2AFC validation subsets (default: every val subset).")
flags.DEFINE_string("sets", "all", 'Evaluation sets, as evaluate.py --sets.')
flags.DEFINE_integer("n_boot", 1000, "Bootstrap resamples for intervals and claims.")
flags.DEFINE_bool("save_judgment_model", True, "Also save each run's judgment_model.keras.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not FLAGS["verbosity"].present:
        # TensorFlow's INFO lines (SavedModel writing, ...) drown the progress.
        logging.set_verbosity(logging.WARNING)
    if not FLAGS.data_dir:
        print("error: --data_dir is required: the folder holding 2afc/ (and jnd/) in the BAPPS "
              "layout. For an offline stand-in: python -m lpips_tf.data.synthetic --out DIR",
              file=sys.stderr)
        return 2
    from lpips_tf import experiment, training
    from lpips_tf.data.bapps import DataError

    config = experiment.ExperimentConfig(
        data_dir=FLAGS.data_dir, out_dir=FLAGS.out_dir, trunk_weights=FLAGS.trunk_weights,
        models=tuple(FLAGS.models or experiment.MODEL_NAMES), epochs=FLAGS.epochs,
        epochs_decay=FLAGS.epochs_decay, lr=FLAGS.lr, batch_size=FLAGS.batch_size,
        steps_per_epoch=FLAGS.steps_per_epoch, seed=FLAGS.seed, load_size=FLAGS.load_size,
        train_sets=FLAGS.train_sets, val_sets=FLAGS.val_sets, eval_sets=FLAGS.sets,
        n_boot=FLAGS.n_boot, save_judgment_model=FLAGS.save_judgment_model)
    try:
        experiment.run_experiment(config, log=lambda line: print(line, flush=True))
    except (FileNotFoundError, FileExistsError, ValueError, DataError,
            training.ConfigError) as e:
        # Mistakes in the command or the data: one line. Anything else keeps its traceback.
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    app.run(main)
