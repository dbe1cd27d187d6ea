"""The sorting scorer's correctness gate and speedup measurement, against known-good and known-bad candidates.

The scorer runs here on the host (it is the thing under test); the candidates are
this file's own. A candidate that defeats the scorer's alarm is ended by the
sandbox's timeout, which the end-to-end test covers.
"""

from __future__ import annotations

import builtins
import random
from pathlib import Path
from types import ModuleType

import pytest

SEED = (Path(__file__).resolve().parents[2] / "examples" / "sorting_optimization" / "seed.py").read_text()
TIMSORT = "def sort(values):\n    return sorted(values)\n"


@pytest.fixture
def scorer(sorting_scorer: ModuleType):  # type: ignore[no-untyped-def]
    """A scorer with a short budget and alarm so the suite stays fast."""
    random.seed(1234)
    return sorting_scorer.Scorer(call_timeout_s=2.0, time_budget_s=0.02)


def test_configurations_cover_sizes_and_distributions(scorer) -> None:  # type: ignore[no-untyped-def]
    names = scorer.get_configurations()
    assert names == ["n100_random", "n1000_random", "n1000_sorted", "n1000_reversed", "n1000_duplicates", "n2000_random"]
    context = scorer.get_scoring_context()
    assert "def sort(values: list[int]) -> list[int]" in context
    assert all(name in context for name in names)


def test_seed_is_correct_and_scores_about_one(scorer) -> None:  # type: ignore[no-untyped-def]
    score = scorer.evaluate(SEED, "solution.py")
    assert score.passes_correctness, score.correctness_message
    assert set(score.values) == set(scorer.get_configurations())
    # The seed is the baseline's algorithm: speedup 1 up to timing noise.
    assert all(0.5 < value < 2.0 for value in score.values.values()), score.values
    assert score.duration_s is not None and score.duration_s > 0


def test_timsort_is_much_faster_than_the_seed(scorer) -> None:  # type: ignore[no-untyped-def]
    score = scorer.evaluate(TIMSORT)
    assert score.passes_correctness, score.correctness_message
    assert score.geomean > 20
    assert "matched sorted()" in score.correctness_message


BAD_CANDIDATES = {
    "sorts its input in place and returns it": ("def sort(values):\n    values.sort()\n    return values\n", "input list"),
    "sorts its input in place, returns a copy": (
        "def sort(values):\n    values.sort()\n    return list(values)\n",
        "modified its input",
    ),
    "drops duplicates": ("def sort(values):\n    return sorted(set(values))\n", "elements for an input of"),
    "wrong order": ("def sort(values):\n    return sorted(values, reverse=True)\n", "wrong element"),
    "returns a tuple": ("def sort(values):\n    return tuple(sorted(values))\n", "returned tuple"),
    "returns floats": ("def sort(values):\n    return [float(x) for x in sorted(values)]\n", "not int"),
    "list subclass equal to anything": (
        "class Anything(list):\n    def __eq__(self, other):\n        return True\n"
        "    def __ne__(self, other):\n        return False\n\n"
        "def sort(values):\n    return Anything()\n",
        "returned Anything",
    ),
    "fails on the empty list": ("def sort(values):\n    first = values[0]\n    return sorted(values)\n", "IndexError"),
    "raises on large inputs": (
        "def sort(values):\n    if len(values) > 500:\n        raise RuntimeError('too big')\n    return sorted(values)\n",
        "too big",
    ),
    "wrong only on large inputs": (
        "def sort(values):\n    result = sorted(values)\n    return result if len(result) < 1500 else result[::-1]\n",
        "n2000_random",
    ),
    "no sort function": ("def order(values):\n    return sorted(values)\n", "does not define"),
    "syntax error": ("def sort(values)\n    return values\n", "SyntaxError"),
    "raises at import": ("raise ImportError('missing dependency')\n", "missing dependency"),
}


@pytest.mark.parametrize("label", sorted(BAD_CANDIDATES))
def test_bad_candidates_fail_with_their_reason(scorer, label: str) -> None:  # type: ignore[no-untyped-def]
    source, reason = BAD_CANDIDATES[label]
    score = scorer.evaluate(source)
    assert not score.passes_correctness
    assert score.geomean == 0.0
    assert score.values == {}
    assert reason in score.correctness_message, score.correctness_message


def test_a_hung_call_fails_with_a_timeout(sorting_scorer: ModuleType) -> None:
    scorer = sorting_scorer.Scorer(call_timeout_s=0.3)
    score = scorer.evaluate("def sort(values):\n    while True:\n        pass\n")
    assert not score.passes_correctness
    assert "timed out" in score.correctness_message


def test_a_hang_at_import_fails_with_a_timeout(sorting_scorer: ModuleType) -> None:
    scorer = sorting_scorer.Scorer(call_timeout_s=0.3)
    score = scorer.evaluate("import time\ntime.sleep(60)\n")
    assert not score.passes_correctness
    assert "importing the solution: timed out" in score.correctness_message


def test_swallowing_the_alarm_still_fails(sorting_scorer: ModuleType) -> None:
    source = (
        "import time\n"
        "def sort(values):\n"
        "    try:\n"
        "        time.sleep(1.0)\n"
        "    except BaseException:\n"
        "        time.sleep(0.5)\n"
        "    return sorted(values)\n"
    )
    score = sorting_scorer.Scorer(call_timeout_s=0.3).evaluate(source)
    assert not score.passes_correctness
    assert "over the 0.3 s limit per call" in score.correctness_message


def test_rebinding_builtins_cannot_fool_the_reference(sorting_scorer: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """A candidate that replaces builtins.sorted at import is still compared with the real sort."""
    monkeypatch.setattr(builtins, "sorted", builtins.sorted)  # restored after the test whatever the candidate does
    source = "import builtins\nbuiltins.sorted = lambda xs, **kw: list(xs)\n\ndef sort(values):\n    return list(values)\n"
    score = sorting_scorer.Scorer(call_timeout_s=2.0, time_budget_s=0.02).evaluate(source)
    assert not score.passes_correctness
    assert "wrong element" in score.correctness_message


def test_every_timed_call_gets_a_fresh_input(sorting_scorer: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inputs differ between calls and between evaluations, even if the candidate reseeds `random`."""
    seen: list[tuple[int, ...]] = []
    monkeypatch.setattr(builtins, "_avo_test_seen", seen, raising=False)
    source = (
        "import builtins, random\n"
        "random.seed(0)\n"
        "def sort(values):\n"
        "    builtins._avo_test_seen.append(tuple(values))\n"
        "    return sorted(values)\n"
    )
    scorer = sorting_scorer.Scorer(call_timeout_s=2.0, time_budget_s=0.0)
    for seed in (1, 2):
        random.seed(seed)  # what the harness does before each call
        assert scorer.evaluate(source).passes_correctness
    large = [values for values in seen if len(values) >= 100]
    assert len(large) == 2 * 6 * 3
    assert len(set(large)) == len(large)


def test_timing_is_compared_with_the_bubble_sort_baseline(sorting_scorer: ModuleType) -> None:
    """The embedded baseline is the seed's algorithm: same answers, same cost model."""
    values = [5, -1, 3, 3, 0]
    namespace: dict[str, object] = {}
    exec(compile(SEED, "seed.py", "exec"), namespace)
    assert sorting_scorer.baseline_sort(values) == namespace["sort"](values) == sorted(values)  # type: ignore[operator]
