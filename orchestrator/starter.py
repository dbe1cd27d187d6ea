"""The files ``avo init`` writes next to a new config, so it runs as written.

A deliberately tiny problem (sum of squares) whose scorer shows the contract:
correctness on fresh random inputs first, then one higher-is-better metric per
configuration; and a replay transcript for it, so ``avo run avo.yaml --replay
replay.yaml`` shows the whole loop (a commit, a rejection, the report) without a key.
"""

from __future__ import annotations

__all__ = ["REPLAY_FILE", "STARTER_FILES"]

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

from avo.core.scoring import Score, ScoringFunction

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

_REPLAY = """\
# A replay transcript for the starter problem: recorded assistant turns played back with no
# network and no key (`avo run avo.yaml --replay replay.yaml`). The scores are real: each
# candidate is scored in the sandbox by scorer.py. `turns` feed the agent's steps in order
# (a step ends at `submit`); `replies` feed the supervisor. The run ends when they run out.
turns:
  # Step 1: the closed form replaces the loop; evaluated, then submitted: committed as v1.
  - text: "Replay: the loop is O(n); the sum of squares has a closed form, n(n-1)(2n-1)/6 for i < n."
    tool_calls:
      - name: write_file
        arguments:
          path: solution.py
          content: |
            \"\"\"Closed form of sum(i*i for i in range(n)): O(1) instead of a loop.\"\"\"


            def sum_of_squares(n: int) -> int:
                return (n - 1) * n * (2 * n - 1) // 6 if n > 0 else 0
      - {name: evaluate, arguments: {}}
  - tool_calls:
      - {name: submit, arguments: {rationale: "Closed form: constant time whatever n."}}

  # Step 2: an off-by-one (sums up to n instead of n - 1): the runner rejects it as incorrect.
  - text: "Replay: a shorter formula (wrong on purpose: it includes n itself, so it is rejected)."
    tool_calls:
      - name: write_file
        arguments:
          path: solution.py
          content: |
            def sum_of_squares(n: int) -> int:
                return n * (n + 1) * (2 * n + 1) // 6
      - {name: submit, arguments: {rationale: "n(n+1)(2n+1)/6."}}

replies:
  - "Replay directive: the last candidate summed one term too many; keep the closed form of v1."
"""

#: The replay transcript's file name, beside the config (``avo init`` prints the command that plays it).
REPLAY_FILE = "replay.yaml"

#: File name (relative to the config's folder) -> content; never overwrites an existing file.
STARTER_FILES = {"seed.py": _SEED, "scorer.py": _SCORER, REPLAY_FILE: _REPLAY}
