"""The command line: `python -m lpips_tf pair | dirs | all-pairs`."""

import shutil
import subprocess
import sys

import numpy as np
import pytest

from lpips_tf.cli import main as cli
from conftest import ROOT, real_trunk_path, shared_path

PHOTOS = ROOT / "lpips_tf" / "data" / "photos"


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
    # The distance printed is the official one, whether a map is written or not.
    assert out.strip() == "0.721881"
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
    assert code == 1  # only_here.png has no counterpart: skipped, by name
    assert "only_here.png" in err and "1 image(s) without a counterpart" in err
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
                            random_trunk_file("alex"), "--cos"], capsys)
    assert code == 0
    lines = out_file.read_text().splitlines()
    assert len(lines) == 4 and lines[-1].startswith("mean over 3 pairs")
    values = [float(line.rsplit(":", 1)[1]) for line in lines[:3]]
    assert np.isclose(np.mean(values), float(lines[-1].rsplit(":", 1)[1]), atol=1e-6)


def test_net_takes_presets_and_cos_the_cosine_distance(capsys, random_trunk_file):
    """--net takes preset names; --cos and --version change a preset's distance and version;
    the old --baseline and -base spellings still work, each with a one-line note."""
    import lpips_tf
    from lpips_tf.core import presets
    from lpips_tf.data.images import load_image

    trunk = random_trunk_file("alex")
    images = [PHOTOS / "astronaut_97x131.png", PHOTOS / "astronaut_97x131_noise.png"]
    pair = [load_image(p)[None] for p in images]

    def printed(**kwargs):
        return f"{float(np.asarray(lpips_tf.LPIPS(trunk_weights=trunk, **kwargs)(pair))[0]):.6f}"

    expected = printed(net="alex", version="0.0", lpips=False)
    presets._NOTED.discard("alex-base-v0.0")
    for flags, note in ((["--net", "alex-cos-v0.0"], ""),
                        (["--net", "alex", "--cos", "--version", "0.0"], ""),
                        (["--net", "alex-v0.0", "--baseline"],
                         "note: --baseline is deprecated; use --cos."),
                        (["--net", "alex-base-v0.0"],
                         "note: 'alex-base-v0.0' is a deprecated name; use 'alex-cos-v0.0'.")):
        code, out, err = run_cli(["pair", *images, "--trunk_weights", trunk, *flags], capsys)
        assert (code, out.strip(), err.strip()) == (0, expected, note), flags
    code, out, _ = run_cli(["pair", *images, "--trunk_weights", trunk, "--net",
                            "alex-cos:taps=2"], capsys)
    assert out.strip() == printed(net="alex", lpips=False, taps=2)
    code, _, err = run_cli(["pair", *images, "--net", "alexnet"], capsys)
    assert code == 2 and err.startswith("error: Unknown preset 'alexnet'. Presets: alex, ")
    code, _, err = run_cli(["pair", *images, "--trunk_weights", "missing.pth"], capsys)
    assert code == 2 and err.startswith("error: trunk weights file not found: missing.pth")


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


@pytest.mark.slow
def test_module_entry_point_runs(tmp_path, random_trunk_file):
    result = subprocess.run(
        [sys.executable, "-m", "lpips_tf", "pair", PHOTOS / "astronaut_64.png",
         PHOTOS / "coffee_64.png", "--net", "squeeze", "--trunk_weights",
         random_trunk_file("squeeze")],
        capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    assert float(result.stdout.strip()) > 0


# ------------------------------------------------------------------ batched folders (issue 8)


def _write_png(path, array):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path)


def _per_pair(model, path0, path1):
    from lpips_tf.data.images import load_image

    return float(np.asarray(model([load_image(path0)[None], load_image(path1)[None]]))[0])


def _results(path):
    return {line.split(": ")[0]: float(line.split(": ")[1])
            for line in path.read_text().splitlines() if not line.startswith("mean over")}


@pytest.fixture(scope="module")
def mixed_dirs(tmp_path_factory):
    """Two folders of 9 same-named pairs: sizes 40x40 and 48x40 interleaved, a corrupt file in
    the middle, and one pair whose two images differ in size."""
    root = tmp_path_factory.mktemp("mixed")
    rng = np.random.default_rng(8)
    sizes = [(40, 40), (40, 40), (48, 40), (40, 40), (40, 40), (40, 40), (48, 40), (48, 40),
             (40, 40)]
    for i, size in enumerate(sizes):
        for side in ("a", "b"):
            _write_png(root / side / f"{i}.png", rng.integers(0, 256, size + (3,)))
    (root / "a" / "4.png").write_text("not an image")              # bad file in the middle
    _write_png(root / "b" / "6.png", rng.integers(0, 256, (40, 48, 3)))  # size mismatch
    return root


def test_dirs_batched_equals_unbatched_and_per_pair(capsys, tmp_path, mixed_dirs,
                                                    random_trunk_file):
    from lpips_tf.core.model import LPIPS

    trunk = random_trunk_file("alex")
    runs = {}
    for batch_size in (1, 2, 32):
        out = tmp_path / f"b{batch_size}.txt"
        code, _, err = run_cli(["dirs", mixed_dirs / "a", mixed_dirs / "b", "-o", out,
                                "--trunk_weights", trunk, "--batch_size", batch_size], capsys)
        assert code == 1, err
        assert f"{mixed_dirs / 'a' / '4.png'} is not a readable image" in err
        assert "6.png is 40x48 but" in err and "2 pair(s) skipped" in err
        assert "pairs/s" in err
        # Input order, the bad and the mismatched pair left out.
        assert [line.split(":")[0] for line in out.read_text().splitlines()] == \
            [f"{i}.png" for i in (0, 1, 2, 3, 5, 7, 8)]
        runs[batch_size] = _results(out)
    model = LPIPS(net="alex", trunk_weights=trunk)
    for name, d in runs[1].items():
        expected = _per_pair(model, mixed_dirs / "a" / name, mixed_dirs / "b" / name)
        for batch_size in (1, 2, 32):
            assert abs(runs[batch_size][name] - expected) < 1e-5, (name, batch_size)


def test_dirs_spatial_maps_batched(capsys, tmp_path, mixed_dirs, random_trunk_file):
    maps = tmp_path / "maps"
    out = tmp_path / "res.txt"
    code, _, _ = run_cli(["dirs", mixed_dirs / "a", mixed_dirs / "b", "-o", out, "--spatial_dir",
                          maps, "--trunk_weights", random_trunk_file("alex"), "--batch_size", 3],
                         capsys)
    assert code == 1
    assert sorted(p.name for p in maps.iterdir()) == \
        [f"{i}.png_lpips.png" for i in (0, 1, 2, 3, 5, 7, 8)]


def test_dirs_reads_a_batch_at_a_time(capsys, tmp_path, monkeypatch, random_trunk_file):
    import weakref

    from lpips_tf.data import images

    rng = np.random.default_rng(9)
    for i in range(12):
        for side in ("a", "b"):
            _write_png(tmp_path / side / f"{i:02d}.png", rng.integers(0, 256, (40, 40, 3)))
    out = tmp_path / "res.txt"
    real_load = images.load_image
    state = {"alive": 0, "max_alive": 0, "before_first_result": 0}

    def counting_load(path, max_pixels=None):
        image = real_load(path, max_pixels)
        if not out.exists() or out.stat().st_size == 0:
            state["before_first_result"] += 1
        state["alive"] += 1
        state["max_alive"] = max(state["max_alive"], state["alive"])
        weakref.finalize(image, lambda: state.__setitem__("alive", state["alive"] - 1))
        return image

    monkeypatch.setattr(images, "load_image", counting_load)
    batch_size = 2
    code, _, err = run_cli(["dirs", tmp_path / "a", tmp_path / "b", "-o", out, "--trunk_weights",
                            random_trunk_file("alex"), "--batch_size", batch_size], capsys)
    assert code == 0, err
    assert len(out.read_text().splitlines()) == 12
    assert state["before_first_result"] <= 2 * batch_size, state
    assert state["max_alive"] <= 2 * batch_size, state


def test_all_pairs_equals_per_pair_calls_and_prints_mean_std(capsys, tmp_path,
                                                             random_trunk_file):
    from lpips_tf.core.model import LPIPS

    rng = np.random.default_rng(10)
    folder = tmp_path / "imgs"
    for i in range(6):
        _write_png(folder / f"{i}.png", rng.integers(0, 256, (40, 40, 3)))
    _write_png(folder / "odd.png", rng.integers(0, 256, (48, 40, 3)))  # alone in its size
    trunk = random_trunk_file("alex")
    out = tmp_path / "pairs.txt"
    code, stdout, err = run_cli(["all-pairs", folder, "-o", out, "--trunk_weights", trunk,
                                 "--batch_size", 4], capsys)
    assert code == 1 and "6 pair(s) of different sizes" in err
    lines = out.read_text().splitlines()
    names = [f"{i}.png" for i in range(6)]
    expected_order = [f"{a}, {b}" for k, a in enumerate(names) for b in names[k + 1:]]
    assert [line.split(":")[0] for line in lines[:-1]] == expected_order
    model = LPIPS(net="alex", trunk_weights=trunk)
    values = []
    for line in lines[:-1]:
        pair, value = line.split(": ")
        a, b = pair.split(", ")
        assert abs(float(value) - _per_pair(model, folder / a, folder / b)) < 1e-5, line
        values.append(float(value))
    assert lines[-1].startswith("mean over 15 pairs (std ")
    assert abs(float(lines[-1].rsplit(":", 1)[1]) - np.mean(values)) < 1e-6
    mean, std = np.mean(values), np.std(values, ddof=1)
    assert f"mean distance over 15 pairs: {mean:.6f} (std {std:.6f}, bootstrap 95% interval" \
        in stdout
