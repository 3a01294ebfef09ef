"""Read PyTorch ``.pth`` state dicts into numpy arrays, without torch.

Two on-disk formats are understood:

* the zip format (``torch.save`` default since PyTorch 1.6): a zip archive
  ``<name>/data.pkl`` holding the pickled object, one ``<name>/data/<key>``
  record of raw bytes per storage, and an optional ``<name>/byteorder`` record;
* the legacy format (``_use_new_zipfile_serialization=False``, and everything
  saved before 1.6): a magic-number pickle, a protocol-version pickle, a
  system-info pickle, the object pickle, a pickled list of storage keys, then
  for each key an int64 element count followed by the raw little-endian bytes.

The pickles are read by a restricted unpickler that resolves only the handful
of globals a state dict needs (``collections.OrderedDict`` and torch's tensor
rebuilding helpers) to harmless stand-ins; any other global is refused with a
`PthError`, so a weight file cannot run code.

Example:

    state = load_state_dict("alexnet_features.pth")
    state = check_state_dict(state, {"features.0.weight": (64, 3, 11, 11)})

This module imports only the standard library and numpy.
"""

from __future__ import annotations

import collections
import io
import math
import os
import pickle
import struct
import zipfile
from typing import Any, Callable, Iterable, Mapping, NamedTuple

import numpy as np

__all__ = ["PthError", "load_state_dict", "check_state_dict", "check_shapes", "MAX_BYTES"]

# Limits checked against the declared sizes *before* anything is allocated, so that a small
# hostile file cannot make the reader build huge arrays (a 540-byte stride-0 view, or a 2 MB
# archive holding a deflated 2 GiB record). The largest legitimate input, torchvision's VGG16
# checkpoint with its classifier, holds 528 MiB of storage.
MAX_BYTES = 1 << 30  # storage bytes read, and array bytes built, per file
MAX_PICKLE_BYTES = 64 << 20  # the data.pkl record (a state dict's pickle is a few KB)
# A stride-0 or overlapping view repeats storage elements; torch writes such views for expanded
# tensors, which are small in a state dict. Larger ones would multiply a small storage.
MAX_EXPANDED_VIEW_BYTES = 1 << 20
# torch.save stores records uncompressed; a re-compressed weight file shrinks by a few percent.
# A record that claims to inflate more than this is a decompression bomb.
MAX_COMPRESSION_RATIO = 100
_READ_CHUNK = 1 << 20

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_ZIP_MAGIC = b"PK\x03\x04"


class PthError(ValueError):
    """A ``.pth`` file could not be read as a plain PyTorch state dict."""


class _DType(NamedTuple):
    """A torch dtype as it is stored on disk."""

    name: str  # torch's name, e.g. "float32"
    numpy: str  # numpy type of one stored element, without byte order
    itemsize: int


_DTYPES = {
    d.name: d
    for d in (
        _DType("float64", "f8", 8),
        _DType("float32", "f4", 4),
        _DType("float16", "f2", 2),
        # numpy has no bfloat16: read the raw bits, widen to float32 later.
        _DType("bfloat16", "u2", 2),
        _DType("complex128", "c16", 16),
        _DType("complex64", "c8", 8),
        _DType("int64", "i8", 8),
        _DType("int32", "i4", 4),
        _DType("int16", "i2", 2),
        _DType("int8", "i1", 1),
        _DType("uint64", "u8", 8),
        _DType("uint32", "u4", 4),
        _DType("uint16", "u2", 2),
        _DType("uint8", "u1", 1),
        _DType("bool", "b1", 1),
    )
}

# Aliases under which a torch dtype object may be pickled (``torch.float``...).
_DTYPE_ALIASES = {
    "double": "float64",
    "float": "float32",
    "half": "float16",
    "cdouble": "complex128",
    "cfloat": "complex64",
    "long": "int64",
    "int": "int32",
    "short": "int16",
}

# Legacy ``torch.<X>Storage`` classes name the element type of a storage.
# "UntypedStorage" holds bytes; tensors on it carry their own dtype (v3).
_STORAGE_TYPES = {
    "DoubleStorage": "float64",
    "FloatStorage": "float32",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "ComplexDoubleStorage": "complex128",
    "ComplexFloatStorage": "complex64",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
    "UntypedStorage": "uint8",
}
_STORAGE_MODULES = ("torch", "torch.cuda", "torch.storage")


class _StorageType(NamedTuple):
    """Stand-in for a ``torch.<X>Storage`` class (immutable, not callable)."""

    name: str
    dtype: _DType


class _TorchDType(NamedTuple):
    """Stand-in for a ``torch.<dtype>`` object (immutable, not callable)."""

    dtype: _DType


class _Storage(NamedTuple):
    """A storage referenced by the pickle: a window on one raw record."""

    key: str  # the record / root storage key
    dtype: _DType
    offset: int  # in elements of ``dtype``, within the root storage
    numel: int  # in elements of ``dtype``


class _TensorRef(NamedTuple):
    """A tensor view on a storage; materialised once storages are read."""

    storage: _Storage
    offset: int  # in elements of ``dtype``, relative to ``storage``
    shape: tuple
    stride: tuple
    dtype: _DType


def _describe(obj: Any) -> str:
    if isinstance(obj, _TensorRef):
        return "a single tensor"
    if isinstance(obj, (_StorageType, _TorchDType, _Storage)):
        return "a bare torch storage or dtype"
    name = type(obj).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


class _Unpickler(pickle.Unpickler):
    """Unpickler that maps the globals of a state dict to stand-ins.

    Every global outside the allow-list raises `PthError`, so ``REDUCE`` can
    only ever call the rebuild methods below, which merely record arguments.
    """

    def __init__(self, file, source: str, on_storage: Callable | None):
        super().__init__(file, encoding="utf-8")
        self._source = source
        self._on_storage = on_storage

    # -- globals ----------------------------------------------------------
    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils":
            rebuild = {
                "_rebuild_tensor": self._rebuild_tensor,
                "_rebuild_tensor_v2": self._rebuild_tensor_v2,
                "_rebuild_tensor_v3": self._rebuild_tensor_v3,
                "_rebuild_parameter": self._rebuild_parameter,
                "_rebuild_parameter_with_state": self._rebuild_parameter,
            }.get(name)
            if rebuild is not None:
                return rebuild
        if module in _STORAGE_MODULES and name in _STORAGE_TYPES:
            return _StorageType(name, _DTYPES[_STORAGE_TYPES[name]])
        if module == "torch":
            dtype = _DTYPES.get(_DTYPE_ALIASES.get(name, name))
            if dtype is not None:
                return _TorchDType(dtype)
        raise PthError(
            f"{self._source}: refused to load the global '{module}.{name}' "
            "referenced by the pickle. A state dict only needs "
            "collections.OrderedDict, torch._utils._rebuild_* and torch "
            "storage/dtype names; anything else could run code when "
            "unpickled, so this file is not loaded."
        )

    def persistent_load(self, pid):
        if self._on_storage is None:
            raise PthError(
                f"{self._source}: unexpected storage reference in a header "
                "pickle; expected plain values there"
            )
        if not isinstance(pid, tuple) or not pid:
            raise PthError(
                f"{self._source}: bad persistent id {pid!r}; expected a "
                "('storage', ...) tuple"
            )
        kind = pid[0].decode("ascii") if isinstance(pid[0], bytes) else pid[0]
        if kind != "storage":
            raise PthError(
                f"{self._source}: refused persistent id of kind {kind!r}; only "
                "'storage' references are allowed (pickled nn.Module classes "
                "are not a state dict)"
            )
        return self._on_storage(pid[1:])

    # -- torch._utils stand-ins -------------------------------------------
    def _tensor(self, storage, offset, shape, stride, dtype=None):
        if not isinstance(storage, _Storage):
            raise PthError(
                f"{self._source}: tensor rebuilt from {storage!r}; expected a "
                "storage reference"
            )
        dtype = storage.dtype if dtype is None else dtype
        shape = _int_tuple(shape, "size", self._source)
        stride = _int_tuple(stride, "stride", self._source)
        if (
            len(shape) != len(stride)
            or not isinstance(offset, int)
            or offset < 0
            or min(shape + stride, default=0) < 0
        ):
            raise PthError(
                f"{self._source}: invalid tensor view (offset={offset!r}, "
                f"size={shape}, stride={stride}); expected non-negative "
                "integers and as many strides as dimensions"
            )
        return _TensorRef(storage, offset, shape, stride, dtype)

    def _rebuild_tensor(self, storage, offset, shape, stride):
        return self._tensor(storage, offset, shape, stride)

    def _rebuild_tensor_v2(
        self, storage, offset, shape, stride, requires_grad=False,
        backward_hooks=None, metadata=None,
    ):
        del requires_grad, backward_hooks, metadata  # irrelevant to values
        return self._tensor(storage, offset, shape, stride)

    def _rebuild_tensor_v3(
        self, storage, offset, shape, stride, requires_grad, backward_hooks,
        dtype, metadata=None,
    ):
        del requires_grad, backward_hooks, metadata
        if not isinstance(dtype, _TorchDType):
            raise PthError(
                f"{self._source}: _rebuild_tensor_v3 got dtype {dtype!r}; "
                f"expected one of torch.{', torch.'.join(_DTYPES)}"
            )
        return self._tensor(storage, offset, shape, stride, dtype.dtype)

    def _rebuild_parameter(self, data, requires_grad=False, hooks=None, state=None):
        del requires_grad, hooks, state
        if not isinstance(data, _TensorRef):
            raise PthError(
                f"{self._source}: nn.Parameter rebuilt from {_describe(data)}; "
                "expected a tensor"
            )
        return data


def _int_tuple(value, what: str, source: str) -> tuple:
    if not isinstance(value, (tuple, list)) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise PthError(
            f"{source}: tensor {what} is {value!r}; expected a tuple of ints"
        )
    return tuple(value)


def _storage_dtype(storage_type, source: str) -> _DType:
    if not isinstance(storage_type, _StorageType):
        raise PthError(
            f"{source}: storage type is {storage_type!r}; expected a "
            "torch.<X>Storage class"
        )
    return storage_type.dtype


# -- zip format ----------------------------------------------------------------


def _read_exactly(f, nbytes: int, what: str) -> bytearray:
    """Reads `nbytes` into one preallocated (writable, numpy-viewable) buffer, in chunks."""
    out = bytearray(nbytes)
    view = memoryview(out)
    done = 0
    while done < nbytes:
        chunk = f.read(min(_READ_CHUNK, nbytes - done))
        if not chunk:
            raise EOFError(f"{what} is cut short")
        view[done:done + len(chunk)] = chunk
        done += len(chunk)
    return out


def _read_zip_record(zf: zipfile.ZipFile, info: zipfile.ZipInfo, source: str,
                     nbytes: int | None = None, limit: int = MAX_BYTES):
    """Returns the first `nbytes` of a record (all of it when None), checking its CRC when the
    writer stored one and the whole record is read.

    Never inflates more than `nbytes` (or `limit`) bytes, whatever the record declares, and refuses
    a record that claims to inflate far beyond its compressed size (a decompression bomb).
    """
    declared = info.file_size
    want = declared if nbytes is None else min(nbytes, declared)
    if want > limit:
        raise PthError(
            f"{source}: zip record '{info.filename}' declares {declared} bytes; "
            f"expected at most {limit} (the limit for this record)"
        )
    if (info.compress_type != zipfile.ZIP_STORED and want > (1 << 20)
            and want > MAX_COMPRESSION_RATIO * max(info.compress_size, 1)):
        raise PthError(
            f"{source}: zip record '{info.filename}' inflates {info.compress_size} bytes to "
            f"{declared}, a ratio above {MAX_COMPRESSION_RATIO}; refused as a decompression bomb "
            "(torch.save writes weights uncompressed)"
        )
    try:
        if info.CRC != 0 or declared == 0 or info.compress_type != zipfile.ZIP_STORED:
            with zf.open(info) as rec:
                data = _read_exactly(rec, want, f"record {info.filename}")
                if want == declared:
                    rec.read(1)  # reaches the end, where zipfile checks the CRC
            return data
        # torch.save with set_crc32_options(False) writes CRC 0 for every
        # record, which zipfile rejects; read such (uncompressed) records
        # directly after their local header instead.
        fp = zf.fp
        fp.seek(info.header_offset)
        header = fp.read(30)
        if len(header) != 30 or header[:4] != _ZIP_MAGIC:
            raise zipfile.BadZipFile(f"bad local header for {info.filename}")
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        fp.seek(info.header_offset + 30 + name_len + extra_len)
        return _read_exactly(fp, want, f"record {info.filename}")
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise PthError(
            f"{source}: truncated or corrupt zip record '{info.filename}' "
            f"({e}); expected a complete torch.save archive"
        ) from e


def _load_zip(f, source: str):
    """torch's zip format: `<name>/data.pkl`, one `<name>/data/<key>` record per storage and an
    optional `<name>/byteorder`; returns (object, storages, read, byteorder)."""
    zf, prefix, records = _open_zip(f, source)
    byteorder = _zip_byteorder(zf, records, source)
    storages: dict[str, tuple[_DType, int]] = {}
    pkl = _read_zip_record(zf, records["data.pkl"], source, limit=MAX_PICKLE_BYTES)
    obj = _unpickle(io.BytesIO(pkl), source, _zip_storage_hook(storages, source))
    return obj, storages, _zip_reader(zf, prefix, records, storages, source), byteorder


def _open_zip(f, source):
    """(zip file, folder prefix, {name under the prefix: record}) of a torch.save archive."""
    try:
        zf = zipfile.ZipFile(f)
        infos = zf.infolist()
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise PthError(
            f"{source}: truncated or corrupt zip archive ({e}); expected a "
            "complete torch.save zip file"
        ) from e
    if not infos:
        raise PthError(f"{source}: empty zip archive; expected torch.save output")
    # Like torch, take the archive's folder name from its first record.
    prefix = infos[0].filename.split("/", 1)[0] + "/"
    records = {
        i.filename[len(prefix):]: i for i in infos if i.filename.startswith(prefix)
    }
    if "data.pkl" not in records:
        kind = "a TorchScript archive (torch.jit.save)" if (
            "constants.pkl" in records or any(n.startswith("code/") for n in records)
        ) else "a zip archive"
        raise PthError(
            f"{source}: is {kind} without a '{prefix}data.pkl' record; expected "
            "a state dict written by torch.save"
        )
    return zf, prefix, records


def _zip_byteorder(zf, records, source):
    """The storages' byte order: the `byteorder` record's, little-endian without one."""
    if "byteorder" not in records:
        return "little"
    mark = bytes(_read_zip_record(zf, records["byteorder"], source, limit=16))
    if mark not in (b"little", b"big"):
        raise PthError(
            f"{source}: byteorder record is {mark!r}; expected b'little' or b'big'"
        )
    return mark.decode()


def _zip_storage_hook(storages, source):
    """The persistent-id hook of the zip format's pickle: records each storage in `storages`."""

    def on_storage(data):
        if len(data) != 4:
            raise PthError(
                f"{source}: storage reference {data!r} has {len(data)} fields; "
                "expected (type, key, location, numel) in the zip format"
            )
        storage_type, key, _, numel = data
        dtype = _storage_dtype(storage_type, source)
        key = key.decode("ascii") if isinstance(key, bytes) else str(key)
        if not isinstance(numel, int) or numel < 0:
            raise PthError(f"{source}: storage '{key}' has invalid numel {numel!r}")
        storages.setdefault(key, (dtype, numel))
        dtype, numel = storages[key]
        return _Storage(key, dtype, 0, numel)

    return on_storage


def _zip_reader(zf, prefix, records, storages, source):
    """`read(keys)`: the records of the storages `keys` (checked against the limits beforehand)."""

    def read(keys):
        buffers = {}
        for key in keys:
            dtype, numel = storages[key]
            name = f"data/{key}"
            if name not in records:
                raise PthError(
                    f"{source}: missing storage record '{prefix}{name}' for storage "
                    f"'{key}' ({numel} x {dtype.name}); the archive is incomplete"
                )
            nbytes = numel * dtype.itemsize
            info = records[name]
            if info.file_size < nbytes:
                raise PthError(
                    f"{source}: storage record '{prefix}{name}' holds {info.file_size} "
                    f"bytes; expected {nbytes} ({numel} x {dtype.name})"
                )
            # Only the declared storage is read, never a longer record's tail.
            buffers[key] = _read_zip_record(zf, info, source, nbytes=nbytes)
        return buffers

    return read


# -- legacy format -------------------------------------------------------------


def _load_legacy(f, source: str):
    """torch's pre-1.6 format: magic, protocol, system info, the pickle, storage keys, data."""
    sys_info = _legacy_header(f, source)
    storages: dict[str, tuple[_DType, int]] = {}
    obj = _unpickle(f, source, _legacy_storage_hook(storages, source))
    keys = _unpickle(f, source, None)
    if not isinstance(keys, list):
        raise PthError(
            f"{source}: storage key list is {_describe(keys)}; expected a list"
        )
    little = sys_info.get("little_endian", True)
    start = f.tell()
    size = f.seek(0, io.SEEK_END)
    f.seek(start)
    order = _legacy_data_order(keys, storages, source)
    _check_legacy_sizes(order, storages, size - start, source)
    read = _legacy_reader(f, start, order, storages, little, source)
    # Legacy storage bytes are little-endian whatever the writer's host was.
    return obj, storages, read, "little"


def _legacy_header(f, source):
    """Reads and checks the three plain values before the pickle; returns the system info."""
    def header():
        return _unpickle(f, source, None)  # plain values only: no storages

    magic = header()
    if magic != _LEGACY_MAGIC:
        raise PthError(
            f"{source}: pickle does not start with torch's magic number "
            f"(got {magic!r:.60}); expected a file written by torch.save"
        )
    protocol = header()
    if protocol != _LEGACY_PROTOCOL:
        raise PthError(
            f"{source}: legacy protocol version {protocol!r}; expected "
            f"{_LEGACY_PROTOCOL}"
        )
    sys_info = header()
    if not isinstance(sys_info, dict):
        raise PthError(
            f"{source}: system info is {_describe(sys_info)}; expected a dict"
        )
    return sys_info


def _legacy_storage_hook(storages, source):
    """The persistent-id hook of the legacy pickle: records each storage in `storages`."""

    def on_storage(data):
        if len(data) != 5:
            raise PthError(
                f"{source}: storage reference {data!r} has {len(data)} fields; "
                "expected (type, key, location, numel, view) in the legacy format"
            )
        storage_type, key, _, numel, view = data
        dtype = _storage_dtype(storage_type, source)
        key = key.decode("ascii") if isinstance(key, bytes) else str(key)
        if not isinstance(numel, int) or numel < 0:
            raise PthError(f"{source}: storage '{key}' has invalid numel {numel!r}")
        storages.setdefault(key, (dtype, numel))
        dtype, numel = storages[key]
        if view is None:
            return _Storage(key, dtype, 0, numel)
        # Pre-1.0 files may hold storage views: (view_key, offset, size).
        try:
            _, offset, size = view
            offset, size = int(offset), int(size)
        except (TypeError, ValueError) as e:
            raise PthError(
                f"{source}: bad storage view {view!r}; expected (key, offset, size)"
            ) from e
        if offset < 0 or size < 0 or offset + size > numel:
            raise PthError(
                f"{source}: storage view {view!r} exceeds storage '{key}' of "
                f"{numel} elements"
            )
        return _Storage(key, dtype, offset, size)

    return on_storage


def _legacy_data_order(keys, storages, source):
    """The storage keys in data-section order, each referenced by a tensor and none missing."""
    order = []
    for key in keys:
        key = key.decode("ascii") if isinstance(key, bytes) else str(key)
        if key not in storages:
            raise PthError(
                f"{source}: data section lists storage '{key}' that no tensor "
                "references; the file is corrupt"
            )
        order.append(key)
    for key, (dtype, numel) in storages.items():
        if key not in order:
            raise PthError(
                f"{source}: missing data for storage '{key}' ({numel} x "
                f"{dtype.name}); the storage key list does not include it"
            )
    return order


def _check_legacy_sizes(order, storages, remaining, source):
    """Every storage's 8-byte count and data must fit in the file: checked before any read."""
    for key in order:
        dtype, numel = storages[key]
        nbytes = numel * dtype.itemsize
        if 8 + nbytes > remaining:
            raise PthError(
                f"{source}: truncated file: storage '{key}' needs {nbytes} "
                f"bytes but only {max(remaining - 8, 0)} remain"
            )
        remaining -= 8 + nbytes


def _legacy_reader(f, start, order, storages, little, source):
    """`read(wanted)`: the bytes of the wanted storages; the others are skipped, not read."""

    def read(wanted):
        wanted = set(wanted)
        buffers = {}
        f.seek(start)
        for key in order:
            dtype, numel = storages[key]
            head = f.read(8)
            if len(head) != 8:
                raise PthError(
                    f"{source}: truncated file: the data of storage '{key}' is "
                    "missing (expected an int64 element count)"
                )
            count = struct.unpack("<q", head)[0]
            if count != numel and not little and struct.unpack(">q", head)[0] == numel:
                count = numel  # very old big-endian writers stored a native count
            if count != numel:
                raise PthError(
                    f"{source}: storage '{key}' is recorded with {count} elements "
                    f"but referenced with {numel} ({dtype.name}); the file is corrupt"
                )
            nbytes = numel * dtype.itemsize
            if key in wanted:
                try:
                    buffers[key] = _read_exactly(f, nbytes, f"storage '{key}'")
                except EOFError as e:
                    raise PthError(f"{source}: truncated file: {e}") from e
            else:
                f.seek(nbytes, io.SEEK_CUR)  # not needed: skipped, not read
        return buffers

    return read


# -- common ----------------------------------------------------------------------


def _unpickle(f, source: str, on_storage):
    try:
        return _Unpickler(f, source, on_storage).load()
    except PthError:
        raise
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, KeyError,
            IndexError, AttributeError, MemoryError, OverflowError,
            UnicodeDecodeError) as e:
        raise PthError(
            f"{source}: truncated or corrupt pickle ({type(e).__name__}: {e}); "
            "expected a state dict written by torch.save"
        ) from e


def _check_view(name: str, ref: _TensorRef, source: str) -> int:
    """Checks a tensor view against its storage before anything is read; returns its bytes."""
    storage, dtype = ref.storage, ref.dtype
    window = storage.numel * storage.dtype.itemsize  # bytes visible to the view
    numel = math.prod(ref.shape)
    if numel == 0:
        return 0
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.stride))
    end = (last + 1) * dtype.itemsize
    if end > window:
        raise PthError(
            f"{source}: tensor '{name}' (size {ref.shape}, stride {ref.stride}, "
            f"offset {ref.offset}, {dtype.name}) needs {end} bytes of storage "
            f"'{storage.key}' but the storage holds only {window}; the file is "
            "corrupt"
        )
    nbytes = numel * dtype.itemsize
    span = end - ref.offset * dtype.itemsize
    if nbytes > span and nbytes > MAX_EXPANDED_VIEW_BYTES:
        # Stride 0 or overlapping strides: materialising would multiply the stored bytes.
        raise PthError(
            f"{source}: tensor '{name}' of size {ref.shape} cannot be built: its stride "
            f"{ref.stride} repeats {span} stored bytes into {nbytes}; expected a view of at "
            f"most {MAX_EXPANDED_VIEW_BYTES} bytes when strides overlap (stride-0 expansion)"
        )
    return nbytes


def _c_contiguous(shape, stride) -> bool:
    step = 1
    for n, s in zip(reversed(shape), reversed(stride)):
        if n != 1 and s != step:
            return False
        step *= n
    return True


def _materialise(name: str, ref: _TensorRef, buffers, byteorder: str, source: str,
                 shared: bool):
    """Builds the array of a checked view. `shared`: another tensor uses the same storage."""
    storage, dtype = ref.storage, ref.dtype
    raw = buffers[storage.key]
    start = storage.offset * storage.dtype.itemsize  # bytes, into the record
    window = storage.numel * storage.dtype.itemsize
    numel = math.prod(ref.shape)
    np_dtype = np.dtype(("<" if byteorder == "little" else ">") + dtype.numpy)
    if numel == 0:
        out = np.empty(ref.shape, np_dtype)
    else:
        last = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.stride))
        end = (last + 1) * dtype.itemsize
        flat = np.frombuffer(
            raw, dtype=np.uint8, count=window, offset=start
        )[ref.offset * dtype.itemsize:end]
        strides = tuple(s * dtype.itemsize for s in ref.stride)
        if _c_contiguous(ref.shape, ref.stride) and not shared:
            # The usual case: the record's (writable) buffer becomes the array, no copy.
            out = flat.view(np_dtype).reshape(ref.shape)
            if not out.flags.aligned:
                out = out.copy()
        else:
            # Align the base and view it as the element type; the copy makes the result
            # contiguous and independent of storages shared with other tensors.
            base = np.array(flat, copy=True).view(np_dtype)
            view = np.lib.stride_tricks.as_strided(
                base, shape=ref.shape, strides=strides, writeable=False
            )
            out = np.array(view, copy=True, order="C")
    out = out.astype(np_dtype.newbyteorder("="), copy=False)
    if dtype.name == "bfloat16":
        # bfloat16 is the top half of a float32: widening is exact.
        out = (out.astype(np.uint32) << 16).view(np.float32)
    return out  # not np.ascontiguousarray: that turns 0-d tensors into 1-d


def _source_name(path_or_fileobj) -> str:
    if isinstance(path_or_fileobj, (str, bytes, os.PathLike)):
        return os.fsdecode(path_or_fileobj)
    return str(getattr(path_or_fileobj, "name", "<file object>"))


def load_state_dict(
    path_or_fileobj,
    expected: Mapping[str, Iterable[int]] | None = None,
    allowed_extra_prefixes: Iterable[str] | str = (),
    skip_prefixes: Iterable[str] | str = (),
    max_bytes: int = MAX_BYTES,
) -> "collections.OrderedDict[str, np.ndarray]":
    """Reads a PyTorch state dict file without importing torch.

    Every declared size (storages, views, zip records) is checked before
    anything is allocated, so a small hostile file cannot exhaust memory.

    Args:
        path_or_fileobj: path of a ``.pth`` file (zip or legacy format), or a
            binary file object opened on one.
        expected: optional mapping of every required name to its shape; keys
            and shapes are then checked as by `check_state_dict`, but from
            the file's declarations, before any tensor data is read, and only
            the expected entries are read and returned (in this order).
        allowed_extra_prefixes: with `expected`, names starting with one of
            these may be present; they are not read.
        skip_prefixes: names starting with one of these are neither checked
            nor read (e.g. ``"classifier."`` of a full torchvision checkpoint).
        max_bytes: refuse files whose tensors need more storage bytes, or
            whose arrays would take more bytes, than this.

    Returns:
        An ordered dict from parameter names (e.g. ``"features.0.weight"``) to
        C-contiguous numpy arrays with the tensors' shapes and dtypes
        (bfloat16 is widened to float32, exactly).

    Raises:
        PthError: the file is not a ``.pth`` file, is truncated or corrupt,
            references globals other than those of a state dict, holds
            something other than a flat mapping of names to tensors, exceeds
            the size limits, or does not match `expected`.
    """
    source = _source_name(path_or_fileobj)
    options = dict(expected=expected, allowed=allowed_extra_prefixes, skip=skip_prefixes,
                   max_bytes=max_bytes)
    if isinstance(path_or_fileobj, (str, bytes, os.PathLike)):
        try:
            f = open(path_or_fileobj, "rb")
        except OSError as e:
            raise PthError(f"{source}: cannot open ({e})") from e
        with f:
            return _load(f, source, **options)
    f = path_or_fileobj
    if not (hasattr(f, "seekable") and f.seekable()):
        f = io.BytesIO(f.read())
    return _load(f, source, **options)


def _prefixes(value) -> tuple:
    return (value,) if isinstance(value, str) else tuple(value)


def _load(f, source: str, expected=None, allowed=(), skip=(), max_bytes=MAX_BYTES):
    obj, storages, read, byteorder = _read_object(f, source)
    _check_is_state_dict(obj, source)
    skip = _prefixes(skip)
    refs = {k: v for k, v in obj.items() if not (skip and k.startswith(skip))}
    if expected is not None:
        # Keys and shapes from the pickle alone: a mismatch costs no allocation.
        check_shapes({k: v.shape for k, v in refs.items()}, expected, _prefixes(allowed),
                     source)
        refs = {k: refs[k] for k in expected}
    users = _check_sizes(refs, storages, max_bytes, source)
    buffers = read(list(users))
    out = collections.OrderedDict()
    for k, v in refs.items():
        try:
            out[k] = _materialise(k, v, buffers, byteorder, source, users[v.storage.key] > 1)
        except (MemoryError, ValueError, OverflowError) as e:
            raise PthError(
                f"{source}: tensor '{k}' of size {v.shape} cannot be built "
                f"({type(e).__name__}: {e}); the file is corrupt or too large"
            ) from e
    return out


def _read_object(f, source):
    """The pickled object and its storages, from either format, told apart by the first bytes."""
    start = f.tell()
    head = f.read(4)
    f.seek(start)
    if head == _ZIP_MAGIC:
        return _load_zip(f, source)
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return _load_legacy(f, source)
    if head and (_ZIP_MAGIC.startswith(head) or head == b"\x80"):
        raise PthError(
            f"{source}: truncated file of {len(head)} bytes; expected a "
            "complete PyTorch .pth file"
        )
    hint = " (a PNG image)" if head == b"\x89PNG" else ""
    raise PthError(
        f"{source}: not a PyTorch .pth file: starts with {head!r}{hint}; "
        "expected a zip archive (b'PK\\x03\\x04') or a pickle (b'\\x80\\x02')"
        if head else f"{source}: empty file; expected a PyTorch .pth file"
    )


def _check_is_state_dict(obj, source):
    """A plain mapping of string names to tensors, or a PthError saying what the file holds."""
    if not isinstance(obj, dict):
        raise PthError(
            f"{source}: holds {_describe(obj)}; expected a plain state dict "
            "mapping parameter names to tensors"
        )
    bad = [k for k, v in obj.items() if not isinstance(v, _TensorRef)]
    if bad or not all(isinstance(k, str) for k in obj):
        keys = ", ".join(repr(k) for k in list(obj)[:10])
        more = f" and {len(obj) - 10} more" if len(obj) > 10 else ""
        wrapped = [k for k in ("state_dict", "model") if k in obj]
        hint = (
            f" It looks like a checkpoint wrapping the weights under "
            f"{wrapped[0]!r}; save that entry on its own with torch."
            if wrapped else ""
        )
        raise PthError(
            f"{source}: holds {_describe(obj)} with keys [{keys}{more}] whose "
            f"values are not all tensors (e.g. {bad[0]!r} is "
            f"{_describe(obj[bad[0]])}); expected a plain state dict mapping "
            f"names to tensors.{hint}" if bad else
            f"{source}: holds a {type(obj).__name__} with non-string keys; "
            "expected a plain state dict mapping names to tensors"
        )


def _check_sizes(refs, storages, max_bytes, source):
    """Checks every view and the total bytes against the limits before a byte of tensor data is
    read; returns how many of the tensors use each storage key."""
    out_bytes = sum(_check_view(k, v, source) for k, v in refs.items())
    users = collections.Counter(v.storage.key for v in refs.values())
    storage_bytes = sum(storages[key][1] * storages[key][0].itemsize for key in users)
    if max(out_bytes, storage_bytes) > max_bytes:
        raise PthError(
            f"{source}: its tensors need {storage_bytes} bytes of storage and "
            f"{out_bytes} bytes of arrays; expected at most {max_bytes} "
            "(pth.MAX_BYTES): refused before reading, the file is corrupt or too large"
        )
    return users


def check_shapes(shapes, expected, allowed_extra_prefixes=(), source="state dict"):
    """`check_state_dict` on declared shapes alone ({name: shape}), before any data is read."""
    prefixes = _prefixes(allowed_extra_prefixes)
    expected = {k: tuple(int(n) for n in v) for k, v in expected.items()}
    missing = [k for k in expected if k not in shapes]
    unexpected = [k for k in shapes if k not in expected and not k.startswith(prefixes)]
    mismatched = [
        f"{k}: got shape {tuple(shapes[k])}, expected {expected[k]}"
        for k in expected
        if k in shapes and tuple(shapes[k]) != expected[k]
    ]
    problems = []
    if missing:
        problems.append("missing keys: " + ", ".join(missing))
    if unexpected:
        problems.append("unexpected keys: " + ", ".join(unexpected))
    if mismatched:
        problems.append("shape mismatches: " + "; ".join(mismatched))
    if problems:
        raise PthError(
            f"{source}: does not match the expected weights ({len(expected)} "
            "keys): " + " | ".join(problems)
        )


def check_state_dict(
    state: Mapping[str, np.ndarray],
    expected: Mapping[str, Iterable[int]],
    allowed_extra_prefixes: Iterable[str] | str = (),
    source: str = "state dict",
) -> "collections.OrderedDict[str, np.ndarray]":
    """Strictly checks a state dict's keys and shapes.

    Args:
        state: mapping of names to arrays, e.g. from `load_state_dict`.
        expected: mapping of every required name to its shape.
        allowed_extra_prefixes: names starting with one of these may be
            present without being expected (e.g. ``"classifier."``).
        source: what ``state`` came from, for error messages (a file name).

    Returns:
        An ordered dict of the expected entries only, in ``expected``'s order.

    Raises:
        PthError: listing every missing key, unexpected key and shape mismatch.
    """
    check_shapes({k: np.shape(v) for k, v in state.items()}, expected,
                  _prefixes(allowed_extra_prefixes), source)
    return collections.OrderedDict((k, state[k]) for k in expected)
