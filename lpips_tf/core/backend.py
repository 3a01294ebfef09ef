"""Which Keras backend runs, and the few places where lpips_tf must know.

The metric (model, layers, trunks, loss, metric, pairwise distances) is written in `keras.ops` and
runs on TensorFlow, JAX and PyTorch. Three things are backend-specific and live behind this module:

- `require_tensorflow(feature)`: the TensorFlow-only parts (SavedModel export, `tf.data` loaders,
  training with `tf.distribute`) call it first, so that under another backend they fail with one
  clear error instead of an import error deep inside.
- `is_traced(x)`: whether `x` is a symbolic value inside a compiled function (`tf.function`,
  `jax.jit`, `torch.compile`), where Python cannot look at values; input checks then use what the
  backend offers (see `lpips_tf.core.model`).
- `resize_bilinear(x, reference)`: half-pixel bilinear resize to a reference's H x W. TensorFlow
  graphs may have unknown sizes, which `keras.ops.image.resize` cannot take.

Nothing here imports TensorFlow, JAX or PyTorch at import time.
"""

import keras
from keras import ops

__all__ = ["backend_name", "require_tensorflow", "is_traced", "resize_bilinear"]


def backend_name():
    """The running Keras backend: "tensorflow", "jax", "torch" or "numpy"."""
    return keras.backend.backend()


class BackendError(RuntimeError):
    """A TensorFlow-only feature was called under another Keras backend."""


def require_tensorflow(feature):
    """Raises `BackendError` unless Keras runs on TensorFlow; returns the `tensorflow` module."""
    backend = backend_name()
    if backend != "tensorflow":
        raise BackendError(
            f"{feature} needs the TensorFlow backend; Keras is running on {backend!r}. Start "
            f"Python with KERAS_BACKEND=tensorflow (and `pip install tensorflow`) for this part; "
            f"the metric itself (lpips_tf.LPIPS, LPIPSLoss, LPIPSMetric, pairwise) runs on every "
            f"backend.")
    import tensorflow as tf

    return tf


def is_traced(x):
    """True when `x` is a symbolic value of a compiled function rather than concrete data."""
    backend = backend_name()
    if backend == "tensorflow":
        import tensorflow as tf

        return not tf.executing_eagerly()
    if backend == "jax":
        import jax

        return isinstance(x, jax.core.Tracer)
    if backend == "torch":
        import torch

        return bool(torch.compiler.is_compiling())
    return False


def resize_bilinear(x, reference):
    """Resizes (N, h, w, C) `x` to the H x W of (N, H, W, ...) `reference`.

    Half-pixel centres, no antialiasing: the rule of torch's `Upsample(mode="bilinear",
    align_corners=False)`, which the official spatial output uses. On JAX and PyTorch shapes are
    static; a TensorFlow graph may only know them at run time, so it calls `tf.image.resize`.
    """
    if backend_name() == "tensorflow":
        import tensorflow as tf

        size = tf.shape(reference)[1:3]
        return tf.cast(tf.image.resize(x, size, method="bilinear", antialias=False), x.dtype)
    size = tuple(int(s) for s in reference.shape[1:3])
    resized = ops.image.resize(x, size, interpolation="bilinear", antialias=False,
                               data_format="channels_last")
    return ops.cast(resized, x.dtype)
