"""BAPPS data: `tf.data` loaders (`bapps`), the official download (`download`)
and an offline synthetic stand-in with simulated observers (`synthetic`)."""

from lpips_tf.data.bapps import DataError
from lpips_tf.data.bapps import JNDIndex
from lpips_tf.data.bapps import TwoAFCIndex
from lpips_tf.data.bapps import find_subsets
from lpips_tf.data.bapps import index_2afc
from lpips_tf.data.bapps import index_jnd
from lpips_tf.data.bapps import jnd_dataset
from lpips_tf.data.bapps import load_image
from lpips_tf.data.bapps import subset_datasets
from lpips_tf.data.bapps import twoafc_dataset
from lpips_tf.data.bapps import verify_images
