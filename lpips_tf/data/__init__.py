"""Data: BAPPS-layout datasets and image files.

  bapps.py      indexing, validation and `tf.data` loading of BAPPS 2AFC / JND sets (TensorFlow)
  download.py   download, unpack and verify the official BAPPS tarballs
  synthetic.py  a small BAPPS-layout set from the shipped photographs and simulated observers
  images.py     reading images (header-first size check, EXIF orientation) and writing maps
  photos/       public-domain photographs for the synthetic set and the tests

Nothing is imported with the package: `lpips_tf.data.images` needs only Pillow and NumPy, and
the `tf.data` names below load `bapps` (and TensorFlow) on first use.
"""

from lpips_tf._lazy import lazy_attributes as _lazy_attributes

_BAPPS_NAMES = ("DataError", "JNDIndex", "TwoAFCIndex", "find_subsets", "index_2afc", "index_jnd",
                "jnd_dataset", "load_image", "subset_datasets", "twoafc_dataset", "verify_images")
__getattr__, __dir__ = _lazy_attributes(globals(), dict.fromkeys(_BAPPS_NAMES, "lpips_tf.data.bapps"))
__all__ = list(_BAPPS_NAMES)
