"""The files ``avo init`` writes next to a new config, so it runs as written.

A deliberately tiny problem (sum of squares) whose scorer shows the contract:
correctness on fresh random inputs first, then one higher-is-better metric per
configuration.
"""

from __future__ import annotations

__all__ = ["STARTER_FILES"]

_SEED = '''\
"""Seed solution: the agent evolves this file (solution.py in the work tree)."""


def sum_of_squares(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total
'''

_SCORER = '''\
"""Scorer for the starter problem; runs inside the sandbox, never on the host."""

import random
import time

from orchestrator.core.scoring import Score, ScoringFunction

SIZES = {"n=10k": 10_000, "n=100k": 100_000}


class Scorer(ScoringFunction):
    def get_configurations(self) -> list[str]:
        return list(SIZES)

    def get_scoring_context(self) -> str:
        return "Implement sum_of_squares(n) = sum(i*i for i in range(n)). Metric: calls per second."

    def evaluate(self, source_code: str, source_file: str = "solution.py") -> Score:
        namespace: dict = {}
        try:
            exec(compile(source_code, source_file, "exec"), namespace)
            function = namespace["sum_of_squares"]
            for n in [random.randrange(0, 5000) for _ in range(20)]:  # fresh inputs per evaluation
                if function(n) != sum(i * i for i in range(n)):
                    return Score(passes_correctness=False, correctness_message=f"wrong result for n={n}")
        except Exception as exc:  # the candidate's error is its failure, not the scorer's
            return Score.failure(f"{type(exc).__name__}: {exc}")
        values = {}
        for name, n in SIZES.items():
            started, calls = time.perf_counter(), 0
            while time.perf_counter() - started < 0.2:
                function(n)
                calls += 1
            values[name] = calls / (time.perf_counter() - started)
        return Score(values=values, passes_correctness=True, correctness_message="ok")
'''

#: File name (relative to the config's folder) -> content; never overwrites an existing file.
STARTER_FILES = {"seed.py": _SEED, "scorer.py": _SCORER}
