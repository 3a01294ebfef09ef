"""lpips_tf.data: BAPPS indexing/validation, tf.data loaders, synthetic generator, download."""

import functools
import http.server
import io
import json
import os
import shutil
import tarfile
import threading

import numpy as np
import pytest
import tensorflow as tf

from lpips_tf.data import bapps
from lpips_tf.data import download
from lpips_tf.data import synthetic
from conftest import ROOT, SHARED

PHOTOS = ROOT / "lpips_tf" / "data" / "photos"
ORIGINAL_PHOTOS = ["astronaut_97x131.png", "coffee_384x512.png", "chelsea_256.png", "rocket_256.png"]


def _photo_sources():
    files = [str(PHOTOS / f) for f in ORIGINAL_PHOTOS if (PHOTOS / f).exists()]
    if (SHARED / "images").is_dir():
        files.append(str(SHARED / "images"))
    if not files:
        pytest.skip("no test photographs (lpips_tf/data/photos) available")
    return files


# ---------------------------------------------------------------------------- helpers


def _png(path, image):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(tf.io.encode_png(image).numpy())


def _bmp(path, image):
    """A 24-bit BMP (bottom-up BGR rows padded to 4 bytes), written by hand: TF only decodes BMP."""
    h, w, _ = image.shape
    row = (w * 3 + 3) // 4 * 4
    pixels = bytearray()
    for y in range(h - 1, -1, -1):
        line = image[y, :, ::-1].tobytes()
        pixels += line + b"\0" * (row - len(line))
    header = b"BM" + (54 + len(pixels)).to_bytes(4, "little") + b"\0" * 4 + (54).to_bytes(4, "little")
    info = (40).to_bytes(4, "little") + w.to_bytes(4, "little") + h.to_bytes(4, "little")
    info += (1).to_bytes(2, "little") + (24).to_bytes(2, "little") + b"\0" * 24
    with open(path, "wb") as f:
        f.write(header + info + bytes(pixels))


def _make_2afc(root, subset="val/toy", n=6, size=12, seed=0, judges=None):
    """A tiny hand-made 2AFC subset; returns the images written, {folder: uint8 (n, H, W, 3)}."""
    rng = np.random.default_rng(seed)
    folder = os.path.join(root, "2afc", subset)
    images = {}
    for name in ("ref", "p0", "p1"):
        images[name] = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
        for i in range(n):
            _png(os.path.join(folder, name, f"{i:06d}.png"), images[name][i])
    os.makedirs(os.path.join(folder, "judge"), exist_ok=True)
    judges = rng.random(n) if judges is None else judges
    for i in range(n):
        np.save(os.path.join(folder, "judge", f"{i:06d}.npy"), np.array([judges[i]]))
    return images, np.asarray(judges)


def _make_jnd(root, subset="val/toy", n=6, size=12, seed=1):
    rng = np.random.default_rng(seed)
    folder = os.path.join(root, "jnd", subset)
    for name in ("p0", "p1"):
        for i in range(n):
            _png(os.path.join(folder, name, f"{i:06d}.png"),
                 rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    os.makedirs(os.path.join(folder, "same"), exist_ok=True)
    for i in range(n):
        np.save(os.path.join(folder, "same", f"{i:06d}.npy"), np.array([(i % 4) / 3]))


@pytest.fixture
def toy(tmp_path):
    images, judges = _make_2afc(str(tmp_path))
    return str(tmp_path), images, judges


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """A small synthetic dataset (16 px patches), generated once for the module."""
    root = str(tmp_path_factory.mktemp("synth"))
    summary = synthetic.generate(root, _photo_sources(), n_train=24, n_val=20, n_jnd=16,
                                 patch=16, seed=3, verbose=False)
    return root, summary


# ---------------------------------------------------------------------------- indexing


def test_find_subsets(toy, tmp_path):
    root, _, _ = toy
    _make_2afc(root, "val/other", n=2)
    assert bapps.find_subsets(root, "2afc", "val") == ["val/other", "val/toy"]
    with pytest.raises(bapps.DataError, match=r"Missing folder .*jnd.val"):
        bapps.find_subsets(root, "jnd", "val")
    with pytest.raises(ValueError, match="kind"):
        bapps.find_subsets(root, "3afc", "val")


def test_index_2afc(toy):
    root, _, judges = toy
    _make_2afc(root, "val/other", n=3, seed=5)
    index = bapps.index_2afc(root, "2afc/val/toy, val/other")
    assert index.subsets == ("val/toy", "val/other")
    assert len(index) == 9
    np.testing.assert_allclose(index.judge[:6], judges)
    assert index.judge.dtype == np.float64
    assert index.ref[0].endswith(os.path.join("val", "toy", "ref", "000000.png"))
    assert list(index.subset_ids) == [0] * 6 + [1] * 3
    part = index.select("val/other")
    assert len(part) == 3 and part.p1[2].endswith(os.path.join("other", "p1", "000002.png"))
    assert "triplets=9" in repr(index)


def test_index_reads_any_scalar_npy_layout(toy):
    root, _, _ = toy
    folder = os.path.join(root, "2afc", "val", "toy", "judge")
    np.save(os.path.join(folder, "000000.npy"), np.float32(0.25))  # shape ()
    np.save(os.path.join(folder, "000001.npy"), np.array([[0.5]], np.float32))  # (1, 1)
    np.save(os.path.join(folder, "000002.npy"), np.array([1], np.int64))  # all preferred p1
    np.save(os.path.join(folder, "000003.npy"), np.array([0.75], ">f8"))  # big-endian
    index = bapps.index_2afc(root, ["val/toy"])
    np.testing.assert_allclose(index.judge[:4], [0.25, 0.5, 1.0, 0.75])


def test_image_formats_jpeg_and_bmp(toy):
    root, images, _ = toy
    folder = os.path.join(root, "2afc", "val", "toy")
    os.remove(os.path.join(folder, "ref", "000001.png"))
    smooth = np.broadcast_to(np.linspace(0, 255, 12).astype(np.uint8)[None, :, None], (12, 12, 3))
    with open(os.path.join(folder, "ref", "000001.jpg"), "wb") as f:
        f.write(tf.io.encode_jpeg(np.ascontiguousarray(smooth), quality=95).numpy())
    os.remove(os.path.join(folder, "p0", "000002.png"))
    _bmp(os.path.join(folder, "p0", "000002.bmp"), images["p0"][2])
    index = bapps.index_2afc(root, ["val/toy"])
    (batch, _), = bapps.twoafc_dataset(index, load_size=12, batch_size=6).take(1)
    np.testing.assert_allclose(batch["p0"][2].numpy(), images["p0"][2] / 127.5 - 1.0, atol=1e-6)
    assert np.abs(batch["ref"][1].numpy() - (smooth / 127.5 - 1.0)).max() < 0.05


# ---------------------------------------------------------------------------- malformed data


def _subset(root):
    return os.path.join(root, "2afc", "val", "toy")


def test_missing_subfolder(toy):
    root, _, _ = toy
    shutil.rmtree(os.path.join(_subset(root), "p1"))
    with pytest.raises(bapps.DataError, match=r"Missing sub-folder .*toy.p1"):
        bapps.index_2afc(root, ["val/toy"])


def test_missing_subset_lists_available(toy):
    root, _, _ = toy
    with pytest.raises(bapps.DataError, match=r"Missing subset folder .*val.cnn.*val/toy"):
        bapps.index_2afc(root, ["val/cnn"])


def test_unequal_counts(toy):
    root, images, _ = toy
    _png(os.path.join(_subset(root), "ref", "000099.png"), images["ref"][0])
    with pytest.raises(bapps.DataError) as info:
        bapps.index_2afc(root, ["val/toy"])
    message = str(info.value)
    assert _subset(root) in message and "ref/ has 7 files" in message and "'000099'" in message


def test_mismatched_stems(toy):
    root, _, _ = toy
    folder = os.path.join(_subset(root), "judge")
    os.rename(os.path.join(folder, "000003.npy"), os.path.join(folder, "000103.npy"))
    with pytest.raises(bapps.DataError) as info:
        bapps.index_2afc(root, ["val/toy"])
    message = str(info.value)
    assert "only in ref/: ['000003']" in message and "only in judge/: ['000103']" in message


def test_duplicate_stem(toy):
    root, images, _ = toy
    with open(os.path.join(_subset(root), "p0", "000001.jpg"), "wb") as f:
        f.write(tf.io.encode_jpeg(images["p0"][1]).numpy())
    with pytest.raises(bapps.DataError, match=r"Two files share the stem '000001' in .*p0"):
        bapps.index_2afc(root, ["val/toy"])


@pytest.mark.parametrize("kind", ["truncated_png", "truncated_jpeg", "empty", "not_an_image"])
def test_corrupt_image_named(toy, kind):
    root, images, _ = toy
    path = os.path.join(_subset(root), "p1", "000004.png")
    data = open(path, "rb").read()
    if kind == "truncated_png":
        data = data[: len(data) // 2]
    elif kind == "truncated_jpeg":
        os.remove(path)
        path = path[:-4] + ".jpg"
        data = tf.io.encode_jpeg(images["p1"][4]).numpy()[:-40]
    elif kind == "empty":
        data = b""
    else:
        data = b"hello, I am a text file"
    with open(path, "wb") as f:
        f.write(data)
    with pytest.raises(bapps.DataError, match="Corrupt image " + path.replace("\\", "\\\\")):
        bapps.index_2afc(root, ["val/toy"])


def test_damage_inside_png_is_named_by_verify_images(toy):
    root, _, _ = toy
    path = os.path.join(_subset(root), "ref", "000002.png")
    data = bytearray(open(path, "rb").read())
    start = data.index(b"IDAT") + 8
    data[start : start + 40] = b"\xff" * 40  # still ends with IEND: passes the quick check
    open(path, "wb").write(bytes(data))
    index = bapps.index_2afc(root, ["val/toy"])
    with pytest.raises(bapps.DataError, match="Corrupt image .*000002.png"):
        bapps.verify_images(index.image_paths())


@pytest.mark.parametrize("value, pattern", [
    (np.array([1.5]), r"must lie in \[0, 1\], found 1.5"),
    (np.array([-0.1]), r"must lie in \[0, 1\]"),
    (np.array([np.nan]), r"must lie in \[0, 1\], found nan"),
    (np.array([0.2, 0.8]), r"must be one number, found an array of shape \(2,\)"),
    (np.array([["a"]]), "holds <U1 values"),
])
def test_bad_judge_named(toy, value, pattern):
    root, _, _ = toy
    path = os.path.join(_subset(root), "judge", "000005.npy")
    np.save(path, value)
    with pytest.raises(bapps.DataError, match=path.replace("\\", "\\\\") + ".*" + pattern):
        bapps.index_2afc(root, ["val/toy"])


def test_judge_not_npy(toy):
    root, _, _ = toy
    path = os.path.join(_subset(root), "judge", "000000.npy")
    open(path, "wb").write(b"not numpy")
    with pytest.raises(bapps.DataError, match="Cannot read .*000000.npy"):
        bapps.index_2afc(root, ["val/toy"])


def test_empty_subset(tmp_path):
    for name in ("ref", "p0", "p1", "judge"):
        os.makedirs(tmp_path / "2afc" / "val" / "empty" / name)
    with pytest.raises(bapps.DataError, match=r"Empty subset: .*empty.ref contains no image files"):
        bapps.index_2afc(str(tmp_path), ["val/empty"])


def test_bad_subset_names(toy):
    root, _, _ = toy
    with pytest.raises(ValueError, match="<split>/<name>"):
        bapps.index_2afc(root, ["toy"])
    with pytest.raises(ValueError, match="No 2afc subsets"):
        bapps.index_2afc(root, [])
    with pytest.raises(ValueError, match="repeated"):
        bapps.index_2afc(root, ["val/toy", "2afc/val/toy"])


# ---------------------------------------------------------------------------- tf.data


def test_twoafc_dataset_values(toy):
    root, images, judges = toy
    ds = bapps.twoafc_dataset(root, ["val/toy"], load_size=12, batch_size=4)
    batches = list(ds)
    assert [len(j) for _, j in batches] == [4, 2]
    x, judge = batches[0]
    assert set(x) == {"ref", "p0", "p1"}
    assert x["ref"].shape == (4, 12, 12, 3) and x["ref"].dtype == tf.float32
    assert judge.shape == (4,) and judge.dtype == tf.float32
    # At the stored size the resize is the identity: x / 127.5 - 1 to float32 precision.
    np.testing.assert_allclose(x["p1"].numpy(), images["p1"][:4] / 127.5 - 1.0, atol=1e-6)
    np.testing.assert_allclose(judge.numpy(), judges[:4], rtol=1e-6)
    assert ds.element_spec[0]["ref"].shape.as_list() == [None, 12, 12, 3]


def test_twoafc_dataset_resizes_with_antialias(toy):
    root, images, _ = toy
    (x, _), = bapps.twoafc_dataset(root, ["val/toy"], load_size=6, batch_size=6).take(1)
    assert x["ref"].shape == (6, 6, 6, 3)
    expected = tf.image.resize(images["ref"], [6, 6], method="bicubic", antialias=True)
    expected = np.clip(np.round(expected.numpy()), 0, 255) / 127.5 - 1.0
    np.testing.assert_allclose(x["ref"].numpy(), expected, atol=1e-6)
    assert np.all(np.abs(x["ref"].numpy()) <= 1.0)


def test_resize_matches_pil_bicubic_of_the_official_loader():
    # PIL `Image.resize((64, 64), Image.BICUBIC)` of chelsea_256.png (Pillow, torch environment).
    path = PHOTOS / "chelsea_256.png"
    if not path.exists():
        pytest.skip("lpips_tf/data/photos/chelsea_256.png is not present")
    pil_pixels = {(0, 0): [143, 92, 77], (10, 20): [144, 99, 61], (31, 31): [104, 56, 34],
                  (63, 5): [187, 155, 142], (40, 50): [149, 105, 64], (20, 60): [159, 122, 88]}
    pil_mean = [148.343017578125, 108.670654296875, 79.13427734375]
    ours = (bapps.load_image(str(path), load_size=64).numpy() + 1.0) * 127.5
    for (y, x), rgb in pil_pixels.items():
        np.testing.assert_allclose(ours[y, x], rgb, atol=2.0, err_msg=str((y, x)))
    np.testing.assert_allclose(ours.reshape(-1, 3).mean(0), pil_mean, atol=0.25)


def test_twoafc_dataset_shuffle_repeat_and_remainder(toy):
    root, _, judges = toy
    index = bapps.index_2afc(root, ["val/toy"])

    def order(ds, n):
        return np.concatenate([j.numpy() for _, j in ds.take(n)])

    a = order(bapps.twoafc_dataset(index, batch_size=2, shuffle=True, seed=7), 3)
    b = order(bapps.twoafc_dataset(index, batch_size=2, shuffle=True, seed=7), 3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.sort(a), np.sort(judges), rtol=1e-6)
    # Repeated: 4 batches of 4 with no partial batch, each epoch a new order.
    ds = bapps.twoafc_dataset(index, batch_size=4, shuffle=True, seed=1, repeat=True, drop_remainder=True)
    assert ds.element_spec[1].shape.as_list() == [4]
    epochs = order(ds, 3)  # 12 triplets = two epochs of 6
    np.testing.assert_allclose(np.sort(epochs[:6]), np.sort(judges), rtol=1e-6)
    np.testing.assert_allclose(np.sort(epochs[6:]), np.sort(judges), rtol=1e-6)
    assert bapps.twoafc_dataset(index, batch_size=4).cardinality().numpy() == 2
    assert bapps.twoafc_dataset(index, batch_size=4, drop_remainder=True).cardinality().numpy() == 1


def test_twoafc_dataset_cache_in_memory(toy):
    root, images, _ = toy
    ds = bapps.twoafc_dataset(root, ["val/toy"], load_size=12, batch_size=6, cache="", shuffle=True, seed=0)
    first = [x["ref"].numpy() for x, _ in ds]
    second = [x["ref"].numpy() for x, _ in ds]
    assert first[0].shape == (6, 12, 12, 3)
    np.testing.assert_allclose(np.sort(first[0].ravel()), np.sort(second[0].ravel()))


def test_dataset_argument_errors(toy):
    root, _, _ = toy
    index = bapps.index_2afc(root, ["val/toy"])
    with pytest.raises(ValueError, match="not both"):
        bapps.twoafc_dataset(index, ["val/toy"])
    with pytest.raises(ValueError, match="subsets"):
        bapps.twoafc_dataset(root)
    with pytest.raises(ValueError, match="load_size"):
        bapps.twoafc_dataset(index, load_size=0)


def test_jnd_dataset_and_subset_datasets(tmp_path):
    root = str(tmp_path)
    _make_jnd(root, "val/a", n=5)
    _make_jnd(root, "val/b", n=3)
    ds = bapps.jnd_dataset(root, ["val/a", "val/b"], load_size=12, batch_size=4)
    (x, same), = ds.take(1)
    assert set(x) == {"p0", "p1"} and x["p0"].shape == (4, 12, 12, 3) and same.shape == (4,)
    parts = bapps.subset_datasets(root, "jnd", ["val/a", "val/b"], load_size=12, batch_size=2)
    assert [(name, len(index)) for name, index, _ in parts] == [("val/a", 5), ("val/b", 3)]
    assert sum(len(s) for _, s in parts[1][2]) == 3


def test_load_image(toy):
    root, images, _ = toy
    path = os.path.join(_subset(root), "p0", "000000.png")
    np.testing.assert_allclose(bapps.load_image(path).numpy(), images["p0"][0] / 127.5 - 1, atol=1e-6)
    assert bapps.load_image(path, load_size=4).shape == (4, 4, 3)


# ---------------------------------------------------------------------------- synthetic


def test_synthetic_layout_and_warning(synth):
    root, summary = synth
    assert bapps.find_subsets(root, "2afc", "train") == ["train/traditional"]
    train = bapps.index_2afc(root, ["train/traditional"])
    val = bapps.index_2afc(root, ["val/traditional"])
    jnd = bapps.index_jnd(root, ["val/traditional"])
    assert (len(train), len(val), len(jnd)) == (24, 20, 16)
    # Fractions of 2 (train), 5 (val) and 3 (JND) simulated observers.
    np.testing.assert_allclose(train.judge * 2, np.round(train.judge * 2), atol=1e-9)
    np.testing.assert_allclose(val.judge * 5, np.round(val.judge * 5), atol=1e-9)
    np.testing.assert_allclose(jnd.same * 3, np.round(jnd.same * 3), atol=1e-9)
    readme = open(os.path.join(root, "README.txt")).read()
    assert synthetic.BANNER in readme and "NOT human judgments" in readme
    meta = json.load(open(os.path.join(root, "synthetic.json")))
    assert meta["warning"] == synthetic.BANNER and meta["seed"] == 3
    (x, j), = bapps.twoafc_dataset(root, ["val/traditional"], load_size=16, batch_size=20).take(1)
    assert x["ref"].shape == (20, 16, 16, 3)
    # The distortions changed the patches.
    assert float(tf.reduce_mean(tf.abs(x["ref"] - x["p0"]))) > 0.01


def test_synthetic_deterministic_and_independent_parts(synth, tmp_path):
    root, _ = synth
    other = str(tmp_path / "again")
    # Same seed: the same bytes. A different val count leaves train and JND as they were.
    synthetic.generate(other, _photo_sources(), n_train=24, n_val=5, n_jnd=16, patch=16, seed=3,
                       verbose=False)
    for rel in ["2afc/train/traditional/p0/000004.png", "2afc/train/traditional/judge/000011.npy",
                "jnd/val/traditional/p1/000003.png", "jnd/val/traditional/same/000015.npy"]:
        assert open(os.path.join(root, rel), "rb").read() == open(os.path.join(other, rel), "rb").read(), rel
    with pytest.raises(FileExistsError, match="overwrite"):
        synthetic.generate(other, _photo_sources(), 5, 2, 2, patch=16, seed=3, verbose=False)


def test_synthetic_judgments_follow_the_hidden_magnitude():
    photos = synthetic.load_photos(_photo_sources())
    data = synthetic.make_twoafc(photos, 300, 16, np.random.default_rng(0), observers=5)
    # Observers mostly prefer the patch with the smaller hidden magnitude, but not always.
    agree = np.mean((data["judge"] > 0.5) == (data["m1"] < data["m0"]))
    assert 0.75 < agree < 0.99
    assert 0.3 < data["judge"].mean() < 0.7
    jnd = synthetic.make_jnd(photos, 200, 16, np.random.default_rng(1), observers=3)
    assert 0.2 < jnd["same"].mean() < 0.8
    assert np.corrcoef(jnd["m"], jnd["same"])[0, 1] < -0.5


def test_synthetic_cli_prints_banner(tmp_path, capsys):
    rc = synthetic.main(["--out", str(tmp_path / "cli"), "--photos", ",".join(_photo_sources()),
                         "--n_train", "3", "--n_val", "2", "--n_jnd", "0", "--patch", "8"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "SYNTHETIC DATA: judgments are simulated observers, NOT human judgments" in out
    assert not os.path.exists(tmp_path / "cli" / "jnd")
    rc = synthetic.main(["--out", str(tmp_path / "x"), "--photos", str(tmp_path / "nothing_here")])
    assert rc == 2 and "No photograph or folder" in capsys.readouterr().err


# ---------------------------------------------------------------------------- download


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves one payload with HTTP Range support; records the Range headers."""

    payload = b""
    ranges = []

    def do_GET(self):
        rng = self.headers.get("Range")
        type(self).ranges.append(rng)
        data = type(self).payload
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            body = data[start:]
        else:
            self.send_response(200)
            body = data
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A loopback-only HTTP server; yields (base_url, handler class)."""
    handler = type("Handler", (_RangeHandler,), {"payload": b"", "ranges": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", handler
    httpd.shutdown()
    httpd.server_close()


def _tarball(members):
    """{name: bytes} -> .tar.gz bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _jnd_tarball(root, prefix):
    members = {}
    base = os.path.join(root, "jnd", "val")
    for folder, _, files in os.walk(base):
        for f in files:
            path = os.path.join(folder, f)
            members[prefix + os.path.relpath(path, base).replace(os.sep, "/")] = open(path, "rb").read()
    return _tarball(members)


def test_fetch_resumes_with_range(server, tmp_path):
    url, handler = server
    handler.payload = bytes(range(256)) * 4000
    dest = str(tmp_path / "file.bin")
    with open(dest + ".part", "wb") as f:
        f.write(handler.payload[:300_000])
    download.fetch(url + "file.bin", dest, progress=False)
    assert handler.ranges == ["bytes=300000-"]
    assert open(dest, "rb").read() == handler.payload
    assert not os.path.exists(dest + ".part")
    # Complete .part: the server answers 416 and the file is taken as is.
    os.rename(dest, dest + "2.part")
    download.fetch(url + "file.bin", dest + "2", progress=False)
    assert open(dest + "2", "rb").read() == handler.payload


def test_fetch_file_url_and_offline_message(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"x" * 1000)
    dest = str(tmp_path / "copy.bin")
    download.fetch(src.as_uri(), dest, progress=False)
    assert open(dest, "rb").read() == b"x" * 1000
    # Nothing listens on a freshly closed loopback port: the machine looks offline.
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    url = f"http://127.0.0.1:{port}/jnd.tar.gz"
    with pytest.raises(download.DownloadError) as info:
        download.fetch(url, str(tmp_path / "jnd.tar.gz"), progress=False, timeout=5)
    message = str(info.value)
    assert url in message and "download that file on another machine" in message
    assert str(tmp_path / "jnd.tar.gz") in message


def test_safe_extract_refuses_traversal(tmp_path):
    for name in ["../evil.txt", "/abs/evil.txt", "ok/../../evil.txt"]:
        path = tmp_path / "bad.tar.gz"
        path.write_bytes(_tarball({"fine.txt": b"1", name: b"2"}))
        with pytest.raises(download.DownloadError, match="Refusing to unpack"):
            download.safe_extract(str(path), str(tmp_path / "out"))
        assert not (tmp_path / "evil.txt").exists()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        link = tarfile.TarInfo("link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    (tmp_path / "link.tar.gz").write_bytes(buf.getvalue())
    with pytest.raises(download.DownloadError, match="symbolic link member .link."):
        download.safe_extract(str(tmp_path / "link.tar.gz"), str(tmp_path / "out"))
    (tmp_path / "trunc.tar.gz").write_bytes(_tarball({"a.txt": b"x" * 10000})[:30])
    with pytest.raises(download.DownloadError, match="damaged or incomplete"):
        download.safe_extract(str(tmp_path / "trunc.tar.gz"), str(tmp_path / "out"))


def test_download_end_to_end(server, synth, tmp_path, monkeypatch, capsys):
    url, handler = server
    root, _ = synth
    monkeypatch.setitem(download.PARTS, "jnd", ("jnd.tar.gz", "jnd", "val", {"traditional": 16}))
    # Whatever prefix the tarball uses, the split lands at <out>/jnd/val.
    handler.payload = _jnd_tarball(root, "dataset/jnd/val/")
    out = str(tmp_path / "dataset")
    os.makedirs(out)
    with open(os.path.join(out, "jnd.tar.gz.part"), "wb") as f:
        f.write(handler.payload[:1000])
    counts = download.download(out, "jnd", base_url=url, progress=False)
    assert counts == {"jnd": {"val/traditional": 16}}
    assert handler.ranges == ["bytes=1000-"]
    assert len(bapps.index_jnd(out, ["val/traditional"])) == 16
    assert not os.path.exists(os.path.join(out, "jnd.tar.gz"))
    assert json.load(open(os.path.join(out, ".bapps_jnd.json")))["counts"] == {"val/traditional": 16}
    # Second run: nothing fetched.
    download.download(out, ["jnd"], base_url=url, progress=False)
    assert len(handler.ranges) == 1 and "already downloaded" in capsys.readouterr().out


def test_download_verification_names_problems(server, synth, tmp_path, monkeypatch):
    url, handler = server
    root, _ = synth
    monkeypatch.setitem(download.PARTS, "jnd", ("jnd.tar.gz", "jnd", "val", {"traditional": 16, "cnn": 16}))
    handler.payload = _jnd_tarball(root, "val/")
    with pytest.raises(bapps.DataError, match=r"Missing subset folder .*jnd.val.cnn"):
        download.download(str(tmp_path / "d1"), "jnd", base_url=url, progress=False)
    monkeypatch.setitem(download.PARTS, "jnd", ("jnd.tar.gz", "jnd", "val", {"traditional": 1000}))
    with pytest.raises(bapps.DataError, match="published count is about 1000"):
        download.download(str(tmp_path / "d2"), "jnd", base_url=url, progress=False)
    with pytest.raises(ValueError, match="Unknown parts"):
        download.download(str(tmp_path / "d3"), "2afc_test", base_url=url)


def test_download_cli_offline(tmp_path, capsys):
    rc = download.main(["--out", str(tmp_path), "--which", "jnd",
                        "--base_url", (tmp_path / "no_such_mirror").as_uri()])
    assert rc == 2
    err = capsys.readouterr().err
    assert "Could not download" in err and str(tmp_path / "jnd.tar.gz") in err
