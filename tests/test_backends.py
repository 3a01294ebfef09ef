"""The metric under Keras' JAX backend, in a subprocess (a backend is chosen once per process).

Runs the backend-agnostic test files (golden parity, the Keras metric, tests/test_agnostic.py,
tests/test_backend_agnostic.py) with KERAS_BACKEND=jax, and checks that importing lpips_tf there
does not import TensorFlow. CI installs a CPU jax from requirements-test.txt; without jax these tests skip.
PyTorch is tested by hand (README "Backends"): its PyPI wheels are too heavy for CI.
"""

import importlib.util
import os
import subprocess
import sys

import pytest

from conftest import ROOT

# tests/test_pairwise.py stays on TensorFlow (its numbers are NumPy's; the trunk passes are the
# model's, which the golden suite covers); test_agnostic checks pairwise on the other backend.
AGNOSTIC_FILES = ["tests/test_parity.py", "tests/test_metrics.py",
                  "tests/test_agnostic.py", "tests/test_backend_agnostic.py"]

needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                               reason="jax is not installed (pip install -r requirements-test.txt)")


def _jax_env():
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2", JAX_PLATFORMS="cpu")
    # XLA compilation dominates these short runs (about a hundred model x shape compilations for
    # the golden cases): LLVM's optimisation level 0 compiles about a third faster and computes
    # the same IEEE float32 operations (no fast-math either way).
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


@needs_jax
def test_import_under_jax_leaves_tensorflow_out():
    script = ("import sys, numpy as np, keras, lpips_tf\n"
              "m = lpips_tf.LPIPS(net='squeeze', trunk_weights=None, spatial=True)\n"
              "x = np.zeros((1, 32, 32, 3), np.float32)\n"
              "assert np.asarray(m([x, x])).shape == (1, 32, 32, 1)\n"
              "print(keras.backend.backend(), 'tensorflow' in sys.modules)\n")
    run = subprocess.run([sys.executable, "-c", script], env=_jax_env(), cwd=str(ROOT),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split()[-2:] == ["jax", "False"], run.stdout


@needs_jax
def test_backend_agnostic_suite_under_jax():
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          *AGNOSTIC_FILES], env=_jax_env(), cwd=str(ROOT),
                         capture_output=True, text=True, timeout=1200)
    tail = (run.stdout + run.stderr)[-4000:]
    assert run.returncode == 0, tail
    assert " passed" in run.stdout and " failed" not in run.stdout, tail
