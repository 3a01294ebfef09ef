"""LPIPS of large images in bounded memory, with the numbers of the untiled pass.

`LPIPS(max_memory_bytes=...)` (default `DEFAULT_MAX_MEMORY_BYTES`, 2 GiB) bounds a plain eager call:

- when the batch's estimated peak (`pair_bytes` per pair) fits, nothing changes;
- when one pair fits but the batch does not, the batch runs in chunks of pairs;
- when one pair does not fit, the trunk runs on tiles of each pair.

Tiles. Along each axis the image is cut into cores whose boundaries are multiples of the trunk's
total stride (`lpips_tf.core.geometry`), so every pooling grid of a tile lines up with the full
image's. Each tap position is owned by exactly one tile; a tile's input is its core widened by
the receptive fields of the positions it owns, clipped to the image. A position whose receptive
field lies inside the tile's pixels, or reaches past them only where the tile edge is the image
edge (where the tile pads exactly as the full image does), has the value of the untiled pass;
positions near inner tile edges, which would see the tile's own padding, are computed but
discarded. Per tap, the owned positions' distances are summed in float64 and divided by the full
tap size (non-spatial), or written into the full tap map, which is then upsampled to the image
size as the untiled pass does (spatial). Distances agree with the untiled pass to float32
rounding (about 1e-7); the tests hold them to 1e-5, maps to 1e-4.

Traced calls (`fit`, `predict`, export, a user's `tf.function` / `jax.jit`) are not tiled: tiles
are cut on concrete data. A trunk whose geometry is unknown (`GeometryError`) runs untiled, with a
warning the first time an image of a megapixel or more is seen.
"""

import logging
import math

import keras
import numpy as np
from keras import ops

from lpips_tf.core import geometry as lpips_geometry
from lpips_tf.core import inputs as lpips_inputs
from lpips_tf.core.backend import backend_name

__all__ = ["DEFAULT_MAX_MEMORY_BYTES", "pair_bytes", "check_max_memory_bytes", "bounded_call",
           "tile_plan", "owned_blocks", "tap_maps", "tiled_distance", "tiled_tap_features"]

DEFAULT_MAX_MEMORY_BYTES = 2 * 2**30

_GEOMETRY_ATTR = "_lpips_geometry"
_TILE_FN_ATTR = "_lpips_tile_fn"
_WARNED_ATTR = "_lpips_geometry_warned"
_logger = logging.getLogger(__name__)


def check_max_memory_bytes(value):
    """`max_memory_bytes` as an int, or None (never bound); refuses anything else."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"max_memory_bytes must be a positive number of bytes or None (no "
                         f"bound). Received: {value!r}")
    return int(value)


def model_geometry(model):
    """The `TrunkGeometry` of `model.trunk`, computed once per model; GeometryError if unknown."""
    cached = model.__dict__.get(_GEOMETRY_ATTR)
    if cached is None:
        try:
            cached = lpips_geometry.trunk_geometry(model.trunk)
        except lpips_geometry.GeometryError as error:
            cached = error
        model.__dict__[_GEOMETRY_ATTR] = cached
    if isinstance(cached, Exception):
        raise cached
    return cached


def pair_bytes(model, height, width):
    """Estimated peak memory, in bytes, of one untiled pair of `height` x `width` images.

    Two images; per image and input pixel, the tap outputs twice (trunk output and normalised
    copy), the largest layer output twice (with its input) and the 3 input channels, in the
    variable dtype's bytes. On CPU it is somewhat above the measured resident peak (README,
    "Large images").
    """
    outputs, largest = model_geometry(model).floats_per_pixel
    itemsize = np.dtype(model.dtype_policy.variable_dtype).itemsize
    return int(2 * itemsize * (2 * outputs + 2 * largest + 3) * height * width)


def _margins(taps, axis):
    """Input pixels a tile needs before and after its core on one axis (taps' reach + rounding)."""
    before = max(-g[axis].start for g in taps)
    after = max(g[axis].start + g[axis].extent - g[axis].jump for g in taps)
    return before, max(after, 0)


def _core_sizes(height, width, area, geometry):
    """Core height and width (multiples of the stride) whose tiles fit in `area` input pixels."""
    sh, sw = geometry.stride
    mh = sum(_margins(geometry.taps, 0)) + sh
    mw = sum(_margins(geometry.taps, 1)) + sw
    side = math.sqrt(area)
    core_h = max(sh, int((side - mh) // sh) * sh)
    core_w = max(sw, int((side - mw) // sw) * sw)
    if core_h + mh >= height:
        core_h = height
        core_w = max(sw, int((area / height - mw) // sw) * sw)
    elif core_w + mw >= width:
        core_w = width
        core_h = max(sh, int((area / width - mh) // sh) * sh)
    return core_h, core_w


def _axis_tiles(size, core, axis, geometry, tap_sizes, min_size):
    """Tiles along one axis: (lo, hi, owned), owned[t] = (first, stop) of tap t's positions."""
    stride = geometry.stride[axis]
    count = max(1, math.ceil(size / core))
    bounds = sorted({min(size, -(-round(k * size / count) // stride) * stride)
                     for k in range(count)} | {size})
    bounds = [0] + [b for b in bounds if b > 0]
    tiles = []
    for b0, b1 in zip(bounds[:-1], bounds[1:]):
        owned = []
        for g, n in zip(geometry.taps, tap_sizes):
            jump = g[axis].jump
            owned.append((min(n, -(-b0 // jump)), n if b1 == size else min(n, -(-b1 // jump))))
        live = [(g[axis], o) for g, o in zip(geometry.taps, owned) if o[1] > o[0]]
        if not live:
            continue
        lo = max(0, min(g.start + o[0] * g.jump for g, o in live)) // stride * stride
        hi = min(size, max(g.start + (o[1] - 1) * g.jump + g.extent for g, o in live))
        if hi - lo < min_size:  # Every tap needs at least one position in every tile.
            hi = min(size, lo + min_size)
            lo = max(0, hi - min_size) // stride * stride
        tiles.append((lo, hi, owned))
    return tiles


def tile_plan(model, height, width, budget):
    """The tiles of one pair: (rows, cols), each a list of (lo, hi, owned) (see `_axis_tiles`)."""
    geometry = model_geometry(model)
    area = budget / max(1, pair_bytes(model, 1, 1))
    core_h, core_w = _core_sizes(height, width, area, geometry)
    sizes = model.tap_sizes(height, width)
    rows = _axis_tiles(height, core_h, 0, geometry, [s[0] for s in sizes], model.min_input_size)
    cols = _axis_tiles(width, core_w, 1, geometry, [s[1] for s in sizes], model.min_input_size)
    return rows, cols


def _compiled(model, key, fn, arity):
    """`fn` of two or one prepared tiles, compiled once per model: a `tf.function` on TensorFlow
    (any tile shape), `jax.jit` over the model's variables on JAX (one compilation per tile
    shape), as it is elsewhere."""
    cache = model.__dict__.setdefault(_TILE_FN_ATTR, {})
    if key in cache:
        return cache[key]
    compiled = fn
    if backend_name() == "tensorflow":
        import tensorflow as tf

        spec = tf.TensorSpec([None, None, None, 3], model.input_dtype)
        compiled = tf.function(fn, input_signature=[spec] * arity, autograph=False)
    elif backend_name() == "jax":
        import jax

        variables = list(model.variables)

        @jax.jit
        def stateless(values, *tiles):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return fn(*tiles)

        compiled = lambda *tiles: stateless([v.value for v in variables], *tiles)  # noqa: E731
    cache[key] = compiled
    return compiled


def _tile_maps_fn(model):
    """Two prepared tiles -> one distance map per tap (N, h_t, w_t, 1)."""
    def tile_maps(t0, t1):
        f0, f1 = model.batch_tap_features([t0, t1], training=False)
        return [model.tap_distance_map(k, a, b, training=False)
                for k, (a, b) in enumerate(zip(f0, f1))]

    return _compiled(model, "maps", tile_maps, 2)


def _tile_features_fn(model):
    """One prepared tile -> its tap features (N, h_t, w_t, C_t)."""
    return _compiled(model, "features", lambda t: model.tap_features(t, training=False), 1)


def owned_blocks(model, images, tile_fn, budget):
    """Runs `tile_fn` on every tile of `images` (prepared batches of one size); yields
    (t, (r0, r1), (c0, c1), block): tap t's positions [r0, r1) x [c0, c1) of the full tap map,
    as numpy, each position from exactly one tile. Tiles are sized for `budget` bytes per pair."""
    height, width = int(images[0].shape[1]), int(images[0].shape[2])
    geometry = model_geometry(model)
    rows, cols = tile_plan(model, height, width, budget / int(images[0].shape[0]))
    for row in rows:
        for col in cols:
            rs, cs = slice(row[0], row[1]), slice(col[0], col[1])
            for t, tile_out in enumerate(tile_fn(*[x[:, rs, cs] for x in images])):
                (r0, r1), (c0, c1) = row[2][t], col[2][t]
                if r1 > r0 and c1 > c0:
                    yield t, (r0, r1), (c0, c1), _owned_block(tile_out, t, row, col, geometry)


def _owned_block(tile_out, t, row, col, geometry):
    """Tap t's owned positions of one tile's output as numpy, (N, rows, cols, C)."""
    (r_lo, _, r_owned), (c_lo, _, c_owned) = row, col
    (r0, r1), (c0, c1) = r_owned[t], c_owned[t]
    jr, jc = geometry.taps[t][0].jump, geometry.taps[t][1].jump
    # Tiles start at multiples of the stride, so tile position p is full position p + lo / jump.
    a, b = r0 - r_lo // jr, c0 - c_lo // jc
    block = np.asarray(ops.convert_to_numpy(tile_out))[:, a:a + r1 - r0, b:b + c1 - c0]
    if block.shape[1:3] != (r1 - r0, c1 - c0):
        raise RuntimeError(f"Tile rows {row[:2]}, columns {col[:2]} gave tap {t} a map of "
                           f"{tuple(tile_out.shape[1:3])}, too small for positions {r_owned[t]} "
                           f"x {c_owned[t]}: the trunk geometry does not match the trunk.")
    return block


def tiled_distance(model, x0, x1, budget):
    """`model.distance_from_prepared(x0, x1)` computed tile by tile (see the module docstring).

    x0, x1: prepared batches (N, H, W, 3) (`model.prepare_inputs`); tiles are sized for `budget`
    bytes per pair. Returns (N,) or, spatial, (N, H, W, 1), as a backend tensor.
    """
    if model.spatial:  # The upsampling of the untiled pass, on the assembled full-size tap maps.
        return sum(model.reduce_tap_map(ops.convert_to_tensor(tap_map), x0)
                   for tap_map in _assembled_tap_maps(model, x0, x1, budget))
    sizes = model.tap_sizes(int(x0.shape[1]), int(x0.shape[2]))
    sums = [np.zeros(int(x0.shape[0]), np.float64) for _ in sizes]
    for t, _, _, block in owned_blocks(model, (x0, x1), _tile_maps_fn(model), budget):
        sums[t] += block.sum(axis=(1, 2, 3), dtype=np.float64)
    total = sum(s / (h * w) for s, (h, w) in zip(sums, sizes))
    return ops.convert_to_tensor(total.astype(np.float32))


def _assembled_tap_maps(model, x0, x1, budget):
    """Each tap's full distance map of prepared batches, numpy (N, h_t, w_t, 1) float32, put
    together from the positions each tile owns."""
    n = int(x0.shape[0])
    maps = [np.zeros((n, h, w, 1), np.float32)
            for h, w in model.tap_sizes(int(x0.shape[1]), int(x0.shape[2]))]
    for t, (r0, r1), (c0, c1), block in owned_blocks(model, (x0, x1), _tile_maps_fn(model),
                                                     budget):
        maps[t][:, r0:r1, c0:c1] = block
    return maps


def tap_maps(model, x0, x1, budget):
    """Each tap's distance map (`LPIPS.tap_distance_map`) of prepared batches, one trunk pass
    per image in `budget` bytes (None: no bound), as the plain call bounds its own.

    Returns (maps, tiled): per tap a numpy (N, h_t, w_t, 1) float32 array, and whether the pairs
    were cut into tiles (the plain call then sums each tap in float64; `LPIPS.distance_and_map`
    does the same, so its distance is the plain call's on either path).
    """
    n, height, width = (int(d) for d in x0.shape[:3])
    maps_fn = _tile_maps_fn(model)

    def one_pass(a, b):
        return [np.asarray(ops.convert_to_numpy(m)) for m in maps_fn(a, b)]

    plan, step = _budget_plan(model, n, height, width, budget)
    if plan == "one":
        return one_pass(x0, x1), False
    if plan == "chunks":
        chunks = [one_pass(x0[i:i + step], x1[i:i + step]) for i in range(0, n, step)]
        return [np.concatenate(tap, axis=0) for tap in zip(*chunks)], False
    # Pair by pair, as the plain call tiles (tiles sized for the budget of one pair).
    pairs = [_assembled_tap_maps(model, x0[i:i + 1], x1[i:i + 1], budget) for i in range(n)]
    return [np.concatenate(tap, axis=0) for tap in zip(*pairs)], True


def tiled_tap_features(model, x, budget):
    """`owned_blocks` of `model.tap_features(x)`: the features of large images, tile by tile."""
    return owned_blocks(model, (x,), _tile_features_fn(model), 2 * budget)


def _warn_unknown_geometry(model, error):
    if not model.__dict__.get(_WARNED_ATTR):
        model.__dict__[_WARNED_ATTR] = True
        _logger.warning("%s: max_memory_bytes is not enforced, the trunk runs untiled: %s",
                        model.name, error)


def _budget_plan(model, n, height, width, budget):
    """How a batch of `n` pairs of `height` x `width` keeps to `budget` bytes: ("one", None), one
    pass (it fits, there is no budget, or the trunk cannot be tiled); ("chunks", k), passes of k
    whole pairs; ("tiles", None), each pair tile by tile."""
    if budget is None:
        return "one", None
    try:
        per_pair = pair_bytes(model, height, width)
    except lpips_geometry.GeometryError as error:
        if height * width >= 2**20:
            _warn_unknown_geometry(model, error)
        return "one", None
    if n * per_pair <= budget:
        return "one", None
    if per_pair <= budget:
        return "chunks", budget // per_pair
    return "tiles", None


def bounded_call(model, inputs):
    """The plain call of `model` on `inputs` within `model.max_memory_bytes`, or None when today's
    single pass fits (or the inputs are symbolic / traced, or the trunk cannot be tiled)."""
    budget = model.max_memory_bytes
    if budget is None or not isinstance(inputs, (list, tuple, dict)):
        return None
    try:
        x0, x1 = lpips_inputs.split_pair(inputs)
    except ValueError:
        return None  # The ordinary call raises the clear error.
    shape = lpips_inputs.static_shape(x0)
    if len(shape) != 4 or any(d is None for d in shape[:3]):
        return None
    n, height, width = (int(d) for d in shape[:3])
    plan, step = _budget_plan(model, n, height, width, budget)
    if plan == "one" or isinstance(x0, keras.KerasTensor) or lpips_inputs.any_traced(x0, x1):
        return None
    model.check_input_pair(inputs)  # Today's messages for shapes and dtypes, before slicing.
    if plan == "chunks":  # Chunks of whole pairs, each through today's path.
        parts = [model([x0[i:i + step], x1[i:i + step]]) for i in range(0, n, step)]
        return ops.concatenate(parts, axis=0)
    parts = []
    for i in range(n):
        p0, p1 = model.prepare_inputs([x0[i:i + 1], x1[i:i + 1]])
        parts.append(tiled_distance(model, p0, p1, budget))
    return ops.concatenate(parts, axis=0)
