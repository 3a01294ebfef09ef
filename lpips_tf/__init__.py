"""lpips_tf: LPIPS (Learned Perceptual Image Patch Similarity) for Keras 3 / TensorFlow.

    import lpips_tf
    model = lpips_tf.LPIPS(net="alex")   # official v0.1 metric
    d = model([x0, x1])                  # x0, x1: float32 NHWC in [-1, 1] -> (N,)

Training (`lpips_tf.training`), data (`lpips_tf.data`), scoring (`lpips_tf.scoring`) and the
cached-statistics path (`lpips_tf.cached`) are imported on demand.
"""

from lpips_tf.export import export_saved_model
from lpips_tf.fast import compiled_distance_fn
from lpips_tf.losses import LPIPSLoss
from lpips_tf.lpips_model import LPIPS

__version__ = "0.1.0"

__all__ = ["LPIPS", "LPIPSLoss", "compiled_distance_fn", "export_saved_model", "__version__"]
