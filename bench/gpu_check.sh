#!/usr/bin/env bash
# The attention example on a GPU host, in one command: the kernel helpers' GPU-only checks
# (side-stream work timed, L2 flushed between calls, tests/gpu), the scorer's tests, then one
# table of TFLOPS per configuration for the seed and for PyTorch's fused kernel (SDPA),
# measured directly and through `avo eval`, with their ratio (bench/attention_through_avo.py).
#
# Where Docker answers, the NVIDIA runtime is registered and avo-sandbox:gpu is built, avo
# scores in the GPU image; elsewhere (a lent accelerator without Docker) it scores with
# sandbox.backend local, which isolates nothing: fine here, both kernels are this repository's.
# Such a machine may also reach no registry: when avo's own imports are missing, the wheels in
# bench/wheels (see bench/gpu_check_requirements.txt) are installed into a temporary folder.
# usage: bench/gpu_check.sh [--rounds N]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3
if [ "${1:-}" = "--rounds" ]; then rounds=${2:?--rounds needs a number}; fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if ! python3 -c "import pydantic, yaml, rich, docker, pytest" 2>/dev/null; then
    if [ ! -d bench/wheels ]; then
        echo "avo's imports are missing and bench/wheels is absent: see bench/gpu_check_requirements.txt" >&2
        exit 2
    fi
    deps=$(mktemp -d /tmp/avo-gpu-check-deps.XXXXXX)
    trap 'rm -rf "$deps"' EXIT
    python3 -m pip install -q --no-index --find-links bench/wheels --target "$deps" \
        -r bench/gpu_check_requirements.txt
    export PYTHONPATH="$PYTHONPATH:$deps"
fi

python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name())"
python3 -m pytest -q -p no:cacheprovider tests/gpu tests/examples/test_attention_scorer.py

backend=local
if docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"nvidia"' \
        && docker image inspect avo-sandbox:gpu >/dev/null 2>&1; then
    backend=docker
fi
python3 bench/attention_through_avo.py --rounds "$rounds" --backend "$backend" --image avo-sandbox:gpu --gpus 0
