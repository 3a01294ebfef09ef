"""Where LPIPS weights come from: trunk downloads and the shipped lin weights.

Trunk weights are torchvision's published ImageNet checkpoints, downloaded once into the Keras cache
(`~/.keras/lpips_tf/`, or `$KERAS_HOME/lpips_tf/`) and checked against the SHA-256 prefix that
torchvision puts in each file name. The lin weights are the authors' calibrated layers, converted
from the `lpips` 0.1.4 wheel by `tools/convert_lin_weights.py` and shipped in `lpips_tf/core/lin_weights/`.

The shift-tolerant trunks of ST-LPIPS ("st-alex", "st-vgg") have no torchvision weights: their
authors trained trunk and lin layers together and publish both in one checkpoint per net, in their
GitHub repository and in their `stlpips-pytorch` 0.0.2 wheel on PyPI (BSD-2-Clause).
`fetch_stlpips_weights` downloads a net's checkpoint once from the repository, at a fixed commit,
into the same cache, checked against its full SHA-256. For these nets the keyword "torchvision",
every command's default, stands for those published weights, and lin_weights="official" for the
same file's lin layers.

Every command reads its --trunk_weights through `parse_trunk_weights` (one trunk) or
`parse_trunk_weights_per_net` ("alex=PATH,vgg=random"), and logs, reports and plot titles name a
trunk's weights with `describe_trunk_weights`.
"""

import contextlib
import hashlib
import math
import os
import re
import zipfile

import numpy as np

from lpips_tf.core import pth

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


# Lin weights are small positive numbers (the official ones are below 10); a value beyond this is a
# corrupt or hostile file whose distances would overflow to inf.
MAX_LIN_WEIGHT = 1e6

# Keras Applications' ImageNet VGG16 without its classifier (trunk_weights="keras").
KERAS_VGG16_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
KERAS_VGG16_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
                   + KERAS_VGG16_FILE)
KERAS_VGG16_HASH = "6d6bbae143d832006294945121d1f1fc"


# The ST-LPIPS authors' weights: one checkpoint per net in their GitHub repository, at a fixed
# commit (the files are byte for byte the ones their PyPI wheel stlpips-pytorch 0.0.2 ships under
# STLPIPS_WHEEL_FOLDER: same git blob ids), with each file's full SHA-256.
STLPIPS_REPOSITORY = "https://github.com/abhijay9/ShiftTolerant-LPIPS"
STLPIPS_COMMIT = "cd87524073ab7370a58bd3ad5683b34974190860"
STLPIPS_BASE_URL = ("https://raw.githubusercontent.com/abhijay9/ShiftTolerant-LPIPS/"
                    f"{STLPIPS_COMMIT}/stlpips/weights/vST0.0/")
# Lets tests (and users behind a mirror) point the download at another place, e.g. `file:///dir/`.
STLPIPS_BASE_URL_ENV = "LPIPS_TF_STLPIPS_BASE_URL"
STLPIPS_WHEEL_FOLDER = "stlpips_pytorch/weights/vST0.0/"
STLPIPS_FILES = {
    "st-alex": ("alex_shift_tolerant.pth",
                "b356b382f96010f77d085ee8343ecd9fd322d0a56e8de2b2d0549fafcad8b9ee"),
    "st-vgg": ("vgg_shift_tolerant.pth",
               "44597da68f49c1837c100ff52299050f274d102eb102e5837178c79be6f0e250"),
}
# The parts of an ST-LPIPS checkpoint besides the trunk's `net.*`: the lin layers (read by
# `load_lin_weights`) and the input scaling (checked against ours by the trunk reader).
_LIN_KEY = re.compile(r"lin\d+\.model\.1\.weight")
_SCALING_KEYS = {"scaling_layer.shift": "LPIPS_SHIFT", "scaling_layer.scale": "LPIPS_SCALE"}


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


def make_cache_folder(folder, what):
    """Creates the download cache `folder` for `what`; an OSError (an unwritable or missing home,
    say) becomes one `WeightsDownloadError` saying what was being created and how to move it."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        home = os.environ.get("KERAS_HOME")
        where = f"KERAS_HOME={home}" if home else "~/.keras, KERAS_HOME unset"
        raise WeightsDownloadError(
            f"cannot create {folder}, the cache folder for {what} ({where}): "
            f"{error.strerror or error}; set KERAS_HOME to a writable folder (the cache goes "
            f"in $KERAS_HOME/{CACHE_SUBDIR} and $KERAS_HOME/models), or pass a local file "
            f"with --trunk_weights PATH.") from None
    return folder


def _fetch_checked(file_name, url, sha256_prefix, what, instead):
    """The cached `file_name`, downloaded from `url` if absent, whose SHA-256 must start with
    `sha256_prefix` (a bad file is removed). `what` names the file and `instead` says what else
    to do, in the offline error."""
    import keras  # Deferred: this module is also used by tools that do not need Keras.

    target = os.path.join(cache_dir(), file_name)
    if not os.path.exists(target):
        # get_file falls back to /tmp when the cache folder does not exist yet.
        make_cache_folder(os.path.dirname(target), what)
        try:
            target = keras.utils.get_file(
                file_name, url, cache_dir=os.path.dirname(cache_dir()), cache_subdir=CACHE_SUBDIR
            )
        except Exception as error:  # get_file wraps URL, HTTP and OS errors in plain Exceptions.
            raise WeightsDownloadError(
                f"Could not download {what} from {url} ({error}). Download that file by hand and "
                f"put it at {target}, or {instead}."
            ) from None
    digest = _sha256(target)
    if not digest.startswith(sha256_prefix):
        os.remove(target)
        raise WeightsDownloadError(
            f"{target} has SHA-256 {digest}, expected it to start with {sha256_prefix}: the download "
            f"was corrupt or is not {file_name}. The file was removed; try again."
        )
    return target


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
    if net not in TORCHVISION_FILES:
        raise ValueError(f"No torchvision checkpoint for net={net!r}; expected one of "
                         f"{sorted(TORCHVISION_FILES)}.")
    file_name = file_name or TORCHVISION_FILES[net]
    if sha256_prefix is None:
        sha256_prefix = os.path.splitext(file_name)[0].rsplit("-", 1)[-1]
    base_url = base_url or os.environ.get(BASE_URL_ENV) or TORCHVISION_BASE_URL
    return _fetch_checked(
        file_name, base_url.rstrip("/") + "/" + file_name, sha256_prefix,
        what=f"the {net} trunk weights",
        instead=f"pass trunk_weights='/path/to/{file_name}' (--trunk_weights on the command line)")


def fetch_stlpips_weights(net, base_url=None):
    """Returns the local path of the ST-LPIPS authors' checkpoint for `net` ("st-alex" or
    "st-vgg"), downloading it once if needed (see the module docstring).

    The checkpoint holds the trunk (`net.slice*`), the lin layers (`lin*.model.1.weight`) and the
    input scaling: pass it as both `trunk_weights` and `lin_weights`.

    Args:
      net: "st-alex" or "st-vgg".
      base_url: the folder or server holding the file; defaults to
        `$LPIPS_TF_STLPIPS_BASE_URL` or the authors' repository at `STLPIPS_COMMIT`.

    Raises:
      WeightsDownloadError: offline (the message says which file to fetch and where to put it), or
        the file does not have its published SHA-256 (the bad file is removed).
    """
    if net not in STLPIPS_FILES:
        raise ValueError(f"No ST-LPIPS checkpoint for net={net!r}; expected one of "
                         f"{sorted(STLPIPS_FILES)}.")
    file_name, sha256 = STLPIPS_FILES[net]
    base_url = base_url or os.environ.get(STLPIPS_BASE_URL_ENV) or STLPIPS_BASE_URL
    return _fetch_checked(
        file_name, base_url.rstrip("/") + "/" + file_name, sha256,
        what=f"the ST-LPIPS {net} weights",
        instead=f"pass trunk_weights= and lin_weights= the path of {file_name} (also in the "
                f"stlpips-pytorch 0.0.2 wheel, as {STLPIPS_WHEEL_FOLDER}{file_name})")


def keras_vgg16_weights():
    """Makes sure Keras' ImageNet VGG16 weights are in its cache; returns their path.

    Keras Applications downloads them inside the model constructor, where an offline machine gets a
    raw `URL fetch failure` traceback; this says instead what to download and where to put it.
    """
    import keras

    keras_home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    target = os.path.join(keras_home, "models", KERAS_VGG16_FILE)
    if os.path.isfile(target):
        return target
    make_cache_folder(os.path.dirname(target), "Keras' ImageNet VGG16 weights")
    try:
        return keras.utils.get_file(KERAS_VGG16_FILE, KERAS_VGG16_URL, cache_subdir="models",
                                    file_hash=KERAS_VGG16_HASH, cache_dir=keras_home)
    except Exception as error:  # get_file wraps URL, HTTP and OS errors in plain Exceptions.
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise WeightsDownloadError(
            f"Could not download Keras' ImageNet VGG16 weights for trunk_weights='keras' from "
            f"{KERAS_VGG16_URL} ({reason}). Download that file by hand and put it at {target}, "
            f"or use trunk_weights='torchvision' or a .pth path."
        ) from None


@contextlib.contextmanager
def keras_download_errors(name):
    """Turns a failed download inside a keras.applications constructor (a raw `URL fetch
    failure` traceback offline) into a `WeightsDownloadError` saying what to do instead."""
    try:
        yield
    except Exception as error:  # Keras wraps URL, HTTP and OS errors in plain Exceptions
        if "fetch failure" not in str(error) and not isinstance(error, OSError):
            raise
        raise WeightsDownloadError(
            f"Could not download Keras' ImageNet weights for {name} ({str(error).splitlines()[0]}"
            f"). Download them by hand into $KERAS_HOME/models/ (~/.keras/models/), or use "
            f"trunk_weights=None (random) or a .weights.h5 path.") from None


def load_npz(path, expected=None, allowed_extra_prefixes=(), max_bytes=pth.MAX_BYTES):
    """Reads a `.npz` of numeric arrays, checking every member's header before reading it.

    `np.load` allocates the shape a member's header declares before reading its data, so a tiny
    file could declare a huge array; here the declared shapes are checked against `expected`
    (when given) and the sizes against the zip records and `max_bytes` first. Object arrays
    (pickles) and non-numeric arrays are refused, naming the file.
    """
    path = os.fspath(path)
    readers = {(1, 0): np.lib.format.read_array_header_1_0,
               (2, 0): np.lib.format.read_array_header_2_0}
    shapes, total = {}, 0
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    raise pth.PthError(f"{path}: member {info.filename!r} is not a .npy array; "
                                       f"expected an .npz written by numpy.savez")
                key = info.filename[:-4]
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    if version not in readers:
                        raise pth.PthError(f"{path}: member {key!r} has .npy format version "
                                           f"{version}; expected 1.0 or 2.0")
                    shape, _, dtype = readers[version](member)
                if dtype.hasobject or dtype.kind not in "biufc":
                    raise pth.PthError(
                        f"{path}: array {key!r} has dtype {dtype} ("
                        f"{'pickled Python objects' if dtype.hasobject else 'not numbers'}); "
                        f"expected numeric arrays (object arrays are never unpickled)")
                nbytes = math.prod(shape) * dtype.itemsize
                if nbytes > info.file_size:
                    raise pth.PthError(
                        f"{path}: array {key!r} declares shape {shape} ({nbytes} bytes) but its "
                        f"record holds only {info.file_size} bytes; the file is corrupt")
                if (info.compress_type != zipfile.ZIP_STORED and nbytes > (1 << 20)
                        and nbytes > pth.MAX_COMPRESSION_RATIO * max(info.compress_size, 1)):
                    raise pth.PthError(
                        f"{path}: array {key!r} inflates {info.compress_size} bytes to {nbytes}; "
                        f"refused as a decompression bomb")
                total += nbytes
                shapes[key] = shape
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise pth.PthError(f"{path}: not a readable .npz archive ({error}); expected a file "
                           f"written by numpy.savez") from None
    except ValueError as error:
        if isinstance(error, pth.PthError):
            raise
        raise pth.PthError(f"{path}: bad .npy header ({error}); expected a file written by "
                           f"numpy.savez") from None
    if total > max_bytes:
        raise pth.PthError(f"{path}: its arrays declare {total} bytes; expected at most "
                           f"{max_bytes}: refused before reading")
    keys = list(shapes)
    if expected is not None:
        pth.check_shapes(shapes, expected, allowed_extra_prefixes, source=path)
        keys = list(expected)
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in keys}


def _check_finite(state, path):
    """Refuses NaN/inf trunk weights, naming the key: they would silently give `nan` distances."""
    for key, value in state.items():
        value = np.asarray(value)
        if value.dtype.kind not in "biuf":
            raise pth.PthError(f"{path}: {key} has dtype {value.dtype}; expected real numbers.")
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
            raise pth.PthError(f"{path}: {key} holds {bad} NaN or infinite value(s); expected "
                               f"finite weights (the file is corrupt or from a diverged run).")
    return state


def _check_scaling(key, value, path):
    """An ST-LPIPS checkpoint's input scaling must be the one the model applies."""
    from lpips_tf.core import layers  # deferred: layers import Keras

    expected = np.asarray(getattr(layers, _SCALING_KEYS[key]), np.float32)
    value = np.asarray(value, np.float32)
    if value.size != 3 or not np.allclose(value.reshape(-1), expected, rtol=0, atol=1e-6):
        raise pth.PthError(f"{path}: {key} is {value.reshape(-1).tolist()}; expected the LPIPS "
                           f"input scaling {expected.tolist()}, which this model applies.")


def _stlpips_trunk_state(state, path):
    """The trunk's `net.*` entries of an ST-LPIPS checkpoint (checked strictly by the trunk
    loader). Its lin keys belong to `load_lin_weights`; its input scaling is checked here; any
    other key is an error naming it."""
    trunk = {}
    for key, value in state.items():
        if key.startswith("net."):
            trunk[key] = value
        elif key in _SCALING_KEYS:
            _check_scaling(key, value, path)
        elif not _LIN_KEY.fullmatch(key):
            raise pth.PthError(
                f"{path}: unexpected key {key!r}; expected an ST-LPIPS checkpoint, with "
                f"net.slice* (the trunk), lin<k>.model.1.weight and scaling_layer.shift / .scale")
    return trunk


def load_trunk_state_dict(net, trunk_weights):
    """Reads a PyTorch-layout trunk state dict for `trunk_weights` ("torchvision" or a path).

    A full torchvision checkpoint's `classifier.*` tensors are not read (the trunk does not use
    them; for VGG16 they are 90% of the file). For the ST trunks, "torchvision" is the authors'
    checkpoint (`fetch_stlpips_weights`) and a file is read as one of theirs: its trunk entries
    are returned. Every weight must be finite.
    """
    if trunk_weights == "torchvision":
        path = fetch_stlpips_weights(net) if net in STLPIPS_FILES else fetch_torchvision_trunk(net)
    else:
        path = os.fspath(trunk_weights)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"trunk_weights file not found: {path}. Expected a torchvision-format state dict "
                f"(.pth) or one of 'torchvision', 'keras', None."
            )
    if path.endswith(".npz"):
        state = load_npz(path)
    else:
        state = pth.load_state_dict(path, skip_prefixes=("classifier.",))
    if net in STLPIPS_FILES:
        state = _stlpips_trunk_state(state, path)
    return _check_finite(state, path)


def official_lin_weights_path(net, version):
    """The official lin weights for (net, version): shipped with this package, or for the ST
    trunks (version 0.1 only) the authors' checkpoint, downloaded once (`fetch_stlpips_weights`)."""
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {VERSIONS}. Received: version={version!r}")
    if net in STLPIPS_FILES:
        if version != "0.1":
            raise ValueError(f"ST-LPIPS has lin weights for version 0.1 only (its trunk takes "
                             f"the v0.1 input scaling). Received: net={net!r}, "
                             f"version={version!r}")
        return fetch_stlpips_weights(net)
    return os.path.join(LIN_WEIGHTS_DIR, "v" + version, net + ".npz")


def load_lin_weights(path, channels, net=None):
    """Reads lin weights for a trunk with `channels` per tap, strictly.

    Accepts the `.npz` files this package writes (arrays `lin0`..`linK` of shape (C,)) and the
    official `.pth` files (keys `lin{k}.model.1.weight` of shape (1, C, 1, 1)). For an ST trunk
    (`net` "st-alex" or "st-vgg") a `.pth` may be the authors' whole checkpoint: its trunk
    (`net.*`) and input scaling (`scaling_layer.*`) entries are the trunk reader's, not read here.

    Returns:
      A list of float32 arrays, one (C,) vector per tap.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"lin_weights file not found: {path}")
    if path.endswith(".npz"):
        expected = {f"lin{k}": (c,) for k, c in enumerate(channels)}
        state = load_npz(path, expected)
        vectors = [state[f"lin{k}"] for k in range(len(channels))]
    else:
        expected = {f"lin{k}.model.1.weight": (1, c, 1, 1) for k, c in enumerate(channels)}
        others = ("net.", *_SCALING_KEYS) if net in STLPIPS_FILES else ()
        state = pth.load_state_dict(path, expected, allowed_extra_prefixes=others)
        vectors = [state[f"lin{k}.model.1.weight"].reshape(-1) for k in range(len(channels))]
    for k, v in enumerate(vectors):
        if np.asarray(v).dtype.kind not in "biuf":
            raise pth.PthError(f"{path}: lin{k} has dtype {np.asarray(v).dtype}; expected real "
                               f"numbers.")
    vectors = [np.asarray(v, np.float32) for v in vectors]
    for k, v in enumerate(vectors):
        if not np.all(np.isfinite(v)) or np.any(v < 0):
            raise ValueError(f"{path}: lin{k} has negative or non-finite weights; LPIPS lin "
                             f"weights must be finite and >= 0.")
        if np.any(v > MAX_LIN_WEIGHT):
            raise ValueError(f"{path}: lin{k} has weights up to {float(v.max()):.3g}; expected "
                             f"values in [0, {MAX_LIN_WEIGHT:g}] (larger ones overflow the "
                             f"distance to inf; the file is corrupt).")
    return vectors


# ------------------------------------------------------------------------------------------------
# Trunk-weights specifications, as every command takes them (--trunk_weights), and their wording.

# Keyword -> the `LPIPS(trunk_weights=...)` value it stands for; anything else is a file path.
TRUNK_WEIGHTS_KEYWORDS = {"torchvision": "torchvision", "keras": "keras", "imagenet": "imagenet",
                          "random": None, "none": None}
# Nets whose trunk has Keras Applications ImageNet weights (trunk_weights="keras").
KERAS_WEIGHTS_NETS = ("vgg",)
# "alex=..." at the start of a specification: a per-net one.
_PER_NET = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_-]*)\s*=")
_GRAMMAR = ('"torchvision", "keras" (VGG16 only), "imagenet" (keras.applications trunks), '
            '"random" (or "none"), or a path to a torchvision-format .pth / .npz file (a Keras '
            '.weights.h5 file for a keras.applications trunk)')


class TrunkWeightsSpecError(ValueError):
    """A trunk-weights specification that cannot be used: bad grammar, unknown net, no file."""


def _trunk_nets():
    from lpips_tf.core.trunks import TRUNKS  # deferred: the trunks import Keras

    return tuple(TRUNKS)


def _is_application(net):
    from lpips_tf.core.trunks import applications  # deferred: lists keras.applications

    return applications.is_application(net)


def _is_open_net(net):
    """Whether `net` names a keras.applications trunk (not one of the torchvision three)."""
    return net is not None and _is_application(net)


def check_trunk_source(net, source, spec=None):
    """Raises `TrunkWeightsSpecError` when `source` (an `LPIPS(trunk_weights=...)` value) cannot
    give `net` (None: any net) a trunk: "keras" for a net without Keras Applications weights, or
    a path that is not a file. `spec` is the specification it came from, for the message."""
    said = f" (in {spec!r})" if spec is not None and spec != source else ""
    if source == "keras" and net is not None and net not in KERAS_WEIGHTS_NETS:
        raise TrunkWeightsSpecError(
            f"trunk weights 'keras'{said} exist only for {', '.join(KERAS_WEIGHTS_NETS)} (Keras "
            f"Applications' ImageNet VGG16), not for {net}; expected one of {_GRAMMAR}.")
    if source == "imagenet" and net is not None and not _is_open_net(net):
        raise TrunkWeightsSpecError(
            f"trunk weights 'imagenet'{said} are Keras' download for keras.applications trunks; "
            f"{net} takes 'torchvision' for its ImageNet weights. Expected one of {_GRAMMAR}.")
    if source not in TRUNK_WEIGHTS_KEYWORDS.values() and not os.path.isfile(source):
        raise TrunkWeightsSpecError(
            f"trunk weights file not found: {source}{said}; expected one of {_GRAMMAR}.")
    return source


def ensure_trunk_weights(net, source, spec=None):
    """`check_trunk_source`, then fetch now what a keyword source needs (torchvision's checkpoint
    when it is not cached, Keras' VGG16 weights), so that an offline run fails with the download
    error before anything is written. A cached file is hash-checked when the model loads it."""
    check_trunk_source(net, source, spec)
    if _is_open_net(net):  # Keras fetches applications' weights while building the model
        return source
    if source == "torchvision" and net in STLPIPS_FILES:
        if not os.path.isfile(os.path.join(cache_dir(), STLPIPS_FILES[net][0])):
            fetch_stlpips_weights(net)
    elif source == "torchvision":
        if not os.path.isfile(os.path.join(cache_dir(), TORCHVISION_FILES[net])):
            fetch_torchvision_trunk(net)
    elif source == "keras":
        keras_vgg16_weights()
    return source


def _is_per_net(spec):
    return spec is not None and bool(_PER_NET.match(spec)) and not os.path.isfile(spec)


def _one_source(text, spec, net=None):
    value = text.strip()
    if not value:
        raise TrunkWeightsSpecError(f"trunk weights {spec!r} name no source; expected one of "
                                    f"{_GRAMMAR}, or per net, which must look like "
                                    f'"alex=PATH,vgg=random".')
    if value.lower() in TRUNK_WEIGHTS_KEYWORDS:
        value = TRUNK_WEIGHTS_KEYWORDS[value.lower()]
    else:
        value = os.path.expanduser(value)
    return value if value is None else check_trunk_source(net, value, spec)


def parse_trunk_weights(spec):
    """The `LPIPS(trunk_weights=...)` value of a one-trunk specification.

    Grammar (keywords in any case): "torchvision", "keras", "random" or "none" (-> None), or a
    path, which must be a file; None stays None. Raises `TrunkWeightsSpecError` (a ValueError)
    saying what was wrong and what is expected. A per-net specification ("alex=PATH,...") is
    refused here: see `parse_trunk_weights_per_net`.
    """
    if spec is None:
        return None
    if _is_per_net(spec):
        raise TrunkWeightsSpecError(
            f"trunk weights {spec!r} are per net, but this command runs one trunk; expected one "
            f"of {_GRAMMAR}.")
    return _one_source(spec, spec)


class TrunkSources(dict):
    """net -> `LPIPS(trunk_weights=...)` value; a net not listed (a keras.applications trunk
    named later) gets `default`: the one source of a one-trunk specification, "torchvision"
    (the trunk's own ImageNet weights) for a per-net one."""

    def __init__(self, sources, default="torchvision"):
        super().__init__(sources)
        self.default = default

    def __missing__(self, net):
        return self.default

    def get(self, net, fallback=None):
        return self[net] if net in self else self.default


def parse_trunk_weights_per_net(spec, nets=None):
    """{net: `LPIPS(trunk_weights=...)` value} for every net in `nets` (default: every trunk).

    A one-trunk specification (see `parse_trunk_weights`) applies to every net;
    "alex=PATH,vgg=random" gives those nets their sources and the others "torchvision". A net
    not in `nets`, a net named twice, "keras" for a net without Keras weights or a missing file
    raises `TrunkWeightsSpecError`.
    """
    nets = tuple(nets or _trunk_nets())
    if not _is_per_net(spec):
        source = parse_trunk_weights(spec)
        return TrunkSources(dict.fromkeys(nets, source), default=source)
    example = '"' + ",".join(f"{n}={s}" for n, s in zip(nets, ("PATH", "random"))) + '"'
    sources = dict.fromkeys(nets, "torchvision")
    named = set()
    for item in spec.split(","):
        net, sep, text = item.partition("=")
        net = net.strip()
        if not sep or (net not in nets and not _is_application(net)) or net in named:
            raise TrunkWeightsSpecError(
                f"trunk weights per net must look like {example} (nets: {', '.join(nets)}; each "
                f"at most once). Received: {spec!r}")
        named.add(net)
        sources[net] = _one_source(text, spec, net)
    return TrunkSources(sources)


def describe_trunk_weights(net, source):
    """How logs, reports and plot titles name a trunk's weights: "random VGG16 weights",
    "torchvision ImageNet AlexNet weights", "AlexNet weights from PATH"."""
    from lpips_tf.core.trunks import get_trunk_module

    title = get_trunk_module(net).TITLE
    if source is None:
        return f"random {title} weights"
    if source == "imagenet" or (source == "torchvision" and _is_open_net(net)):
        return f"Keras Applications ImageNet {title} weights"
    if source == "torchvision" and net in STLPIPS_FILES:
        return f"ST-LPIPS authors' {title} weights (stlpips-pytorch 0.0.2)"
    if source == "torchvision":
        return f"torchvision ImageNet {title} weights"
    if source == "keras":
        return f"Keras Applications ImageNet {title} weights"
    return f"{title} weights from {source}"
