#!/usr/bin/env bash
# The attention example's GPU path, for a host with an NVIDIA GPU, PyTorch and Triton,
# where Docker may be absent (a lent accelerator): the kernel helpers' GPU-only checks
# (side-stream work timed, L2 flushed between calls), the scorer's correctness tests,
# then its CUDA-event timing of the seed and of PyTorch's fused kernel on the paper's
# configuration set (examples/attention_kernel/configs.json, "gpu").
# Needs pydantic beside torch (the scoring interface imports it).
# usage: bench/gpu_check.sh [--repeat N]
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name())"
python3 -m pytest -q -p no:cacheprovider tests/gpu tests/examples/test_attention_scorer.py
[ $# -gt 0 ] || set -- --repeat 1
python3 bench/attention_tflops.py "$@"
