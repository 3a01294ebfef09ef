"""What `import lpips_tf` loads on each backend, and the metric under Keras' JAX backend, in
subprocesses (a backend is chosen once per process).

The JAX run covers a stratified sample of the golden parity cases (one per net, version and
distance, every image pair and both kinds of trunk among them; `test_parity.stratified_sample`),
the Keras metric, tests/whole/test_agnostic.py and tests/whole/test_backend_agnostic.py. All 112
golden cases on JAX: `KERAS_BACKEND=jax python -m pytest tests/core/test_parity.py`. CI installs
a CPU jax from requirements-test.txt; without jax the JAX tests skip. PyTorch is tested by hand
(README "Backends"): its PyPI wheels are too heavy for CI. Each test starts a second Python
process, so all of them are marked slow (`-m slow`, which CI runs after the default run).
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow  # every test here starts a second Python process

# tests/uses/test_pairwise.py stays on TensorFlow (its numbers are NumPy's; the trunk passes are the
# model's, which the golden suite covers); test_agnostic checks pairwise on the other backend.
AGNOSTIC_FILES = ["tests/uses/test_metrics.py", "tests/whole/test_agnostic.py",
                  "tests/whole/test_backend_agnostic.py"]
# What `import lpips_tf` must not load: everything but the metric core and its uses.
HEAVY_SUBPACKAGES = ("training", "data", "evaluation", "experiments", "cli")


def _installed(module):
    return importlib.util.find_spec(module) is not None


needs_jax = pytest.mark.skipif(not _installed("jax"),
                               reason="jax is not installed (pip install -r requirements-test.txt)")


def _backend_env(backend):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    if backend == "jax":
        # XLA's default optimisation level: level 0 compiles faster, but the code it compiles
        # (the autoencoder's training step above all) runs slower, a net loss over the rerun.
        env["JAX_PLATFORMS"] = "cpu"
    return env


IMPORT_CHILD = """
import json, sys
import lpips_tf
loaded = sorted(m for m in sys.modules if m.startswith("lpips_tf."))
tf_after_import = "tensorflow" in sys.modules
import numpy as np, keras
m = lpips_tf.LPIPS(net="squeeze", trunk_weights=None, spatial=True)
x = np.zeros((1, 32, 32, 3), np.float32)
shape = list(np.asarray(m([x, x])).shape)
from lpips_tf.uses.losses import LPIPSLoss
from lpips_tf.uses.metrics import LPIPSMetric
from lpips_tf.uses.pairwise import pairwise
print("REPORT", json.dumps({"backend": keras.backend.backend(), "loaded": loaded,
                            "tf_after_import": tf_after_import, "shape": shape,
                            "tf_after_use": "tensorflow" in sys.modules}))
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_import_lpips_tf_loads_only_the_metric(backend):
    """A fresh process: `import lpips_tf` loads the metric core and its uses only (no training,
    data, evaluation, experiments or command-line module), and off the TensorFlow backend
    neither the import nor a model call imports TensorFlow."""
    if not _installed(backend):
        pytest.skip(f"{backend} is not installed")
    run = subprocess.run([sys.executable, "-c", IMPORT_CHILD], env=_backend_env(backend),
                         cwd=str(ROOT), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.split("REPORT", 1)[1])
    assert report["backend"] == backend and report["shape"] == [1, 32, 32, 1]
    subpackages = {m.split(".")[1] for m in report["loaded"]}
    assert not subpackages & set(HEAVY_SUBPACKAGES), report["loaded"]
    assert subpackages <= {"_lazy", "_startup", "core", "uses"}, report["loaded"]
    if backend != "tensorflow":
        assert not report["tf_after_import"] and not report["tf_after_use"], report


def _jax_rerun_argv():
    """pytest on the golden sample, the spec's numbers and the backend-agnostic files."""
    from test_parity import CASES, _case_id, stratified_sample

    golden = [f"tests/core/test_parity.py::test_matches_official[{_case_id(c)}]"
              for c in stratified_sample(CASES)]
    golden.append("tests/core/test_parity.py::test_reference_numbers_from_the_spec")
    # One process: it is one test of the outer run, which has its own workers.
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
            "-rs", *golden,
            *AGNOSTIC_FILES]


@needs_jax
@pytest.mark.background(argv=_jax_rerun_argv(), env=_backend_env("jax"), cwd=str(ROOT))
def test_golden_sample_and_backend_agnostic_tests_under_jax(background_run):
    """Its subprocess runs beside the TensorFlow tests (conftest.BackgroundRun: from the end of
    collection in one process, on a worker of its own with xdist); the test waits for it."""
    code, output = background_run.result(timeout=900)
    tail = output[-4000:]
    assert code == 0, tail
    assert " passed" in output and " failed" not in output, tail
