"""Image pairs read from files in same-size batches, a few at a time; no TensorFlow here.

    for item in pair_batches(pairs, load_image, batch_size=32):
        if isinstance(item, SkippedPair):   # unreadable file or size mismatch: report, go on
            print(item.key, item.message)
        else:                               # PairBatch: keys, images0, images1 (k, H, W, 3)
            d = model([item.images0, item.images1])

`pair_batches` streams: consecutive readable pairs of one size are gathered until `batch_size`
of them are held (or the next pair has another size, or the input ends) and are then handed out
as one batch, in input order. At most `2 * batch_size` images are held at any time, so a folder
of any length runs in bounded memory, and a bad file costs only its own pair.

`LazyImages` is the same idea for `lpips_tf.pairwise`: an (N, H, W, 3) array-like over image
files that reads only the slice asked for.
"""

import collections

import numpy as np

__all__ = ["PairBatch", "SkippedPair", "pair_batches", "LazyImages", "size_mismatch_message"]

PairBatch = collections.namedtuple("PairBatch", ["keys", "images0", "images1"])
SkippedPair = collections.namedtuple("SkippedPair", ["key", "message"])


def _wxh(shape):
    return f"{shape[1]}x{shape[0]}"


def size_mismatch_message(name0, shape0, name1, shape1):
    return (f"{name0} is {_wxh(shape0)} but {name1} is {_wxh(shape1)}: LPIPS compares images of "
            f"the same size; resize one of them first.")


def _batch(chunk):
    keys = [key for key, _, _ in chunk]
    return PairBatch(keys, np.stack([a for _, a, _ in chunk]), np.stack([b for _, _, b in chunk]))


def pair_batches(pairs, load, batch_size):
    """Yields `PairBatch`es of same-size pairs and `SkippedPair`s, in input order.

    Args:
      pairs: iterable of (key, path0, path1); read lazily, one pair at a time.
      load: path -> (H, W, C) array; ValueError / OSError mark the file as unreadable.
      batch_size: most pairs per batch (>= 1).

    A SkippedPair may be yielded before the batch holding the pairs read just before it: the
    batches themselves (and so the distances) keep the input order.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1. Received {batch_size}.")
    chunk = []
    for key, path0, path1 in pairs:
        try:
            image0 = load(path0)
            image1 = load(path1)
        except (ValueError, OSError) as error:
            yield SkippedPair(key, str(error))
            continue
        if image0.shape != image1.shape:
            message = size_mismatch_message(path0, image0.shape, path1, image1.shape)
            del image0, image1
            yield SkippedPair(key, message)
            continue
        if chunk and chunk[0][1].shape != image0.shape:
            # Another size: a batch holds one size. The pending pairs go first (input order);
            # the names are dropped before the yield so that only the stacked copy stays alive.
            ready, chunk = _batch(chunk), [(key, image0, image1)]
            del image0, image1
            yield ready
            del ready
        else:
            chunk.append((key, image0, image1))
            del image0, image1
        if len(chunk) == batch_size:
            ready, chunk = _batch(chunk), []
            yield ready
            del ready
    if chunk:
        ready, chunk = _batch(chunk), []
        yield ready


class LazyImages:
    """An (N, H, W, 3) float32 array-like over image files of one size, read slice by slice.

    `lpips_tf.pairwise` takes it like an array and slices it batch by batch, so only one batch of
    pixels is in memory at a time. `on_read(count)` is called after each slice is read (progress).
    A file that no longer reads, or has changed size, raises ValueError naming it.
    """

    dtype = np.dtype(np.float32)

    def __init__(self, paths, height, width, load, on_read=None):
        self.paths = list(paths)
        self.shape = (len(self.paths), int(height), int(width), 3)
        self._load = load
        self._on_read = on_read

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        if not isinstance(index, slice):
            raise TypeError("LazyImages reads slices only (images[start:stop]).")
        images = []
        for path in self.paths[index]:
            image = self._load(path)
            if image.shape != self.shape[1:]:
                raise ValueError(f"{path} is now {_wxh(image.shape)}; it was "
                                 f"{_wxh(self.shape[1:])} when the folder was listed.")
            images.append(image)
        batch = np.stack(images) if images else np.empty((0,) + self.shape[1:], self.dtype)
        if self._on_read is not None:
            self._on_read(len(batch))
        return batch
