"""Hostile and broken inputs: each test builds a small bad file and checks for a clear refusal.

Covers archive links, memory bombs in weight files and images, concurrent training runs, EXIF
orientation, batch commands that meet bad files, and the smaller one-line-error cases. Memory is
measured in a child process (ru_maxrss of RUSAGE_CHILDREN) so the bombs cannot hurt the test run.
"""

import io
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
