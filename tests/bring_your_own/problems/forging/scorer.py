"""avo's native interface: runs the candidate as a subprocess (``MODE = "subprocess"``) or imports it."""

import importlib.util
import subprocess
import sys

from orchestrator.core.scoring import Score, ScoringFunction


def measure(source_code, program):
    if 'MODE = "subprocess"' in source_code:
        done = subprocess.run([sys.executable, program], capture_output=True, text=True, timeout=60, check=True)
        return float(done.stdout.split()[-1])
    spec = importlib.util.spec_from_file_location("program", program)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return float(module.run())


class Scorer(ScoringFunction):
    def get_configurations(self):
        return ["combined_score"]

    def evaluate(self, source_code, source_file="solution.py"):
        value = measure(source_code, source_file)
        return Score(values={"combined_score": value}, passes_correctness=True, correctness_message="ok")
