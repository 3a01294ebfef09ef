"""lpips_tf: LPIPS (Learned Perceptual Image Patch Similarity) for Keras 3 / TensorFlow.

    import lpips_tf
    model = lpips_tf.LPIPS(net="alex")   # official v0.1 metric
    d = model([x0, x1])                  # x0, x1: float32 NHWC in [-1, 1] -> (N,)

Training (`lpips_tf.training`), data (`lpips_tf.data`), scoring (`lpips_tf.scoring`) and the
cached-statistics path (`lpips_tf.cached`) are imported on demand.
"""

import os as _os
import sys as _sys

# Run as a command (`python -m lpips_tf...` is still "-m" while this package initialises, or the
# `lpips-tf` script): TensorFlow's start-up INFO lines would bury the output. Library users keep
# their own logging settings. Must happen before TensorFlow is imported below.
if _sys.argv and (_sys.argv[0] == "-m" or _os.path.basename(_sys.argv[0]) == "lpips-tf"):
    _os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from lpips_tf.export import export_saved_model  # noqa: E402
from lpips_tf.fast import compiled_distance_fn  # noqa: E402
from lpips_tf.losses import LPIPSLoss  # noqa: E402
from lpips_tf.lpips_model import LPIPS  # noqa: E402

# Registers the judgment model's classes (TwoAFCModel, JudgmentHead, TwoAFCScore,
# LinearDecaySchedule) with Keras, so that a run's judgment_model.keras loads after `import
# lpips_tf` alone. Keras only imports a class's module by itself for keras' own packages.
from lpips_tf import training as _training  # noqa: E402,F401

__version__ = "0.1.0"

__all__ = ["LPIPS", "LPIPSLoss", "compiled_distance_fn", "export_saved_model", "__version__"]
