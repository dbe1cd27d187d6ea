"""A report counts only from a process that exited with 0 (issue 18, hole 1), checked on the host harness.

The scorer process here writes a forged reply into avo's own channel and then dies by a signal,
as a process that a candidate took over would: neither the call harness nor the Shinka adapter
may believe what arrived. (How a candidate is kept away from the channels in the first place is
tests/bring_your_own/test_forging.py, in the real sandbox.)
"""

from __future__ import annotations

from pathlib import Path

from byop import run_harness
from orchestrator.config import EvolutionConfig, ScoringConfig

FORGED_RESULT = '{"result": {"values": {"combined_score": 99.0}, "passes_correctness": true}}'
FORGED_REPORT = '{"metrics": {"combined_score": 99.0}, "correct": true, "error": null}'

NATIVE = f'''
import os, signal, sys
from orchestrator.scoring.score import ScoringFunction

class Scorer(ScoringFunction):
    def get_configurations(self):
        return ["combined_score"]

    def evaluate(self, source_code, source_file="solution.py"):
        os.write(int(sys.argv[sys.argv.index("--child") + 1]), {FORGED_RESULT!r}.encode())
        os.kill(os.getpid(), signal.SIGKILL)
'''

SHINKA = f'''
import argparse, os, signal
import shinka.core

parser = argparse.ArgumentParser()
parser.add_argument("--program_path")
parser.add_argument("--results_dir")
parser.parse_args()
os.write(shinka.core.REPORT_CHANNEL, {FORGED_REPORT!r}.encode())
os.kill(os.getpid(), signal.SIGKILL)
'''


def project(tmp_path: Path, module: str, source: str, interface: str) -> EvolutionConfig:
    (tmp_path / "seed.py").write_text("def run():\n    return 1.0\n")
    (tmp_path / module).write_text(source)
    return EvolutionConfig(seed_file=tmp_path / "seed.py", scoring_module=tmp_path / module,
                           workspace_dir=tmp_path / "workspace", scoring=ScoringConfig(interface=interface))


def test_the_harness_refuses_a_reply_from_a_scorer_process_killed_by_a_signal(tmp_path: Path) -> None:
    reply = run_harness(project(tmp_path, "scorer.py", NATIVE, "avo"), "evaluate", "def run():\n    return 1.0\n")
    assert reply == {"harness_error": "the scorer process was killed by signal 9 before returning a result"}


def test_the_shinka_adapter_refuses_a_report_from_an_evaluator_killed_by_a_signal(tmp_path: Path) -> None:
    reply = run_harness(project(tmp_path, "evaluate.py", SHINKA, "shinka"), "evaluate", "def run():\n    return 1.0\n")
    score = reply["result"]
    assert (score["values"], score["passes_correctness"]) == ({}, False), score
    assert score["correctness_message"] == "evaluate.py exited with code -9 without writing metrics.json and correct.json"
