"""Every command under one rule (`lpips_tf.cli.scripts`): exit 0 done, 1 done with inputs skipped,
2 bad usage or bad input as one `error:` line, nothing written first; `--help` exits 0 and shows
defaults; no TensorFlow start-up noise on stderr.

The commands run in this process (their parsers keep no global flags, so train.py's, evaluate.py's
and experiment.py's live side by side) except where a fresh process is the point: start-up noise
and what `--help` imports.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT

PHOTOS = ROOT / "lpips_tf" / "data" / "photos"


def _commands():
    import evaluate
    import experiment
    import train
    from lpips_tf.cli import main as cli
    from lpips_tf.data import download, synthetic

    # name -> (main, the arguments it requires, which come first in a bad command line)
    return {"lpips_tf": (cli.main, ["pair", "a.png", "b.png"]), "train.py": (train.main, []),
            "evaluate.py": (evaluate.main, ["--data_dir", "d"]),
            "experiment.py": (experiment.main, []), "synthetic": (synthetic.main, ["--out", "d"]),
            "download": (download.main, ["--out", "d"])}


def _one_error_line(err):
    lines = err.strip().splitlines()
    return len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err


def test_exit_codes_are_the_documented_ones():
    from lpips_tf.cli import scripts

    assert (scripts.EXIT_DONE, scripts.EXIT_SKIPPED, scripts.EXIT_USAGE) == (0, 1, 2)
    readme = (ROOT / "README.md").read_text()
    assert "### Exit codes" in readme
    for line in ("| 0 | done", "| 1 | done, but some inputs were skipped", "| 2 | bad usage or bad "
                 "input"):
        assert line in readme, line


@pytest.mark.parametrize("name", ["lpips_tf", "train.py", "evaluate.py", "experiment.py",
                                  "synthetic", "download"])
def test_a_bad_flag_is_one_line_and_exit_2(name, capsys):
    main, prefix = _commands()[name]
    assert main([*prefix, "--no_such_flag", "1"]) == 2
    err = capsys.readouterr().err
    assert _one_error_line(err) and "--no_such_flag" in err and "--help" in err, err


@pytest.mark.parametrize("name", ["lpips_tf", "train.py", "evaluate.py", "experiment.py",
                                  "synthetic", "download"])
def test_help_exits_0_and_shows_defaults(name, capsys):
    main, _ = _commands()[name]
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ")
    expected = {"lpips_tf": "{pair,dirs,all-pairs}", "train.py": "(default: saved_models)",
                "evaluate.py": "(default: outputs/eval)",
                "experiment.py": "(default: outputs/seed_experiment)",
                "synthetic": "(default: 2000)", "download": "(default: 2afc_train,2afc_val,jnd)"}
    assert expected[name] in " ".join(out.split()), out


def test_output_defaults_in_the_subcommand_help(capsys):
    from lpips_tf.cli import main as cli

    for command, default in (("dirs", "lpips_results.txt"), ("all-pairs", "lpips_pairs.txt")):
        assert cli.main([command, "--help"]) == 0
        assert f"(default: {default})" in capsys.readouterr().out


def _run(args, timeout=300, **env):
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    environ.update(PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="-1", **env)
    return subprocess.run([sys.executable, *args], cwd=str(ROOT), env=environ,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_train_help_exits_0_in_a_fresh_process():
    proc = _run(["train.py", "--help"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--cached_stats" in proc.stdout and proc.stderr == "", proc.stderr


def test_synthetic_help_imports_nothing_heavy():
    """`--help` parses before anything heavy loads: under the JAX backend (where `import lpips_tf`
    needs no TensorFlow) it never imports TensorFlow, nor the data loaders or training."""
    code = ("import sys\n"
            "from lpips_tf.data import synthetic\n"
            "assert synthetic.main(['--help']) == 0\n"
            "print('LOADED', sorted(m for m in ('tensorflow', 'lpips_tf.data.bapps', "
            "'lpips_tf.training.loop', 'lpips_tf.evaluation.evaluate') if m in sys.modules))\n")
    proc = _run(["-c", code], KERAS_BACKEND="jax")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "(default: 2000)" in proc.stdout
    assert "LOADED []" in proc.stdout, proc.stdout[-500:]


# ------------------------------------------------------------------------------------------------
# Offline: the trunk download fails. One line, exit 2, and no output created.


@pytest.fixture
def offline(tmp_path, monkeypatch):
    from lpips_tf.core import weights

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv(weights.BASE_URL_ENV, (tmp_path / "no_network").as_uri())
    return tmp_path / "outputs"


def _offline_error(err):
    return _one_error_line(err) and "Could not download the alex trunk weights" in err


def test_offline_command_line_writes_nothing(offline, tmp_path, capsys):
    from lpips_tf.cli import main as cli

    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        (folder / name).write_bytes((PHOTOS / "coffee_64.png").read_bytes())
    runs = [["pair", folder / "a.png", folder / "b.png", "--spatial_out", offline / "m.png"],
            ["dirs", folder, folder, "-o", offline / "d.txt", "--spatial_dir", offline / "maps"],
            ["all-pairs", folder, "-o", offline / "p.txt"]]
    for args in runs:
        assert cli.main([str(a) for a in args]) == 2, args
        assert _offline_error(capsys.readouterr().err), args
        assert not offline.exists(), args


def test_offline_training_evaluation_and_experiment_write_nothing(offline, dataset, capsys):
    import evaluate
    import experiment
    import train

    runs = [
        (train.main, ["--data_dir", dataset, "--train_sets", "train/traditional", "--val_sets",
                      "val/traditional", "--out_dir", str(offline / "runs")]),
        (evaluate.main, ["--data_dir", dataset, "--variants", "alex", "--out",
                         str(offline / "eval")]),
        (experiment.main, ["--data_dir", dataset, "--models", "alex4-lin", "--out_dir",
                           str(offline / "study")]),
    ]
    for main, args in runs:
        assert main(args) == 2, args
        assert _offline_error(capsys.readouterr().err), args
        assert not offline.exists(), args


# ------------------------------------------------------------------------------------------------
# Skipped inputs: done, exit 1.


def test_skipped_inputs_exit_1(tmp_path, capsys):
    from lpips_tf.cli import main as cli
    from PIL import Image

    rng = np.random.default_rng(0)
    for side in ("a", "b"):
        (tmp_path / side).mkdir()
        for name in ("x.png", "y.png"):
            Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(
                tmp_path / side / name)
    (tmp_path / "a" / "only_a.png").write_bytes((tmp_path / "a" / "x.png").read_bytes())
    common = ["--trunk_weights", "none", "--baseline"]
    assert cli.main(["dirs", str(tmp_path / "a"), str(tmp_path / "b"), "-o",
                     str(tmp_path / "d.txt"), *common]) == 1  # only_a.png: no counterpart
    assert "only_a.png" in capsys.readouterr().err
    assert len((tmp_path / "d.txt").read_text().splitlines()) == 2
    (tmp_path / "b" / "y.png").write_text("not an image")
    assert cli.main(["all-pairs", str(tmp_path / "b"), "-o", str(tmp_path / "p.txt"),
                     *common]) == 1
    assert "y.png is not a readable image" in capsys.readouterr().err
    assert cli.main(["dirs", str(tmp_path / "b"), str(tmp_path / "b"), "-o",
                     str(tmp_path / "same.txt"), *common]) == 1
    capsys.readouterr()


# ------------------------------------------------------------------------------------------------
# TensorFlow's start-up noise.


@pytest.mark.slow
def test_pair_command_stderr_is_empty(random_trunk_file):
    proc = _run(["-m", "lpips_tf", "pair", str(PHOTOS / "astronaut_64.png"),
                 str(PHOTOS / "coffee_64.png"), "--trunk_weights", random_trunk_file("alex")])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert float(proc.stdout) > 0
    # Without the filter: 4 lines (absl's pre-init notice and oneDNN's, once per library).
    assert proc.stderr.splitlines() == [], proc.stderr


@pytest.mark.slow
def test_startup_filter_keeps_real_warnings():
    """Only the known start-up lines go; a TensorFlow warning, any other line and Python
    warnings written while the backend loads reach stderr, in order."""
    code = ("import os, warnings\n"
            "from lpips_tf._startup import dropped_startup_noise\n"
            "with dropped_startup_noise():\n"
            "    os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called"
            " are written to STDERR\\n')\n"
            "    os.write(2, b'I0000 00:00:1796621599.870012    1971 port.cc:153] oneDNN custom"
            " operations are on. You may see slightly different numerical results.\\n')\n"
            "    os.write(2, b'W0000 00:00:1796621599.870012    1971 port.cc:153] oneDNN custom"
            " operations are on, and something is wrong.\\n')\n"
            "    warnings.warn('a real warning')\n"
            "    os.write(2, b'E0000 00:00:1.0 1 gpu.cc:1] a real error\\n')\n")
    proc = _run(["-c", code], TF_CPP_MIN_LOG_LEVEL="2")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 3, lines
    assert lines[0].startswith("W0000") and "something is wrong" in lines[0]
    assert "UserWarning: a real warning" in lines[1] and "a real error" in lines[2]
