"""sum_of_squares(n) from a folder of modules (solution_dir): correctness on fresh inputs, then calls per second.

The entry file is loaded in a process of its own (CandidateProcess), with its folder on
that process's path so it can import its siblings; nothing of the folder is on this
scorer's path.
"""

import random
import time
from pathlib import Path

from orchestrator.core.candidate_process import CandidateProcess, CandidateError
from orchestrator.core.scoring import Score, ScoringFunction, solution_dir

_clock = time.perf_counter  # the candidate runs in another process: nothing can rebind it here


class Scorer(ScoringFunction):
    def get_configurations(self):
        return ["n=100", "n=1000"]

    def get_scoring_context(self):
        return "kernel/solve.py defines sum_of_squares(n) = 0**2 + ... + (n-1)**2; scored in calls per second"

    def evaluate(self, source_code, source_file="solution.py"):
        entry = solution_dir() / Path(source_file).name
        try:
            with CandidateProcess(entry, timeout_s=60) as candidate:
                for n in (random.randrange(2000) for _ in range(5)):
                    got = candidate.call("sum_of_squares", n).result
                    if got != sum(i * i for i in range(n)):
                        return Score.failure(f"sum_of_squares({n}) returned {got!r}")
                values = {}
                for name in self.get_configurations():
                    n, started, calls = int(name[2:]), _clock(), 0
                    while _clock() - started < 0.15:
                        candidate.call("sum_of_squares", n)
                        calls += 1
                    values[name] = calls / (_clock() - started)
        except CandidateError as error:
            return Score.failure(f"the solution failed: {str(error)[-800:]}")
        return Score(values=values, passes_correctness=True, correctness_message="five fresh inputs right")
