"""Cached channel statistics: train lin layers without running the trunk every epoch.

With the trunk frozen, LPIPS is linear in its lin weights:

    d(x, y) = sum_l sum_c w_lc * mean_hw (yhat_lchw - xhat_lchw)^2

so a 2AFC triplet is fully described, for the lin layers, by two vectors of per-channel mean
squared differences (ref vs p0 and ref vs p1; 1152 numbers each for alex, 1472 for vgg, 1984 for
squeeze). One pass over the data stores them; every epoch after that is a tiny `model.fit` over the
vectors. The cache is an `.npz` keyed by a fingerprint of the trunk weights, the input scaling, the
file list (paths, sizes, modification times), the judgments and the load size: change any of them
and the statistics are recomputed.

Dropout differs from end-to-end training: there, each (channel, position) element of the squared
difference is dropped before the 1x1 lin layer; averaged over the H x W positions that noise mostly
cancels. The cache holds only the averages, so cached training can drop whole channels of the
average (`dropout_rate`, off by default), a stronger and different regulariser. Both paths
keep the NonNeg constraint, the judgment network and the learning-rate schedule.
"""

import hashlib
import json
import os

import numpy as np
import keras
import tensorflow as tf


CACHE_FORMAT = 1


def _hash_trunk(model, digest):
    for weight in model.trunk.weights:
        digest.update(weight.path.encode())
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())


def fingerprint(model, index, load_size):
    """Hex digest of everything the cached statistics depend on."""
    digest = hashlib.sha256()
    meta = {"format": CACHE_FORMAT, "net": model.net, "input_scaling": model.input_scaling,
            "load_size": int(load_size), "subsets": list(index.subsets)}
    digest.update(json.dumps(meta, sort_keys=True).encode())
    _hash_trunk(model, digest)
    for column in (index.ref, index.p0, index.p1):
        for path in column:
            stat = os.stat(path)
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    digest.update(np.ascontiguousarray(index.judge, np.float32).tobytes())
    return digest.hexdigest()


def _triplet_stats_fn(model):
    """A compiled function (ref, p0, p1) -> (stats(ref, p0), stats(ref, p1)), one trunk pass."""

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)] * 3,
                 reduce_retracing=True)
    def stats(ref, p0, p1):
        n = tf.shape(ref)[0]
        features = model.trunk(model.scaling(tf.concat([ref, p0, p1], axis=0)), training=False)
        s0, s1 = [], []
        for f in features:
            f = tf.cast(model.normalization(f), tf.float32)
            r, a, b = f[:n], f[n:2 * n], f[2 * n:]
            s0.append(tf.reduce_mean(tf.square(r - a), axis=[1, 2]))
            s1.append(tf.reduce_mean(tf.square(r - b), axis=[1, 2]))
        return tf.concat(s0, axis=-1), tf.concat(s1, axis=-1)

    return stats


def compute_triplet_stats(model, index, load_size=64, batch_size=50, cache_dir=None, verbose=1):
    """Per-channel statistics of every triplet in `index`, from the cache when it is valid.

    Args:
      model: an `lpips_tf.LPIPS` whose trunk defines the features (its lin layers are unused).
      index: a `lpips_tf.data.bapps.TwoAFCIndex`.
      load_size: patch size the images are resized to (as in training).
      batch_size: triplets per trunk pass.
      cache_dir: folder for the `.npz` cache; None computes without caching.
      verbose: show a progress bar while computing.

    Returns:
      dict with "s0", "s1" (N, sum(channels)) float32 and "judge" (N,) float32.
    """
    from lpips_tf.data.bapps import twoafc_dataset

    key = fingerprint(model, index, load_size)
    path = None
    if cache_dir:
        os.makedirs(cache_dir, exist_ok=True)
        path = os.path.join(cache_dir, f"stats_{model.net}_{key[:20]}.npz")
        if os.path.exists(path):
            with np.load(path) as data:
                if str(data["fingerprint"]) == key and int(data["format"]) == CACHE_FORMAT:
                    if verbose:
                        print(f"Channel statistics from cache: {path}")
                    return {"s0": data["s0"], "s1": data["s1"], "judge": data["judge"]}
    stats_fn = _triplet_stats_fn(model)
    dataset = twoafc_dataset(index, load_size=load_size, batch_size=batch_size)
    steps = -(-len(index) // batch_size)
    bar = keras.utils.Progbar(steps, unit_name="batch") if verbose else None
    s0, s1 = [], []
    for step, (images, _) in enumerate(dataset):
        a, b = stats_fn(images["ref"], images["p0"], images["p1"])
        s0.append(a.numpy())
        s1.append(b.numpy())
        if bar:
            bar.update(step + 1)
    result = {"s0": np.concatenate(s0), "s1": np.concatenate(s1),
              "judge": np.asarray(index.judge, np.float32)}
    if path:
        # Write then rename, so that an interrupted run never leaves a half-written cache behind.
        tmp = path + ".tmp.npz"
        np.savez(tmp, fingerprint=key, format=CACHE_FORMAT, **result)
        os.replace(tmp, path)
        if verbose:
            print(f"Channel statistics cached in {path}")
    return result


@keras.saving.register_keras_serializable(package="lpips_tf")
class CachedLin(keras.layers.Layer):
    """All lin layers of a trunk as one non-negative vector over cached channel statistics.

    Input: (N, sum(channels)) per-channel mean squared differences. Output: (N,) distances.
    `dropout_rate` drops whole channels of the statistics while training (see the module doc).
    """

    def __init__(self, channels, dropout_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.channels = tuple(int(c) for c in channels)
        self.dropout_rate = dropout_rate
        self.dropout = keras.layers.Dropout(dropout_rate) if dropout_rate else None

    def build(self, input_shape):
        total = sum(self.channels)
        if input_shape[-1] not in (None, total):
            raise ValueError(f"CachedLin expects {total} statistics per pair, received "
                             f"input_shape={input_shape}")
        self.kernel = self.add_weight(
            name="kernel", shape=(total,),
            initializer=keras.initializers.RandomUniform(0.0, 2.0 / max(self.channels)),
            constraint=keras.constraints.NonNeg())

    def call(self, stats, training=None):
        if self.dropout is not None:
            stats = self.dropout(stats, training=training)
        return keras.ops.tensordot(stats, keras.ops.cast(self.kernel, stats.dtype), axes=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],)

    def lin_vectors(self):
        """The kernel split per tap: what `LPIPS.set_lin_weights` takes."""
        kernel = keras.ops.convert_to_numpy(self.kernel)
        return np.split(kernel, np.cumsum(self.channels)[:-1])

    def get_config(self):
        return {**super().get_config(), "channels": list(self.channels),
                "dropout_rate": self.dropout_rate}

