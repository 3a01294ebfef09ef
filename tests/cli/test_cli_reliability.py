"""The command line under hostile inputs: outputs that would overwrite or join the inputs, names
that could be misread, files that cannot be read or written, an unwritable home, and distances
that must not change with what else is written."""

import csv
import errno
import io
import json
import os
import stat
import struct
import zlib

import numpy as np
import pytest

from lpips_tf.cli import main as cli
from lpips_tf.cli.results import read_results


def _write_png(path, array):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path)


def _run(capsys, *args):
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def folders(tmp_path):
    """a/ and b/ with two same-named 40 x 40 pairs each."""
    rng = np.random.default_rng(17)
    for side in ("a", "b"):
        for name in ("im0.png", "im1.png"):
            _write_png(tmp_path / side / name, rng.integers(0, 256, (40, 40, 3)))
    return tmp_path / "a", tmp_path / "b"


@pytest.fixture
def trunk(random_trunk_file):
    return random_trunk_file("alex")


# ------------------------------------------------------------------ outputs never overwrite inputs


def test_results_file_that_is_an_input_is_refused_before_it_is_opened(capsys, folders, trunk):
    d0, d1 = folders
    before = (d0 / "im1.png").read_bytes()
    cases = [("dirs", d0, d1, "-o", d0 / "im1.png"),
             ("dirs", d0, d1, "-o", d1 / "." / "im0.png"),
             ("all-pairs", d0, "-o", d0 / "im0.png")]
    os.symlink(d0 / "im1.png", d0.parent / "link.png")
    cases.append(("all-pairs", d0, "-o", d0.parent / "link.png"))  # the same file by a link
    for case in cases:
        code, _, err = _run(capsys, *case, "--trunk_weights", trunk)
        assert code == 2, (case, err)
        assert len(err.splitlines()) == 1 and "is the input" in err and str(case[-1]) in err, err
    assert (d0 / "im1.png").read_bytes() == before
    # A new image-named results file inside an input folder would be read by the next run.
    code, _, err = _run(capsys, "all-pairs", d0, "-o", d0 / "new.png", "--trunk_weights", trunk)
    assert code == 2 and "inside the input folder" in err and not (d0 / "new.png").exists(), err


def test_spatial_out_that_is_an_input_is_refused(capsys, folders, trunk):
    d0, d1 = folders
    before = (d0 / "im0.png").read_bytes()
    for target in (d0 / "im0.png", d1 / ".." / "a" / "im0.png"):
        code, out, err = _run(capsys, "pair", d0 / "im0.png", d1 / "im0.png", "--spatial_out",
                              target, "--trunk_weights", trunk)
        assert code == 2 and out == "" and "--spatial_out map" in err and "is the input" in err, err
    assert (d0 / "im0.png").read_bytes() == before


@pytest.mark.parametrize("where", ["dir0", "dir1", "inside dir0"])
def test_spatial_dir_in_an_input_folder_is_refused_before_any_work(capsys, folders, trunk, where,
                                                                   tmp_path):
    d0, d1 = folders
    maps = {"dir0": d0, "dir1": d1, "inside dir0": d0 / "maps"}[where]
    out = tmp_path / "res.txt"
    code, _, err = _run(capsys, "dirs", d0, d1, "-o", out, "--spatial_dir", maps,
                        "--trunk_weights", trunk)
    assert code == 2 and "--spatial_dir folder" in err and "inside the input folder" in err, err
    assert not out.exists() and sorted(p.name for p in d0.iterdir()) == ["im0.png", "im1.png"]
    # `dirs D D --spatial_dir D`: the maps would become inputs.
    code, _, err = _run(capsys, "dirs", d0, d0, "-o", out, "--spatial_dir", d0,
                        "--trunk_weights", trunk)
    assert code == 2 and "inside the input folder" in err, err


def test_results_file_named_like_a_map_is_refused(capsys, folders, trunk, tmp_path):
    d0, d1 = folders
    maps = tmp_path / "maps"
    code, _, err = _run(capsys, "dirs", d0, d1, "-o", maps / "im0.png_lpips.png",
                        "--spatial_dir", maps, "--trunk_weights", trunk)
    assert code == 2 and "also the name of a distance map" in err, err


def test_leftover_maps_in_an_input_folder_are_named_and_exit_1(capsys, folders, trunk, tmp_path):
    d0, d1 = folders
    _write_png(d0 / "im0.png_lpips.png", np.zeros((40, 40, 3)))  # what an old run left there
    code, _, err = _run(capsys, "dirs", d0, d1, "-o", tmp_path / "res.txt", "--trunk_weights",
                        trunk)
    assert code == 1 and "im0.png_lpips.png" in err, err


def _toy_2afc(root):
    rng = np.random.default_rng(0)
    folder = root / "2afc" / "val" / "toy"
    for part in ("ref", "p0", "p1"):
        for i in range(2):
            _write_png(folder / part / f"{i:06d}.png", rng.integers(0, 256, (64, 64, 3)))
    (folder / "judge").mkdir()
    for i in range(2):
        np.save(folder / "judge" / f"{i:06d}.npy", np.array([0.5]))
    return root


def test_evaluate_and_experiment_outputs_inside_the_data_are_refused(capsys, tmp_path):
    import evaluate as evaluate_script
    import experiment as experiment_script

    data = _toy_2afc(tmp_path / "data")
    listing = sorted(p for p in data.rglob("*"))
    for out in (data, data / "2afc" / "eval"):
        code = evaluate_script.main(["--data_dir", str(data), "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2 and "--out folder" in err and "inside the input folder" in err, err
        assert len(err.splitlines()) == 1, err
    from lpips_tf.core.model import LPIPS

    run = tmp_path / "runs" / "alex"
    run.mkdir(parents=True)
    LPIPS(net="alex", trunk_weights=None).save(run / "model.keras")
    code = evaluate_script.main(["--data_dir", str(data), "--variants", str(run), "--out",
                                 str(run)])
    err = capsys.readouterr().err
    assert code == 2 and f"inside the input folder {run}" in err, err
    code = experiment_script.main(["--data_dir", str(data), "--out_dir", str(data / "exp")])
    err = capsys.readouterr().err
    assert code == 2 and "--out_dir folder" in err and "inside the input folder" in err, err
    moved = tmp_path / "exp" / "runs" / "data"
    _toy_2afc(moved)
    code = experiment_script.main(["--data_dir", str(moved), "--out_dir", str(tmp_path / "exp")])
    err = capsys.readouterr().err
    assert code == 2 and "which the experiment writes" in err, err
    assert sorted(p for p in data.rglob("*")) == listing


# ------------------------------------------------------------------ unambiguous results


TRICKY = ["a.png", "a, b.png", "b.png", "x: y.png", "new\nline.png", 'q"uote.png', "tab\tx.png",
          "mean over 2 pairs.png"]


@pytest.fixture
def tricky_folder(tmp_path):
    rng = np.random.default_rng(5)
    folder = tmp_path / "tricky"
    for name in TRICKY:
        _write_png(folder / name, rng.integers(0, 256, (40, 40, 3)))
    return folder


def test_all_pairs_text_lines_cannot_be_misread(capsys, tricky_folder, trunk, tmp_path):
    out = tmp_path / "pairs.txt"
    code, _, err = _run(capsys, "all-pairs", tricky_folder, "-o", out, "--trunk_weights", trunk,
                        "--n_boot", 0)
    assert code == 0, err
    lines = out.read_text().split("\n")[:-1]
    n = len(TRICKY)
    assert len(lines) == n * (n - 1) // 2 + 1  # one line per pair, and the summary
    assert len(set(lines[:-1])) == len(lines) - 1  # "a, b.png" + "x.png" != "a" + "b.png, x.png"
    rows = read_results(out, "text")
    assert sorted(tuple(sorted(names)) for names, _ in rows) == sorted(
        tuple(sorted((a, b))) for i, a in enumerate(sorted(TRICKY)) for b in sorted(TRICKY)[i + 1:])
    assert '"a, b.png", b.png: ' in out.read_text() and '"new\\nline.png"' in out.read_text()


@pytest.mark.parametrize("fmt", ["tsv", "csv", "jsonl"])
def test_machine_formats_read_back_with_the_standard_library(capsys, tricky_folder, trunk,
                                                             tmp_path, fmt):
    text, other = tmp_path / "pairs.txt", tmp_path / f"pairs.{fmt}"
    for path, form in ((text, "text"), (other, fmt)):
        code, _, err = _run(capsys, "all-pairs", tricky_folder, "-o", path, "--trunk_weights",
                            trunk, "--n_boot", 0, "--format", form)
        assert code == 0, err
    expected = {names: d for names, d in read_results(text, "text")}
    with open(other, newline="") as f:
        if fmt == "jsonl":
            got = {(r["image0"], r["image1"]): r["distance"] for r in map(json.loads, f)}
        else:
            reader = csv.DictReader(f, delimiter="\t" if fmt == "tsv" else ",")
            assert reader.fieldnames == ["image0", "image1", "distance"]
            got = {(r["image0"], r["image1"]): float(r["distance"]) for r in reader}
    assert got == expected and len(got) == len(TRICKY) * (len(TRICKY) - 1) // 2


def test_dirs_newline_in_a_name_keeps_one_line_per_pair(capsys, tmp_path, trunk):
    rng = np.random.default_rng(6)
    names = ["new\nline.png", "plain.png", "c, d: e.png"]
    for side in ("a", "b"):
        for name in names:
            _write_png(tmp_path / side / name, rng.integers(0, 256, (40, 40, 3)))
    results = {}
    for fmt in ("text", "tsv", "csv", "jsonl"):
        out = tmp_path / f"res.{fmt}"
        code, _, err = _run(capsys, "dirs", tmp_path / "a", tmp_path / "b", "-o", out,
                            "--trunk_weights", trunk, "--format", fmt)
        assert code == 0, err
        results[fmt] = read_results(out, fmt)
    assert len((tmp_path / "res.text").read_text().split("\n")) == len(names) + 1
    assert (tmp_path / "res.text").read_text().startswith('"c, d: e.png": ')
    assert [n for (n,), _ in results["text"]] == sorted(names)
    assert all(rows == results["text"] for rows in results.values())


# ------------------------------------------------------------------ messages naming the file


def _png_with_chunk(path, kind):
    """A 40 x 40 PNG with a small zTXt or iCCP chunk that inflates to 3 MB (Pillow stops at
    PngImagePlugin.MAX_TEXT_CHUNK, 1 MB): a 3 KB file."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(buffer, "PNG")
    data = buffer.getvalue()
    payload = (b"Comment" if kind == b"zTXt" else b"profile") + b"\0\0" + \
        zlib.compress(b"\0" * (3 << 20))
    chunk = struct.pack(">I", len(payload)) + kind + payload + \
        struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    path.write_bytes(data[:33] + chunk + data[33:])  # after the 8-byte signature and IHDR


def test_huge_text_and_icc_chunks_are_skipped_by_name(capsys, folders, trunk, tmp_path):
    d0, d1 = folders
    _png_with_chunk(d0 / "im0.png", b"zTXt")
    _png_with_chunk(d1 / "im1.png", b"iCCP")
    assert (d0 / "im0.png").stat().st_size < 10_000
    out = tmp_path / "res.txt"
    code, _, err = _run(capsys, "dirs", d0, d1, "-o", out, "--trunk_weights", trunk)
    assert code == 1, err
    assert f"{d0 / 'im0.png'} is not a readable image" in err, err
    assert f"{d1 / 'im1.png'} is not a readable image" in err, err
    assert "MAX_TEXT_CHUNK" in err and out.read_text() == ""
    code, _, err = _run(capsys, "all-pairs", d1, "-o", tmp_path / "p.txt", "--trunk_weights",
                        trunk)
    assert code == 1 and f"{d1 / 'im1.png'} is not a readable image" in err, err


def test_full_disk_on_a_map_names_it_and_lists_no_pair_without_its_map(capsys, folders, trunk,
                                                                       tmp_path, monkeypatch):
    d0, d1 = folders
    maps, out = tmp_path / "maps", tmp_path / "res.txt"
    real_fsync, calls = os.fsync, []

    def fsync(fd):
        if stat.S_ISREG(os.fstat(fd).st_mode):  # files, not the folder synced after a rename
            calls.append(fd)
        if len(calls) == 2:  # the second map: the disk fills up while it is written
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    code, _, err = _run(capsys, "dirs", d0, d1, "-o", out, "--spatial_dir", maps,
                        "--trunk_weights", trunk, "--batch_size", 1)
    assert code == 2, err
    assert err.strip().splitlines()[-1] == (
        f"error: cannot write {maps / 'im1.png_lpips.png'} (No space left on device); free some "
        f"space or choose another location."), err
    assert [p.name for p in maps.iterdir()] == ["im0.png_lpips.png"]  # no partial file
    assert (maps / "im0.png_lpips.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [names for names, _ in read_results(out, "text")] == [("im0.png",)]


def test_full_disk_on_the_results_file_names_it():
    from lpips_tf.cli.outputs import OutputError, _Results

    class Full(io.StringIO):
        def write(self, text):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(OutputError, match=r"^cannot write the results file res\.txt \(No space "
                                          r"left on device\)"):
        _Results("res.txt", Full()).write("x.png: 0.1\n")


def test_unwritable_home_says_what_it_was_creating_and_how_to_move_it(capsys, folders, tmp_path,
                                                                      monkeypatch):
    d0, d1 = folders
    (tmp_path / "a_file").write_text("")
    home = tmp_path / "a_file" / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    code, out, err = _run(capsys, "pair", d0 / "im0.png", d1 / "im0.png")
    assert code == 2 and out == "", err
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"error: cannot create {home / '.keras' / 'lpips_tf'}, the cache folder "
                           f"for the alex trunk weights"), err
    assert "set KERAS_HOME to a writable folder" in line and "Not a directory" in line, err


# ------------------------------------------------------------------ distances and maps


def test_printed_distance_does_not_depend_on_maps(capsys, tmp_path, trunk):
    from lpips_tf.core.model import LPIPS
    from lpips_tf.data.images import load_image

    rng = np.random.default_rng(21)
    sizes = {"p.png": (40, 40), "q.png": (64, 48), "r.png": (97, 131)}
    for side in ("a", "b"):
        for name, size in sizes.items():
            _write_png(tmp_path / side / name, rng.integers(0, 256, size + (3,)))
    a, b = tmp_path / "a", tmp_path / "b"
    plain, mapped = tmp_path / "plain.txt", tmp_path / "mapped.txt"
    assert _run(capsys, "dirs", a, b, "-o", plain, "--trunk_weights", trunk)[0] == 0
    assert _run(capsys, "dirs", a, b, "-o", mapped, "--spatial_dir", tmp_path / "maps",
                "--trunk_weights", trunk)[0] == 0
    assert mapped.read_text() == plain.read_text()
    model = LPIPS(net="alex", trunk_weights=trunk)
    spatial = LPIPS(net="alex", trunk_weights=trunk, spatial=True)
    for name in sizes:
        x0, x1 = load_image(a / name)[None], load_image(b / name)[None]
        _, printed = _run(capsys, "pair", a / name, b / name, "--trunk_weights", trunk)[:2]
        _, printed_with_map = _run(capsys, "pair", a / name, b / name, "--trunk_weights", trunk,
                                   "--spatial_out", tmp_path / f"{name}_map.png")[:2]
        assert printed == printed_with_map == f"{float(np.asarray(model([x0, x1]))[0]):.6f}\n"
        # The map written is the official spatial map (a spatial model's output).
        np.testing.assert_allclose(model.distance_and_map([x0, x1])[1],
                                   np.asarray(spatial([x0, x1]))[..., 0], rtol=0, atol=1e-6)
