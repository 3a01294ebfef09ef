"""The command line: `python -m lpips_tf pair | dirs | all-pairs`."""

import shutil
import subprocess
import sys

import numpy as np
import pytest

from lpips_tf import cli
from conftest import ROOT, real_trunk_path, shared_path

PHOTOS = ROOT / "tests" / "data" / "photos"


def run_cli(args, capsys):
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_pair_matches_reference_numbers(capsys, tmp_path):
    trunk = real_trunk_path("alex")
    ref, p0 = shared_path("images/ex_ref.png"), shared_path("images/ex_p0.png")
    code, out, _ = run_cli(["pair", ref, p0, "--trunk_weights", trunk,
                            "--spatial_out", tmp_path / "map.png"], capsys)
    assert code == 0
    # The spatial model prints the map's mean; the official map mean is close to the distance.
    assert abs(float(out.strip()) - 0.721881) < 0.05
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, _ = run_cli(["pair", ref, p0, "--trunk_weights", trunk], capsys)
    assert out.strip() == "0.721881"


def test_dirs_and_all_pairs(capsys, tmp_path, random_trunk_file):
    d0, d1 = tmp_path / "a", tmp_path / "b"
    d0.mkdir(), d1.mkdir()
    shutil.copy(PHOTOS / "astronaut_97x131.png", d0 / "x.png")
    shutil.copy(PHOTOS / "astronaut_97x131_noise.png", d1 / "x.png")
    shutil.copy(PHOTOS / "coffee_64.png", d0 / "y.png")
    shutil.copy(PHOTOS / "astronaut_64.png", d1 / "y.png")
    shutil.copy(PHOTOS / "coffee_97x131.png", d0 / "only_here.png")
    trunk = random_trunk_file("alex")
    out_file = tmp_path / "res" / "out.txt"
    code, _, err = run_cli(["dirs", d0, d1, "-o", out_file, "--trunk_weights", trunk,
                            "--spatial_dir", tmp_path / "maps"], capsys)
    assert code == 0
    assert "only_here.png" in err
    lines = out_file.read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == ["x.png", "y.png"]
    assert sorted(p.name for p in (tmp_path / "maps").iterdir()) == ["x.png_lpips.png", "y.png_lpips.png"]
    pairs_file = tmp_path / "pairs.txt"
    code, out, _ = run_cli(["all-pairs", d0, "-o", pairs_file, "--trunk_weights", trunk], capsys)
    # Three images, two pairs of different sizes (64x64 vs 97x131): reported and skipped, the
    # comparable pair is written, exit 1.
    assert code == 1
    lines = pairs_file.read_text().splitlines()
    assert lines[0].startswith("only_here.png, x.png: ") and lines[-1].startswith("mean over 1 ")


def test_all_pairs(capsys, tmp_path, random_trunk_file):
    folder = tmp_path / "same_size"
    folder.mkdir()
    for name in ("astronaut_97x131.png", "astronaut_97x131_noise.png", "coffee_97x131.png"):
        shutil.copy(PHOTOS / name, folder / name)
    out_file = tmp_path / "pairs.txt"
    code, out, _ = run_cli(["all-pairs", folder, "-o", out_file, "--trunk_weights",
                            random_trunk_file("alex"), "--baseline"], capsys)
    assert code == 0
    lines = out_file.read_text().splitlines()
    assert len(lines) == 4 and lines[-1].startswith("mean over 3 pairs")
    values = [float(line.rsplit(":", 1)[1]) for line in lines[:3]]
    assert np.isclose(np.mean(values), float(lines[-1].rsplit(":", 1)[1]), atol=1e-6)


def test_bad_inputs_give_one_line_errors(capsys, tmp_path, random_trunk_file):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    trunk = random_trunk_file("alex")
    code, _, err = run_cli(["pair", text, PHOTOS / "coffee_64.png", "--trunk_weights", trunk],
                           capsys)
    assert code == 2 and "not a readable image" in err and "Traceback" not in err
    code, _, err = run_cli(["pair", PHOTOS / "coffee_64.png", PHOTOS / "coffee_97x131.png",
                            "--trunk_weights", trunk], capsys)
    assert code == 2 and "same size" in err
    code, _, err = run_cli(["pair", PHOTOS / "nope.png", PHOTOS / "coffee_64.png",
                            "--trunk_weights", trunk], capsys)
    assert code == 2 and "not found" in err


def test_module_entry_point_runs(tmp_path, random_trunk_file):
    result = subprocess.run(
        [sys.executable, "-m", "lpips_tf", "pair", PHOTOS / "astronaut_64.png",
         PHOTOS / "coffee_64.png", "--net", "squeeze", "--trunk_weights",
         random_trunk_file("squeeze")],
        capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    assert float(result.stdout.strip()) > 0
