"""Helpers of the "bring your own problem" tests: the test problems in ./problems, copied where
the sandbox user can read them, the call harness run on the host, and ``avo run`` in process.

The problems' evaluators are the tests' own, written in each peer's convention; the host
runs them only in the harness tests below (the thing under test is the adapter), and
every end-to-end run scores in the real Docker sandbox.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any


from orchestrator.config import EvolutionConfig
from orchestrator.core.solution_layout import Candidate, write_candidate
from orchestrator.scoring.sandbox_evaluator import unframe
from orchestrator.scoring.interface import harness_target
from sandbox import HARNESS_DIR

REPO = Path(__file__).resolve().parents[2]
PROBLEMS = Path(__file__).parent / "problems"
NONCE = "b1ng" * 8


def copy_problem(name: str, destination: Path) -> Path:
    """``problems/<name>`` copied to ``destination``, readable by the sandbox's unprivileged user."""
    target = destination / name
    shutil.copytree(PROBLEMS / name, target)
    for path in [destination, *target.rglob("*"), target]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target



def run_harness(config: EvolutionConfig, method: str, source: str | Candidate | None = None,
                environment: dict[str, str] | None = None) -> dict[str, Any]:
    """One harness call on the host, as the sandbox runs it: the scorer's folder and avo's library
    named by their host paths, the candidate alone in a fresh working directory (a directory
    solution's folder named by ``AVO_SOLUTION_DIR``, made absolute here)."""
    work = Path(__import__("tempfile").mkdtemp(prefix="avo-harness-"))
    candidate = Candidate(source) if isinstance(source, str) else source
    environment = dict(environment or {})
    if candidate is not None:
        write_candidate(work, config.layout, candidate)
        if "AVO_SOLUTION_DIR" in environment:
            environment["AVO_SOLUTION_DIR"] = str(work / environment["AVO_SOLUTION_DIR"])
    kwargs = {"source_code": candidate.source, "source_file": config.layout.entry_path} if candidate else {}
    request = {**harness_target(config, str(config.scoring_module.parent), str(REPO)), "method": method,
               "kwargs": kwargs, "seed": 11, "nonce": NONCE, "environment": environment}
    done = subprocess.run([sys.executable, str(HARNESS_DIR / "call_harness.py")], input=json.dumps(request),
                          capture_output=True, text=True, cwd=work, timeout=120)
    shutil.rmtree(work, ignore_errors=True)
    reply = unframe(done.stdout, NONCE)
    assert reply is not None, done.stderr[-3000:]
    return reply



def run_avo(config: Path, replay: Path) -> int:
    """``avo run CONFIG --replay TRANSCRIPT`` in this process (the CLI's own entry point)."""
    from orchestrator.cli import main

    return main(["run", str(config), "--replay", str(replay)])


def events(workspace: Path, kind: str) -> list[dict[str, Any]]:
    from orchestrator.core.run_log import read_events

    return list(read_events(workspace / "events.jsonl", kind))


def committed(workspace: Path) -> dict[int, dict[str, str]]:
    """Version -> trailers of each tagged commit in the lineage."""
    import git

    from orchestrator.persistence.git_backend import parse_message

    repo = git.Repo(workspace / "lineage")
    return {int(tag.name[1:]): parse_message(str(tag.commit.message))[1] for tag in repo.tags}
