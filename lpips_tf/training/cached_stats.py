"""Cached channel statistics: train lin layers without running the trunk every epoch.

With the trunk frozen, LPIPS is linear in its lin weights:

    d(x, y) = sum_l sum_c w_lc * mean_hw (yhat_lchw - xhat_lchw)^2

so a 2AFC triplet is fully described, for the lin layers, by two vectors of per-channel mean
squared differences (ref vs p0 and ref vs p1; 1152 numbers each for alex, 1472 for vgg, 1984 for
squeeze; with `taps`, only the selected taps' channels, e.g. 896 for alex's first 4, 192 for
vgg's first 2). The cosine distance (no lin layers) is the plain sum of the same vector, so
cosine variants train their judgment network on it too, with a fixed kernel of ones. One pass over the data stores them; every epoch after that is a tiny `model.fit` over the
vectors. The cache is an `.npz` keyed by a fingerprint (`fingerprint`) of the trunk weights
(names and values), the selected taps (two tap selections can share every trunk weight: alex's
first 3 taps and (conv1, conv3)), the net, the input scaling, the dtype policy, the subsets, the
image files (path, size, modification time, inode change time and inode number of each), the
judgments and the load size: change any of them and the statistics are recomputed. The inode
change time moves whenever a file's content or metadata is written, and `touch` cannot set it,
so an image rewritten with the same size and modification time is seen; what the fingerprint
does not read is the pixels themselves (a file system that fakes ctime, or a copy made with
every time kept onto the same inode, would go unseen). Each file also stores a sha256 of its
statistics, checked on every read: a file that fails it, or that is cut short or garbled, is
recomputed, said in one line. The statistics of a
model's first k taps are the first columns of its own, so writing a cache file also writes a small
`.alias.json` per shorter prefix of its taps, keyed by the fingerprint a model cut there would
have: `vgg2-lin` after `vgg-lin` (same trunk weights) reads the deeper file instead of running
its trunk again, once the deeper file's own stored fingerprint and checksum match what the alias
recorded.

Training (`train.py --cached_stats`, `TrainConfig(cached_stats=True)`): `build_cached_2afc_model`
is the 2AFC model of `lpips_tf.uses.judgment` with the distance replaced by `CachedLin` over
the cached vectors, s0, s1 -> d0 = s0 . w, d1 = s1 . w -> the same `JudgmentHead` -> judgment,
with the same outputs ({"judgment", "distances"}), loss, `two_afc` metric, Adam settings and
learning-rate schedule. `stats_training_dataset` serves the triplets in the order the end-to-end pipeline uses
(a full-buffer shuffle seeded by (seed, epoch)), so with dropout off on both sides and the same
seed, a cached run and an end-to-end run take the same optimisation steps, to float32 rounding.
At the end, the kernel goes into a real `lpips_tf.LPIPS` (`set_lin_weights(layer.lin_vectors())`),
whose distances are `stats . w` up to rounding, and which is saved like any trained model.

Dropout differs from end-to-end training. There (`--dropout`, 0.5 in the paper), each (channel,
position) element of the squared feature difference is dropped, the rest scaled by 1 / (1 - rate),
before the 1x1 lin layer and the spatial average: the distance keeps its expected value and the
noise is partly averaged away over the H x W positions (15 x 15 at AlexNet's first tap for 64 px
patches, 3 x 3 at its last three). The cache holds only the averages, so that noise cannot be
reproduced. `CachedLin(dropout_rate=r)` (`--cached_dropout`) instead drops whole channels of the
averaged statistics, each channel of each pair with probability r. Per channel term, element
dropout leaves roughly 1 / (H W) of the variance channel dropout puts on it: channel dropout is a
much stronger and different regulariser, closer to dropping features than to perturbing
distances. Cached training therefore defaults to no dropout. Measured on synthetic data (alex-lin,
the paper's 10 epochs, see train.py), end-to-end training with dropout 0.5 and cached training
without dropout reach validation 2AFC scores within 0.3 points of each other. Both paths keep the
NonNeg constraint, the judgment network and the learning-rate schedule.
"""

import hashlib
import json
import os
import sys
import zipfile

import numpy as np
import keras
import tensorflow as tf

from lpips_tf.data.bapps import twoafc_dataset, without_autotuning
from lpips_tf.training.datasets import by_epoch, epoch_seed
from lpips_tf.training.run_files import atomic_path
from lpips_tf.uses.judgment import CachedLin, assemble_2afc_model
from lpips_tf.utils.progress import ProgressBar


# 2: the fingerprint reads each image's inode change time and number; files carry a checksum.
CACHE_FORMAT = 2


def _hash_trunk(trunk, digest):
    for weight in trunk.weights:
        digest.update(weight.path.encode())
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())


def fingerprint(model, index, load_size, taps=None):
    """Hex digest of everything the cached statistics depend on.

    `taps`: a number k of the model's first selected taps: the fingerprint a model cut after its
    k-th tap would have (the same layers, so the same weights and names), which lets the
    statistics of a deeper model serve a shallower one (see `compute_triplet_stats`).
    """
    trunk, selected = model.trunk, list(model.taps)
    if taps is not None and taps < len(selected):
        outputs = trunk.outputs if isinstance(trunk.outputs, (list, tuple)) else [trunk.outputs]
        trunk = keras.Model(trunk.inputs, list(outputs[:taps]))
        selected = selected[:taps]
    digest = hashlib.sha256()
    meta = {"format": CACHE_FORMAT, "net": model.net, "input_scaling": model.input_scaling,
            "dtype": model.dtype_policy.name, "load_size": int(load_size),
            "subsets": list(index.subsets), "taps": selected}
    digest.update(json.dumps(meta, sort_keys=True).encode())
    from lpips_tf.core.trunks import TRUNKS

    if model.net not in TRUNKS:  # an open trunk: its architecture too, not only its weights
        architecture = keras.saving.serialize_keras_object(trunk)
        digest.update(json.dumps(architecture, sort_keys=True, default=str).encode())
    _hash_trunk(trunk, digest)
    for column in (index.ref, index.p0, index.p1):
        for path in column:
            stat = os.stat(path)
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0{stat.st_ctime_ns}"
                          f"\0{stat.st_ino}\n".encode())
    digest.update(np.ascontiguousarray(index.judge, np.float32).tobytes())
    return digest.hexdigest()


def _cache_path(cache_dir, net, n_taps, key):
    # The tap count in the name is for people browsing the cache; the key decides.
    return os.path.join(cache_dir, f"stats_{net}{n_taps}_{key[:20]}.npz")


def _alias_path(cache_dir, net, n_taps, key):
    return _cache_path(cache_dir, net, n_taps, key)[:-len(".npz")] + ".alias.json"


def stats_checksum(s0, s1, judge, key):
    """sha256 of the statistics, the judgments and the fingerprint they were stored under."""
    digest = hashlib.sha256(key.encode())
    for array in (s0, s1, judge):
        array = np.ascontiguousarray(array, np.float32)
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _read_cache(path, key, columns=None, log=None):
    """The cached arrays of `path` when its stored fingerprint is `key` and its checksum holds
    (None otherwise), restricted to `columns` (start, stop) of the statistics. A file that is
    damaged or fails its checksum is said in one line through `log`."""
    if not os.path.exists(path):
        return None
    try:
        with np.load(path) as data:
            if "format" not in data.files or int(data["format"]) != CACHE_FORMAT:
                return None
            s0, s1, judge = data["s0"], data["s1"], data["judge"]
            stored, checksum = str(data["fingerprint"]), str(data["checksum"])
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, ValueError) as error:
        if log:
            log(f"Cached statistics {path} are damaged ({type(error).__name__}: "
                f"{str(error).splitlines()[0] if str(error) else 'unreadable'}): recomputing.")
        return None
    if stored != key:
        return None
    if stats_checksum(s0, s1, judge, stored) != checksum:
        if log:
            log(f"Cached statistics {path} fail their checksum (the numbers changed after they "
                f"were stored): recomputing.")
        return None
    if columns is None:
        return {"s0": s0, "s1": s1, "judge": judge}
    start, stop = columns
    return {"s0": s0[:, start:stop], "s1": s1[:, start:stop], "judge": judge}


def _read_alias(cache_dir, net, n_taps, key, log=None):
    """Statistics served by a deeper model's cache file (see `_write_aliases`), or None."""
    path = _alias_path(cache_dir, net, n_taps, key)
    if not os.path.exists(path):
        return None, None
    try:
        with open(path) as f:
            alias = json.load(f)
        if alias.get("fingerprint") != key:
            return None, None
        target = os.path.join(cache_dir, alias["file"])
        target_key, columns = str(alias["target_fingerprint"]), tuple(alias["columns"])
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as error:
        if log:
            log(f"Cache alias {path} is damaged ({error}): recomputing.")
        return None, None
    # The deeper file must still be the one the alias was written for: its stored fingerprint
    # is compared with the one the alias recorded (and its checksum verified).
    arrays = _read_cache(target, target_key, columns, log)
    return arrays, (target if arrays is not None else None)


def _write_aliases(model, index, load_size, cache_dir, path, key):
    """For each k < len(model.taps): an alias saying that the first k taps' statistics are the
    first columns of `path`. A model cut after those taps (vgg2-lin after vgg-lin, alex4-lin after
    alex-lin) then reads them instead of running its own trunk pass."""
    columns = np.cumsum(model.channels)
    for k in range(1, len(model.taps)):
        prefix_key = fingerprint(model, index, load_size, taps=k)
        alias = {"fingerprint": prefix_key, "file": os.path.basename(path),
                 "target_fingerprint": key, "columns": [0, int(columns[k - 1])],
                 "taps": list(model.taps[:k])}
        alias_path = _alias_path(cache_dir, model.net, k, prefix_key)
        with atomic_path(alias_path, shared=True) as tmp:
            with open(tmp, "w") as f:
                json.dump(alias, f)


def _triplet_stats_fn(model):
    """A compiled function (ref, p0, p1) -> (stats(ref, p0), stats(ref, p1)), one trunk pass
    (`LPIPS.channel_stats_from_prepared`: the model's own features and statistics)."""

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)] * 3,
                 reduce_retracing=True)
    def stats(ref, p0, p1):
        s0, s1 = model.channel_stats_from_prepared(ref, p0, p1)
        return s0, s1

    return stats


def compute_triplet_stats(model, index, load_size=64, batch_size=50, cache_dir=None, verbose=1,
                          log=print):
    """Per-channel statistics of every triplet in `index`, from the cache when it is valid.

    Args:
      model: an `lpips_tf.LPIPS` whose trunk defines the features (its lin layers are unused).
      index: a `lpips_tf.data.bapps.TwoAFCIndex`.
      load_size: patch size the images are resized to (as in training).
      batch_size: triplets per trunk pass.
      cache_dir: folder for the `.npz` cache; None computes without caching.
      verbose: 0 silent; 1 progress while computing (on stdout: a bar on a terminal, a line
        every 10 s in a log) and a line saying where the statistics came from (or went); 2 that
        line only.
      log: function taking one line of text (for the "from cache" / "cached in" lines).

    Returns:
      dict with "s0", "s1" (N, sum(channels)) float32, "judge" (N,) float32, "cache_file" (the
      `.npz` path, None without `cache_dir`) and "from_cache" (whether it was read from there).
    """
    key = fingerprint(model, index, load_size)
    path = None
    if cache_dir:
        os.makedirs(cache_dir, exist_ok=True)
        path = _cache_path(cache_dir, model.net, len(model.taps), key)
        arrays, source = _read_cache(path, key, log=log), path
        if arrays is None:
            arrays, source = _read_alias(cache_dir, model.net, len(model.taps), key, log)
        if arrays is not None:
            if verbose:
                log(f"Channel statistics from cache: {source}"
                    + ("" if source == path else " (the first columns of a deeper model's)"))
            return {**arrays, "cache_file": source, "from_cache": True}
    stats_fn = _triplet_stats_fn(model)
    dataset = twoafc_dataset(index, load_size=load_size, batch_size=batch_size)
    bar = (ProgressBar(len(index), "triplets", stream=sys.stdout, label="channel statistics")
           if verbose == 1 else None)
    s0, s1 = [], []
    for images, _ in dataset:
        a, b = stats_fn(images["ref"], images["p0"], images["p1"])
        s0.append(a.numpy())
        s1.append(b.numpy())
        if bar:
            bar.add(len(s0[-1]))
    if bar:
        bar.close()
    result = {"s0": np.concatenate(s0), "s1": np.concatenate(s1),
              "judge": np.asarray(index.judge, np.float32)}
    if path:
        # Write then rename, so that an interrupted run never leaves a half-written cache behind;
        # a unique temporary name, as two runs may share the cache folder.
        with atomic_path(path, shared=True) as tmp:
            np.savez(tmp, fingerprint=key, format=CACHE_FORMAT,
                     checksum=stats_checksum(result["s0"], result["s1"], result["judge"], key),
                     **result)
        _write_aliases(model, index, load_size, cache_dir, path, key)
        if verbose:
            log(f"Channel statistics cached in {path}")
    return {**result, "cache_file": path, "from_cache": False}


# ------------------------------------------------------------------------------------------------
# Training on the cached statistics.

STATS_KEYS = ("s0", "s1")


def build_cached_2afc_model(channels, dropout_rate=0.0, learning_rate=1e-4, beta_1=0.5,
                            beta_2=0.999, hidden_units=32, initial_lin_weights=None, compile=True,
                            name="lpips_cached_2afc", cos=False):
    """The 2AFC model of `lpips_tf.uses.judgment.build_2afc_model`, on cached statistics.

    Inputs {"s0", "s1"}: (N, sum(channels)) statistics of (ref, p0) and (ref, p1). One shared
    `CachedLin` (named "lin") gives d0 and d1, the `JudgmentHead` (named "judgment") the
    probability that a person prefers p1. Outputs {"judgment": (N,), "distances": (N, 2)}, as a
    `TwoAFCModel`, so `judgment_loss`, the `two_afc` metric and the training callbacks apply
    unchanged.

    Args:
      channels: channels per tap, e.g. `lpips_tf.LPIPS(net="alex").channels`.
      dropout_rate: channel dropout on the statistics while training (see the module doc).
      learning_rate: a float or a `LearningRateSchedule`.
      beta_1, beta_2: Adam's moment decay rates (the paper: 0.5, 0.999).
      hidden_units: width of the judgment network.
      initial_lin_weights: per-tap (C,) vectors to start the kernel from (e.g. a fresh
        `LPIPS.get_lin_weights()`, which is what the end-to-end path starts from); None: random
        (see `CachedLin`).
      compile: compile with Adam and `judgment_loss`.
      name: model name.
      cos: the cos distance: a frozen kernel of ones (d = sum of the statistics), so only the
        judgment network trains. `initial_lin_weights` and `dropout_rate` must be unset.

    Returns:
      A `TwoAFCModel`.
    """
    total = sum(int(c) for c in channels)
    if cos and (initial_lin_weights is not None or dropout_rate):
        raise ValueError("cos=True (the cos distance) has no lin weights to start from or to "
                         "drop out.")
    inputs = {key: keras.Input(shape=(total,), name=key, dtype="float32") for key in STATS_KEYS}
    # With given weights, a zeros initializer: it draws no seed, so the judgment network below
    # gets the same initial weights as in `build_2afc_model` after the same draws. "ones" (the
    # cosine sum) draws none either.
    lin = CachedLin(channels, dropout_rate,
                    kernel_initializer="ones" if cos else
                    None if initial_lin_weights is None else "zeros",
                    name="lin", trainable=not cos)
    d0 = lin(inputs["s0"])
    d1 = lin(inputs["s1"])
    model = assemble_2afc_model(inputs, d0, d1, learning_rate, beta_1, beta_2, hidden_units,
                                compile, name)
    if initial_lin_weights is not None:
        lin.set_lin_vectors(initial_lin_weights)
    return model


def _gather_batches(indices, stats):
    """Batches of triplet indices -> ({"s0", "s1"}, judge) batches."""
    s0 = tf.convert_to_tensor(stats["s0"], tf.float32)
    s1 = tf.convert_to_tensor(stats["s1"], tf.float32)
    judge = tf.convert_to_tensor(stats["judge"], tf.float32)

    def gather(i):
        return {"s0": tf.gather(s0, i), "s1": tf.gather(s1, i)}, tf.gather(judge, i)

    return indices.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def stats_dataset(stats, batch_size=50):
    """Batches `({"s0", "s1"}, judge)` of cached statistics, in order (for validation)."""
    n = len(stats["judge"])
    indices = tf.data.Dataset.range(n).batch(batch_size)
    return without_autotuning(_gather_batches(indices, stats).prefetch(tf.data.AUTOTUNE))


def stats_training_dataset(stats, batch_size, seed, steps_per_epoch, first_epoch, total_epochs):
    """Batches for epochs `first_epoch..total_epochs - 1`, each a reshuffled pass over the triplets.

    The order of epoch k depends only on (seed, k), and is the order the end-to-end pipeline
    (`lpips_tf.training.datasets.image_training_dataset`) uses: a shuffle with a full buffer
    seeded by `epoch_seed(seed, k)`. Build it while no global TensorFlow seed is set (as `train`
    does).
    """
    n = len(stats["judge"])

    def epoch_batches(epoch):
        order = tf.data.Dataset.range(n).shuffle(n, seed=epoch_seed(seed, epoch),
                                                 reshuffle_each_iteration=True)
        return order.batch(batch_size).take(steps_per_epoch)

    indices = by_epoch(epoch_batches, first_epoch, total_epochs)
    return without_autotuning(_gather_batches(indices, stats).prefetch(tf.data.AUTOTUNE))
