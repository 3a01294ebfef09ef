"""lpips_tf: LPIPS (Learned Perceptual Image Patch Similarity) for Keras 3.

    import lpips_tf
    model = lpips_tf.LPIPS(net="alex")   # official v0.1 metric
    d = model([x0, x1])                  # x0, x1: float32 NHWC in [-1, 1] -> (N,)

The package, by role (each subpackage's docstring lists its modules):

  core/         the metric: the LPIPS model, its layers, input checks, the compiled fast path,
                the trunks and their weight files; written in `keras.ops`, every backend
  uses/         what the metric is used for: loss, metric, all-pairs distances, the 2AFC
                judgment model, bootstrap intervals, SavedModel export
  data/         BAPPS loading (`tf.data`) and download, the synthetic stand-in, image files
  training/     training on 2AFC judgments with `compile` / `fit` (TensorFlow)
  evaluation/   2AFC / JND scores of metrics and baselines on BAPPS-layout data
  experiments/  studies (the seed brief's comparison) over training and evaluation
  cli/          `python -m lpips_tf`, the scripts' parsers and exit codes
  utils/        a progress bar (command line, statistics pass, evaluation)
  testing/      seeded random trunk weights for tests and benchmarks

`import lpips_tf` loads the metric core and the few serializable classes that saved `.keras`
files name (so that they load after this import alone); everything else is imported on first
use, so importing the metric neither starts the training package nor, off the TensorFlow
backend, TensorFlow.
"""

import os as _os
import sys as _sys

# Run as a command (`python -m lpips_tf...` is still "-m" while this package initialises, or the
# `lpips-tf` script): TensorFlow's start-up INFO lines would bury the output. Library users keep
# their own logging settings. Must happen before TensorFlow is imported below.
if _sys.argv and (_sys.argv[0] == "-m" or _os.path.basename(_sys.argv[0]) == "lpips-tf"):
    _os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The start-up lines TensorFlow prints whatever TF_CPP_MIN_LOG_LEVEL says: see lpips_tf/_startup.py.
from lpips_tf._startup import import_backend_quietly as _import_backend_quietly  # noqa: E402

_import_backend_quietly()

from lpips_tf._lazy import lazy_attributes as _lazy_attributes  # noqa: E402
from lpips_tf.core.model import LPIPS  # noqa: E402
from lpips_tf.uses.losses import LPIPSLoss  # noqa: E402
from lpips_tf.uses.metrics import LPIPSMetric  # noqa: E402
# Registered with Keras for saved 2AFC models (TwoAFCModel, JudgmentHead, TwoAFCScore, CachedLin,
# LinearDecaySchedule): Keras imports a class's module by itself only for its own packages.
from lpips_tf.uses import judgment as _judgment  # noqa: E402,F401
from lpips_tf.uses import schedule as _schedule  # noqa: E402,F401

__version__ = "0.1.0"

# Public names loaded on first access (PEP 562): name -> module that defines it.
_LAZY = {
    "compiled_distance_fn": "lpips_tf.core.compiled",
    "pairwise": "lpips_tf.uses.pairwise",
    "diversity": "lpips_tf.uses.pairwise",
    "bootstrap_interval": "lpips_tf.uses.bootstrap",
    "export_saved_model": "lpips_tf.uses.export",
    "load_image": "lpips_tf.data.images",
}
_LAZY.update(dict.fromkeys(
    ("core", "uses", "data", "training", "evaluation", "experiments", "cli", "testing")))
__getattr__, __dir__ = _lazy_attributes(globals(), _LAZY)


__all__ = ["LPIPS", "LPIPSLoss", "LPIPSMetric", "bootstrap_interval", "compiled_distance_fn",
           "diversity", "export_saved_model", "load_image", "pairwise", "__version__"]
