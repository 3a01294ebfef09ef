r"""The seed brief's comparison in one command: train its five models (and the paper's alex-lin and
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
    python experiment.py --data_dir /tmp/bapps_synth --out_dir /tmp/seed_experiment \
        --trunk_weights alex=../shared/weights/alexnet_features.pth,vgg=random --lr 1e-2

See README.md ("The seed experiment") for measured times. Exit codes: 0 done, 2 bad usage or bad
input (one line on stderr; the settings, the data and every model's trunk weights are checked
before anything is written, and --out_dir may not be or lie inside --data_dir).
"""

from lpips_tf.cli import scripts
from lpips_tf.cli.train import add_training_flags, require_data_dir

__all__ = ["build_parser", "main"]

# The training settings every model of the study shares; their defaults are TrainConfig's.
_TRAINING = ("epochs", "epochs_decay", "lr", "batch_size", "steps_per_epoch", "seed", "load_size",
             "save_judgment_model")
_HELP = {
    "lr": "Initial learning rate (Adam; the paper's 1e-4 is tuned for BAPPS' 151k triplets, use "
          "1e-2 for a 2000-triplet synthetic set).",
    "batch_size": "Batch size (training and evaluation).",
    "seed": "Seed of initialisation, data order and bootstrap.",
    "save_judgment_model": "Also save each run's judgment_model.keras.",
}


def build_parser():
    from lpips_tf.experiments import seed

    parser = scripts.ArgumentParser(prog="python experiment.py", description=__doc__)
    parser.add_argument("--data_dir", help="Dataset root in the BAPPS layout (2afc/ and jnd/).")
    parser.add_argument("--out_dir", default="outputs/seed_experiment",
                        help="Output root: runs/<variant>/ (train.py folders) and report/.")
    parser.add_argument("--trunk_weights", default="torchvision",
                        help='Pretrained trunks: "torchvision" (download once), "random" (random '
                             'weights, labelled so), a path, or per net "alex=PATH,vgg=random".')
    parser.add_argument("--models", type=scripts.comma_list, default=list(seed.MODEL_NAMES),
                        help="Comma-separated subset of the models.")
    add_training_flags(parser, _TRAINING, help=_HELP)
    parser.add_argument("--train_sets", type=scripts.comma_list, default=None,
                        help="2AFC training subsets, comma-separated (default: every train "
                             "subset).")
    parser.add_argument("--val_sets", type=scripts.comma_list, default=None,
                        help="2AFC validation subsets, comma-separated (default: every val "
                             "subset).")
    parser.add_argument("--sets", default="all", help="Evaluation sets, as evaluate.py --sets.")
    parser.add_argument("--n_boot", type=int, default=1000,
                        help="Bootstrap resamples for intervals and claims.")
    return parser


def _check_outputs_outside_data(args):
    """--out_dir may not be or lie inside --data_dir, and the data may not lie inside the folders
    the experiment writes (<out_dir>/runs, <out_dir>/report)."""
    import os

    from lpips_tf.cli.outputs import OutputError, check_not_input, is_inside

    check_not_input(args.out_dir, "--out_dir folder", folders=[args.data_dir])
    for written in ("runs", "report"):
        folder = os.path.join(args.out_dir, written)
        if is_inside(args.data_dir, folder):
            raise OutputError(f"--data_dir {args.data_dir} lies inside {folder}, which the "
                              f"experiment writes; choose another --out_dir.")


def run(args):
    require_data_dir(args.data_dir)
    from absl import logging

    # TensorFlow's INFO lines (SavedModel writing, ...) drown the progress.
    logging.set_verbosity(logging.WARNING)
    from lpips_tf.cli.outputs import check_writable_dir
    from lpips_tf.experiments import seed

    config = seed.ExperimentConfig(
        data_dir=args.data_dir, out_dir=args.out_dir, trunk_weights=args.trunk_weights,
        models=tuple(args.models), epochs=args.epochs, epochs_decay=args.epochs_decay,
        lr=args.lr, batch_size=args.batch_size, steps_per_epoch=args.steps_per_epoch,
        seed=args.seed, load_size=args.load_size, train_sets=args.train_sets,
        val_sets=args.val_sets, eval_sets=args.sets, n_boot=args.n_boot,
        save_judgment_model=args.save_judgment_model)
    # Checked without creating it; run_experiment refuses bad settings, data and trunk weights
    # before it writes anything.
    _check_outputs_outside_data(args)
    check_writable_dir(args.out_dir, "--out_dir folder", create=False)
    seed.run_experiment(config, log=lambda line: print(line, flush=True))
    return scripts.EXIT_DONE


main = scripts.Command(build_parser, run)
