"""The attention scorer's correctness gate and TFLOPS measurement, against known-good and known-bad kernels.

The scorer runs here on the host with torch on the CPU (it is the thing under
test) on the CPU configuration set or a smaller one written by the test; the
kernels are this folder's own.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "attention_kernel"
SEED = (EXAMPLE / "seed.py").read_text()
TRITON_KERNEL = (Path(__file__).parent / "candidates" / "triton_flash_attention.py").read_text()

SDPA = """
import torch
import torch.nn.functional as F

def attention(q, k, v, causal):
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
"""


def sdpa_variant(body: str) -> str:
    """A candidate that computes the right answer with SDPA into ``o``, then runs ``body``."""
    return (
        "import math\nimport torch\nimport torch.nn.functional as F\n\n"
        "def attention(q, k, v, causal):\n"
        "    o = F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)\n"
        + "".join(f"    {line}\n" for line in body.strip().splitlines())
    )


@pytest.fixture(autouse=True)
def _restore_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scorer sets TRITON_INTERPRET=1 on a CPU host; undo it after each test."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    random.seed(99)  # the harness seeds before each call


@pytest.fixture
def scorer(attention_scorer: ModuleType):  # type: ignore[no-untyped-def]
    return attention_scorer.Scorer(device="cpu")


@pytest.fixture
def small_scorer(attention_scorer: ModuleType, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The CPU set's correctness shapes with one small benchmark: enough for the slow Triton interpreter."""
    configs = json.loads((EXAMPLE / "configs.json").read_text())
    configs["cpu"]["benchmarks"] = [{"batch": 1, "heads": 2, "kv_heads": 1, "seq": 70, "head_dim": 64, "causal": [True]}]
    configs["cpu"]["timing"] = {"warmup": 0, "repetitions": 1, "l2_flush_bytes": 0}
    path = tmp_path / "configs.json"
    path.write_text(json.dumps(configs))
    return attention_scorer.Scorer(config_file=path, device="cpu")


def test_gpu_set_is_the_papers_configuration(attention_scorer: ModuleType) -> None:
    suite = attention_scorer.Suite.load(attention_scorer.CONFIG_FILE, "cuda")
    assert str(suite.dtype) == "torch.bfloat16"
    shapes = suite.benchmarks
    assert len(shapes) == 24 and len({shape.name for shape in shapes}) == 24
    assert {shape.head_dim for shape in shapes} == {128}
    assert {shape.batch * shape.seq for shape in shapes} == {32768}
    assert {shape.seq for shape in shapes} == {4096, 8192, 16384, 32768}
    assert {(shape.heads, shape.kv_heads) for shape in shapes} == {(16, 16), (32, 8), (32, 4)}
    assert sum(shape.causal for shape in shapes) == 12
    assert suite.l2_flush_bytes == 256 * 1024 * 1024
    causal = next(shape for shape in shapes if shape.causal and shape.seq == 4096 and shape.heads == 16)
    assert causal.name == "b8_h16_s4096_d128_causal"
    assert causal.flops == 4 * 8 * 16 * 4096**2 * 128 / 2
    gqa = next(shape for shape in shapes if shape.kv_heads == 4 and shape.seq == 32768 and not shape.causal)
    assert gqa.name == "b1_h32kv4_s32768_d128_noncausal"


def test_cpu_set_covers_ragged_lengths_gqa_and_both_masks(scorer) -> None:  # type: ignore[no-untyped-def]
    suite = scorer.suite
    assert {1, 37, 100, 129} <= {shape.seq for shape in suite.correctness}
    assert any(shape.kv_heads < shape.heads for shape in suite.correctness + suite.benchmarks)
    assert {shape.causal for shape in suite.correctness} == {True, False}
    assert scorer.get_configurations() == [shape.name for shape in suite.benchmarks]
    context = scorer.get_scoring_context()
    assert "attention(q, k, v, causal: bool)" in context and "TRITON_INTERPRET=1" in context


@pytest.mark.parametrize("source", [SEED, SDPA], ids=["seed", "sdpa"])
def test_known_good_kernels_pass_with_positive_tflops(scorer, source: str) -> None:  # type: ignore[no-untyped-def]
    score = scorer.evaluate(source, "solution.py")
    assert score.passes_correctness, score.correctness_message
    assert set(score.values) == set(scorer.get_configurations())
    assert all(value > 0 for value in score.values.values())
    assert score.geomean > 0


def test_fused_kernel_beats_the_seed(scorer) -> None:  # type: ignore[no-untyped-def]
    assert scorer.evaluate(SDPA).geomean > 1.2 * scorer.evaluate(SEED).geomean


def test_triton_kernel_passes_in_the_interpreter(small_scorer) -> None:  # type: ignore[no-untyped-def]
    score = small_scorer.evaluate(TRITON_KERNEL)
    assert score.passes_correctness, score.correctness_message
    assert score.geomean > 0


BAD_KERNELS = {
    "wrong output (no 1/sqrt(d) scale)": (
        SDPA.replace("enable_gqa=True)", "enable_gqa=True, scale=1.0)"),
        "wrong values",
    ),
    "zeros": (sdpa_variant("return torch.zeros_like(q)"), "wrong values"),
    # Within the elementwise tolerance (outputs of long non-causal rows are small) but 7 % off overall.
    "slightly scaled on long sequences": (
        sdpa_variant("return o * 0.93 if q.shape[2] >= 300 and not causal else o"),
        "relative RMS error",
    ),
    "NaNs": (sdpa_variant("o[..., 0, 0] = float('nan')\nreturn o"), "NaN or Inf"),
    "Inf": (sdpa_variant("o[0, 0, -1, -1] = float('inf')\nreturn o"), "NaN or Inf"),
    "shape mismatch": (sdpa_variant("return o.transpose(1, 2).contiguous()"), "returned shape"),
    "drops the last row": (sdpa_variant("return o[:, :, :-1].clone()"), "returned shape"),
    "wrong dtype": (sdpa_variant("return o.float()"), "returned torch.float32"),
    "not a tensor": (sdpa_variant("return o.tolist()"), "returned list"),
    "exception": (sdpa_variant("raise RuntimeError('kernel launch failed')"), "kernel launch failed"),
    "causal mask off by one": (
        SDPA.replace(
            "F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)",
            "F.scaled_dot_product_attention(q, k, v, enable_gqa=True, attn_mask="
            "torch.ones(q.shape[2], q.shape[2], dtype=torch.bool).tril(1) if causal else None)",
        ),
        "wrong values",
    ),
    "causal flag ignored": (SDPA.replace("is_causal=causal", "is_causal=False"), "_causal: wrong values"),
    "wrong GQA head mapping": (
        sdpa_variant(
            "group = q.shape[1] // k.shape[1]\n"
            "index = torch.arange(q.shape[1]) % k.shape[1]\n"
            "return F.scaled_dot_product_attention(q, k[:, index], v[:, index], is_causal=causal)"
        ),
        "wrong values",
    ),
    "mutates an input": (sdpa_variant("q.zero_()\nreturn o"), "modified its input q"),
    "returns an input alias": (sdpa_variant("v_out = q\nv_out.copy_(o)\nreturn v_out"), "sharing memory with input q"),
    "returns a view of an input": (sdpa_variant("return k.expand_as(q)"), "sharing memory with input k"),
    "right only on small shapes": (sdpa_variant("return o if q.shape[2] < 200 else torch.randn_like(o)"), "s256"),
    "caches its first result per shape": (
        "import torch.nn.functional as F\n_cache = {}\n\n"
        "def attention(q, k, v, causal):\n"
        "    key = (q.shape, causal)\n"
        "    if key not in _cache:\n"
        "        _cache[key] = F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)\n"
        "    return _cache[key].clone()\n",
        "wrong values",
    ),
    "no attention function": ("def attend(q, k, v, causal):\n    return q\n", "does not define"),
    "import error": ("import flash_attn_does_not_exist\n", "ModuleNotFoundError"),
}


@pytest.mark.parametrize("label", sorted(BAD_KERNELS))
def test_bad_kernels_fail_with_their_reason(scorer, label: str) -> None:  # type: ignore[no-untyped-def]
    source, reason = BAD_KERNELS[label]
    score = scorer.evaluate(source)
    assert not score.passes_correctness
    assert score.geomean == 0.0 and score.values == {}
    assert reason in score.correctness_message, score.correctness_message


#: A candidate that records the first values of every q it is called with (it runs in a process of its
#: own on a CPU, so it writes them to the file the test names).
RECORDER = (
    "import json, os\nimport torch\nimport torch.nn.functional as F\n"
    "torch.manual_seed(0)\n\n"
    "def attention(q, k, v, causal):\n"
    "    with open(os.environ['AVO_TEST_SEEN'], 'a') as seen:\n"
    "        seen.write(json.dumps(q.flatten()[:8].tolist()) + '\\n')\n"
    "    return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)\n"
)


def recorded(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_inputs_are_fresh_per_call_and_per_evaluation(scorer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Every call sees new inputs, even when the candidate reseeds torch's global generator at import."""
    monkeypatch.setenv("AVO_TEST_SEEN", str(tmp_path / "seen"))
    for seed in (1, 2):
        random.seed(seed)
        assert scorer.evaluate(RECORDER).passes_correctness
    seen = recorded(tmp_path / "seen")
    calls = len(scorer.suite.correctness) + len(scorer.suite.benchmarks) * (scorer.suite.warmup + scorer.suite.repetitions)
    assert len(seen) == 2 * calls
    assert len(set(seen)) == len(seen)


def test_same_harness_seed_gives_the_same_inputs(scorer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Inputs come from the harness's seed alone, so a re-score in a fresh container with the same seed sees the same data."""
    monkeypatch.setenv("AVO_TEST_SEEN", str(tmp_path / "seen"))
    for _ in range(2):
        random.seed(7)
        scorer.evaluate(RECORDER)
    seen = recorded(tmp_path / "seen")
    half = len(seen) // 2
    assert half and seen[:half] == seen[half:]


def test_an_implausible_jump_over_the_previous_best_is_re_measured_and_noted(
    scorer, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    names = scorer.get_configurations()
    monkeypatch.setenv("AVO_PREVIOUS_BEST", json.dumps({name: 1e-9 for name in names}))
    score = scorer.evaluate(SDPA)
    assert score.passes_correctness
    notes = score.artifacts["plausibility"].splitlines()
    assert [note.split(":")[0] for note in notes] == names
    assert all(f"re-measured over {scorer.suite.repetitions + scorer.suite.extra_repetitions} trials" in note
               for note in notes)
