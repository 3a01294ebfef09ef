"""Hostile and broken inputs: each test builds a small bad file and checks for a clear refusal.

Covers archive links, memory bombs in weight files and images, concurrent training runs, EXIF
orientation, batch commands that meet bad files, and the smaller one-line-error cases. Memory is
measured in a child process (ru_maxrss of RUSAGE_CHILDREN) so the bombs cannot hurt the test run.
"""

import io
import re
import json
import os
import subprocess
import sys
import tarfile
import textwrap

import numpy as np
import pytest

from conftest import ROOT

PY = sys.executable


def _png_bytes(array):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(array, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _write_png(path, array):
    os.makedirs(os.path.dirname(str(path)) or ".", exist_ok=True)
    with open(path, "wb") as f:
        f.write(_png_bytes(array))
    return str(path)


# ------------------------------------------------------------------ 1. links in BAPPS archives


def _jnd_members(prefix, n=2, size=8):
    """{name: bytes} of a tiny JND split (p0, p1, same) under `prefix`."""
    rng = np.random.default_rng(0)
    members = {}
    for i in range(n):
        for part in ("p0", "p1"):
            members[f"{prefix}traditional/{part}/{i:06d}.png"] = _png_bytes(
                rng.integers(0, 256, (size, size, 3)))
        buf = io.BytesIO()
        np.save(buf, np.array([0.5]))
        members[f"{prefix}traditional/same/{i:06d}.npy"] = buf.getvalue()
    return members


def _tar(path, members, links=()):
    """Writes a .tar.gz of {name: bytes} plus (name, target, type) link members."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target, kind in links:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tar.addfile(info)
    return str(path)


@pytest.fixture
def jnd_part(monkeypatch, tmp_path):
    from lpips_tf.data import download

    monkeypatch.setitem(download.PARTS, "jnd", ("jnd.tar.gz", "jnd", "val", {"traditional": 2}))
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    return download, mirror


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_unpack_refuses_link_members_that_escape_after_the_move(jnd_part, tmp_path, kind):
    download, mirror = jnd_part
    # Inside the staging folder `a/b/c/val/cnn_link -> ../../../..` stays inside; once val/ is
    # moved up to <out>/jnd/val it would point above <out>. Any link member is refused.
    members = _jnd_members("a/b/c/val/")
    target = "../../../.." if kind == tarfile.SYMTYPE else "a/b/c/val/traditional/same/000000.npy"
    _tar(mirror / "jnd.tar.gz", members, [("a/b/c/val/cnn_link", target, kind)])
    out = tmp_path / "out"
    with pytest.raises(download.DownloadError, match=r"link member 'a/b/c/val/cnn_link'"):
        download.download(str(out), "jnd", base_url=mirror.as_uri(), progress=False,
                          keep_archive=True)
    assert not os.path.lexists(out / "jnd" / "val" / "cnn_link")
    assert not os.path.lexists(out / ".unpack_jnd"), "staging folder left behind"


def test_force_rerun_unlinks_old_links_without_following_them(jnd_part, tmp_path):
    download, mirror = jnd_part
    _tar(mirror / "jnd.tar.gz", _jnd_members("a/b/c/val/"))
    out = tmp_path / "out"
    outside = tmp_path / "outside"
    (outside / "traditional").mkdir(parents=True)
    (outside / "traditional" / "keep.txt").write_text("not yours")
    # What an older, unsafe unpacking left: links in the split folder, one with a subset's name.
    (out / "jnd" / "val").mkdir(parents=True)
    os.symlink(outside / "traditional", out / "jnd" / "val" / "traditional")
    os.symlink("../../..", out / "jnd" / "val" / "cnn_link")
    counts = download.download(str(out), "jnd", base_url=mirror.as_uri(), progress=False,
                               keep_archive=True, force=True)
    assert counts == {"jnd": {"val/traditional": 2}}
    assert (outside / "traditional" / "keep.txt").read_text() == "not yours"
    assert not os.path.islink(out / "jnd" / "val" / "traditional")
    assert not os.path.lexists(out / "jnd" / "val" / "cnn_link")
    assert not os.path.lexists(out / ".unpack_jnd")


# ------------------------------------------------------------------ 2. memory bombs

# The bombs are loaded in a child process that imports lpips_tf's modules without the package
# init (so without TensorFlow), under an address-space cap so that a regression fails instead of
# exhausting the machine, and reports its own peak resident memory (VmHWM).
_CHILD = textwrap.dedent("""
    import json, resource, sys, types
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
    pkg = types.ModuleType("lpips_tf")
    pkg.__path__ = [sys.argv[1] + "/lpips_tf"]
    sys.modules["lpips_tf"] = pkg
    import numpy as np
    from lpips_tf import images, pth, weights
    kind, path = sys.argv[2], sys.argv[3]
    try:
        if kind == "pth":
            pth.load_state_dict(path)
        elif kind == "npz":
            weights.load_npz(path)
        else:
            images.load_image(path)
        error = None
    except ValueError as e:
        error = str(e)
    # VmHWM, not ru_maxrss: Linux carries the parent's (pytest's) peak into ru_maxrss across exec.
    with open("/proc/self/status") as f:
        peak = [int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:")][0]
    print(json.dumps({"error": error, "peak": peak}))
""")


def _load_in_child(kind, path):
    out = subprocess.run([PY, "-c", _CHILD, str(ROOT), kind, str(path)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _zeros_deflated(nbytes, chunk=16 << 20):
    """A raw deflate stream of `nbytes` zeros and its CRC-32, quickly: full-flushed blocks of the
    same input compress to the same bytes, so one chunk is compressed and repeated."""
    import zlib

    assert nbytes % chunk == 0
    zeros = bytes(chunk)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(9, zlib.DEFLATED, -15)
    crc = 0
    for _ in range(nbytes // chunk):
        crc = zlib.crc32(zeros, crc)
    return block * (nbytes // chunk) + end.flush(), crc


def _zip(path, records):
    """A zip archive by hand: records are (name, payload, method, size, crc); method 0 = stored,
    8 = deflated (payload already compressed)."""
    import struct
    import zlib

    local, central = b"", b""
    for name, payload, method, size, crc in records:
        name = name.encode()
        if method == 0:
            crc, size = zlib.crc32(payload), len(payload)
        head = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, len(payload),
                           size, len(name), 0)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, crc,
                               len(payload), size, len(name), 0, 0, 0, 0, 0, len(local)) + name
        local += head + name + payload
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(records), len(records), len(central),
                      len(local), 0)
    with open(path, "wb") as f:
        f.write(local + central + end)
    return str(path)


def _pth_pickle(numel, size, stride):
    from test_pth import dumps, tensor

    return dumps({"w": tensor("0", numel, size, stride)})


@pytest.fixture(scope="module")
def baseline_peak(tmp_path_factory):
    """Peak memory of the child loading a normal small weight file."""
    path = tmp_path_factory.mktemp("baseline") / "ok.pth"
    _zip(path, [("archive/data.pkl", _pth_pickle(4, (4,), (1,)), 0, 0, 0),
                ("archive/data/0", np.arange(4, dtype="<f4").tobytes(), 0, 0, 0)])
    result = _load_in_child("pth", path)
    assert result["error"] is None
    return result["peak"]


def _report(name, result, baseline):
    print(f"{name}: peak {result['peak'] / 2**20:.0f} MiB, baseline {baseline / 2**20:.0f} MiB")
    assert result["peak"] - baseline < 1 << 30, result


def test_pth_stride0_view_bomb(tmp_path, baseline_peak):
    # ~540 bytes: one stored float viewed as a (16384, 16384, 2) tensor (2 GiB as float32).
    path = _zip(tmp_path / "stride0.pth", [
        ("archive/data.pkl", _pth_pickle(1, (16384, 16384, 2), (0, 0, 0)), 0, 0, 0),
        ("archive/data/0", bytes(4), 0, 0, 0)])
    assert os.path.getsize(path) < 1000
    result = _load_in_child("pth", path)
    assert re.search(r"tensor 'w' of size \(16384, 16384, 2\) cannot be built: its stride "
                     r"\(0, 0, 0\) repeats 4 stored bytes", result["error"] or "")
    _report("stride-0 .pth", result, baseline_peak)


@pytest.mark.parametrize("declared", ["storage", "record"])
def test_pth_deflated_record_bomb(tmp_path, baseline_peak, declared):
    # A ~2 MB file whose storage record inflates to 2 GiB. Either the pickle declares a 2 GiB
    # storage (refused by its size), or a 16-byte one whose record claims 2 GiB (only the 16
    # bytes are ever inflated).
    payload, crc = _zeros_deflated(2 << 30)
    numel = (2 << 30) // 4 if declared == "storage" else 4
    path = _zip(tmp_path / "deflated.pth", [
        ("archive/data.pkl", _pth_pickle(numel, (numel,), (1,)), 0, 0, 0),
        ("archive/data/0", payload, 8, 2 << 30, crc)])
    assert os.path.getsize(path) < 3 << 20
    result = _load_in_child("pth", path)
    if declared == "storage":
        assert re.search(r"expected at most \d+ \(pth.MAX_BYTES\)|decompression bomb",
                         result["error"] or ""), result
    else:
        assert result["error"] is None, result
    _report(f"deflated .pth ({declared})", result, baseline_peak)


@pytest.mark.parametrize("case", ["declared", "deflated"])
def test_npz_header_bomb(tmp_path, baseline_peak, case):
    import struct

    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (268435456,), }"
    header = header.ljust(117) + "\n"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()
    if case == "declared":
        # 100 bytes declaring a 2 GiB array: np.load would allocate before reading.
        path = _zip(tmp_path / "declared.npz", [("lin0.npy", npy + bytes(8), 0, 0, 0)])
        pattern = r"declares shape \(268435456,\) \(2147483648 bytes\) but its record holds only"
    else:
        import zlib

        data, _ = _zeros_deflated(2 << 30)
        comp = zlib.compressobj(9, zlib.DEFLATED, -15)
        head = comp.compress(npy) + comp.flush(zlib.Z_FULL_FLUSH)
        crc = _crc_after(npy, 2 << 30)  # the header, then the zeros
        path = _zip(tmp_path / "deflated.npz",
                    [("lin0.npy", head + data, 8, len(npy) + (2 << 30), crc)])
        pattern = r"declare 2147483648 bytes; expected at most|decompression bomb"
    result = _load_in_child("npz", path)
    assert re.search(pattern, result["error"] or ""), result
    _report(f".npz ({case})", result, baseline_peak)


def _crc_after(prefix, zeros, chunk=16 << 20):
    import zlib

    crc, block = zlib.crc32(prefix), bytes(chunk)
    for _ in range(zeros // chunk):
        crc = zlib.crc32(block, crc)
    return crc


def _png_1bit(path, width, height):
    """A 1-bit grayscale PNG of zeros by hand: tiny on disk, huge once decoded to RGB."""
    import struct
    import zlib

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    row = b"\x00" + bytes((width + 7) // 8)
    raw = zlib.compress(row * height, 9)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n"
                + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
                + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
    return str(path)


def test_png_pixel_bomb(tmp_path, baseline_peak):
    path = _png_1bit(tmp_path / "bomb.png", 20000, 20000)
    assert os.path.getsize(path) < 200_000
    result = _load_in_child("image", path)
    assert re.search(r"bomb.png is .* pixels \(400 megapixels\); expected at most 64 megapixels",
                     result["error"] or ""), result
    _report("20000x20000 PNG", result, baseline_peak)


def test_pixel_limit_is_configurable(tmp_path):
    from lpips_tf import images

    path = _write_png(tmp_path / "small.png", np.zeros((10, 20, 3)))
    assert images.load_image(path).shape == (10, 20, 3)
    with pytest.raises(ValueError, match=r"20x10 pixels .* at most 0.0001 megapixels"):
        images.load_image(path, max_pixels=100)


# ------------------------------------------------------------------ 4. EXIF orientation


def _jpeg(path, array, orientation=None):
    from PIL import Image

    image = Image.fromarray(np.asarray(array, np.uint8))
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    image.save(path, format="JPEG", quality=95, exif=exif.tobytes())
    return str(path)


@pytest.mark.parametrize("orientation,rotate", [(3, 2), (6, -1), (8, 1)])
def test_exif_orientation_is_applied(tmp_path, orientation, rotate):
    from lpips_tf.images import load_image

    photo = np.random.default_rng(0).integers(0, 256, (24, 40, 3))
    plain = load_image(_jpeg(tmp_path / "plain.jpg", photo))
    oriented = load_image(_jpeg(tmp_path / "oriented.jpg", photo, orientation))
    # Same pixel data, shown rotated: the viewer (and OpenCV, the official reader) rotates it.
    np.testing.assert_array_equal(oriented, np.rot90(plain, rotate))


# ------------------------------------------------------------------ 6. weight values


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def test_nan_trunk_weights_refused_naming_key_and_file(tmp_path, random_trunk_file):
    from lpips_tf import weights

    with np.load(random_trunk_file("alex")) as data:
        state = {k: data[k] for k in data.files}
    state["features.3.weight"][0, 0, 0, 0] = np.nan
    path = _npz(tmp_path / "nan_trunk.npz", **state)
    with pytest.raises(ValueError, match=r"nan_trunk.npz: features.3.weight holds 1 NaN or "
                                         r"infinite value"):
        weights.load_trunk_state_dict("alex", path)


def test_absurd_lin_weights_refused(tmp_path):
    from lpips_tf import weights

    channels = (3, 2)
    path = _npz(tmp_path / "huge.npz", lin0=np.full(3, 1e38, np.float32), lin1=np.ones(2))
    with pytest.raises(ValueError, match=r"huge.npz: lin0 has weights up to 1e\+38; expected "
                                         r"values in \[0, 1e\+06\]"):
        weights.load_lin_weights(path, channels)
    np.testing.assert_array_equal(
        weights.load_lin_weights(_npz(tmp_path / "ok.npz", lin0=np.ones(3), lin1=np.ones(2)),
                                 channels)[0], np.ones(3))


@pytest.mark.parametrize("lin0,pattern", [
    (np.array([{"a": 1}, None, 3], dtype=object), r"obj.npz: array 'lin0' has dtype object "
                                                  r"\(pickled Python objects\)"),
    (np.array(["1", "2", "3"]), r"obj.npz: array 'lin0' has dtype <U1 \(not numbers\)"),
])
def test_object_and_string_lin_weights_name_the_file(tmp_path, lin0, pattern):
    from lpips_tf import weights

    path = _npz(tmp_path / "obj.npz", lin0=lin0, lin1=np.ones(2))
    with pytest.raises(ValueError, match=pattern):
        weights.load_lin_weights(path, (3, 2))


def test_lin_weights_shape_checked_before_reading(tmp_path):
    from lpips_tf import weights

    path = _npz(tmp_path / "shape.npz", lin0=np.ones(4), lin1=np.ones(2))
    with pytest.raises(ValueError, match=r"shape.npz: .*lin0: got shape \(4,\), expected \(3,\)"):
        weights.load_lin_weights(path, (3, 2))


def test_keras_trunk_offline_is_one_clear_line(tmp_path, monkeypatch, capsys):
    from lpips_tf import cli, weights

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr(weights, "KERAS_VGG16_URL", (tmp_path / "offline" / "x.h5").as_uri())
    a = _write_png(tmp_path / "a.png", np.zeros((32, 32, 3)))
    rc = cli.main(["pair", a, a, "--net", "vgg", "--trunk_weights", "keras"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert "Could not download Keras' ImageNet VGG16 weights" in err
    assert str(tmp_path / "keras_home" / "models" /
               "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5") in err
