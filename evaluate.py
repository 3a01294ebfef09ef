r"""Score LPIPS variants and the L2 / SSIM baselines on BAPPS 2AFC and JND sets.

    python evaluate.py --data_dir ./dataset --variants alex,vgg,squeeze --out ./outputs/eval

Offline, on the synthetic stand-in (simulated observers, not human judgments):

    python -m lpips_tf.data.synthetic --out /tmp/bapps_synth
    python evaluate.py --data_dir /tmp/bapps_synth --out /tmp/eval

Time: about 5 s per 1000 64 px triplets or pairs for the L2 and SSIM baselines
on two CPU cores (decoding, Lab conversion and a 1000-resample bootstrap
included); each LPIPS variant adds its forward passes (AlexNet on two CPU
cores: about 4 s per 1000 triplets). The real val sets (42k triplets, 9.6k
JND pairs at 256 px) take minutes per variant on a CPU.

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
ceiling; scores as fractions in [0, 1]), results.md (the table printed here)
and comparison.png (bars with 95% bootstrap intervals).

On a dataset written by `python -m lpips_tf.data.synthetic` the judgments
are SIMULATED observers, not human judgments; every output says so.
"""

import os
import sys

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "Dataset root in the BAPPS layout (holds 2afc/ and jnd/).")
flags.DEFINE_list("sets", ["all"], 'Sets: "all", "2afc", "jnd" or "<kind>/<split>/<subset>".')
flags.DEFINE_list("variants", [], "Official names (alex, vgg-cos, squeeze-v0.0, ...) or train.py "
                  "output folders.")
flags.DEFINE_string("out", "outputs/eval", "Output folder for results.json/.md and comparison.png.")
flags.DEFINE_string("trunk_weights", "torchvision",
                    'Trunk weights of official variants: "torchvision", "keras", "none", a path, '
                    'or per net: "alex=PATH,squeeze=PATH" (other nets: torchvision).')
flags.DEFINE_bool("no_baselines", False, "Leave out the L2 and SSIM baselines.")
flags.DEFINE_integer("load_size", 64, "Patches are resized to load_size x load_size.")
flags.DEFINE_integer("batch_size", 50, "Triplets or pairs per batch.")
flags.DEFINE_integer("n_boot", 1000, "Bootstrap resamples for the confidence intervals.")
flags.DEFINE_integer("seed", 0, "Seed of the bootstrap.")
flags.DEFINE_bool("progress", True, "Show a progress bar per subset (one line per subset when "
                  "stdout is not a terminal).")
flags.mark_flag_as_required("data_dir")


def main(argv):
    del argv
    from lpips_tf.evaluation import evaluate as evaluation
    from lpips_tf.data import bapps
    from lpips_tf.core.weights import parse_trunk_weights_per_net

    from lpips_tf.cli.outputs import OutputError, check_writable_dir

    try:
        check_writable_dir(FLAGS.out, "--out folder")  # before the evaluation, not after it
    except OutputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    try:
        trunk_weights = parse_trunk_weights_per_net(FLAGS.trunk_weights)
        variants = evaluation.resolve_variants(
            FLAGS.variants, trunk_weights=trunk_weights, baselines=not FLAGS.no_baselines)
        results = evaluation.evaluate(
            FLAGS.data_dir, variants, sets=FLAGS.sets, load_size=FLAGS.load_size,
            batch_size=FLAGS.batch_size, n_boot=FLAGS.n_boot, seed=FLAGS.seed,
            progress=FLAGS.progress)
    except (bapps.DataError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    paths = evaluation.write_outputs(results, FLAGS.out)
    print()
    print(evaluation.format_markdown(results))
    print(f"Wrote {paths['json']}, {paths['markdown']} and {paths['chart']} "
          f"({results['_info']['seconds']:.1f} s).")
    if results["_info"]["synthetic"]:
        print(evaluation.SYNTHETIC_WARNING)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    app.run(main)
