"""Fast inference: the LPIPS forward pass as one compiled TensorFlow graph.

    import lpips_tf
    from lpips_tf.fast import compiled_distance_fn

    model = lpips_tf.LPIPS(net="vgg")                       # or dtype="mixed_bfloat16"
    distance = compiled_distance_fn(model)
    d = distance(x0, x1)                                     # float32 (N,), any N, H, W

Calling a Keras model eagerly runs every layer through Python; `compiled_distance_fn` traces
`model([x0, x1], training=False)` once into a `tf.function` with the fixed signature
`[None, None, None, 3]` for both images, so a new batch size or image size never retraces, and
TensorFlow's graph optimiser (oneDNN on x86: convolution + bias + ReLU fusion) runs on it. The
numbers are those of the eager model, to float32 rounding.

`jit_compile=True` compiles the graph with XLA instead. XLA specialises on concrete shapes, so
every new (N, H, W) compiles once (under a second for AlexNet, seconds for VGG16). On CPU it is
slower than the oneDNN graph for AlexNet and VGG16 and for every bfloat16 model; only float32
SqueezeNet gains (about 18% at 64 x 64, 10% at 256 x 256 with two threads), as XLA fuses its many
small layers (benchmarks/README.md). Hence off by default.

`lpips_tf.LPIPS(..., dtype="mixed_bfloat16")` runs the trunk in bfloat16, up to twice the float32
speed on a CPU with AVX512-BF16 (AMX CPUs should gain more; not measured), at a small accuracy
cost; this function compiles it the same way. Speed and accuracy: benchmarks/README.md.
"""

import tensorflow as tf

__all__ = ["compiled_distance_fn", "configure_threads"]


def compiled_distance_fn(model, jit_compile=False, input_dtype=tf.float32):
    """Returns `distance(image0, image1)`, a `tf.function` around `model([image0, image1])`.

    Args:
      model: an `lpips_tf.LPIPS` (any net, version, dtype policy, spatial or not), or any Keras
        model called as `model([image0, image1])`.
      jit_compile: compile with XLA (one compilation per distinct input shape).
      input_dtype: dtype of the images the function accepts: tf.float32 (in the model's range,
        [-1, 1] or [0, 1] with normalize=True) or tf.uint8 (0..255). Other dtypes are converted
        by `tf.function` if they convert losslessly, refused otherwise.

    Returns:
      A `tf.function` taking two (N, H, W, 3) tensors or arrays and returning the distances,
      float32 (N,) (or (N, H, W, 1) for a spatial model), in inference mode (dropout off).
      Its `concrete_function` attribute holds the traced graph.
    """
    input_dtype = tf.as_dtype(input_dtype)
    if input_dtype not in (tf.float32, tf.uint8):
        raise ValueError(f"input_dtype must be tf.float32 or tf.uint8. Received: {input_dtype!r}")
    spec = tf.TensorSpec([None, None, None, 3], input_dtype)

    @tf.function(input_signature=[spec, spec], jit_compile=bool(jit_compile), autograph=False)
    def distance(image0, image1):
        return model([image0, image1], training=False)

    distance.concrete_function = distance.get_concrete_function()
    return distance


def configure_threads(intra_op=None, inter_op=None):
    """Sets TensorFlow's CPU thread pools; call before the first TensorFlow operation runs.

    The benchmark (benchmarks/README.md) uses `intra_op` = the number of cores and `inter_op=1`,
    like its PyTorch side: the LPIPS graph is a chain of large convolutions, each parallel inside.
    None keeps TensorFlow's default (both pools as large as the number of cores).
    """
    if intra_op is not None:
        tf.config.threading.set_intra_op_parallelism_threads(int(intra_op))
    if inter_op is not None:
        tf.config.threading.set_inter_op_parallelism_threads(int(inter_op))
