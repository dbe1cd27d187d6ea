"""The attention scorer's GPU path on a real NVIDIA GPU (skipped without one; run by bench/gpu_check.sh).

On a GPU the candidate runs in the scorer's process under the kernel helpers' DeviceTimer;
these are the checks that path must keep: known-good kernels pass, hacks fail with their
reason, an implausible jump over the previous best is re-measured and noted. The shapes
are the GPU set's correctness shapes and one benchmark, to stay within a few seconds.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "attention_kernel"

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

SDPA = ("import torch.nn.functional as F\n\ndef attention(q, k, v, causal):\n"
        "    return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)\n")


def variant(body: str) -> str:
    return SDPA.replace("    return F.scaled", "    o = F.scaled") + "".join(f"    {line}\n" for line in body.splitlines())


@pytest.fixture
def scorer(tmp_path: Path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("attention_scorer_gpu", EXAMPLE / "scorer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    configs = json.loads((EXAMPLE / "configs.json").read_text())
    configs["gpu"]["benchmarks"] = [{"batch": 2, "heads": 16, "kv_heads": 4, "seq": 4096, "head_dim": 128, "causal": [True]}]
    path = tmp_path / "configs.json"
    path.write_text(json.dumps(configs))
    random.seed(5)
    return module.Scorer(config_file=path, device="cuda")


def test_a_fused_kernel_passes_with_positive_tflops(scorer):
    score = scorer.evaluate(SDPA)
    assert score.passes_correctness, score.correctness_message
    assert all(value > 0 for value in score.values.values())


@pytest.mark.parametrize("body, reason", [
    ("q.zero_()\nreturn o", "modified its input q"),
    ("q.copy_(o)\nreturn q", "sharing memory with input q"),
    ("o[0, 0, 0, 0] = float('nan')\nreturn o", "NaN or Inf"),
    ("return torch.zeros_like(q)", "wrong values"),
])
def test_hacks_fail_with_their_reason(scorer, body, reason):
    score = scorer.evaluate("import torch\n" + variant(body))
    assert not score.passes_correctness and reason in score.correctness_message, score.correctness_message


def test_an_implausible_jump_is_re_measured_and_noted(scorer, monkeypatch):
    name = scorer.get_configurations()[0]
    monkeypatch.setenv("AVO_PREVIOUS_BEST", json.dumps({name: 1e-6}))
    score = scorer.evaluate(SDPA)
    assert score.passes_correctness and name in score.artifacts["plausibility"]
