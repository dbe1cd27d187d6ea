"""SandboxEvaluator against the real Docker sandbox: scoring, isolation between calls,
failures as scores, and candidates that try to fake their result."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from orchestrator.config import EvolutionConfig
from orchestrator.core.run_log import RunLog, read_events
from orchestrator.errors import ScorerError
from nonce_thief import nonce_thief
from orchestrator.scoring.sandbox_evaluator import SandboxEvaluator

pytestmark = pytest.mark.docker

SCORER = '''
import random
from orchestrator.scoring.score import Score, ScoringFunction

class Scorer(ScoringFunction):
    def get_configurations(self):
        return ["small", "large"]

    def get_scoring_context(self):
        return "return speed() as a float"

    def evaluate(self, source_code, source_file="solution.py"):
        namespace = {}
        exec(compile(source_code, source_file, "exec"), namespace)
        speed = namespace["speed"]()
        return Score(values={"small": speed, "large": speed * 2}, passes_correctness=True,
                     correctness_message=f"seed {random.random()}")
'''


def make_evaluator(tmp_path: Path, scorer: str = SCORER, **sandbox) -> tuple[SandboxEvaluator, EvolutionConfig]:
    """An evaluator on a scorer folder as users keep it: a secret beside the scorer, declared
    data in ``data/``, the workspace inside (pytest's private tmp_path: staging needs no chmod)."""
    (tmp_path / "scorer.py").write_text(scorer)
    (tmp_path / "seed.py").write_text("def speed(): return 1.0\n")
    (tmp_path / ".env").write_text("API_KEY=sk-beside-the-scorer\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "table.txt").write_text("declared data\n")
    config = EvolutionConfig(seed_file=tmp_path / "seed.py", scoring_module=tmp_path / "scorer.py",
                             scorer_files=["data/*.txt"], workspace_dir=tmp_path / "workspace", sandbox=sandbox)
    config.lineage_dir.mkdir(parents=True)
    (config.lineage_dir / "private.txt").write_text("lineage")
    evaluator = SandboxEvaluator(config, "run-it-scoring", RunLog(config.run_log_path, "run-it-scoring"))
    return evaluator, config


@pytest.fixture
def scoring(tmp_path, sandbox_image):
    evaluator, config = make_evaluator(tmp_path)
    yield evaluator, config
    evaluator.close()


def test_scores_in_the_sandbox_with_a_fresh_seed_per_call(scoring):
    evaluator, config = scoring
    assert evaluator.configurations() == ["small", "large"]
    assert evaluator.scoring_context() == "return speed() as a float"
    first = evaluator.evaluate("def speed(): return 2.0\n", purpose="test")
    second = evaluator.evaluate("def speed(): return 2.0\n", purpose="test")
    assert first.passes_correctness and first.aggregate(["small", "large"]) == pytest.approx(8 ** 0.5)
    assert first.correctness_message != second.correctness_message  # seeded differently
    events = list(read_events(config.run_log_path, "evaluation"))
    assert len(events) == 2 and events[0]["purpose"] == "test" and events[0]["seed"] != events[1]["seed"]


def test_a_candidate_sees_only_itself_the_scorer_and_its_declared_files(scoring):
    evaluator, config = scoring
    probe = ("import os\nseen = (sorted(os.listdir('.')), sorted(os.listdir('/opt/avo/scorer')),\n"
             "        open('/opt/avo/scorer/data/table.txt').read())\n"
             "open('left_behind.txt', 'w').write('x')\nraise RuntimeError(repr(seen))\n")
    first = evaluator.evaluate(probe)
    second = evaluator.evaluate(probe)  # nothing of the first call is left; no .env, lineage or workspace
    expected = "(['solution.py'], ['data', 'scorer.py'], 'declared data\\n')"
    assert expected in first.error and expected in second.error
    tamper = evaluator.evaluate("open('/opt/avo/scorer/scorer.py', 'w').write('hacked')\n")
    assert not tamper.passes_correctness and "Read-only file system" in tamper.error
    [staged] = (config.workspace_dir / "staged").iterdir()
    assert stat.S_IMODE((config.workspace_dir / "staged").stat().st_mode) == 0o700  # private to the host user
    evaluator.close()
    assert not staged.exists()


def test_a_scoring_folder_left_unremovable_is_emptied(scoring):
    """The next call starts clean. As root the kernel ignores the permissions the candidate
    strips; the attack on a host user it binds runs in tests/e2e/test_hardening_run.py."""
    evaluator, _ = scoring
    trap = ("import os\nos.makedirs('trap/inner')\nopen('trap/inner/f', 'w').write('x')\n"
            "os.chmod('trap/inner', 0)\nos.chmod('trap', 0o500)\nos.chmod('.', 0o500)\n"
            "def speed(): return 1.0\n")
    assert evaluator.evaluate(trap).passes_correctness
    probe = "import os\nraise RuntimeError(repr(sorted(os.listdir('.'))))\n"
    assert "['solution.py']" in evaluator.evaluate(probe).error


@pytest.mark.parametrize("candidate", [
    # an unframed success, then a clean exit before the scorer returns
    "import json, os\nprint(json.dumps({'result': {'values': {'small': 1e9, 'large': 1e9}, "
    "'passes_correctness': True}}))\nos._exit(0)\n",
    # a guessed frame around a success
    "import os\nprint('x' * 32 + '{\"result\": {\"passes_correctness\": true}}' + 'x' * 32)\nos._exit(0)\n",
    # the nonce read out of the parent harness process's memory, and every 32-hex string
    # found there used to frame a success
    nonce_thief({"values": {"small": 1e9, "large": 1e9}, "passes_correctness": True}),
], ids=["unframed", "guessed-frame", "nonce-from-parent-memory"])
def test_a_faked_result_is_never_scored_as_passing(scoring, candidate):
    evaluator, _ = scoring
    score = evaluator.evaluate(candidate)
    assert not score.passes_correctness and score.aggregate(["small", "large"]) == 0.0


def test_timeouts_and_crashes_are_failed_scores(tmp_path, sandbox_image):
    evaluator, _ = make_evaluator(tmp_path, timeout_s=5)
    try:
        assert "timed out after 5s" in evaluator.evaluate("while True: pass\n").error
        assert "ZeroDivisionError" in evaluator.evaluate("1/0\n").error
    finally:
        evaluator.close()


def test_a_broken_scorer_is_a_scorer_error(tmp_path, sandbox_image):
    evaluator, _ = make_evaluator(tmp_path, scorer="raise ImportError('scorer needs scipy')\n")
    try:
        with pytest.raises(ScorerError, match=r"get_configurations\(\) failed in the sandbox: ImportError: scorer needs"):
            evaluator.configurations()
    finally:
        evaluator.close()
