"""lpips_tf: LPIPS (Learned Perceptual Image Patch Similarity) for Keras 3 / TensorFlow.

    import lpips_tf
    model = lpips_tf.LPIPS(net="alex")   # official v0.1 metric
    d = model([x0, x1])                  # x0, x1: float32 NHWC in [-1, 1] -> (N,)
"""

from lpips_tf.losses import LPIPSLoss
from lpips_tf.lpips_model import LPIPS

__version__ = "0.1.0"

__all__ = ["LPIPS", "LPIPSLoss", "__version__"]
