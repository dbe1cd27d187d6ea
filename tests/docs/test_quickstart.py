"""README's quick start runs as written (after `make setup`, which CI's own set-up has done):
`avo init`, `avo doctor`, the keyless replay run, `avo lineage` and `avo report`, each exiting 0.

Only the folder changes: the README's /tmp/mine becomes this test's own temporary folder.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from markdown_pages import REPO, code_blocks

QUICK_START = "## Quick start"


def _quick_start_commands() -> list[str]:
    """The command lines of the shell blocks in README's "Quick start" section, in order."""
    readme = REPO / "README.md"
    text = readme.read_text(encoding="utf-8")
    start = text.index(QUICK_START)
    end = text.index("\n## ", start + len(QUICK_START))
    first, last = text.count("\n", 0, start) + 1, text.count("\n", 0, end) + 1
    commands = []
    for block in code_blocks(readme):
        if block.language == "bash" and first <= block.line <= last:
            commands += [line for line in block.text.splitlines() if shlex.split(line, comments=True)]
    return commands


def test_quick_start_runs_as_written(tmp_path: Path, sandbox_image: str) -> None:
    commands = _quick_start_commands()
    assert commands[0].startswith("make setup"), commands  # the machine's set-up: done by CI's own
    env = dict(os.environ, PYTHONPATH=str(REPO), NO_COLOR="1")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    outputs = []
    for command in commands[1:]:
        command = command.replace("/tmp/mine", str(tmp_path / "mine"))
        done = subprocess.run(["bash", "-c", command], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"`{command}` exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        outputs.append(done.stdout)
    lineage = next(out for command, out in zip(commands[1:], outputs) if " lineage " in f" {command} ")
    assert re.search(r"\bv1\b", lineage), lineage  # the replay committed a version
    assert (tmp_path / "mine" / "workspace" / "report.html").is_file()
