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

# The bombs are loaded in a child process on Keras' NumPy backend (no TensorFlow), under an
# address-space cap set after the imports so that a regression fails instead of exhausting the
# machine, and it reports its own peak resident memory (VmHWM).
_CHILD = textwrap.dedent("""
    import json, os, resource, sys
    os.environ["KERAS_BACKEND"] = "numpy"
    sys.path.insert(0, sys.argv[1])
    import numpy as np
    from lpips_tf.data import images
    from lpips_tf.core import pth, weights
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
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
    from lpips_tf.data import images

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
    from lpips_tf.data.images import load_image

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
    from lpips_tf.core import weights

    with np.load(random_trunk_file("alex")) as data:
        state = {k: data[k] for k in data.files}
    state["features.3.weight"][0, 0, 0, 0] = np.nan
    path = _npz(tmp_path / "nan_trunk.npz", **state)
    with pytest.raises(ValueError, match=r"nan_trunk.npz: features.3.weight holds 1 NaN or "
                                         r"infinite value"):
        weights.load_trunk_state_dict("alex", path)


def test_absurd_lin_weights_refused(tmp_path):
    from lpips_tf.core import weights

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
    from lpips_tf.core import weights

    path = _npz(tmp_path / "obj.npz", lin0=lin0, lin1=np.ones(2))
    with pytest.raises(ValueError, match=pattern):
        weights.load_lin_weights(path, (3, 2))


def test_lin_weights_shape_checked_before_reading(tmp_path, monkeypatch):
    from lpips_tf.core import weights

    path = _npz(tmp_path / "shape.npz", lin0=np.ones(4), lin1=np.ones(2))

    def no_reading(*args, **kwargs):
        raise AssertionError("array data read before the declared shapes were checked")

    monkeypatch.setattr(weights.np, "load", no_reading)
    with pytest.raises(ValueError, match=r"shape.npz: .*lin0: got shape \(4,\), expected \(3,\)"):
        weights.load_lin_weights(path, (3, 2))


def test_keras_trunk_offline_is_one_clear_line(tmp_path, monkeypatch, capsys):
    from lpips_tf.cli import main as cli
    from lpips_tf.core import weights

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr(weights, "KERAS_VGG16_URL", (tmp_path / "offline" / "x.h5").as_uri())
    a = _write_png(tmp_path / "a.png", np.zeros((32, 32, 3)))
    rc = cli.main(["pair", a, a, "--net", "vgg", "--trunk_weights", "keras"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert "Could not download Keras' ImageNet VGG16 weights" in err
    assert str(tmp_path / "keras_home" / "models" /
               "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5") in err


# ------------------------------------------------------------------ 6. SavedModel channels


def test_saved_model_refuses_other_channel_counts(tmp_path):
    import keras
    import tensorflow as tf

    from lpips_tf.uses.export import export_saved_model

    # A stand-in distance model that, like LPIPS' scaling layer, would broadcast 1 channel to 3.
    a, b = keras.Input((None, None, 3)), keras.Input((None, None, 3))
    weight = keras.ops.convert_to_tensor(np.array([1.0, 2.0, 3.0], np.float32))
    d = keras.layers.Lambda(lambda t: keras.ops.mean(((t[0] - t[1]) * weight) ** 2, axis=(1, 2, 3)))(
        [a, b])
    export_saved_model(keras.Model([a, b], d), str(tmp_path / "sm"))
    serve = tf.saved_model.load(str(tmp_path / "sm")).signatures["serving_default"]
    ok = serve(image0=tf.zeros((2, 8, 8, 3)), image1=tf.ones((2, 8, 8, 3)))["distance"]
    np.testing.assert_allclose(ok.numpy(), [14 / 3] * 2, rtol=1e-6)
    for channels in (1, 2, 4):
        with pytest.raises(tf.errors.InvalidArgumentError, match="image0 must be RGB"):
            serve(image0=tf.zeros((1, 8, 8, channels)), image1=tf.zeros((1, 8, 8, channels)))


@pytest.mark.slow
def test_judgment_model_loads_after_import_lpips_tf_alone(tmp_path):
    import lpips_tf
    from lpips_tf import training

    distance = lpips_tf.LPIPS(net="squeeze", lpips=False, trunk_weights=None, lin_weights=None)
    path = str(tmp_path / "judgment_model.keras")
    training.build_2afc_model(distance, image_size=32).save(path)
    code = ("import sys, keras, lpips_tf\n"
            "m = keras.saving.load_model(sys.argv[1])\n"
            "print(type(m).__name__)\n")
    out = subprocess.run([PY, "-c", code, path], capture_output=True, text=True, cwd=str(ROOT),
                         timeout=240, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, out.stderr[-1500:]
    assert out.stdout.strip().splitlines()[-1] == "TwoAFCModel"


# ------------------------------------------------------------------ 3. one run per run folder

_HOLDER = textwrap.dedent("""
    import os, sys, time
    os.environ["KERAS_BACKEND"] = "numpy"  # run_lock alone: no TensorFlow
    from lpips_tf.training.run_lock import RunLock
    lock = RunLock(sys.argv[1]).acquire()
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
    lock.release()
""")


def _hold_lock(run_dir, seconds=60):
    """A child process holding the run lock of `run_dir` (started and holding on return)."""
    child = subprocess.Popen([PY, "-c", _HOLDER, str(run_dir), str(seconds), str(ROOT)],
                             cwd=str(ROOT),
                             stdout=subprocess.PIPE, text=True,
                             env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert child.stdout.readline().strip() == "held"
    return child


def test_run_lock_refuses_a_live_holder_and_recovers_a_dead_one(tmp_path):
    import socket

    from lpips_tf.training.run_lock import RunLock, RunLockedError, lock_path

    run_dir = tmp_path / "out" / "alex-lin"
    holder = _hold_lock(run_dir)
    try:
        with pytest.raises(RunLockedError, match=rf"in use by another training run \(pid "
                                                 rf"{holder.pid} on {re.escape(socket.gethostname())}, "
                                                 rf"started \d{{4}}-"):
            RunLock(run_dir).acquire()
    finally:
        holder.kill()
        holder.wait()
    # Killed: its lock file is left, with a dead pid on this host -> stale, taken over.
    assert os.path.exists(lock_path(run_dir))
    messages = []
    with RunLock(run_dir, log=messages.append):
        assert json.load(open(lock_path(run_dir)))["pid"] == os.getpid()
    assert "stale lock" in messages[0] and str(holder.pid) in messages[0]
    assert not os.path.exists(lock_path(run_dir))


def test_run_lock_released_and_config_marked_on_exception(tmp_path):
    from lpips_tf.training.run_lock import RunFolderGuard, lock_path

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    config = run_dir / "config.json"
    config.write_text(json.dumps({"status": "running"}))
    with pytest.raises(RuntimeError):
        with RunFolderGuard() as guard:
            guard.lock(str(run_dir), str(config))
            raise RuntimeError("disk on fire\nsecond line")
    assert not os.path.exists(lock_path(run_dir))
    record = json.loads(config.read_text())
    assert record["status"] == "failed" and record["error"] == "RuntimeError: disk on fire"


def _toy_2afc(root, subsets=("train/toy", "val/toy"), n=4, size=64):
    rng = np.random.default_rng(0)
    for subset in subsets:
        folder = os.path.join(root, "2afc", subset)
        for part in ("ref", "p0", "p1"):
            for i in range(n):
                _write_png(os.path.join(folder, part, f"{i:06d}.png"),
                           rng.integers(0, 256, (size, size, 3)))
        os.makedirs(os.path.join(folder, "judge"), exist_ok=True)
        for i in range(n):
            np.save(os.path.join(folder, "judge", f"{i:06d}.npy"), np.array([0.5]))
    return str(root)


def _damage_middle(path):
    """Flips bytes in the middle of a PNG: header and trailer stay valid (the cheap index check
    passes), decoding fails."""
    data = bytearray(open(path, "rb").read())
    for i in range(len(data) // 2, len(data) // 2 + 16):
        data[i] ^= 0x5A
    open(path, "wb").write(bytes(data))


def _train_args(data, out, trunk, *extra):
    return ("--data_dir", data, "--train_sets", "train/toy", "--val_sets", "val/toy",
            "--variant", "alex-lin", "--trunk_weights", trunk, "--epochs", "1",
            "--epochs_decay", "0", "--batch_size", "4", "--steps_per_epoch", "1",
            "--out_dir", str(out), "--verbose", "0", *extra)


def test_second_training_run_is_refused_and_leaves_the_first_alone(tmp_path, capsys,
                                                                    random_trunk_file):
    from conftest import run_train_main

    data = _toy_2afc(tmp_path / "data")
    out = tmp_path / "runs"
    live = out / "alex-lin"
    live.mkdir(parents=True)
    (live / "config.json").write_text(json.dumps({"status": "running", "flags": {}}))
    (live / "history.csv").write_text("epoch,loss\n0,1.0\n")
    holder = _hold_lock(live)
    try:
        rc = run_train_main(*_train_args(data, out, random_trunk_file("alex"), "--overwrite"))
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert rc == 2 and "in use by another training run" in err and str(holder.pid) in err
    assert "Traceback" not in err
    assert (live / "history.csv").read_text() == "epoch,loss\n0,1.0\n"  # not deleted


# ------------------------------------------------------------------ 6. damaged data, outputs


def test_corrupt_png_in_a_subset_is_named_and_run_marked_failed(tmp_path, capsys,
                                                                random_trunk_file):
    from conftest import run_train_main

    data = _toy_2afc(tmp_path / "data")
    bad = os.path.join(data, "2afc", "train", "toy", "p1", "000002.png")
    _damage_middle(bad)
    out = tmp_path / "runs"
    rc = run_train_main(*_train_args(data, out, random_trunk_file("alex")))
    err = capsys.readouterr().err
    assert rc == 2 and f"Corrupt image {bad}" in err, err[-2000:]
    assert "{{function_node" not in err and "Traceback" not in err
    record = json.load(open(out / "alex-lin" / "config.json"))
    assert record["status"] == "failed" and bad in record["error"]


def test_corrupt_png_named_by_evaluation(tmp_path):
    from lpips_tf.evaluation import evaluate as evaluation
    from lpips_tf.data import bapps

    data = _toy_2afc(tmp_path / "data", subsets=("val/toy",))
    bad = os.path.join(data, "2afc", "val", "toy", "ref", "000001.png")
    _damage_middle(bad)
    variants = evaluation.resolve_variants([], baselines=True)
    with pytest.raises(bapps.DataError, match=rf"Corrupt image {re.escape(bad)}: (?!.*\{{\{{)"):
        evaluation.evaluate(data, variants, sets=["2afc/val/toy"], batch_size=2, n_boot=10,
                            progress=False)


def test_unwritable_outputs_are_refused_before_any_work(tmp_path, capsys):
    from conftest import run_train_main
    from lpips_tf.cli import main as cli

    blocker = tmp_path / "a_file"
    blocker.write_text("")
    data = _toy_2afc(tmp_path / "data", subsets=("val/toy",))
    rc = run_train_main("--data_dir", data, "--out_dir", str(blocker / "runs"))
    err = capsys.readouterr().err
    assert rc == 2 and f"cannot write to the --out_dir folder {blocker / 'runs'}" in err, err

    # The scripts keep no global flags: evaluate.py runs in the same process as train.py.
    import evaluate as evaluate_script

    rc = evaluate_script.main(["--data_dir", data, "--out", str(blocker / "eval")])
    err = capsys.readouterr().err
    assert rc == 2 and f"cannot write to the --out folder {blocker / 'eval'}" in err, err
    assert len(err.splitlines()) == 1, err

    folder = tmp_path / "imgs"
    for name in ("a.png", "b.png"):
        _write_png(folder / name, np.zeros((40, 40, 3)))
    rc = cli.main(["all-pairs", str(folder), "-o", str(blocker / "res.txt"),
                   "--trunk_weights", "none", "--cos"])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot write the results file" in err and len(err.splitlines()) == 1, err


# ------------------------------------------------------------------ 5. batch commands


def test_dirs_skips_junk_reports_bad_files_and_keeps_the_rest(tmp_path, capsys):
    from lpips_tf.cli import main as cli

    rng = np.random.default_rng(1)
    d0, d1 = tmp_path / "d0", tmp_path / "d1"
    for d in (d0, d1):
        _write_png(d / "a.png", rng.integers(0, 256, (40, 40, 3)))
        _jpeg(d / "a.jpg", rng.integers(0, 256, (40, 40, 3)))
        (d / "._a.png").write_bytes(b"\x00\x05\x16\x07AppleDouble")  # macOS metadata
        (d / ".hidden.png").write_bytes(b"junk")
        (d / "folder.png").mkdir()
        (d / "bad.png").write_text("not an image")
    _write_png(d0 / "big.png", np.zeros((40, 40, 3)))
    _write_png(d1 / "big.png", np.zeros((48, 40, 3)))
    out, maps = tmp_path / "res.txt", tmp_path / "maps"
    rc = cli.main(["dirs", str(d0), str(d1), "-o", str(out), "--spatial_dir", str(maps),
                   "--trunk_weights", "none", "--cos"])
    err = capsys.readouterr().err
    assert rc == 1
    assert [line.split(":")[0] for line in out.read_text().splitlines()] == ["a.jpg", "a.png"]
    assert f"{d0 / 'bad.png'} is not a readable image" in err
    assert "big.png is 40x40 but" in err and "._a.png" not in err and ".hidden" not in err
    assert sorted(p.name for p in maps.iterdir()) == ["a.jpg_lpips.png", "a.png_lpips.png"]


def test_all_pairs_skips_unreadable_files(tmp_path, capsys):
    from lpips_tf.cli import main as cli

    rng = np.random.default_rng(2)
    for name in ("a.png", "b.png", "c.png"):
        _write_png(tmp_path / "imgs" / name, rng.integers(0, 256, (40, 40, 3)))
    (tmp_path / "imgs" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(30))
    out = tmp_path / "pairs.txt"
    rc = cli.main(["all-pairs", str(tmp_path / "imgs"), "-o", str(out), "--trunk_weights", "none",
                   "--cos"])
    err = capsys.readouterr().err
    lines = out.read_text().splitlines()
    assert rc == 1 and "broken.png is not a readable image" in err
    assert len(lines) == 4 and lines[-1].startswith("mean over 3 pairs")


def test_too_small_and_undecodable_images_give_clean_one_line_errors(tmp_path, capsys):
    from lpips_tf.cli import main as cli

    small = _write_png(tmp_path / "small.png", np.zeros((8, 8, 3)))
    rc = cli.main(["pair", small, small, "--trunk_weights", "none", "--cos"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert "\x1b[" not in err and "Exception encountered" not in err and "small.png" in err
    broken = tmp_path / "broken.png"
    data = bytearray(_png_bytes(np.random.default_rng(3).integers(0, 256, (64, 64, 3))))
    data[len(data) // 2:len(data) // 2 + 16] = bytes(16)
    broken.write_bytes(bytes(data))
    rc = cli.main(["pair", str(broken), str(broken), "--trunk_weights", "none"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert f"{broken} is not a readable image" in err and "function_node" not in err
