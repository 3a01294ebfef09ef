"""Indexing, validation and `tf.data` loading of BAPPS-layout datasets.

Layout (section 4 of the LPIPS reference), relative to a data directory:

    2afc/{train,val}/<subset>/{ref,p0,p1,judge}/<stem>.{png,npy}
    jnd/val/<subset>/{p0,p1,same}/<stem>.{png,npy}

Subsets are named relative to their kind folder: "train/traditional",
"val/cnn" for 2AFC; "val/traditional" for JND. Files of one triplet (pair)
share their stem; images may be .png, .jpg, .jpeg or .bmp; each .npy holds one
number in [0, 1] (judge: fraction of observers preferring p1; same: fraction
who saw no difference).

Indexing validates everything it can cheaply and raises `DataError` naming
the offending file or folder: missing sub-folders, empty subsets, unequal
counts or mismatched stems, judgments that are not one finite number in
[0, 1], and image files that are not PNG/JPEG/BMP or are truncated (checked
from the first and last bytes of each file, not by decoding: a file that is
damaged in the middle only fails inside `tf.data`, where TensorFlow's error
does not name the file; `verify_images` decodes everything and names it).

EXIF orientation is not applied here (`tf.io` ignores it): BAPPS patches are PNG, which has no
EXIF orientation in practice; `lpips_tf.data.images.load_image`, used by the command line, applies it.

Loading: images are decoded in parallel inside `tf.data`, resized to
`load_size` x `load_size` with `tf.image.resize(method="bicubic",
antialias=True)` and rounded to uint8, then batched and mapped to float32 NHWC
in [-1, 1] as `x / 127.5 - 1`. The official loader resizes with PIL's bicubic
filter, which also widens its kernel when downscaling; on the 256 -> 64 test
photographs the two agree within 1-2 grey levels (mean 0.1), while a bilinear
resize would differ by 1.6 on average and up to 30 at sharp edges. Patches
already at the load size are passed through unchanged.
"""

import ast
import dataclasses
import os
import re
from concurrent import futures

import numpy as np
import tensorflow as tf

__all__ = [
    "DataError",
    "IMAGE_EXTENSIONS",
    "JNDIndex",
    "TwoAFCIndex",
    "find_subsets",
    "index_2afc",
    "index_jnd",
    "jnd_dataset",
    "load_image",
    "name_bad_image",
    "subset_datasets",
    "twoafc_dataset",
    "verify_images",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
TWOAFC_FOLDERS = ("ref", "p0", "p1")
JND_FOLDERS = ("p0", "p1")
KINDS = ("2afc", "jnd")


class DataError(ValueError):
    """A dataset on disk does not have the expected layout or content."""


# ----------------------------------------------------------------------------
# Indexes.


def _select(index, subset):
    """A `TwoAFCIndex` or `JNDIndex` restricted to one of its subsets: every per-item array is
    filtered alike, so a field added to an index is carried without touching this."""
    keep = index.subset_ids == index.subsets.index(subset)
    per_item = {f.name: getattr(index, f.name)[keep] for f in dataclasses.fields(index)
                if f.name not in ("subsets", "subset_ids")}
    return dataclasses.replace(index, subsets=(subset,),
                               subset_ids=np.zeros(int(keep.sum()), np.int32), **per_item)


@dataclasses.dataclass(frozen=True, repr=False)
class TwoAFCIndex:
    """File lists of 2AFC triplets, aligned by position.

    Attributes:
      subsets: subset names, e.g. ("val/traditional", "val/cnn").
      ref, p0, p1: image paths, numpy arrays of str, one per triplet.
      judge: float64 (N,), fraction of observers that preferred p1 (the
        datasets yield it as float32).
      subset_ids: int32 (N,), position in `subsets` of each triplet.
    """

    subsets: tuple
    ref: np.ndarray
    p0: np.ndarray
    p1: np.ndarray
    judge: np.ndarray
    subset_ids: np.ndarray

    def __len__(self):
        return int(self.judge.shape[0])

    def __repr__(self):
        return f"TwoAFCIndex(subsets={self.subsets}, triplets={len(self)})"

    def select(self, subset):
        """The index restricted to one of its subsets."""
        return _select(self, subset)

    def image_paths(self):
        return np.concatenate([self.ref, self.p0, self.p1])


@dataclasses.dataclass(frozen=True, repr=False)
class JNDIndex:
    """File lists of JND pairs, aligned by position.

    Attributes:
      subsets: subset names, e.g. ("val/traditional",).
      p0, p1: image paths, numpy arrays of str.
      same: float64 (N,), fraction of observers who saw no difference.
      subset_ids: int32 (N,).
    """

    subsets: tuple
    p0: np.ndarray
    p1: np.ndarray
    same: np.ndarray
    subset_ids: np.ndarray

    def __len__(self):
        return int(self.same.shape[0])

    def __repr__(self):
        return f"JNDIndex(subsets={self.subsets}, pairs={len(self)})"

    def select(self, subset):
        """The index restricted to one of its subsets."""
        return _select(self, subset)

    def image_paths(self):
        return np.concatenate([self.p0, self.p1])


def _check_kind(kind):
    if kind not in KINDS:
        raise ValueError(f'kind must be "2afc" or "jnd". Received: kind={kind!r}')


def find_subsets(data_dir, kind, split):
    """Subset names present on disk, e.g. ["val/cnn", "val/traditional"].

    Args:
      data_dir: dataset root (the folder that holds `2afc/` and `jnd/`).
      kind: "2afc" or "jnd".
      split: "train" or "val".

    Raises:
      DataError: if `<data_dir>/<kind>/<split>` does not exist.
    """
    _check_kind(kind)
    folder = os.path.join(data_dir, kind, split)
    if not os.path.isdir(folder):
        raise DataError(f"Missing folder {folder} (expected the BAPPS layout {kind}/{split}/<subset>/).")
    names = sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))
    return [f"{split}/{name}" for name in names]


def _normalize_subset(kind, subset):
    subset = subset.strip().strip("/")
    # Accept "2afc/val/cnn" as well as "val/cnn".
    if subset.startswith(kind + "/"):
        subset = subset[len(kind) + 1 :]
    if subset.count("/") != 1:
        raise ValueError(
            f'Subsets are named "<split>/<name>" relative to {kind}/, e.g. "val/traditional". '
            f"Received: subset={subset!r}"
        )
    return subset


def _subset_dir(data_dir, kind, subset):
    folder = os.path.join(data_dir, kind, subset)
    if not os.path.isdir(folder):
        split = subset.split("/")[0]
        try:
            available = find_subsets(data_dir, kind, split)
        except DataError:
            available = []
        raise DataError(
            f"Missing subset folder {folder}. Available {kind} {split} subsets: {available or 'none'}."
        )
    return folder


def _list_files(folder, extensions):
    """stem -> file name, for the files of `folder` with one of `extensions`."""
    if not os.path.isdir(folder):
        raise DataError(f"Missing sub-folder {folder}.")
    stems = {}
    for entry in os.scandir(folder):
        if entry.name.startswith(".") or not entry.is_file():
            continue
        stem, ext = os.path.splitext(entry.name)
        if ext.lower() not in extensions:
            continue
        if stem in stems:
            raise DataError(
                f"Two files share the stem {stem!r} in {folder}: {stems[stem]} and {entry.name}."
            )
        stems[stem] = entry.name
    return stems


def _first(items, n=5):
    items = sorted(items)
    more = f" (and {len(items) - n} more)" if len(items) > n else ""
    return f"{items[:n]}{more}"


def _match_stems(subset_dir, listings):
    """Checks that every sub-folder holds the same stems; returns them sorted."""
    names = list(listings)
    base = names[0]
    for name, files in listings.items():
        if not files:
            raise DataError(
                f"Empty subset: {os.path.join(subset_dir, name)} contains no "
                f"{'.npy' if name in ('judge', 'same') else 'image'} files."
            )
    for name in names[1:]:
        a, b = set(listings[base]), set(listings[name])
        if a != b:
            raise DataError(
                f"Mismatched files in {subset_dir}: {base}/ has {len(a)} files and {name}/ has "
                f"{len(b)}; stems only in {base}/: {_first(a - b)}; only in {name}/: {_first(b - a)}."
            )
    return sorted(listings[base])


_NPY_MAGIC = b"\x93NUMPY"
_NPY_HEADERS = {}


def _read_scalar_npy(path):
    """Reads a one-number .npy file; returns (value, shape).

    Parses the (version 1) header itself and caches it by its bytes: BAPPS has
    hundreds of thousands of identical tiny files, and `np.load` spends most
    of its time parsing the same header again.
    """
    with open(path, "rb") as f:
        data = f.read()
    if data[:6] == _NPY_MAGIC and data[6:7] == b"\x01" and len(data) >= 10:
        hlen = int.from_bytes(data[8:10], "little")
        header = data[10 : 10 + hlen]
        parsed = _NPY_HEADERS.get(header)
        if parsed is None:
            try:
                d = ast.literal_eval(header.decode("latin1"))
                parsed = (np.dtype(d["descr"]), tuple(d["shape"]), bool(d["fortran_order"]))
            except (ValueError, SyntaxError, KeyError, TypeError):
                parsed = False
            _NPY_HEADERS[header] = parsed
        if parsed and parsed[0].kind in "fiub" and not parsed[0].hasobject:
            dtype, shape, _ = parsed
            body = data[10 + hlen :]
            count = int(np.prod(shape)) if shape else 1
            if len(body) != count * dtype.itemsize:
                raise DataError(f"Corrupt .npy file {path}: expected {count} values of {dtype}.")
            values = np.frombuffer(body, dtype=dtype, count=count)
            return (float(values[0]) if count == 1 else None), shape
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as e:  # numpy raises several types for bad files
        raise DataError(f"Cannot read {path} as a .npy file: {e}") from e
    if arr.dtype.kind not in "fiub":
        raise DataError(f"{path} holds {arr.dtype} values, expected a number.")
    return (float(arr.reshape(-1)[0]) if arr.size == 1 else None), arr.shape


def _read_judgments(folder, stems, files, what):
    paths = [os.path.join(folder, files[s]) for s in stems]
    values = np.empty(len(paths), np.float64)
    for i, path in enumerate(paths):
        value, shape = _read_scalar_npy(path)
        if value is None:
            raise DataError(f"{path}: a {what} must be one number, found an array of shape {shape}.")
        if not (0.0 <= value <= 1.0):  # Also rejects NaN.
            raise DataError(f"{path}: a {what} must lie in [0, 1], found {value}.")
        values[i] = value
    return values


_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _check_image_file(path):
    """Cheap integrity check from the first and last bytes; returns a problem or None."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(16)
            f.seek(max(0, size - 64))
            tail = f.read(64)
    except OSError as e:
        return f"cannot read it ({e})"
    if size == 0:
        return "the file is empty"
    if head.startswith(_PNG_MAGIC):
        # Every PNG ends with the IEND chunk: length 0, "IEND", CRC.
        if tail[-8:-4] != b"IEND":
            return "truncated PNG (no IEND chunk at the end)"
        return None
    if head.startswith(b"\xff\xd8\xff"):
        # JPEG ends with the EOI marker; allow a little trailing padding.
        if b"\xff\xd9" not in tail:
            return "truncated JPEG (no end-of-image marker)"
        return None
    if head.startswith(b"BM") and len(head) >= 6:
        declared = int.from_bytes(head[2:6], "little")
        if declared > size:
            return f"truncated BMP ({size} bytes, header declares {declared})"
        return None
    return "not a PNG, JPEG or BMP image"


def _check_images(paths, check_images):
    if not check_images or len(paths) == 0:
        return
    # File I/O releases the GIL: a few threads hide the latency of many opens.
    with futures.ThreadPoolExecutor(max_workers=8) as pool:
        for path, problem in zip(paths, pool.map(_check_image_file, paths, chunksize=256)):
            if problem:
                raise DataError(f"Corrupt image {path}: {problem}.")


def _index(data_dir, kind, subsets, image_folders, label_folder, what, check_images):
    _check_kind(kind)
    if isinstance(subsets, str):
        subsets = [s for s in subsets.split(",") if s.strip()]
    subsets = tuple(_normalize_subset(kind, s) for s in subsets)
    if not subsets:
        raise ValueError(f"No {kind} subsets given. Received: subsets={subsets!r}")
    if len(set(subsets)) != len(subsets):
        raise ValueError(f"Subsets are repeated. Received: subsets={subsets!r}")
    columns = {name: [] for name in image_folders}
    labels, ids = [], []
    for i, subset in enumerate(subsets):
        subset_dir = _subset_dir(data_dir, kind, subset)
        listings = {
            name: _list_files(os.path.join(subset_dir, name), IMAGE_EXTENSIONS)
            for name in image_folders
        }
        listings[label_folder] = _list_files(os.path.join(subset_dir, label_folder), (".npy",))
        stems = _match_stems(subset_dir, listings)
        for name in image_folders:
            folder = os.path.join(subset_dir, name)
            paths = [os.path.join(folder, listings[name][s]) for s in stems]
            _check_images(paths, check_images)
            columns[name].append(np.asarray(paths))
        labels.append(
            _read_judgments(os.path.join(subset_dir, label_folder), stems, listings[label_folder], what)
        )
        ids.append(np.full(len(stems), i, np.int32))
    return (
        subsets,
        {name: np.concatenate(cols) for name, cols in columns.items()},
        np.concatenate(labels),
        np.concatenate(ids),
    )


def index_2afc(data_dir, subsets, check_images=True):
    """Lists and validates 2AFC triplets.

    Args:
      data_dir: dataset root (holding `2afc/`).
      subsets: list (or comma-separated string) of names like
        "train/traditional" or "val/cnn".
      check_images: check each image's first and last bytes (a truncated
        file is then reported by name here instead of failing inside
        `tf.data`; its cost is in the README's "Data" section); pass False
        to skip it for data already verified.

    Returns:
      A `TwoAFCIndex`, triplets sorted by subset then stem.

    Raises:
      DataError: naming the file or folder that is missing or malformed.
    """
    subsets, cols, judge, ids = _index(
        data_dir, "2afc", subsets, TWOAFC_FOLDERS, "judge", "judge", check_images
    )
    return TwoAFCIndex(subsets, cols["ref"], cols["p0"], cols["p1"], judge, ids)


def index_jnd(data_dir, subsets, check_images=True):
    """Lists and validates JND pairs; like `index_2afc` for `jnd/`.

    Returns:
      A `JNDIndex`.
    """
    subsets, cols, same, ids = _index(
        data_dir, "jnd", subsets, JND_FOLDERS, "same", "same-judgment", check_images
    )
    return JNDIndex(subsets, cols["p0"], cols["p1"], same, ids)


def clean_tf_message(error):
    """The first line of a TensorFlow error without its internals (`{{function_node ...}}`,
    `[Op:DecodeImage]`), for messages that name the file instead."""
    message = getattr(error, "message", None) or str(error)
    message = re.sub(r"\{\{[^}]*\}\}\s*", "", message.strip().splitlines()[0])
    return re.sub(r"\s*\[Op:\w+\]", "", message).strip() or type(error).__name__


def name_bad_image(paths):
    """After a decode error inside `tf.data` (whose message does not name the file): decodes
    `paths` and raises `DataError` naming the first bad one; returns if all decode."""
    verify_images([str(p) for p in paths])


def verify_images(paths, num_threads=8):
    """Decodes every image eagerly; raises `DataError` naming the first bad one.

    Slower than the byte checks of `index_2afc` (about a millisecond per
    256 px PNG) but catches damage anywhere in a file. Use after a download.
    """

    def decode(path):
        try:
            tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as e:
            return clean_tf_message(e)
        return None

    with futures.ThreadPoolExecutor(max_workers=num_threads) as pool:
        for path, problem in zip(paths, pool.map(decode, paths)):
            if problem:
                raise DataError(f"Corrupt image {path}: {problem}")


# ----------------------------------------------------------------------------
# tf.data pipelines.


def _decode_resize(path, load_size):
    """File -> uint8 (load_size, load_size, 3)."""
    image = tf.io.decode_image(
        tf.io.read_file(path), channels=3, expand_animations=False, dtype=tf.uint8
    )
    image.set_shape([None, None, 3])
    shape = tf.shape(image)

    def resize():
        # Antialiased bicubic = PIL's BICUBIC, what the official loader uses
        # (see the module docstring); it overshoots, hence the clip.
        resized = tf.image.resize(image, [load_size, load_size], method="bicubic", antialias=True)
        # Round to uint8 like PIL's output: the values stay those of an 8-bit
        # image and a cache holds 1 byte per value.
        return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)

    same_size = tf.logical_and(tf.equal(shape[0], load_size), tf.equal(shape[1], load_size))
    image = tf.cond(same_size, lambda: image, resize)
    image.set_shape([load_size, load_size, 3])
    return image


def _to_float(images):
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def load_image(path, load_size=None):
    """Eagerly loads one image as float32 (H, W, 3) in [-1, 1].

    Args:
      load_size: resize to load_size x load_size like the loaders; None keeps
        the stored size.
    """
    if load_size is None:
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    else:
        image = _decode_resize(path, load_size)
    return _to_float(image)


def _pipeline(
    columns, labels, image_keys, load_size, batch_size, shuffle, seed, repeat,
    drop_remainder, num_parallel_calls, cache, shuffle_buffer,
):
    if load_size <= 0:
        raise ValueError(f"load_size must be positive. Received: load_size={load_size}")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive. Received: batch_size={batch_size}")
    n = int(labels.shape[0])
    ds = tf.data.Dataset.from_tensor_slices((tuple(columns), labels.astype(np.float32)))
    buffer = n if shuffle_buffer is None else min(int(shuffle_buffer), n)
    if shuffle and cache is None:
        # Shuffling paths is cheap: a full-size buffer of strings.
        ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)

    def decode(paths, label):
        images = {k: _decode_resize(p, load_size) for k, p in zip(image_keys, paths)}
        return images, label

    ds = ds.map(decode, num_parallel_calls=num_parallel_calls, deterministic=True)
    if cache is not None:
        ds = ds.cache(cache)
        if shuffle:
            # After the cache each element holds decoded uint8 images
            # (3 x 12 KB per 64 px triplet); the buffer lives in memory.
            ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=num_parallel_calls)
    ds = ds.map(
        lambda images, label: ({k: _to_float(v) for k, v in images.items()}, label),
        num_parallel_calls=num_parallel_calls,
    )
    return without_autotuning(ds.prefetch(tf.data.AUTOTUNE))


def without_autotuning(ds):
    """`ds` with tf.data's autotuner off: AUTOTUNE parallelism becomes one call per core.

    With the autotuner on (tf.data's default), 16 of 40 passes over these pipelines on a 2-core
    CPU ran the trunk's convolutions on one thread throughout, half as fast (VGG16 statistics
    14.6 against 27-28 triplets/s, the same code, in the same process too); none of 18 with the
    autotuner off. Decoding needs no tuning here: a call per core keeps ahead of every trunk.
    Apply it to the outermost dataset, which is where tf.data reads its options.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


def twoafc_dataset(
    data_dir, subsets=None, load_size=64, batch_size=50, shuffle=False, seed=None,
    repeat=False, drop_remainder=False, num_parallel_calls=tf.data.AUTOTUNE,
    cache=None, shuffle_buffer=None, check_images=True,
):
    """`tf.data` pipeline of 2AFC triplets.

    Elements are `({"ref": x, "p0": x, "p1": x}, judge)`: images float32
    (batch, load_size, load_size, 3) in [-1, 1], judge float32 (batch,) = the
    fraction of observers that preferred p1 (a flat vector, so it matches a
    model output of shape (batch,)).

    The number of triplets is `len(index)`; build the index first when you
    need it for steps per epoch:

        index = index_2afc(data_dir, ["train/traditional", "train/cnn"])
        ds = twoafc_dataset(index, shuffle=True, seed=0, repeat=True)
        steps_per_epoch = len(index) // 50

    Args:
      data_dir: dataset root, or a `TwoAFCIndex` (then `subsets` must be None).
      subsets: list or comma-separated string of subsets ("train/traditional").
      load_size: square size the patches are resized to.
      batch_size: triplets per batch.
      shuffle: shuffle triplets, anew each epoch.
      seed: shuffling seed (reproducible order when set).
      repeat: repeat forever (shuffled differently each pass).
      drop_remainder: drop the last incomplete batch.
      num_parallel_calls: parallelism of decoding.
      cache: None (decode every epoch), "" (keep decoded uint8 patches in
        memory: about 37 KB per 64 px triplet) or a file path prefix for
        `tf.data.Dataset.cache`.
      shuffle_buffer: shuffle buffer size; None = the whole dataset.
      check_images: see `index_2afc`.

    Returns:
      A `tf.data.Dataset`.
    """
    index = _as_index(data_dir, subsets, index_2afc, TwoAFCIndex, check_images)
    return _pipeline(
        (index.ref, index.p0, index.p1), index.judge, ("ref", "p0", "p1"), load_size, batch_size,
        shuffle, seed, repeat, drop_remainder, num_parallel_calls, cache, shuffle_buffer,
    )


def jnd_dataset(
    data_dir, subsets=None, load_size=64, batch_size=50, shuffle=False, seed=None,
    repeat=False, drop_remainder=False, num_parallel_calls=tf.data.AUTOTUNE,
    cache=None, shuffle_buffer=None, check_images=True,
):
    """`tf.data` pipeline of JND pairs: `({"p0": x, "p1": x}, same)`.

    Images as in `twoafc_dataset`; `same` float32 (batch,) = fraction of
    observers who saw no difference. `data_dir` may be a `JNDIndex`.
    """
    index = _as_index(data_dir, subsets, index_jnd, JNDIndex, check_images)
    return _pipeline(
        (index.p0, index.p1), index.same, ("p0", "p1"), load_size, batch_size,
        shuffle, seed, repeat, drop_remainder, num_parallel_calls, cache, shuffle_buffer,
    )


def _as_index(data_dir, subsets, index_fn, index_type, check_images):
    if isinstance(data_dir, index_type):
        if subsets is not None:
            raise ValueError("Pass either an index or data_dir and subsets, not both.")
        return data_dir
    if subsets is None:
        raise ValueError(f"`subsets` is required with a data directory. Received: data_dir={data_dir!r}")
    return index_fn(data_dir, subsets, check_images=check_images)


def subset_datasets(data_dir, kind, subsets, load_size=64, batch_size=50, check_images=True):
    """One unshuffled dataset per subset, for evaluation.

    Args:
      kind: "2afc" or "jnd".
      subsets: subset names (see `index_2afc`).

    Returns:
      A list of `(subset, index, dataset)`, in the order of `subsets`; each
      index is restricted to its subset (`len(index)` items).
    """
    _check_kind(kind)
    if kind == "2afc":
        full = index_2afc(data_dir, subsets, check_images=check_images)
        make = twoafc_dataset
    else:
        full = index_jnd(data_dir, subsets, check_images=check_images)
        make = jnd_dataset
    out = []
    for subset in full.subsets:
        index = full.select(subset)
        out.append((subset, index, make(index, load_size=load_size, batch_size=batch_size)))
    return out
