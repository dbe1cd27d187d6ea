"""The tiny problem of the end-to-end tests, and the ``project`` fixture that lays it out.

Candidates compute ``sum_of_squares(n)``; their speed differences are large enough
that timing noise never decides a commit: each variant sleeps less per call, and the
closed form does not sleep at all.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SCORING_CONTEXT = "sum_of_squares(n) returns 0**2 + ... + (n-1)**2; scored in calls per second, higher is better"
SCORER = f'''
import random
import time
from orchestrator.scoring.score import Score, ScoringFunction


class Scorer(ScoringFunction):
    def get_configurations(self):
        return ["n=100", "n=1000"]

    def get_scoring_context(self):
        return {SCORING_CONTEXT!r}

    def evaluate(self, source_code, source_file="solution.py"):
        namespace = {{}}
        exec(compile(source_code, source_file, "exec"), namespace)
        function = namespace["sum_of_squares"]
        for n in (random.randrange(2000) for _ in range(5)):
            if function(n) != sum(i * i for i in range(n)):
                return Score(passes_correctness=False, correctness_message=f"wrong for n={{n}}")
        values = {{}}
        for name in self.get_configurations():
            n, started, calls = int(name[2:]), time.perf_counter(), 0
            while time.perf_counter() - started < 0.15:
                function(n)
                calls += 1
            values[name] = calls / (time.perf_counter() - started)
        return Score(values=values, passes_correctness=True, correctness_message="ok")
'''


def variant(pause_s: float) -> str:
    return (f"import time\n\n\ndef sum_of_squares(n):\n    time.sleep({pause_s})\n"
            "    return sum(i * i for i in range(n))\n")


SEED = variant(0.02)
FASTER = variant(0.005)
FASTEST = "def sum_of_squares(n):\n    return (n - 1) * n * (2 * n - 1) // 6\n"
WRONG = "def sum_of_squares(n):\n    return n * n\n"


@pytest.fixture
def project(tmp_path: Path, sandbox_image: str) -> Path:
    """A folder with the seed and the scorer, readable by the sandbox user."""
    tmp_path.chmod(0o755)  # when the host user is root the sandbox runs as uid 65532, which must read the scorer
    (tmp_path / "scorer.py").write_text(SCORER)
    (tmp_path / "seed.py").write_text(SEED)
    return tmp_path
