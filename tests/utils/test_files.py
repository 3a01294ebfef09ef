"""lpips_tf.utils.files: a file or folder is written whole or not at all."""

import errno
import os

import pytest

from lpips_tf.utils import files


def _listing(folder):
    return sorted(os.listdir(folder))


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "a.json"
    path.write_text("old")
    with pytest.raises(ZeroDivisionError):
        with files.atomic_path(str(path)) as tmp:
            with open(tmp, "w") as f:
                f.write("half of the new")
            1 / 0
    assert path.read_text() == "old" and _listing(tmp_path) == ["a.json"]


def test_a_folder_replaces_the_old_one_whole(tmp_path):
    path = tmp_path / "saved"
    path.mkdir()
    (path / "stale.pb").write_text("old")
    with files.atomic_path(str(path)) as tmp:
        os.makedirs(os.path.join(tmp, "variables"))
        with open(os.path.join(tmp, "variables", "v.index"), "w") as f:
            f.write("new")
    assert _listing(tmp_path) == ["saved"] and _listing(path) == ["variables"]
    assert (path / "variables" / "v.index").read_text() == "new"


def test_two_writers_of_one_file_at_once_never_share_a_temporary_file(tmp_path):
    path = str(tmp_path / "model.keras")
    with files.atomic_path(path) as first, files.atomic_path(path) as second:
        assert first != second
        assert first.endswith(".keras") and second.endswith(".keras")  # Keras checks the suffix
        for tmp, text in ((first, "first"), (second, "second")):
            with open(tmp, "w") as f:
                f.write(text)
    # The outer block renames last: its file is the one left, whole.
    assert open(path).read() == "first" and _listing(tmp_path) == ["model.keras"]


@pytest.mark.parametrize("code, raised", [(errno.ENOSPC, True), (errno.EIO, True),
                                          (errno.EINVAL, False)])
def test_a_failed_sync_is_a_failed_write_unless_the_file_system_cannot_sync(
        tmp_path, monkeypatch, code, raised):
    def fsync(fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", fsync)
    path = tmp_path / "map.png"
    if raised:
        with pytest.raises(OSError) as error:
            files.write_bytes_atomically(str(path), b"\x89PNG")
        assert error.value.errno == code and _listing(tmp_path) == []
    else:
        files.write_bytes_atomically(str(path), b"\x89PNG")
        assert path.read_bytes() == b"\x89PNG" and _listing(tmp_path) == ["map.png"]


def test_a_killed_writers_temporary_file_goes_and_a_running_ones_stays(tmp_path):
    import subprocess
    import sys

    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()  # its process id now names no running process
    killed = tmp_path / f"{files.TEMPORARY_PREFIX}stats.{finished.pid}.k3x9.npz"
    running = tmp_path / f"{files.TEMPORARY_PREFIX}stats.{os.getpid()}.a1b2.npz"
    other = tmp_path / f"{files.TEMPORARY_PREFIX}other.{finished.pid}.zz.npz"
    for path in (killed, running, other):
        path.write_bytes(b"half")
    files.write_bytes_atomically(str(tmp_path / "stats.npz"), b"whole")
    assert _listing(tmp_path) == sorted([running.name, other.name, "stats.npz"])
