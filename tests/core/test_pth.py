"""Tests for lpips_tf.core.pth, the torch-free .pth reader. No torch is imported here.

Fixtures in tests/fixtures/pth/ were written by torch (tools/make_pth_fixtures.py);
hostile and damaged files are built below with the standard library only.
"""

import collections
import io
import os
import pathlib
import pickle
import re
import shlex
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from lpips_tf.core.pth import PthError, check_state_dict, load_state_dict

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED = ROOT / ".." / "shared"
FIXTURES = ROOT / "tests" / "fixtures" / "pth"
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def error_of(path_or_file, tmp_path=None):
    """load_state_dict's PthError message, with the temp folder (whose name
    echoes the test's name) cut out so that matches test the message alone."""
    with pytest.raises(PthError) as e:
        load_state_dict(path_or_file)
    msg = str(e.value)
    return msg.replace(str(tmp_path), "<tmp>") if tmp_path is not None else msg


def shared_weight(name):
    path = SHARED / "weights" / name
    if not path.exists():
        pytest.skip(f"../shared/weights not present: {name} is only available to the project's "
                    "developers and CI (a user's clone has no ../shared)")
    return path


# ---------------------------------------------------------------------------
# A tiny protocol-2 pickle writer, so hostile/damaged files need neither torch
# nor fake torch modules in sys.modules.


class Global(collections.namedtuple("Global", "module name")):
    pass


class Call(collections.namedtuple("Call", "func args")):
    pass


class PersId(collections.namedtuple("PersId", "pid")):
    pass


def _ops(obj):
    if isinstance(obj, Global):
        return b"c" + f"{obj.module}\n{obj.name}\n".encode()
    if isinstance(obj, Call):
        return _ops(obj.func) + _ops(tuple(obj.args)) + b"R"
    if isinstance(obj, PersId):
        return _ops(obj.pid) + b"Q"
    if obj is None:
        return b"N"
    if isinstance(obj, bool):
        return b"\x88" if obj else b"\x89"
    if isinstance(obj, int) and -2 ** 31 <= obj < 2 ** 31:
        return b"J" + struct.pack("<i", obj)
    if isinstance(obj, int):
        data = obj.to_bytes((obj.bit_length() + 8) // 8, "little", signed=True)
        return b"\x8a" + bytes([len(data)]) + data
    if isinstance(obj, str):
        data = obj.encode()
        return b"X" + struct.pack("<I", len(data)) + data
    if isinstance(obj, tuple):
        return b"(" + b"".join(_ops(x) for x in obj) + b"t"
    if isinstance(obj, list):
        return b"](" + b"".join(_ops(x) for x in obj) + b"e"
    if isinstance(obj, dict):
        return b"}(" + b"".join(_ops(k) + _ops(v) for k, v in obj.items()) + b"u"
    raise TypeError(obj)


def dumps(obj):
    return b"\x80\x02" + _ops(obj) + b"."


def tensor(key, numel, size, stride, offset=0, storage="FloatStorage", legacy=False, view=None):
    pid = ("storage", Global("torch", storage), key, "cpu", numel) + ((view,) if legacy else ())
    hooks = Call(Global("collections", "OrderedDict"), ())
    return Call(Global("torch._utils", "_rebuild_tensor_v2"),
                (PersId(pid), offset, size, stride, False, hooks))


def zip_pth(path, pkl, records=(), byteorder=b"little"):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pkl)
        if byteorder is not None:
            zf.writestr("archive/byteorder", byteorder)
        for key, data in dict(records).items():
            zf.writestr(f"archive/data/{key}", data)
    return path


def legacy_pth(path, pkl, storages=(), keys=None, header=None):
    """storages: (key, element count, raw bytes) in file order."""
    sys_info = {"protocol_version": 1001, "little_endian": True,
                "type_sizes": {"short": 2, "int": 4, "long": 4}}
    parts = header if header is not None else [
        pickle.dumps(LEGACY_MAGIC, protocol=2),
        pickle.dumps(1001, protocol=2),
        pickle.dumps(sys_info, protocol=2),
    ]
    parts = list(parts) + [pkl]
    parts.append(pickle.dumps([k for k, _, _ in storages] if keys is None else keys, protocol=2))
    for _, count, data in storages:
        parts.append(struct.pack("<q", count) + data)
    path.write_bytes(b"".join(parts))
    return path


# ---------------------------------------------------------------------------
# Real trunk weights from ../shared.

ALEX_SHAPES = {
    "features.0.weight": (64, 3, 11, 11), "features.0.bias": (64,),
    "features.3.weight": (192, 64, 5, 5), "features.3.bias": (192,),
    "features.6.weight": (384, 192, 3, 3), "features.6.bias": (384,),
    "features.8.weight": (256, 384, 3, 3), "features.8.bias": (256,),
    "features.10.weight": (256, 256, 3, 3), "features.10.bias": (256,),
}


def squeezenet11_shapes():
    shapes = {"features.0.weight": (64, 3, 3, 3), "features.0.bias": (64,)}
    fires = {3: (64, 16, 64), 4: (128, 16, 64), 6: (128, 32, 128), 7: (256, 32, 128),
             9: (256, 48, 192), 10: (384, 48, 192), 11: (384, 64, 256), 12: (512, 64, 256)}
    for i, (cin, squeeze, expand) in fires.items():
        p = f"features.{i}."
        shapes[p + "squeeze.weight"] = (squeeze, cin, 1, 1)
        shapes[p + "squeeze.bias"] = (squeeze,)
        shapes[p + "expand1x1.weight"] = (expand, squeeze, 1, 1)
        shapes[p + "expand1x1.bias"] = (expand,)
        shapes[p + "expand3x3.weight"] = (expand, squeeze, 3, 3)
        shapes[p + "expand3x3.bias"] = (expand,)
    return shapes


# Golden numbers obtained by reading the same files with the official torch 2.14.1
# (torch.load(path, weights_only=True)) in a separate process (/work/torchenv):
# w = sd["features.0.weight"]; w.double().sum().item(); w[i].item().
# Elements must match exactly; sums to 1e-12 (summation order differs from torch's).
REAL = {
    "alexnet_features.pth": dict(
        shapes=ALEX_SHAPES,
        sum0=-1.8426766672619124,
        elements={(0, 0, 0, 0): 0.11863963305950165, (63, 2, 10, 10): 0.09030673652887344,
                  (31, 1, 5, 7): -0.016864057630300522},
        last=("features.10.bias", 56.12741141603328),
    ),
    "squeezenet1_1_features.pth": dict(
        shapes=squeezenet11_shapes(),
        sum0=-1.6728515259414962,
        elements={(0, 0, 0, 0): 0.12094463407993317, (63, 2, 2, 2): -0.1397118866443634,
                  (31, 1, 1, 0): 0.06801043450832367},
        last=("features.12.expand3x3.bias", 0.7520343422711449),
    ),
}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_trunk_weights(name):
    path = shared_weight(name)
    head = path.read_bytes()[:4]
    # The two files cover both formats: alexnet is zip, squeezenet legacy.
    assert (head == b"PK\x03\x04") == name.startswith("alexnet")
    golden = REAL[name]
    state = load_state_dict(path)
    assert list(state) == list(golden["shapes"])
    check_state_dict(state, golden["shapes"], source=name)
    for key, value in state.items():
        assert value.dtype == np.float32, key
        assert value.flags.c_contiguous, key
    w = state["features.0.weight"]
    assert w.astype(np.float64).sum() == pytest.approx(golden["sum0"], rel=1e-12, abs=0)
    for index, value in golden["elements"].items():
        assert float(w[index]) == value, index
    key, total = golden["last"]
    assert state[key].astype(np.float64).sum() == pytest.approx(total, rel=1e-12, abs=0)


# ---------------------------------------------------------------------------
# Fixtures written by torch.


@pytest.fixture(scope="module")
def expected():
    with np.load(FIXTURES / "expected.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("name", ["zip_mixed.pth", "legacy_mixed.pth"])
def test_fixture_values_exact(name, expected):
    state = load_state_dict(FIXTURES / name)
    keys = [k for k in expected if not (name.startswith("legacy") and k == "u16")]
    assert list(state) == keys
    for key in keys:
        got, want = state[key], expected[key]
        assert got.dtype == want.dtype, key
        assert got.shape == want.shape, key
        np.testing.assert_array_equal(got, want, err_msg=key)
        assert got.flags.c_contiguous and got.flags.writeable, key


def test_fixture_special_cases(expected):
    state = load_state_dict(FIXTURES / "zip_mixed.pth")
    np.testing.assert_array_equal(state["offset_view"], np.arange(5, 11, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(state["shared_b"], (np.arange(12, dtype=np.int32) * 3).reshape(3, 4)[:, 1:3])
    np.testing.assert_array_equal(state["expanded"], [[1.5, -2.0, 4.25]] * 2)
    assert state["transposed"].shape == (4, 3)
    assert state["bf16"].dtype == np.float32  # widened, exactly
    np.testing.assert_array_equal(state["bf16"], [1.0, -2.5, 3.140625, 0.00099945068359375, 65280.0, np.inf])
    assert state["f16"].dtype == np.float16
    assert state["scalar"].shape == () and state["empty"].shape == (0, 3)
    assert state["mask"].dtype == np.bool_ and state["u16"].dtype == np.uint16
    # Tensors sharing a storage come back as independent arrays.
    state["shared_a"][...] = -1
    assert (state["shared_b"] >= 0).all()


def test_zip_written_without_crc32(expected):
    state = load_state_dict(FIXTURES / "zip_nocrc.pth")
    assert list(state) == ["f32", "offset_view"]
    np.testing.assert_array_equal(state["f32"], expected["f32"])
    np.testing.assert_array_equal(state["offset_view"], expected["offset_view"])


def test_accepts_paths_and_file_objects(expected):
    path = FIXTURES / "legacy_mixed.pth"
    data = path.read_bytes()
    with open(path, "rb") as f:
        from_file = load_state_dict(f)
    for state in (load_state_dict(str(path)), load_state_dict(io.BytesIO(data)), from_file):
        np.testing.assert_array_equal(state["f32"], expected["f32"])
    state = load_state_dict(io.BytesIO((FIXTURES / "zip_mixed.pth").read_bytes()))
    np.testing.assert_array_equal(state["u16"], expected["u16"])


def test_checkpoint_wrapper_is_not_unwrapped():
    with pytest.raises(PthError) as e:
        load_state_dict(FIXTURES / "checkpoint.pth")
    msg = str(e.value)
    assert "checkpoint.pth" in msg and "'state_dict'" in msg and "'epoch'" in msg
    assert "plain state dict" in msg


def test_top_level_must_be_a_mapping(tmp_path):
    pkl = dumps([tensor("0", 4, (4,), (1,))])
    path = zip_pth(tmp_path / "list.pth", pkl, {"0": bytes(16)})
    assert "holds a list; expected a plain state dict" in error_of(path, tmp_path)


# ---------------------------------------------------------------------------
# Hostile files: nothing may run.


def _os_system(command):
    return Call(Global("os", "system"), (command,))


class _Evil:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))  # pickled as posix.system


def _hostile_payloads(marker):
    command = f"touch {shlex.quote(str(marker))}"
    return {
        "os.system": dumps({"w": _os_system(command)}),
        "builtins.eval": dumps({"w": Call(Global("builtins", "eval"), (f"__import__('os').system({command!r})",))}),
        f"{os.system.__module__}.system": pickle.dumps(collections.OrderedDict(w=_Evil(command)), protocol=2),
    }


def test_hostile_payloads_are_live(tmp_path):
    """Guards the tests below: a plain unpickler really would run these payloads."""
    marker = tmp_path / "ran"
    pickle.loads(_hostile_payloads(marker)["os.system"])
    assert marker.exists()


@pytest.mark.parametrize("container", ["zip", "legacy", "legacy_header"])
@pytest.mark.parametrize("refused", ["os.system", "builtins.eval", f"{os.system.__module__}.system"])
def test_refuses_code_execution(tmp_path, container, refused):
    marker = tmp_path / "pwned"
    pkl = _hostile_payloads(marker)[refused]
    path = tmp_path / "evil.pth"
    if container == "zip":
        zip_pth(path, pkl)
    elif container == "legacy":
        legacy_pth(path, pkl)
    else:  # the payload hides in the magic-number pickle
        legacy_pth(path, dumps({}), header=[pkl])
    msg = error_of(path, tmp_path)
    assert msg.startswith("<tmp>/evil.pth: refused to load the global")
    assert f"'{refused}'" in msg
    assert not marker.exists()


def test_refuses_module_persistent_ids(tmp_path):
    pkl = dumps({"m": PersId(("module", Global("torch", "FloatStorage"), "src.py", "import os"))})
    assert "persistent id of kind 'module'" in error_of(zip_pth(tmp_path / "module.pth", pkl), tmp_path)


# ---------------------------------------------------------------------------
# Damaged and foreign files.


@pytest.mark.parametrize("name", ["zip_mixed.pth", "legacy_mixed.pth"])
def test_truncated_half(tmp_path, name):
    data = (FIXTURES / name).read_bytes()
    path = tmp_path / name
    path.write_bytes(data[: len(data) // 2])
    assert re.search("truncated|corrupt", error_of(path, tmp_path))


@pytest.mark.parametrize("name", ["zip_mixed.pth", "legacy_mixed.pth"])
def test_truncated_anywhere(tmp_path, name):
    data = (FIXTURES / name).read_bytes()
    path = tmp_path / name
    for cut in (2, 10, 40, 300, len(data) - 100, len(data) - 1):
        path.write_bytes(data[:cut])
        assert re.search("truncated|corrupt", error_of(path, tmp_path)), cut


def test_corrupt_zip_record_fails_crc(tmp_path):
    src = FIXTURES / "zip_mixed.pth"
    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith("/data/0"))
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26: info.header_offset + 30])
    data[info.header_offset + 30 + name_len + extra_len] ^= 0xFF
    path = tmp_path / "flipped.pth"
    path.write_bytes(bytes(data))
    assert re.search(r"corrupt zip record '[^']*/data/0' \(Bad CRC-32", error_of(path, tmp_path))


def test_missing_storage_record(tmp_path):
    path = tmp_path / "missing.pth"
    with zipfile.ZipFile(FIXTURES / "zip_mixed.pth") as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            if not info.filename.endswith("/data/0"):
                dst.writestr(info, src.read(info))
    assert re.search(r"missing storage record '[^']*/data/0'", error_of(path, tmp_path))


def test_missing_legacy_storage_data(tmp_path):
    pkl = dumps({"w": tensor("k0", 4, (4,), (1,), legacy=True)})
    path = legacy_pth(tmp_path / "nodata.pth", pkl, storages=[], keys=[])
    assert "missing data for storage 'k0'" in error_of(path, tmp_path)


def test_storage_too_small_for_view(tmp_path):
    pkl = dumps({"w": tensor("0", 8, (4, 4), (4, 1))})
    path = zip_pth(tmp_path / "small.pth", pkl, {"0": bytes(32)})
    assert re.search(r"tensor 'w' .* needs 64 bytes of storage '0' but the storage holds only 32",
                     error_of(path, tmp_path))
    pkl = dumps({"w": tensor("k", 8, (2, 2), (2, 1), offset=6, legacy=True)})
    path = legacy_pth(tmp_path / "small_legacy.pth", pkl, [("k", 8, bytes(32))])
    assert re.search(r"tensor 'w' \(size \(2, 2\), stride \(2, 1\), offset 6, float32\) needs 40 bytes "
                     r"of storage 'k' but the storage holds only 32", error_of(path, tmp_path))


def test_storage_record_shorter_than_declared(tmp_path):
    pkl = dumps({"w": tensor("0", 16, (16,), (1,))})
    path = zip_pth(tmp_path / "short.pth", pkl, {"0": bytes(8)})
    assert "holds 8 bytes; expected 64 (16 x float32)" in error_of(path, tmp_path)


def test_absurd_sizes_fail_without_allocating(tmp_path):
    pkl = dumps({"w": tensor("k", 2 ** 50, (2 ** 50,), (1,), legacy=True)})
    path = legacy_pth(tmp_path / "huge.pth", pkl, [("k", 2 ** 50, bytes(16))])
    assert f"truncated file: storage 'k' needs {2 ** 52} bytes but only 16 remain" in error_of(path, tmp_path)
    pkl = dumps({"w": tensor("0", 1, (2 ** 40, 2 ** 30), (0, 0))})  # 2**70 elements of one float
    path = zip_pth(tmp_path / "expand.pth", pkl, {"0": bytes(4)})
    assert "tensor 'w' of size (1099511627776, 1073741824) cannot be built" in error_of(path, tmp_path)


def test_big_endian_zip_and_legacy_storage_views(tmp_path):
    values = np.arange(10, dtype=np.float32) * 1.5
    pkl = dumps({"w": tensor("0", 10, (2, 2), (2, 1), offset=3)})
    path = zip_pth(tmp_path / "big.pth", pkl, {"0": values.astype(">f4").tobytes()}, byteorder=b"big")
    got = load_state_dict(path)["w"]
    assert got.dtype == np.float32 and got.dtype.isnative
    np.testing.assert_array_equal(got, values[3:7].reshape(2, 2))
    # Pre-1.0 legacy files could reference a view (key, offset, size) of a storage.
    pkl = dumps({"w": tensor("root", 10, (2, 2), (2, 1), offset=1, legacy=True, view=("v", 2, 6))})
    path = legacy_pth(tmp_path / "view.pth", pkl, [("root", 10, values.tobytes())])
    np.testing.assert_array_equal(load_state_dict(path)["w"], values[3:7].reshape(2, 2))


@pytest.mark.parametrize("content,match", [
    (b"\x89PNG\r\n\x1a\n" + bytes(64), r"not a PyTorch \.pth file: starts with b'\\x89PNG' \(a PNG image\)"),
    (b"hello, I am a text file\n", r"not a PyTorch \.pth file: starts with b'hell'"),
    (b"", "empty file"),
    (pickle.dumps({"a": 1}, protocol=2), "magic number"),
])
def test_not_a_pth_file(tmp_path, content, match):
    path = tmp_path / "thing.pth"
    path.write_bytes(content)
    msg = error_of(path, tmp_path)
    assert msg.startswith("<tmp>/thing.pth: ")
    assert re.search(match, msg)


def test_zip_without_data_pkl(tmp_path):
    path = tmp_path / "arrays.npz"
    np.savez(path, a=np.zeros(3))
    assert re.search("without a '[^']*data.pkl' record", error_of(path, tmp_path))


def test_missing_file_is_pth_error(tmp_path):
    assert "<tmp>/nope.pth: cannot open" in error_of(tmp_path / "nope.pth", tmp_path)


# ---------------------------------------------------------------------------
# check_state_dict


def test_check_state_dict_ok_and_restricts():
    state = {"b": np.zeros(2), "a": np.zeros((3, 4)), "head.w": np.zeros(1)}
    out = check_state_dict(state, {"a": (3, 4), "b": [2]}, allowed_extra_prefixes=("head.",))
    assert list(out) == ["a", "b"]
    out = check_state_dict(state, {"a": (3, 4), "b": (2,)}, allowed_extra_prefixes="head.")
    assert out["a"] is state["a"]


def test_check_state_dict_reports_every_problem():
    state = {"a": np.zeros((3, 4)), "extra.w": np.zeros(1), "skip.w": np.zeros(1)}
    with pytest.raises(PthError) as e:
        check_state_dict(state, {"a": (4, 3), "b": (2,)}, allowed_extra_prefixes=("skip.",),
                         source="weights.pth")
    msg = str(e.value)
    assert msg.startswith("weights.pth:")
    assert "missing keys: b" in msg
    assert "unexpected keys: extra.w" in msg and "skip.w" not in msg
    assert "a: got shape (3, 4), expected (4, 3)" in msg


# ---------------------------------------------------------------------------


def test_module_imports_neither_torch_nor_tensorflow():
    # The reader itself needs only NumPy (its own imports), and reading through the package on
    # Keras' NumPy backend loads neither torch nor TensorFlow.
    import ast

    from lpips_tf.core import pth

    tree = ast.parse(open(pth.__file__).read())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree)
                 if isinstance(n, ast.ImportFrom) and n.module}
    assert not imported & {"torch", "tensorflow", "keras", "jax"}, imported
    code = (
        "import sys\n"
        "from lpips_tf.core import pth\n"
        f"pth.load_state_dict({str(FIXTURES / 'zip_mixed.pth')!r})\n"
        "bad = [n for n in ('torch', 'tensorflow') if n in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(ROOT),
                   env=dict(os.environ, KERAS_BACKEND="numpy", PYTHONPATH=str(ROOT)))
