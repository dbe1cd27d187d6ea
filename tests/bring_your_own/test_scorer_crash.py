"""A scorer's own crash is told apart from a candidate failing (issue 20, item 2), in the real sandbox.

The scorer reads ``data.json`` beside it, which its config forgot in ``scorer_files``: the message
blames the scorer, shows its frame and names the fix. A candidate that raises inside the same
scorer is still the candidate's failure.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import EvolutionConfig
from orchestrator.core.run_log import RunLog
from orchestrator.scoring.sandbox_evaluator import SandboxEvaluator

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("sandbox_image")]

SCORER = '''import json
from pathlib import Path

from orchestrator.scoring.score import Score, ScoringFunction


class Scorer(ScoringFunction):
    def get_configurations(self):
        return ["value"]

    def evaluate(self, source_code, source_file="solution.py"):
        namespace = {}
        exec(compile(source_code, source_file, "exec"), namespace)
        value = namespace["run"]()
        expected = json.loads((Path(__file__).parent / "data.json").read_text())["expected"]
        return Score(values={"value": float(value == expected) + 1.0}, passes_correctness=True)
'''


def test_a_scorer_missing_a_data_file_is_blamed_with_its_frame_and_the_fix(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)  # the sandbox user reads the staged copies
    (tmp_path / "scorer.py").write_text(SCORER)
    (tmp_path / "data.json").write_text('{"expected": 4}')
    (tmp_path / "seed.py").write_text("def run():\n    return 4\n")
    config = EvolutionConfig(seed_file=tmp_path / "seed.py", scoring_module=tmp_path / "scorer.py",
                             workspace_dir=tmp_path / "workspace")
    evaluator = SandboxEvaluator(config, "run-crash", RunLog(config.run_log_path, "run-crash"))
    try:
        crashed = evaluator.evaluate("def run():\n    return 4\n")
        failing = evaluator.evaluate("def run():\n    raise ValueError('the candidate gave up')\n")
    finally:
        evaluator.close()
    assert crashed.correctness_message == (
        "evaluation failed: the scorer crashed at scorer.py:15 (in evaluate), not the candidate: FileNotFoundError: "
        "[Errno 2] No such file or directory: '/opt/avo/scorer/data.json'; add `data.json` to `scorer_files` "
        "(it is beside the scorer, but only declared files are staged)")
    assert failing.correctness_message == "evaluation failed: ValueError: the candidate gave up"
