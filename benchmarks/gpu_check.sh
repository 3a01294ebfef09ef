#!/usr/bin/env bash
# The prepared GPU check (about 5 minutes on an H100): golden parity under Keras' JAX backend at
# float32 ("highest") precision and under its PyTorch backend with TF32 off, then lpips_tf (JAX)
# against the official lpips 0.1.4 (torch) on the same GPU, then the table.
#
# The lent GPU machine has JAX, PyTorch, torchvision and numpy but no Keras and no internet. Bring
# wheels and the ../shared files the parity cases read (see benchmarks/README.md):
#   echo /.whl/ >> .git/info/exclude; echo /.gpu_shared/ >> .git/info/exclude
#   python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
#     --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#     -d .whl keras==3.15.1 namex optree lpips==0.1.4
#   mkdir -p .gpu_shared && cp -r ../shared/weights ../shared/images .gpu_shared/
# then run it with carry [".whl", ".gpu_shared"]:  bash benchmarks/gpu_check.sh
# On a CPU machine with keras, jax and lpips installed: QUICK=1 bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
export OUT="${OUT:-/tmp/lpips_gpu_check}" PYTHONUNBUFFERED=1
mkdir -p "$OUT"
if [ -d .whl ] && ! python3 -c "import keras" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
[ -d .gpu_shared ] && export LPIPS_SHARED="$PWD/.gpu_shared"
quick=(--budget "${BUDGET:-0.5}"); [ -n "${QUICK:-}" ] && quick=(--quick --budget 0.3)
status=0
step() { echo "== $*"; timeout "${STEP_TIMEOUT:-150}" python3 benchmarks/gpu_check.py "$@" || status=1; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
step parity jax
step parity torch
step speed jax "${quick[@]}"
step speed official "${quick[@]}"
step report "${quick[@]}"
exit $status
