"""Shared fixtures: paths to ../shared, trunk weight files, small random images."""

import os
import pathlib

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SHARED_WEIGHTS = {
    "alex": SHARED / "weights" / "alexnet_features.pth",
    "squeeze": SHARED / "weights" / "squeezenet1_1_features.pth",
}

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def shared_path(relative):
    """A file under ../shared, or a clear skip when the folder is absent (a user's clone)."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"../shared/{relative} is not present (only the project's developers and CI "
                    f"have ../shared); this test needs it")
    return path


def real_trunk_path(net):
    if net not in SHARED_WEIGHTS:
        pytest.skip(f"no real {net} trunk in ../shared/weights (VGG16 uses random weights)")
    return shared_path(SHARED_WEIGHTS[net].relative_to(SHARED))


# The ST-LPIPS authors' weights are downloaded from their repository by default; the tests take
# them from the authors' wheel instead, which the repository does not ship: CI (.ci/run) downloads
# it here; elsewhere point LPIPS_TF_STLPIPS_WHEEL at a copy.
STLPIPS_WHEEL = "stlpips_pytorch-0.0.2-py3-none-any.whl"
STLPIPS_WHEEL_ENV = "LPIPS_TF_STLPIPS_WHEEL"
STLPIPS_WHEEL_CACHE = pathlib.Path.home() / ".cache" / "lpips_tf" / "ci"


def stlpips_wheel():
    """The stlpips-pytorch 0.0.2 wheel (the ST-LPIPS authors' weights), or a clear skip."""
    path = pathlib.Path(os.environ.get(STLPIPS_WHEEL_ENV) or STLPIPS_WHEEL_CACHE / STLPIPS_WHEEL)
    if not path.is_file():
        pytest.skip(f"the ST-LPIPS authors' weights ({STLPIPS_WHEEL}) are not at {path}: .ci/run "
                    f"downloads them (pip download --no-deps stlpips-pytorch==0.0.2 -d "
                    f"{STLPIPS_WHEEL_CACHE}), or set {STLPIPS_WHEEL_ENV} to the wheel's path")
    return path


@pytest.fixture(scope="session")
def stlpips_server(tmp_path_factory):
    """A folder holding the authors' two checkpoints, taken from their wheel, to download from
    (its file:// URL stands for the authors' repository); skips without the wheel."""
    import zipfile

    from lpips_tf.core import weights

    wheel = stlpips_wheel()
    folder = tmp_path_factory.mktemp("stlpips_server")
    with zipfile.ZipFile(wheel) as archive:
        for file_name, _ in weights.STLPIPS_FILES.values():
            (folder / file_name).write_bytes(archive.read(weights.STLPIPS_WHEEL_FOLDER + file_name))
    return folder


@pytest.fixture(scope="session")
def stlpips_checkpoint(stlpips_server, tmp_path_factory):
    """net ("st-alex", "st-vgg") -> the authors' checkpoint, fetched by the package's own
    download code (`fetch_stlpips_weights`, SHA-256 checked) from `stlpips_server` into a
    temporary cache; skips without the wheel."""
    from lpips_tf.core import weights

    home = tmp_path_factory.mktemp("stlpips_keras_home")

    def get(net):
        previous = os.environ.get("KERAS_HOME")
        os.environ["KERAS_HOME"] = str(home)
        try:
            return weights.fetch_stlpips_weights(net, base_url=stlpips_server.as_uri())
        finally:
            if previous is None:
                del os.environ["KERAS_HOME"]
            else:
                os.environ["KERAS_HOME"] = previous

    return get


@pytest.fixture(scope="session")
def random_trunk_file(tmp_path_factory):
    """Writes seeded random torchvision-layout trunk weights (.npz) and returns a getter."""
    from lpips_tf.testing.random_weights import random_trunk_state_dict

    folder = tmp_path_factory.mktemp("random_trunks")
    cache = {}

    def get(net, seed=0):
        key = (net, seed)
        if key not in cache:
            path = folder / f"{net}_seed{seed}.npz"
            np.savez(path, **random_trunk_state_dict(net, seed=seed))
            cache[key] = str(path)
        return cache[key]

    return get


def synthetic_dataset(tmp_path_factory, name, **settings):
    """Writes a small synthetic BAPPS-layout set (simulated observers) from the test photos into
    a fresh temporary folder; `settings` go to `lpips_tf.data.synthetic.generate`."""
    from lpips_tf.data.synthetic import generate

    root = tmp_path_factory.mktemp(name)
    generate(str(root), str(ROOT / "lpips_tf" / "data" / "photos"), verbose=False, **settings)
    return str(root)


@pytest.fixture(scope="session")
def dataset(tmp_path_factory):
    """100 training and 50 validation 2AFC triplets of 64 px, no JND (the training tests)."""
    return synthetic_dataset(tmp_path_factory, "bapps_synth", n_train=100, n_val=50, n_jnd=0,
                             patch=64, seed=0)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def random_images(rng, shape):
    return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


def run_train_main(*args):
    """Runs train.py's `main` in-process with these flags; returns its exit code."""
    import train as train_script

    return train_script.main([str(a) for a in args])
