"""Files in a directory solution never change what the scorer imports or runs.

The solution's folder holds ``numpy.py``, ``sitecustomize.py``, a ``.pth`` file,
``conftest.py`` and a module named like the scorer's own helper, and the config even puts
the folder on ``PYTHONPATH``; the harness and the scorer run isolated (``-I``) with the
scorer's own paths first and nothing of the folder on them. The conftest.py check runs
on the host, where pytest is installed: a scorer running its own tests with pytest is not
affected, while the same file does take over a pytest run of the folder itself.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from byop import run_harness
from orchestrator.config import EvolutionConfig
from orchestrator.core.run_log import RunLog
from orchestrator.core.solution_layout import SolutionLayout
from orchestrator.scoring.sandbox_evaluator import SandboxEvaluator


@pytest.mark.docker
@pytest.mark.usefixtures("sandbox_image")
def test_nothing_in_the_solution_folder_reaches_the_scorer_in_the_sandbox(problem):
    folder = problem("shadowing")
    config = EvolutionConfig.from_yaml(folder / "config.yaml")
    seed = config.layout.seed(config.seed_file)
    assert {"numpy.py", "sitecustomize.py", "shadow.pth", "conftest.py", "scorer_helpers.py"} <= set(seed.files)
    evaluator = SandboxEvaluator(config, "run-byop-shadow", RunLog(config.run_log_path, "run-byop-shadow"))
    try:
        score = evaluator.evaluate(seed.source, files=seed.files)
    finally:
        evaluator.close()
    assert score.passes_correctness, score.correctness_message
    assert score.correctness_message == "nothing of the solution reached the scorer"


CHECK = '''
import importlib.util, os

def test_the_answer_is_41():
    spec = importlib.util.spec_from_file_location("solve", os.environ["SOLUTION"] + "/solve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.answer() == 41
'''

PYTEST_SCORER = '''
import os, subprocess, sys
from pathlib import Path
from orchestrator.scoring.score import Score, ScoringFunction, solution_dir

HERE = Path(__file__).parent

class Scorer(ScoringFunction):
    def get_configurations(self):
        return ["tests"]

    def evaluate(self, source_code, source_file="solution.py"):
        done = subprocess.run([sys.executable, "-I", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "--rootdir", str(HERE), str(HERE / "check_solution.py")],
                              capture_output=True, text=True, env={**os.environ, "SOLUTION": str(solution_dir())})
        return Score(values={"tests": 1.0}, passes_correctness=done.returncode == 0,
                     correctness_message=done.stdout.strip().splitlines()[-1])
'''

#: Marks every test as passed: what a hostile conftest.py would do to a pytest run it takes part in.
FORGING_CONFTEST = '''
import pytest

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    outcome.get_result().outcome = "passed"
'''


def test_a_conftest_in_the_solution_does_not_take_over_the_scorers_pytest(tmp_path):
    (tmp_path / "scorer.py").write_text(PYTEST_SCORER)
    (tmp_path / "check_solution.py").write_text(CHECK)
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "solve.py").write_text("def answer():\n    return 42\n")
    (seed / "conftest.py").write_text(FORGING_CONFTEST)
    (seed / "test_own.py").write_text(CHECK)
    config = EvolutionConfig(seed_file=seed, scoring_module=tmp_path / "scorer.py", solution_dir="kernel",
                             solution_file="solve.py")
    candidate = SolutionLayout(entry="solve.py", directory="kernel").seed(seed)
    reply = run_harness(config, "evaluate", candidate, environment={"AVO_SOLUTION_DIR": "kernel"})
    assert reply["result"]["passes_correctness"] is False and "1 failed" in reply["result"]["correctness_message"]
    # The control: pytest run over the folder itself is taken over by its conftest.py.
    forged = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(seed)],
                            capture_output=True, text=True, env={"SOLUTION": str(seed), "PATH": "/usr/bin:/bin"})
    assert forged.returncode == 0 and "1 passed" in forged.stdout
