"""A candidate cannot write GitHub workflow commands into the CI log through avo eval.

On GitHub Actions the runner acts on any log line that starts with ``::`` (annotations,
``::add-mask::``, ``::stop-commands::``). A scorer commonly reports a candidate's
exception message as its correctness message, so a candidate controls text that
``avo eval`` prints; that text must never begin a line. The attack: a candidate whose
exception message is a workflow command, scored by such a scorer, with the console
width chosen so that wrapping the summary would put the command at the start of a line.

The same message carries terminal controls (ANSI colour, clear-screen, a window title, an OSC 8
link) and C0 characters: none may reach the terminal, and the JUnit file must stay XML 1.0
that junitparser and ElementTree parse.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import junitparser
import pytest
import yaml

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("sandbox_image")]

REPO = Path(__file__).resolve().parents[2]
FORGED = "::warning title=forged::written by the candidate"
CONTROLS = "\x1b[2J\x1b[31m\x1b]0;pwned\x07\x1b]8;;https://evil.example\x1b\\\x01\x0b\x9b2J"
SCORER = '''
from orchestrator.scoring.score import Score, ScoringFunction


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
    candidate.write_text(f"raise ValueError({FORGED + CONTROLS!r})\n")
    config = tmp_path / "avo.yaml"
    config.write_text(yaml.safe_dump({"seed_file": "seed.py", "scoring_module": "scorer.py",
                                      "sandbox": {"timeout_s": 60, "memory": "512m"}}))
    summary_prefix = f"file {candidate} is incorrect: "
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")},
           "PYTHONPATH": str(REPO), "GITHUB_ACTIONS": "true", "COLUMNS": str(len(summary_prefix))}
    junit = tmp_path / "junit.xml"
    done = subprocess.run([sys.executable, "-m", "orchestrator", "eval", str(config), "--file", str(candidate),
                           "--rounds", "1", "--junit", str(junit)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert not {"\x1b", "\x9b", "\x01", "\x07"} & set(done.stdout + done.stderr), repr(done.stdout + done.stderr)
    commands = [line for line in (done.stdout + done.stderr).splitlines() if line.lstrip().startswith("::")]
    assert commands == [f"::error file={candidate},title=avo eval%3A incorrect::{summary_prefix}{FORGED}"], commands
    failure = ElementTree.parse(junit).getroot().find("testsuite/testcase/failure")
    assert failure is not None and failure.text == f"{summary_prefix}{FORGED}"
    cases = [case for suite in junitparser.JUnitXml.fromfile(str(junit)) for case in suite]
    assert [result.message for case in cases for result in case.result] == [f"{summary_prefix}{FORGED}"]
