"""count_primes(n): how many primes lie below n. Each case is a configuration, scored in calls per second.

The public cases are in cases.json next to this file; in a hidden call (the split the
agent never sees) the cases come from the hidden data folder instead.
"""

import json
import time
from pathlib import Path

from orchestrator.core.scoring import Score, ScoringFunction, hidden_data_dir

HERE = Path(__file__).parent


def cases():
    return json.loads(((hidden_data_dir() or HERE) / "cases.json").read_text())


class Scorer(ScoringFunction):
    def get_configurations(self):
        return [case["name"] for case in cases()]

    def get_scoring_context(self):
        return "count_primes(n) returns the number of primes below n; scored in calls per second per case"

    def evaluate(self, source_code, source_file="solution.py"):
        namespace = {}
        exec(compile(source_code, source_file, "exec"), namespace)
        count = namespace["count_primes"]
        values = {}
        for case in cases():
            got = count(case["n"])
            if got != case["expected"]:
                return Score.failure(f"{case['name']}: count_primes({case['n']}) returned {got!r}, "
                                     f"expected {case['expected']}")
            started, calls = time.perf_counter(), 0
            while time.perf_counter() - started < 0.15:
                count(case["n"])
                calls += 1
            values[case["name"]] = calls / (time.perf_counter() - started)
        return Score(values=values, passes_correctness=True, correctness_message="every case counted right")
