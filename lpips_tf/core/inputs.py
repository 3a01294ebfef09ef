"""Input checks and conversion for LPIPS images, on every Keras backend.

Shape, channel, size and dtype checks look at static shapes and run wherever the model is called,
eagerly or inside a trace. Value checks (NaN / infinity, range) need the data:

- eager calls (every backend) check concrete values and raise `ValueError` with the numbers;
- inside a `tf.function` graph they become `tf.debugging` assertions with the same messages
  (`tf.errors.InvalidArgumentError` at run time);
- inside `jax.jit` or `torch.compile` Python cannot see the values and neither backend has an
  assertion that raises from compiled code without the caller's cooperation, so they are **not
  checked** there. The model's own fast path (the plain eager call) still checks them: its
  compiled function returns a "bad input" flag beside the distances (`bad_values_flag`), and the
  eager wrapper turns a raised flag into the same `ValueError`.
"""

import numpy as np
from keras import backend as keras_backend
from keras import ops

from lpips_tf.core.backend import backend_name, is_traced

# Inputs may stray this far outside their declared range (resampling overshoot) before we refuse
# them; typical mistakes (0..255 data, [0, 1] flagged as something else) are far beyond it.
RANGE_MARGIN = 0.5


def describe_range(normalize):
    return "[0, 1] (normalize=True)" if normalize else "[-1, 1]"


def value_bounds(normalize):
    """The (low, high) values accepted for float input, margin included."""
    low, high = (0.0, 1.0) if normalize else (-1.0, 1.0)
    return low - RANGE_MARGIN, high + RANGE_MARGIN


def split_pair(inputs):
    """(image0, image1) from `[x0, x1]`, `(x0, x1)` or `{"image0": x0, "image1": x1}`."""
    if isinstance(inputs, dict):
        try:
            return inputs["image0"], inputs["image1"]
        except KeyError:
            raise ValueError(f"Dict input needs keys 'image0' and 'image1'. Received keys "
                             f"{sorted(inputs)}.") from None
    if isinstance(inputs, (list, tuple)) and len(inputs) == 2:
        return inputs[0], inputs[1]
    raise ValueError("LPIPS takes two image batches: model([x0, x1]). Received "
                     f"{type(inputs).__name__}" +
                     (f" of length {len(inputs)}." if hasattr(inputs, "__len__") else "."))


def static_shape(x):
    """The shape of an array or tensor as a tuple of ints, None where it is not known yet."""
    shape = getattr(x, "shape", None)
    if shape is None:
        shape = np.shape(x)
    return tuple(None if d is None else int(d) for d in shape)


def check_static_shape(shape, which, min_size, net):
    """Rank, channels and minimum size from a static shape (None entries are unknown)."""
    shape = tuple(shape)
    if len(shape) != 4:
        raise ValueError(f"{which} must be a 4-D NHWC batch (N, H, W, 3). Received shape "
                         f"{shape}; add a batch axis for a single image.")
    channels = shape[-1]
    if channels is not None and channels != 3:
        hint = {1: " Grayscale input: repeat it to 3 channels (x.repeat(3, axis=-1)).",
                4: " RGBA input: drop the alpha channel (x[..., :3])."}.get(channels, "")
        if shape[1] == 3:
            hint = (" It looks channels-first (N, 3, H, W); LPIPS takes channels-last NHWC: "
                    "transpose it with x.transpose(0, 2, 3, 1) (keras.ops.transpose for tensors).")
        raise ValueError(f"{which} must have 3 (RGB) channels, received {channels} "
                         f"(shape {shape}).{hint}")
    for axis, label in ((1, "height"), (2, "width")):
        size = shape[axis]
        if size is not None and size < min_size:
            raise ValueError(
                f"{which} is too small for the {net} trunk: {label} {size} < {min_size}, the "
                f"smallest size that leaves every layer at least 1 x 1. Received shape {shape}; "
                f"upsample the images first.")


def empty_batch_shape(shape, spatial):
    """The result shape for a batch of static shape `shape` when it holds no image, else None:
    (0,), or (0, H, W, 1) for a spatial model. Nothing is computed for an empty batch (TensorFlow's
    convolutions refuse one); its shape is checked all the same."""
    if not shape or shape[0] != 0:
        return None
    return (0,) + tuple(shape[1:3]) + (1,) if spatial else (0,)


def check_shapes_match(shape0, shape1):
    mismatch = any(a is not None and b is not None and a != b for a, b in zip(shape0, shape1))
    if mismatch:
        raise ValueError(f"image0 and image1 must have the same shape. Received "
                         f"{tuple(shape0)} and {tuple(shape1)}.")


def check_dtype_kind(dtype, which, normalize):
    """The standardised name of `dtype` (a tensor's or a NumPy array's), which must be float or
    uint8; a ValueError otherwise."""
    kind = keras_backend.standardize_dtype(dtype)
    if kind != "uint8" and "float" not in kind:
        raise ValueError(f"{which} must be float ({describe_range(normalize)}) or uint8 "
                         f"(0..255). Received dtype {kind}.")
    return kind


def check_dtype(x, which, normalize):
    """Converts `x` to a backend tensor and checks that it is float or uint8."""
    if not ops.is_tensor(x):
        x = ops.convert_to_tensor(x)
    check_dtype_kind(x.dtype, which, normalize)
    return x


def from_uint8(x):
    """uint8 values 0..255, already cast to a float dtype (tensor or NumPy) -> [-1, 1]."""
    return x / 127.5 - 1.0


def from_unit_range(x):
    """Float input in [0, 1] (normalize=True), tensor or NumPy -> [-1, 1]."""
    return 2.0 * x - 1.0


def to_float(x, which, normalize, dtype):
    """Brings a batch to float `dtype`; returns (x, was_uint8). uint8 0..255 maps to [-1, 1]."""
    x = check_dtype(x, which, normalize)
    if keras_backend.standardize_dtype(x.dtype) == "uint8":
        return from_uint8(ops.cast(x, dtype)), True
    return ops.cast(x, dtype), False


def check_values_eager(x, which, normalize):
    """Raises ValueError for NaN / inf or values far outside the declared range.

    `x`: a concrete tensor or NumPy array of float values. A NumPy array is checked with NumPy
    (`check_values_host`), so host data is checked where it is, before any transfer.
    """
    if isinstance(x, np.ndarray):
        return check_values_host(x, which, normalize)
    finite = bool(ops.convert_to_numpy(ops.all(ops.isfinite(x))))
    if int(np.prod(x.shape)) == 0 or not finite:
        return _raise_bad_values(which, normalize, finite, None, None)
    smallest = float(ops.convert_to_numpy(ops.min(x)))
    largest = float(ops.convert_to_numpy(ops.max(x)))
    return _raise_bad_values(which, normalize, finite, smallest, largest)


def check_values_host(x, which, normalize):
    """`check_values_eager` for a NumPy float array, in two reductions: NumPy's min and max
    propagate NaN, and an infinity is an extreme, so the extremes alone say whether every value
    is finite."""
    if x.size == 0:
        return None
    smallest, largest = float(np.min(x)), float(np.max(x))
    finite = bool(np.isfinite(smallest) and np.isfinite(largest))
    return _raise_bad_values(which, normalize, finite, smallest, largest)


def _raise_bad_values(which, normalize, finite, smallest, largest):
    """The value rules' one wording: NaN / inf first, then the range (None extremes: an empty
    batch, which passes)."""
    if not finite:
        raise ValueError(f"{which} contains NaN or infinite values.")
    if smallest is None:
        return
    low, high = value_bounds(normalize)
    if smallest < low or largest > high:
        raise ValueError(
            f"{which} has values in [{smallest:.4g}, {largest:.4g}], far outside the expected "
            f"range {describe_range(normalize)}. Scale 0..255 images with x / 127.5 - 1 (or "
            f"pass uint8 arrays), [0, 1] images with normalize=True.")


def bad_values_flag(x, normalize):
    """A scalar bool tensor: True when `x` has NaN / inf or values far outside the range.

    For compiled functions, which cannot raise on values: they return the flag and the eager
    caller raises (`check_values_eager` then names the problem).
    """
    low, high = value_bounds(normalize)
    # NaN fails every comparison, so "not (low <= x <= high)" also catches it; inf is out of range.
    inside = ops.logical_and(ops.greater_equal(x, low), ops.less_equal(x, high))
    return ops.logical_not(ops.all(inside))


def bad_images(x, normalize):
    """Indices of the images of a NumPy float batch (N, H, W, C) that `check_values_eager` refuses:
    NaN / inf or values far outside the declared range. For callers that keep images in NumPy and
    name the offending image (`lpips_tf.uses.pairwise`)."""
    low, high = value_bounds(normalize)
    # NaN fails both comparisons, so "not (low <= x <= high)" also catches it.
    inside = np.logical_and(x >= low, x <= high)
    return np.flatnonzero(~inside.reshape(len(x), -1).all(axis=1))


def check_values_traced(x0, x1, which_pair, normalize, min_size, net):
    """Value and dynamic-shape checks inside a trace; returns (x0, x1), possibly with control deps.

    TensorFlow graphs get `tf.debugging` assertions. JAX and PyTorch traces are not checked (see
    the module docstring); their shapes are static and were checked already.
    """
    if backend_name() != "tensorflow":
        return x0, x1
    import tensorflow as tf

    low, high = value_bounds(normalize)
    expected = describe_range(normalize)
    checks = []
    for x, which, checked in zip((x0, x1), ("image0", "image1"), which_pair):
        if not checked:
            continue
        x32 = tf.cast(x, tf.float32)
        checks += [
            tf.debugging.assert_all_finite(x32, f"{which} contains NaN or infinite values."),
            tf.debugging.assert_greater_equal(
                x32, low, message=f"{which} has values far below the expected range {expected}."),
            tf.debugging.assert_less_equal(
                x32, high, message=f"{which} has values far above the expected range {expected}."),
        ]
    dyn0, dyn1 = tf.shape(x0), tf.shape(x1)
    checks.append(tf.debugging.assert_equal(dyn0, dyn1, message="image0 and image1 shapes differ."))
    checks.append(tf.debugging.assert_greater_equal(
        tf.reduce_min(dyn0[1:3]), min_size,
        message=f"images are smaller than {min_size} px, the smallest the {net} trunk takes."))
    with tf.control_dependencies([c for c in checks if c is not None]):
        return tf.identity(x0), tf.identity(x1)


def any_traced(*tensors):
    return any(is_traced(t) for t in tensors)
