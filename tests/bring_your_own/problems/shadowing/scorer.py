"""Reports, as its correctness message, anything of the solution's folder that reached this scorer's process.

The folder holds numpy.py, sitecustomize.py, a .pth file, conftest.py and scorer_helpers.py,
each of which would announce itself if it were imported or processed here.
"""

import os
import sys

import numpy
import scorer_helpers

from orchestrator.core.scoring import Score, ScoringFunction, solution_dir


class Scorer(ScoringFunction):
    def get_configurations(self):
        return ["probe"]

    def evaluate(self, source_code, source_file="solution.py"):
        folder = str(solution_dir())
        found = [name for name in ("SHADOW_SITECUSTOMIZE", "SHADOW_PTH", "SHADOW_CONFTEST", "SHADOW_NUMPY")
                 if name in os.environ]
        if scorer_helpers.ORIGIN != "the scorer's own folder":
            found.append(f"scorer_helpers from {scorer_helpers.__file__}")
        if numpy.__file__.startswith(folder) or not hasattr(numpy, "ndarray"):
            found.append(f"numpy from {numpy.__file__}")
        found += [f"{entry} on the path" for entry in sys.path if entry.startswith(folder)]
        return Score(values={"probe": 1.0}, passes_correctness=not found,
                     correctness_message="; ".join(found) or "nothing of the solution reached the scorer")
