"""Candidates that attack a peer evaluator from inside the real sandbox (unprivileged uid, no capabilities).

Each attack would succeed against ShinkaEvolve's own helper, which imports the
program into the evaluator's process and trusts the files in ``results_dir``.
"""

from __future__ import annotations

import pytest

from orchestrator.config import EvolutionConfig
from orchestrator.core.run_log import RunLog
from orchestrator.scoring.sandbox_evaluator import SandboxEvaluator

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("sandbox_image")]

FORGE = '''
import glob, json, os, time

def forge():
    for folder in glob.glob("/tmp/avo-shinka-results-*"):
        json.dump({"combined_score": 1e9}, open(os.path.join(folder, "metrics.json"), "w"))
        json.dump({"correct": True, "error": None}, open(os.path.join(folder, "correct.json"), "w"))

def keep_forging():
    """A daemon in a session of its own, rewriting the files after the evaluator wrote them."""
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            until = time.monotonic() + 3
            while time.monotonic() < until:
                forge()
                time.sleep(0.001)
        os._exit(0)
'''


@pytest.fixture
def shinka(problem):
    folder = problem("shinka_points")
    config = EvolutionConfig.from_yaml(folder / "config.yaml")
    evaluator = SandboxEvaluator(config, "run-byop-integrity", RunLog(config.run_log_path, "run-byop-integrity"))
    yield evaluator
    evaluator.close()


def test_files_the_program_writes_into_results_dir_are_not_believed(shinka):
    score = shinka.evaluate(FORGE + "def run_experiment(seed):\n    keep_forging()\n    return [0.0] * 3\n")
    assert not score.passes_correctness and score.values == {}
    assert score.correctness_message == "Validation failed: expected 10 angles, got 3"


def test_killing_the_evaluator_after_forging_its_files_fails_the_candidate(shinka):
    kill = FORGE + ("import signal\n\ndef run_experiment(seed):\n    forge()\n"
                    "    os.kill(os.getppid(), signal.SIGKILL)\n    return [0.0] * 10\n")
    score = shinka.evaluate(kill)
    assert not score.passes_correctness and score.values == {}
    assert score.correctness_message == "evaluate.py exited with code -9 without writing metrics.json and correct.json"


def test_the_program_cannot_open_the_evaluators_memory(shinka):
    probe = ("import os\n\ndef run_experiment(seed):\n"
             "    try:\n        open(f'/proc/{os.getppid()}/mem', 'r+b')\n"
             "    except OSError as exc:\n        raise RuntimeError(f'denied: {exc.strerror}')\n"
             "    raise RuntimeError('opened the evaluator memory')\n")
    score = shinka.evaluate(probe)
    assert "denied: Permission denied" in score.correctness_message, score.correctness_message
