"""Shared fixtures: paths to ../shared, trunk weight files, small random images; and tests whose
subprocess runs in the background while the others run."""

import contextlib
import os
import pathlib
import subprocess
import tempfile

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


@pytest.fixture(scope="session")
def alex(random_trunk_file):
    """AlexNet LPIPS with seeded random trunk weights and the official lin weights (every layer
    on real lin values); shared by the whole session, so tests only call it."""
    import lpips_tf

    return lpips_tf.LPIPS(net="alex", trunk_weights=random_trunk_file("alex"))


# The settings of `finished_run` (train.py's flags of the same names).
FINISHED_RUN = dict(train_sets="train/traditional", val_sets="val/traditional",
                    variant="alex-lin", epochs=1, epochs_decay=2, batch_size=20,
                    steps_per_epoch=3, dropout=0.0, lr=1e-3, seed=1, verbose=2)


@pytest.fixture(scope="session")
def finished_run(dataset, random_trunk_file, tmp_path_factory):
    """One finished alex-lin training run on `dataset` (seeded random AlexNet, `FINISHED_RUN`:
    3 epochs of 3 steps, the last at the decayed rate), every artefact written, SavedModel
    included. Shared by the session: tests read its folder and never write into it.

    Returns `training.train`'s dict plus `log` (its lines), `trunk` and `out_dir`."""
    from lpips_tf import training

    out = tmp_path_factory.mktemp("finished_run")
    trunk = random_trunk_file("alex")
    lines = []
    result = training.train(training.TrainConfig(data_dir=dataset, trunk_weights=trunk,
                                                 out_dir=str(out), **FINISHED_RUN),
                            log=lines.append)
    return {**result, "log": lines, "trunk": trunk, "out_dir": str(out)}


@contextlib.contextmanager
def saved_model_export_skipped():
    """Training runs inside this block write every artefact but the SavedModel (the slowest one:
    a trace and a graph export per run), for tests about other things. Export has its own tests
    (test_training.py, test_model.py)."""
    from lpips_tf.training import artefacts

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(artefacts, "export_saved_model", skip_export)
        yield


def skip_export(model, path):
    """Stands in for `export_saved_model`: an empty folder that says so (the run's atomic rename
    still has a folder to move)."""
    os.makedirs(path)
    pathlib.Path(path, "EXPORT_SKIPPED_BY_THE_TESTS").write_text("")


@pytest.fixture
def no_saved_model_export():
    """`saved_model_export_skipped` for one test."""
    with saved_model_export_skipped():
        yield


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def random_images(rng, shape):
    return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


def noisy_triplet(seed, shape, sigma):
    """(ref, p0, p1): random images of `shape` and two copies with Gaussian noise of `sigma`,
    clipped to [-1, 1]."""
    rng = np.random.default_rng(seed)
    ref = random_images(rng, shape)
    noise = rng.normal(0.0, sigma, (2,) + tuple(shape)).astype(np.float32)
    return ref, np.clip(ref + noise[0], -1, 1), np.clip(ref + noise[1], -1, 1)


def paired_agreements(rng):
    """(a, b): per-triplet agreement (0 or 1) of two models on two subsets of 200 and 100
    triplets drawn from `rng`, model a agreeing with the observers on 10 more triplets of each
    than model b."""
    b = [rng.integers(0, 2, 200).astype(float), rng.integers(0, 2, 100).astype(float)]
    a = [x.copy() for x in b]
    for x in a:
        x[np.flatnonzero(x == 0)[:10]] = 1.0
    return a, b


def covering_params(cases, axes, ids=None):
    """`cases` as pytest params: the default run takes the fewest cases (greedily, in order) in
    which every value of every axis appears, and the rest carry the `slow` mark, so that a grid
    of nets x heads x outputs is covered by default and checked whole under `-m slow`.
    `axes(case)` gives the case's value on each axis; a tuple case is unpacked into arguments."""
    values = [set(enumerate(axes(case))) for case in cases]  # {(axis, value)} per case
    sampled, uncovered = set(), set().union(*values)
    while uncovered:
        best = max(range(len(cases)), key=lambda i: (len(uncovered & values[i]), -i))
        sampled.add(best)
        uncovered -= values[best]
    ids = ids or [None] * len(cases)
    return [pytest.param(*(case if isinstance(case, tuple) else (case,)), id=ident,
                         marks=() if i in sampled else pytest.mark.slow)
            for i, (case, ident) in enumerate(zip(cases, ids))]


def run_train_main(*args):
    """Runs train.py's `main` in-process with these flags; returns its exit code."""
    import train as train_script

    return train_script.main([str(a) for a in args])


# ------------------------------------------------------------------------------------------------
# Background runs. A test marked `@pytest.mark.background(argv=[...], env={...})` runs a long
# subprocess (the JAX rerun, a separate Python process) beside the other tests. In one process
# (`-n 0`) the subprocess starts as soon as collection ends and the test runs last, waiting for
# it and checking its output. With pytest-xdist's workers (the default, see
# `pytest_cmdline_main`) every worker collects every test, so none starts anything at
# collection; the background tests run first instead, each holding one worker while the others
# take the rest (worksteal lets them take the tests queued behind it). Deselected tests start
# nothing.

BACKGROUND_RUN = pytest.StashKey["BackgroundRun"]()
_STARTED = []


class BackgroundRun:
    """A subprocess whose stdout and stderr (together) go to an anonymous temporary file."""

    def __init__(self, argv, env=None, cwd=None):
        self._output = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=self._output,
                                        stderr=subprocess.STDOUT, text=True)
        _STARTED.append(self)

    def result(self, timeout):
        """(return code, output) once the process has ended (killed after `timeout` s)."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
        self._output.seek(0)
        return self.process.returncode, self._output.read()

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def pytest_configure(config):
    config.addinivalue_line("markers", "background(argv, env, cwd): the test's subprocess starts "
                                       "when collection ends; the test runs last and waits for it")


# Workers by default: on two cores two workers finish the suite about 1.5x sooner than one
# process (model building, tracing and subprocess start-up leave a core idle); more than four
# only multiply the session fixtures, as each worker's TensorFlow already uses every core.
DEFAULT_WORKERS = min(4, os.cpu_count() or 1)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """Runs the suite on `DEFAULT_WORKERS` pytest-xdist workers unless the command line says
    otherwise (`-n 0`: one process, `-n 8`: eight), with --pdb, or without pytest-xdist.
    worksteal: a worker that holds a long test (the JAX rerun) does not keep the tests queued
    behind it."""
    # xdist's workers run this hook too: a worker must never start workers of its own.
    if _in_xdist_worker(config) or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    if (not config.pluginmanager.hasplugin("xdist") or config.option.numprocesses is not None
            or DEFAULT_WORKERS < 2 or config.option.collectonly or config.option.usepdb):
        return
    config.option.numprocesses = DEFAULT_WORKERS
    if config.option.dist == "no":
        config.option.dist = "worksteal"


def _in_xdist_worker(config):
    return hasattr(config, "workerinput")


def pytest_collection_modifyitems(config, items):
    # Stable: the background tests keep their order among themselves, after everything else in
    # one process, before everything else in xdist's workers (all of which sort alike).
    first = _in_xdist_worker(config)
    items.sort(key=lambda item: (item.get_closest_marker("background") is None) == first)


def pytest_collection_finish(session):
    if session.config.option.collectonly or _in_xdist_worker(session.config):
        return
    for item in session.items:
        mark = item.get_closest_marker("background")
        if mark is not None:
            item.stash[BACKGROUND_RUN] = BackgroundRun(**mark.kwargs)


def pytest_sessionfinish(session):
    for run in _STARTED:  # an interrupted session (-x, Ctrl-C) leaves none running
        run.stop()


@pytest.fixture
def background_run(request):
    """The `BackgroundRun` of this test (started now if collection did not start it)."""
    run = request.node.stash.get(BACKGROUND_RUN, None)
    if run is None:
        run = BackgroundRun(**request.node.get_closest_marker("background").kwargs)
    return run
