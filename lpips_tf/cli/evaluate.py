r"""Score LPIPS variants and the L2 / SSIM baselines on BAPPS 2AFC and JND sets.

    python evaluate.py --data_dir ./dataset --variants alex,vgg,squeeze --out ./outputs/eval

Offline, on the synthetic stand-in (simulated observers, not human judgments):

    python -m lpips_tf.data.synthetic --out /tmp/bapps_synth
    python evaluate.py --data_dir /tmp/bapps_synth --out /tmp/eval \
        --trunk_weights /path/to/alexnet.pth

Variants (--variants, comma-separated):
  alex, vgg, squeeze       official LPIPS v0.1 (authors' lin weights)
  alex-cos, vgg-cos, ...   the plain deep-feature distance (no lin layers)
  alex-v0.0, ...           version 0.0
  stlpips-alex, stlpips-vgg ST-LPIPS, shift-tolerant (the authors' trunk and lin weights);
                           stlpips-alex-cos, stlpips-vgg-cos without lin layers
  alex:taps=4, vgg-cos:taps=2, alex:taps=conv1+conv3
                           only these trunk taps (official lin weights reduced to them)
  <out_dir>/<variant>      a folder written by train.py (model.keras or saved_model/)
  l2, ssim                 baselines in Lab; always added unless --no_baselines

Sets (--sets): "all" (every val subset present; default), "2afc", "jnd", or
subsets like "2afc/val/traditional,jnd/val/cnn".

Outputs in --out: results.json (variant -> {"2afc": {subset: score, "mean":
score}, "jnd": {subset: mAP}, "ci": {...}}, plus "human" with the 2AFC
ceiling of the observers; scores as fractions in [0, 1]), results.md (the
table printed here) and comparison.png (bars with 95% bootstrap intervals).
Each subset shows a progress bar on a terminal, a line every 10 s in a log.

On a dataset written by `python -m lpips_tf.data.synthetic` the judgments
are SIMULATED observers, not human judgments; every output says so.

Exit codes: 0 done, 2 bad usage or bad input (one line on stderr; the data,
the variants and their weights are checked before --out is created, and
--out may not be or lie inside --data_dir or an evaluated run folder).
"""

from lpips_tf.cli import scripts

__all__ = ["build_parser", "main"]


def build_parser():
    parser = scripts.ArgumentParser(prog="python evaluate.py", description=__doc__)
    parser.add_argument("--data_dir", required=True,
                        help="Dataset root in the BAPPS layout (holds 2afc/ and jnd/).")
    parser.add_argument("--sets", type=scripts.comma_list, default="all",
                        help='Sets: "all", "2afc", "jnd" or "<kind>/<split>/<subset>", '
                             "comma-separated.")
    parser.add_argument("--variants", type=scripts.comma_list, default=[],
                        help="Official names (alex, vgg-cos, squeeze-v0.0, ...) or train.py "
                             "output folders, comma-separated.")
    parser.add_argument("--out", default="outputs/eval",
                        help="Output folder for results.json/.md and comparison.png.")
    parser.add_argument("--trunk_weights", default="torchvision",
                        help='Trunk weights of the presets: "torchvision", "keras" (VGG16), '
                             '"random", a path, or per net: "alex=PATH,vgg=random" (other nets: '
                             "torchvision).")
    parser.add_argument("--no_baselines", action="store_true",
                        help="Leave out the L2 and SSIM baselines.")
    parser.add_argument("--load_size", type=int, default=64,
                        help="Patches are resized to load_size x load_size.")
    parser.add_argument("--batch_size", type=int, default=50, help="Triplets or pairs per batch.")
    parser.add_argument("--n_boot", type=int, default=1000,
                        help="Bootstrap resamples for the confidence intervals.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the bootstrap.")
    scripts.add_bool(parser, "progress", True,
                     "Show progress per subset (a bar on a terminal, a line every 10 s in a "
                     "log); --noprogress for none.")
    return parser


def _check_out_outside_inputs(args):
    """--out may not be, or lie inside, the data folder or a run folder that is evaluated, nor be
    a .keras file that is: its files would be written among the inputs."""
    import os

    from lpips_tf.cli.outputs import check_not_input

    runs = [v for v in args.variants if os.path.exists(v)]
    folders = [v for v in runs if os.path.isdir(v)]
    check_not_input(args.out, "--out folder", files=[v for v in runs if v not in folders],
                    folders=[args.data_dir] + folders)


def run(args):
    from lpips_tf.cli.outputs import check_writable_dir
    from lpips_tf.data.synthetic import BANNER
    from lpips_tf.evaluation import evaluate as evaluation

    # Bad data, a bad variant or trunk weights that cannot be had (offline) are refused before
    # the output folder is created; an unwritable one before the evaluation.
    evaluation.resolve_sets(args.data_dir, args.sets)
    from lpips_tf.core.weights import parse_trunk_weights_per_net

    variants = evaluation.resolve_variants(
        args.variants, trunk_weights=parse_trunk_weights_per_net(args.trunk_weights),
        baselines=not args.no_baselines)
    _check_out_outside_inputs(args)
    check_writable_dir(args.out, "--out folder", create=False)
    results = evaluation.evaluate(
        args.data_dir, variants, sets=args.sets, load_size=args.load_size,
        batch_size=args.batch_size, n_boot=args.n_boot, seed=args.seed, progress=args.progress)
    paths = evaluation.write_outputs(results, args.out)
    print()
    print(evaluation.format_markdown(results))
    print(f"Wrote {paths['json']}, {paths['markdown']} and {paths['chart']} "
          f"({results['_info']['seconds']:.1f} s).")
    if results["_info"]["synthetic"]:
        print(BANNER)
    return scripts.EXIT_DONE


main = scripts.Command(build_parser, run)
