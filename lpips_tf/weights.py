"""Where LPIPS weights come from: torchvision trunk downloads and the shipped lin weights.

Trunk weights are torchvision's published ImageNet checkpoints, downloaded once into the Keras cache
(`~/.keras/lpips_tf/`, or `$KERAS_HOME/lpips_tf/`) and checked against the SHA-256 prefix that
torchvision puts in each file name. The lin weights are the authors' calibrated layers, converted
from the `lpips` 0.1.4 wheel by `tools/convert_lin_weights.py` and shipped in `lpips_tf/lin_weights/`.
"""

import hashlib
import os

import numpy as np

from lpips_tf import pth

TORCHVISION_BASE_URL = "https://download.pytorch.org/models/"
# Lets tests (and users behind a mirror) point the download at another place, e.g. `file:///dir/`.
BASE_URL_ENV = "LPIPS_TF_TORCHVISION_BASE_URL"
CACHE_SUBDIR = "lpips_tf"

# net -> torchvision file name; the hex suffix is the start of the file's SHA-256.
TORCHVISION_FILES = {
    "alex": "alexnet-owt-7be5be79.pth",
    "vgg": "vgg16-397923af.pth",
    "squeeze": "squeezenet1_1-b8a52dc0.pth",
}

LIN_WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lin_weights")
VERSIONS = ("0.1", "0.0")


class WeightsDownloadError(OSError):
    """A trunk checkpoint could not be fetched or failed its hash check."""


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_dir():
    """The folder downloaded checkpoints live in."""
    keras_home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return os.path.join(keras_home, CACHE_SUBDIR)


def fetch_torchvision_trunk(net, base_url=None, file_name=None, sha256_prefix=None):
    """Returns the local path of torchvision's checkpoint for `net`, downloading it if needed.

    Args:
      net: "alex", "vgg" or "squeeze".
      base_url: where to download from; defaults to `$LPIPS_TF_TORCHVISION_BASE_URL` or
        torchvision's server.
      file_name: the checkpoint's file name; defaults to torchvision's.
      sha256_prefix: expected start of the SHA-256; defaults to the hex suffix of the file name.

    Raises:
      WeightsDownloadError: offline (the message says which file to fetch and where to put it), or
        the file's hash does not match (the bad file is removed).
    """
    import keras  # Deferred: this module is also used by tools that do not need Keras.

    if net not in TORCHVISION_FILES:
        raise ValueError(f"No torchvision checkpoint for net={net!r}; expected one of "
                         f"{sorted(TORCHVISION_FILES)}.")
    file_name = file_name or TORCHVISION_FILES[net]
    if sha256_prefix is None:
        sha256_prefix = os.path.splitext(file_name)[0].rsplit("-", 1)[-1]
    base_url = base_url or os.environ.get(BASE_URL_ENV) or TORCHVISION_BASE_URL
    url = base_url.rstrip("/") + "/" + file_name
    target = os.path.join(cache_dir(), file_name)
    if not os.path.exists(target):
        # get_file falls back to /tmp when the cache folder does not exist yet.
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            target = keras.utils.get_file(
                file_name, url, cache_dir=os.path.dirname(cache_dir()), cache_subdir=CACHE_SUBDIR
            )
        except Exception as error:  # get_file wraps URL, HTTP and OS errors in plain Exceptions.
            raise WeightsDownloadError(
                f"Could not download the {net} trunk weights from {url} ({error}). Download that "
                f"file by hand and put it at {target}, or pass trunk_weights='/path/to/{file_name}' "
                f"(--trunk_weights on the command line)."
            ) from None
    digest = _sha256(target)
    if not digest.startswith(sha256_prefix):
        os.remove(target)
        raise WeightsDownloadError(
            f"{target} has SHA-256 {digest}, expected it to start with {sha256_prefix}: the download "
            f"was corrupt or is not {file_name}. The file was removed; try again."
        )
    return target


def load_trunk_state_dict(net, trunk_weights):
    """Reads a torchvision-layout trunk state dict for `trunk_weights` ("torchvision" or a path)."""
    if trunk_weights == "torchvision":
        path = fetch_torchvision_trunk(net)
    else:
        path = os.fspath(trunk_weights)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"trunk_weights file not found: {path}. Expected a torchvision-format state dict "
                f"(.pth) or one of 'torchvision', 'keras', None."
            )
    if path.endswith(".npz"):
        with np.load(path) as data:
            return {key: data[key] for key in data.files}
    return pth.load_state_dict(path)


def official_lin_weights_path(net, version):
    """The shipped lin weights of the official package for (net, version)."""
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {VERSIONS}. Received: version={version!r}")
    return os.path.join(LIN_WEIGHTS_DIR, "v" + version, net + ".npz")


def load_lin_weights(path, channels):
    """Reads lin weights for a trunk with `channels` per tap, strictly.

    Accepts the `.npz` files this package writes (arrays `lin0`..`linK` of shape (C,)) and the
    official `.pth` files (keys `lin{k}.model.1.weight` of shape (1, C, 1, 1)).

    Returns:
      A list of float32 arrays, one (C,) vector per tap.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"lin_weights file not found: {path}")
    if path.endswith(".npz"):
        with np.load(path) as data:
            state = {key: data[key] for key in data.files}
        expected = {f"lin{k}": (c,) for k, c in enumerate(channels)}
        state = pth.check_state_dict(state, expected, source=path)
        vectors = [state[f"lin{k}"] for k in range(len(channels))]
    else:
        state = pth.load_state_dict(path)
        expected = {f"lin{k}.model.1.weight": (1, c, 1, 1) for k, c in enumerate(channels)}
        state = pth.check_state_dict(state, expected, source=path)
        vectors = [state[f"lin{k}.model.1.weight"].reshape(-1) for k in range(len(channels))]
    vectors = [np.asarray(v, np.float32) for v in vectors]
    for k, v in enumerate(vectors):
        if not np.all(np.isfinite(v)) or np.any(v < 0):
            raise ValueError(f"{path}: lin{k} has negative or non-finite weights; LPIPS lin "
                             f"weights must be finite and >= 0.")
    return vectors
