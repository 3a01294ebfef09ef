"""Fast inference: the LPIPS forward pass as one compiled function, on every backend.

The plain call is the fast path: `model([x0, x1])` outside training, on concrete data, runs a
function compiled once per model (and, on JAX, once per input shape):

| backend | compiled with | shapes |
|---|---|---|
| TensorFlow | `tf.function`, signature [None, None, None, 3]: never retraces; Grappler / oneDNN fuse convolution + bias + ReLU on x86 | any |
| JAX | `jax.jit` over the model's variables (stateless), so weight changes are seen | one compilation per (N, H, W) |
| PyTorch | eager kernels under `torch.no_grad()`: `torch.compile` of the same core gains little next to its compilation time (graph breaks in Keras' code), measured in benchmarks/README.md | any |

Input checks stay what the eager model does: shapes, channels, sizes and dtype before the call,
and NaN / range through a flag that the compiled function returns beside the distances; when it is
raised the eager wrapper names the problem (`lpips_tf.core.inputs.check_values_eager`).

The model's own `call` (traced by `fit`, `predict`, export or a user's `tf.function` / `jax.jit`)
is untouched: this path is only taken for eager calls with `training` unset or False, no extra
keyword arguments, and (PyTorch) no input that requires gradients. Gradients on TensorFlow flow
through the `tf.function` (a `GradientTape` records it).

`compiled_distance_fn(model)` returns that compiled function for explicit control: the same on
TensorFlow (with an optional XLA `jit_compile`), on JAX a jitted function.

`lpips_tf.LPIPS(..., dtype="mixed_bfloat16")` runs the trunk in bfloat16, faster on a CPU with
AVX512-BF16 or AMX (measured in the README's Performance section).

`CompiledEagerCall` is the part of `lpips_tf.LPIPS` that sends its plain call here; the functions of
this module take such a model (`check_input_pair`, `to_model_range`, `distance_from_prepared`).
"""

import collections
import json
import logging

import keras
from keras import ops

from lpips_tf.core import inputs as lpips_inputs
from lpips_tf.core.backend import backend_name

__all__ = ["CompiledEagerCall", "compiled_distance_fn", "eager_fast_path", "configure_threads"]

_CACHE_ATTR = "_lpips_fast_fns"


def _is_symbolic(x):
    return isinstance(x, keras.KerasTensor)


class CompiledEagerCall:
    """Mixin of `lpips_tf.LPIPS`: a plain eager call (no `training`, no other keyword arguments)
    runs the model's compiled function (`eager_fast_path`); any other call is Keras' own."""

    def __call__(self, inputs, training=None, **kwargs):
        if not training and not kwargs:
            fast = eager_fast_path(self, inputs)
            if fast is not None:
                return fast(inputs)
        return super().__call__(inputs, training=training, **kwargs)


def eager_fast_path(model, inputs):
    """The compiled function for an eager call of `model` on `inputs`, or None if it cannot serve.

    None means "use the ordinary Keras call": a model that is not a `CompiledEagerCall`, symbolic
    or traced inputs, or PyTorch inputs that need gradients.
    """
    if not isinstance(model, CompiledEagerCall):
        return None
    try:
        x0, x1 = lpips_inputs.split_pair(inputs)
    except ValueError:
        return None  # The ordinary call raises the clear error.
    if _is_symbolic(x0) or _is_symbolic(x1) or lpips_inputs.any_traced(x0, x1):
        return None
    backend = backend_name()
    if backend == "torch":
        import torch

        if any(getattr(x, "requires_grad", False) for x in (x0, x1)) and torch.is_grad_enabled():
            return None
    elif backend not in ("tensorflow", "jax"):
        return None
    return lambda pair: _checked_call(model, pair)


def _checked_call(model, inputs):
    # Shapes, channels, sizes and dtype raise here, eagerly, with the model's messages; value
    # checks run inside the compiled function and come back as a flag.
    x0, x1 = model.check_input_pair(inputs)
    x0, x1 = (x if _dtype(x) in _DIRECT_DTYPES else ops.cast(x, "float32") for x in (x0, x1))
    distance, bad = _compiled_for(model, (_dtype(x0), _dtype(x1)))(x0, x1)
    if model.validate_inputs and bool(ops.convert_to_numpy(bad)):
        for x, which in ((x0, "image0"), (x1, "image1")):  # Names the problem with the numbers.
            x, was_uint8 = lpips_inputs.to_float(x, which, model.normalize, "float32")
            if not was_uint8:
                lpips_inputs.check_values_eager(x, which, model.normalize)
    return distance


# Dtypes the compiled functions take as they come (one TensorFlow trace each); other float dtypes
# are cast to float32 first.
_DIRECT_DTYPES = ("float32", "uint8")


def _dtype(x):
    return keras.backend.standardize_dtype(x.dtype)


def _compiled_for(model, dtypes):
    cache = model.__dict__.setdefault(_CACHE_ATTR, {})
    key = (backend_name(), dtypes)
    if key not in cache:
        builder = {"tensorflow": _build_tf, "jax": _build_jax, "torch": _build_torch}[key[0]]
        cache[key] = builder(model, dtypes)
    return cache[key]


def _core(model, with_flag=True):
    def distance_and_flag(x0, x1):
        f0, f1, flag = model.to_model_range(x0, x1, check_values=False, with_flag=with_flag)
        distance = model.distance_from_prepared(f0, f1, training=False)
        return (distance, flag) if with_flag else distance

    return distance_and_flag


class _OneTracePerModel(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning for the fast path's function.

    TensorFlow counts traces per Python code object, so several LPIPS models (an evaluation of
    seven variants, say) look like one function retracing; each model's function is traced once
    per input dtype, with a fixed shape-free signature, which is the intended use.
    """

    def filter(self, record):
        message = record.getMessage()
        return not ("distance_and_flag" in message and "retracing" in message)


def _build_tf(model, dtypes):
    import tensorflow as tf

    tf_logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _OneTracePerModel) for f in tf_logger.filters):
        tf_logger.addFilter(_OneTracePerModel())
    specs = [tf.TensorSpec([None, None, None, 3], d) for d in dtypes]
    return tf.function(_core(model), input_signature=specs, autograph=False)


def _build_jax(model, dtypes=None, with_flag=True):
    stateless = _shared_jax_function(model, with_flag)
    variables = list(model.variables)

    def call(x0, x1):
        return stateless([v.value for v in variables], x0, x1)

    return call


# Jitted functions shared by models of one architecture (same config but the name): their
# variables come in as arguments, so one trace and one XLA compilation per input shape serve every
# such model (the real and the random trunk, a reloaded copy, ...). The template model a function
# was traced from stays referenced; the cache keeps the most recent few architectures.
_JAX_SHARED = collections.OrderedDict()
_JAX_SHARED_SIZE = 8


def _architecture_key(model, with_flag):
    config = dict(model.get_config())
    config.pop("name", None)
    shapes = tuple((tuple(v.shape), str(v.dtype)) for v in model.variables)
    return json.dumps(config, sort_keys=True, default=str), shapes, with_flag


def _shared_jax_function(model, with_flag):
    import jax

    key = _architecture_key(model, with_flag)
    if key in _JAX_SHARED:
        _JAX_SHARED.move_to_end(key)
        return _JAX_SHARED[key]
    core = _core(model, with_flag)
    template_variables = list(model.variables)

    @jax.jit
    def stateless(values, x0, x1):
        # Variables are inputs, not constants baked into the compiled code: later weight changes
        # (set_lin_weights, training) are seen without recompiling.
        with keras.StatelessScope(state_mapping=list(zip(template_variables, values))):
            return core(x0, x1)

    _JAX_SHARED[key] = stateless
    while len(_JAX_SHARED) > _JAX_SHARED_SIZE:
        _JAX_SHARED.popitem(last=False)
    return stateless


def _build_torch(model, dtypes=None):
    import torch

    core = _core(model)

    def call(x0, x1):
        with torch.no_grad():
            return core(x0, x1)

    return call


def compiled_distance_fn(model, jit_compile=False, input_dtype="float32"):
    """Returns `distance(image0, image1)`: `model([image0, image1])` compiled for the backend.

    Args:
      model: an `lpips_tf.LPIPS` (any net, version, dtype policy, spatial or not), or any Keras
        model called as `model([image0, image1])`.
      jit_compile: TensorFlow only: compile with XLA (one compilation per distinct input shape).
        JAX always compiles with XLA.
      input_dtype: dtype of the images the function accepts: "float32" (in the model's range,
        [-1, 1] or [0, 1] with normalize=True) or "uint8" (0..255).

    Returns:
      A function of two (N, H, W, 3) batches returning the distances, float32 (N,) (or
      (N, H, W, 1) for a spatial model), in inference mode (dropout off). On TensorFlow it is a
      `tf.function` with signature [None, None, None, 3], whose `concrete_function` attribute holds
      the traced graph; input value checks in it are graph assertions
      (`tf.errors.InvalidArgumentError`). On JAX it is `jax.jit`-compiled per input shape and
      does not check values (no flag to read back, so calls stay asynchronous). On PyTorch it runs
      eagerly without gradients.
    """
    dtype = keras.backend.standardize_dtype(getattr(input_dtype, "name", input_dtype))
    if dtype not in ("float32", "uint8"):
        raise ValueError(f"input_dtype must be float32 or uint8. Received: {input_dtype!r}")
    backend = backend_name()
    if backend == "tensorflow":
        import tensorflow as tf

        spec = tf.TensorSpec([None, None, None, 3], dtype)

        @tf.function(input_signature=[spec, spec], jit_compile=bool(jit_compile),
                     autograph=False)
        def distance(image0, image1):
            return model([image0, image1], training=False)

        distance.concrete_function = distance.get_concrete_function()
        return distance
    if backend == "jax" and isinstance(model, CompiledEagerCall):
        # No value flag to read back: the function stays asynchronous, as jitted JAX code is.
        jitted = _build_jax(model, with_flag=False)

        def distance(image0, image1):
            return jitted(*model.check_input_pair([image0, image1]))

        return distance
    if backend == "jax":
        import jax

        variables = list(model.variables)

        @jax.jit
        def stateless(values, image0, image1):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return model([image0, image1], training=False)

        return lambda image0, image1: stateless([v.value for v in variables], image0, image1)

    def distance(image0, image1):  # PyTorch: the plain call is the fast path.
        return model([image0, image1])

    return distance


def configure_threads(intra_op=None, inter_op=None):
    """Sets TensorFlow's CPU thread pools; call before the first TensorFlow operation runs.

    The benchmark (benchmarks/README.md) uses `intra_op` = the number of cores and `inter_op=1`,
    like its PyTorch side: the LPIPS graph is a chain of large convolutions, each parallel inside.
    None keeps TensorFlow's default (both pools as large as the number of cores).
    """
    import tensorflow as tf

    if intra_op is not None:
        tf.config.threading.set_intra_op_parallelism_threads(int(intra_op))
    if inter_op is not None:
        tf.config.threading.set_inter_op_parallelism_threads(int(inter_op))
