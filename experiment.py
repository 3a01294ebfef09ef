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

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _parser():
    # argparse rather than absl flags: absl's global flag registry refuses two scripts defining
    # --data_dir in one process (a test importing train.py and this script).
    p = argparse.ArgumentParser(prog="python experiment.py", description=(
        "The seed brief's comparison: train its models, evaluate them, write one report."))
    p.add_argument("--data_dir", help="Dataset root in the BAPPS layout (2afc/ and jnd/).")
    p.add_argument("--out_dir", default="outputs/seed_experiment",
                   help="Output root: runs/<variant>/ (train.py folders) and report/.")
    p.add_argument("--trunk_weights", default="torchvision",
                   help='Pretrained trunks: "torchvision" (download once), "random" (random '
                        'weights, labelled so), a path, or per net "alex=PATH,vgg=random".')
    p.add_argument("--models", default=None, help="Comma-separated subset of the models "
                   "(default: all): vgg2-cos, vgg2-lin, alex4-cos, alex4-lin, vgg-rand-cos, "
                   "alex-lin, vgg-lin.")
    p.add_argument("--epochs", type=int, default=5, help="Epochs at the constant learning rate.")
    p.add_argument("--epochs_decay", type=int, default=5,
                   help="Further epochs of linear decay to 0.")
    p.add_argument("--lr", type=float, default=1e-4,
                   help="Initial learning rate (Adam; the paper's 1e-4 is tuned for BAPPS' 151k "
                        "triplets, use 1e-2 for a 2000-triplet synthetic set).")
    p.add_argument("--batch_size", type=int, default=50,
                   help="Batch size (training and evaluation).")
    p.add_argument("--steps_per_epoch", type=int, default=None,
                   help="Cap on steps per epoch, for quick runs.")
    p.add_argument("--seed", type=int, default=0,
                   help="Seed of initialisation, data order and bootstrap.")
    p.add_argument("--load_size", type=int, default=64,
                   help="Patches are resized to load_size x load_size.")
    p.add_argument("--train_sets", default=None,
                   help="2AFC training subsets, comma-separated (default: every train subset).")
    p.add_argument("--val_sets", default=None,
                   help="2AFC validation subsets, comma-separated (default: every val subset).")
    p.add_argument("--sets", default="all", help="Evaluation sets, as evaluate.py --sets.")
    p.add_argument("--n_boot", type=int, default=1000,
                   help="Bootstrap resamples for intervals and claims.")
    p.add_argument("--save_judgment_model", type=lambda v: v.lower() in ("1", "true", "yes"),
                   default=True, help="Also save each run's judgment_model.keras (true/false).")
    return p


def _list(value):
    return None if value is None else tuple(v.strip() for v in value.split(",") if v.strip())


def main(argv=None):
    args = _parser().parse_args(argv)
    if not args.data_dir:
        print("error: --data_dir is required: the folder holding 2afc/ (and jnd/) in the BAPPS "
              "layout. For an offline stand-in: python -m lpips_tf.data.synthetic --out DIR",
              file=sys.stderr)
        return 2
    from absl import logging

    # TensorFlow's INFO lines (SavedModel writing, ...) drown the progress.
    logging.set_verbosity(logging.WARNING)
    from lpips_tf import training
    from lpips_tf.experiments import seed as experiment
    from lpips_tf.data.bapps import DataError

    config = experiment.ExperimentConfig(
        data_dir=args.data_dir, out_dir=args.out_dir, trunk_weights=args.trunk_weights,
        models=_list(args.models) or experiment.MODEL_NAMES, epochs=args.epochs,
        epochs_decay=args.epochs_decay, lr=args.lr, batch_size=args.batch_size,
        steps_per_epoch=args.steps_per_epoch, seed=args.seed, load_size=args.load_size,
        train_sets=_list(args.train_sets), val_sets=_list(args.val_sets), eval_sets=args.sets,
        n_boot=args.n_boot, save_judgment_model=args.save_judgment_model)
    try:
        experiment.run_experiment(config, log=lambda line: print(line, flush=True))
    except (FileNotFoundError, FileExistsError, ValueError, DataError,
            training.ConfigError) as e:
        # Mistakes in the command or the data: one line. Anything else keeps its traceback.
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
