"""A candidate cannot write GitHub workflow commands into the CI log through avo eval.

On GitHub Actions the runner acts on any log line that starts with ``::`` (annotations,
``::add-mask::``, ``::stop-commands::``). A scorer commonly reports a candidate's
exception message as its correctness message, so a candidate controls text that
``avo eval`` prints; that text must never begin a line. The attack: a candidate whose
exception message is a workflow command, scored by such a scorer, with the console
width chosen so that wrapping the summary would put the command at the start of a line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("sandbox_image")]

REPO = Path(__file__).resolve().parents[2]
FORGED = "::warning title=forged::written by the candidate"
SCORER = '''
from orchestrator.core.scoring import Score, ScoringFunction


class Scorer(ScoringFunction):
    def get_configurations(self):
        return ["only"]

    def evaluate(self, source_code, source_file="solution.py"):
        try:
            exec(compile(source_code, source_file, "exec"), {})
        except Exception as exc:
            return Score.failure(str(exc))  # the candidate's own words, as many scorers report them
        return Score(values={"only": 1.0}, passes_correctness=True)
'''


def test_a_candidates_message_never_starts_a_log_line(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)  # the sandbox user (uid 65532 under root) reads the scorer
    (tmp_path / "scorer.py").write_text(SCORER)
    (tmp_path / "seed.py").write_text("pass\n")
    candidate = tmp_path / "candidate.py"
    candidate.write_text(f"raise ValueError({FORGED!r})\n")
    config = tmp_path / "avo.yaml"
    config.write_text(yaml.safe_dump({"seed_file": "seed.py", "scoring_module": "scorer.py",
                                      "sandbox": {"timeout_s": 60, "memory": "512m"}}))
    summary_prefix = f"file {candidate} is incorrect: "
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")},
           "PYTHONPATH": str(REPO), "GITHUB_ACTIONS": "true", "COLUMNS": str(len(summary_prefix))}
    done = subprocess.run([sys.executable, "-m", "orchestrator", "eval", str(config), "--file", str(candidate),
                           "--rounds", "1"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    commands = [line for line in (done.stdout + done.stderr).splitlines() if line.lstrip().startswith("::")]
    assert commands == [f"::error file={candidate},title=avo eval%3A incorrect::{summary_prefix}{FORGED}"], commands
