"""The installed package outside the checkout: the wheel is built from a copy of the project's
files, installed with --no-deps into a fresh virtual environment in a temporary folder, and
`python -m lpips_tf pair` (with a local trunk file) and `python -m lpips_tf.data.synthetic` run
there, in a folder that holds no part of the repository.

The new environment sees this interpreter's site-packages through a .pth file (plain path lines,
so no editable install of lpips_tf comes along), so nothing is downloaded. Building needs
setuptools >= 77 (requirements-test.txt); with an older one pip fetches it from the package
index, and the test skips when the index cannot be reached.
"""

import os
import pathlib
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile

import numpy as np
import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow

# What the wheel is built from (pyproject.toml's readme and license files included).
PROJECT_FILES = ["pyproject.toml", "README.md", "LICENSE", "lpips_tf"]


def _setuptools_is_new_enough():
    try:
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 77


def _build_wheel(tmp):
    source = tmp / "source"
    source.mkdir()
    for name in PROJECT_FILES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, source / name)
    args = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp / "dist"),
            str(source)]
    if _setuptools_is_new_enough():
        args.insert(4, "--no-build-isolation")
    run = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=str(tmp))
    if run.returncode != 0 and "--no-build-isolation" not in args and (
            "Could not find a version" in run.stderr or "NewConnection" in run.stderr):
        pytest.skip("setuptools >= 77 is not installed and the package index cannot be reached "
                    "(pip install -r requirements-test.txt)")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    wheels = list((tmp / "dist").glob("lpips_tf-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def _fresh_venv(tmp, wheel):
    """A venv without pip that sees this interpreter's packages; the wheel installed into it."""
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"],
            *site.getsitepackages()}
    pathlib.Path(purelib, "outer_site_packages.pth").write_text(
        "".join(f"{p}\n" for p in sorted(ours) if os.path.isdir(p)))
    run = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                          "--quiet", "--no-deps", "--no-index", str(wheel)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return python


def _run_outside(python, args, cwd):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="-1", KERAS_BACKEND="tensorflow")
    return subprocess.run([str(python), *args], cwd=str(cwd), env=env, capture_output=True,
                          text=True, timeout=300)


def test_wheel_installed_outside_the_checkout_runs_pair_and_the_synthetic_generator(tmp_path):
    from lpips_tf.testing.random_weights import random_trunk_state_dict

    wheel = _build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    photos = {n for n in names if n.startswith("lpips_tf/data/photos/") and n.endswith(".png")}
    assert len(photos) == len(list((ROOT / "lpips_tf" / "data" / "photos").glob("*.png"))) > 0
    for version in ("v0.0", "v0.1"):
        for net in ("alex", "vgg", "squeeze"):
            assert f"lpips_tf/core/lin_weights/{version}/{net}.npz" in names
    assert not any(n.startswith("tests/") for n in names), "the tests are not shipped"

    python = _fresh_venv(tmp_path, wheel)
    work = tmp_path / "work"
    work.mkdir()
    where = _run_outside(python, ["-c", "import lpips_tf; print(lpips_tf.__file__)"], work)
    assert where.returncode == 0, where.stderr[-3000:]
    assert pathlib.Path(where.stdout.strip()).is_relative_to(tmp_path / "venv"), where.stdout
    assert not pathlib.Path(where.stdout.strip()).is_relative_to(ROOT)

    # The generator's default photographs are the shipped ones.
    synth = _run_outside(python, ["-m", "lpips_tf.data.synthetic", "--out", "synth",
                                  "--n_train", "6", "--n_val", "4", "--n_jnd", "3",
                                  "--patch", "32"], work)
    assert synth.returncode == 0, synth.stderr[-3000:]
    assert (work / "synth" / "synthetic.json").is_file()
    refs = sorted((work / "synth" / "2afc" / "train" / "traditional" / "ref").iterdir())
    assert len(refs) == 6, refs

    # pair with a local trunk file: the distance this checkout's model gives, to print precision.
    trunk = work / "alex_random.npz"
    np.savez(trunk, **random_trunk_state_dict("alex", seed=0))
    pair = _run_outside(python, ["-m", "lpips_tf", "pair", str(refs[0]), str(refs[1]),
                                 "--trunk_weights", trunk.name], work)
    assert pair.returncode == 0, pair.stderr[-3000:]
    import lpips_tf
    from lpips_tf.data.images import load_image

    model = lpips_tf.LPIPS.from_preset("alex", trunk_weights=str(trunk))
    expected = float(np.asarray(model([load_image(str(refs[0]))[None],
                                       load_image(str(refs[1]))[None]]))[0])
    assert expected > 0.0
    assert float(pair.stdout.strip().splitlines()[-1]) == pytest.approx(expected, abs=1e-6)
