"""The call harness as a process (stdlib script): framing, seeding, and errors.

Here it runs as a host subprocess on a scorer of the test's own; the same
behaviour inside the real sandbox is covered in tests/integration.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from nonce_thief import nonce_thief
from unprivileged import NOBODY, stdlib_python
from orchestrator.scoring.sandbox_evaluator import unframe
from sandbox import HARNESS_DIR

REPO = Path(__file__).resolve().parents[2]
SCORER = '''
import random
from orchestrator.scoring.score import Score, ScoringFunction

class Scorer(ScoringFunction):
    def get_configurations(self):
        return ["k"]

    def evaluate(self, source_code, source_file="solution.py"):
        namespace = {}
        exec(source_code, namespace)
        return Score(values={"k": namespace["speed"]()}, passes_correctness=True,
                     correctness_message=str(random.random()))
'''


def call(tmp_path: Path, method: str, source: str = "", seed: int = 7) -> tuple[str, dict | None]:
    (tmp_path / "scorer.py").write_text(SCORER)
    request = {"sys_path": [str(REPO)], "module_file": str(tmp_path / "scorer.py"), "class_name": "Scorer",
               "method": method, "kwargs": {"source_code": source} if method == "evaluate" else {},
               "seed": seed, "nonce": "n0nce" * 4}
    done = subprocess.run([sys.executable, str(HARNESS_DIR / "call_harness.py")], input=json.dumps(request),
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    return done.stdout, unframe(done.stdout, "n0nce" * 4)


def test_result_is_framed_last_and_seeded(tmp_path):
    stdout, reply = call(tmp_path, "evaluate", "print('noise')\ndef speed(): return 3.5\n")
    assert stdout.startswith("noise\n") and stdout.endswith("n0nce" * 4)
    assert reply["result"]["values"] == {"k": 3.5}
    _, again = call(tmp_path, "evaluate", "def speed(): return 3.5\n")
    _, other_seed = call(tmp_path, "evaluate", "def speed(): return 3.5\n", seed=8)
    assert reply["result"]["correctness_message"] == again["result"]["correctness_message"]
    assert reply["result"]["correctness_message"] != other_seed["result"]["correctness_message"]


def test_configurations(tmp_path):
    assert call(tmp_path, "get_configurations")[1] == {"result": ["k"]}


@pytest.mark.parametrize("source, expected", [
    ("raise RuntimeError('candidate broke')", "candidate broke"),
    ("import sys\nsys.exit(0)", "SystemExit"),
    ("import os\nos._exit(0)", "exited with code 0 before returning a result"),
])
def test_candidate_failures_become_a_framed_harness_error(tmp_path, source, expected):
    _, reply = call(tmp_path, "evaluate", source)
    assert expected in reply["harness_error"]


def test_a_fake_result_printed_by_the_candidate_is_not_the_result(tmp_path):
    fake = json.dumps({"result": {"values": {"k": 1e9}, "passes_correctness": True}})
    source = f"import os\nprint({fake!r})\nprint('n0nce' + {fake!r} + 'n0nce')\nos._exit(0)\n"
    stdout, reply = call(tmp_path, "evaluate", source)
    assert "1000000000" in stdout and "harness_error" in reply


PLAIN_SCORER = """
class Scorer:
    def evaluate(self, source_code, source_file="solution.py"):
        exec(source_code, {})
        return {"values": {"k": 1.0}, "passes_correctness": False}
"""


def test_the_candidate_cannot_learn_the_nonce_from_its_parent():
    """The candidate reads the harness parent's memory for the nonce and frames a success
    with it. As the sandbox does, it runs without privileges: as root the kernel would let
    it read any process (CAP_SYS_PTRACE), so the harness then runs as uid 65534, on copies
    in a folder that uid can read."""
    folder = Path(tempfile.mkdtemp(prefix="avo-harness-"))
    try:
        folder.chmod(0o755)
        shutil.copy(HARNESS_DIR / "call_harness.py", folder)
        (folder / "scorer.py").write_text(PLAIN_SCORER)
        nonce = secrets.token_hex(16)
        request = {"sys_path": [], "module_file": str(folder / "scorer.py"), "class_name": "Scorer",
                   "method": "evaluate", "seed": 1, "nonce": nonce,
                   "kwargs": {"source_code": nonce_thief({"values": {"k": 1e9}, "passes_correctness": True})}}
        unprivileged = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if os.getuid() == 0 else {}
        python = stdlib_python() if unprivileged else sys.executable
        done = subprocess.run([python, str(folder / "call_harness.py")], input=json.dumps(request),
                              capture_output=True, text=True, cwd=folder, timeout=60, **unprivileged)
    finally:
        shutil.rmtree(folder)
    reply = unframe(done.stdout, nonce)
    assert reply is not None and "harness_error" in reply, (reply, done.stderr[-2000:])
    assert "Permission denied" in reply["harness_error"]  # the attack ran, and /proc refused it


@pytest.mark.parametrize("stdout", ["", "no frame", "N{not json}N", 'N["list"]N', "N{}"])
def test_unframe_rejects_anything_but_a_complete_frame(stdout):
    assert unframe(stdout, "N") is None


def test_unframe_takes_the_first_complete_frame():
    assert unframe('junk N{"result": 1}N trailing', "N") == {"result": 1}
