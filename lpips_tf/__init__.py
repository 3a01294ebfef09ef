"""lpips_tf: LPIPS (Learned Perceptual Image Patch Similarity) for Keras 3.

    import lpips_tf
    model = lpips_tf.LPIPS(net="alex")   # official v0.1 metric
    d = model([x0, x1])                  # x0, x1: float32 NHWC in [-1, 1] -> (N,)

The metric (LPIPS, LPIPSLoss, LPIPSMetric, pairwise) runs on every Keras backend (TensorFlow, JAX,
PyTorch), and importing it does not import TensorFlow unless TensorFlow is the backend. SavedModel
export, the `tf.data` loaders and training are TensorFlow-only.

Training (`lpips_tf.training`, a package with one module per job), data (`lpips_tf.data`),
scoring (`lpips_tf.scoring`) and the cached-statistics path (`lpips_tf.cached`, the same as
`lpips_tf.training.cached_stats`) are imported on demand.
"""

import os as _os
import sys as _sys

# Run as a command (`python -m lpips_tf...` is still "-m" while this package initialises, or the
# `lpips-tf` script): TensorFlow's start-up INFO lines would bury the output. Library users keep
# their own logging settings. Must happen before TensorFlow is imported below.
if _sys.argv and (_sys.argv[0] == "-m" or _os.path.basename(_sys.argv[0]) == "lpips-tf"):
    _os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras as _keras  # noqa: E402

from lpips_tf.export import export_saved_model  # noqa: E402
from lpips_tf.fast import compiled_distance_fn  # noqa: E402
from lpips_tf.losses import LPIPSLoss  # noqa: E402
from lpips_tf.lpips_model import LPIPS  # noqa: E402
from lpips_tf.metrics import LPIPSMetric  # noqa: E402
from lpips_tf.pairwise import diversity, pairwise  # noqa: E402

# Registers the judgment model's classes (TwoAFCModel, JudgmentHead, TwoAFCScore,
# LinearDecaySchedule) with Keras, so that a run's judgment_model.keras loads after `import
# lpips_tf` alone. Keras only imports a class's module by itself for keras' own packages. Training
# is TensorFlow-only, so under another backend nothing is imported (and TensorFlow stays out).
if _keras.backend.backend() == "tensorflow":
    from lpips_tf.training import judgment as _judgment  # noqa: E402,F401
    from lpips_tf.training import schedule as _schedule  # noqa: E402,F401

__version__ = "0.1.0"

__all__ = ["LPIPS", "LPIPSLoss", "LPIPSMetric", "compiled_distance_fn", "diversity",
           "export_saved_model", "pairwise", "__version__"]
