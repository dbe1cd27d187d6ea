"""The real loop end to end: scoring in the real Docker sandbox, lineage in real git.

The tiny problem is in sum_of_squares.py: its speed differences are large enough that
timing noise never decides a commit. The operator is the test's
own (prepared edits), so the agent is not involved; the CLI test drives `avo run`
with a replay transcript instead, kills it with SIGKILL and resumes it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import git
import pytest
import yaml

from orchestrator.config import EvolutionConfig
from orchestrator.core.evolution import EvolutionRunner
from orchestrator.core.interfaces import VariationContext, VariationResult
from orchestrator.core.run_log import read_events
from orchestrator.errors import ReplayExhausted
from orchestrator.persistence.git_backend import parse_message
from sandbox import gc
from sum_of_squares import FASTER, FASTEST, SEED, WRONG, variant

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SLOWER = variant(0.04)
FAKE_RESULT = ("import json, os\nprint(json.dumps({'result': {'values': {'n=100': 1e12, 'n=1000': 1e12}, "
               "'passes_correctness': True}}))\nos._exit(0)\n")


class PreparedEdits:
    """Writes each prepared source into the work tree, as the agent's write_file would, and submits."""

    def __init__(self, sources: list[str]) -> None:
        self.sources = list(sources)

    def vary(self, context: VariationContext) -> VariationResult:
        if not self.sources:
            raise ReplayExhausted("prepared edits used up")
        (context.work_dir / context.solution_file).write_text(self.sources.pop(0))
        return VariationResult(submitted=True, rationale="prepared edit", tokens_used=10)


def test_the_loop_commits_improvements_as_tagged_git_commits(project):
    config = EvolutionConfig(seed_file=project / "seed.py", scoring_module=project / "scorer.py",
                             workspace_dir=project / "workspace", min_improvement=0.2)
    runner = EvolutionRunner(config, operator=PreparedEdits([WRONG, FASTER, SLOWER, FAKE_RESULT, FASTEST]))
    results = runner.run()
    assert (results.best_version, results.failures, results.stop_reason) == (2, 3, "replay finished")

    repo = git.Repo(config.lineage_dir)
    commits = list(reversed(list(repo.iter_commits("HEAD"))))
    assert [t.name for t in sorted(repo.tags, key=lambda t: t.name)] == ["v0", "v1", "v2"]
    assert [repo.git.show(f"v{i}:solution.py") + "\n" for i in range(3)] == [SEED, FASTER, FASTEST]
    trailers = [parse_message(c.message)[1] for c in commits]
    aggregates = [float(t["Avo-Aggregate"]) for t in trailers]
    assert aggregates[0] < aggregates[1] * 1.2 <= aggregates[2] * 1.2 * 1.2
    assert [t["Avo-Parent"] for t in trailers] == ["none", "0", "1"]
    assert all(t["Avo-Passes"] == "true" for t in trailers)

    events = list(read_events(config.run_log_path))
    rejections = [e["reason"] for e in events if e["kind"] == "rejection"]
    assert rejections[0].startswith("fails correctness: wrong for n=")
    assert "does not beat the best" in rejections[1]
    assert rejections[2].startswith("fails correctness: evaluation failed")  # the faked result
    rescores = [e for e in events if e["kind"] == "evaluation" and e["purpose"] == "rescore"]
    assert len(rescores) == 5 and len({e["seed"] for e in rescores}) == 5
    assert (config.work_dir / "solution.py").read_text() == FASTEST


def write_replay_project(project: Path) -> tuple[list[str], dict[str, str], Path]:
    """A config driven by a replay transcript of prepared edits; returns (command, env, events path)."""
    turns = [{"tool_calls": [{"name": "write_file", "arguments": {"path": "solution.py", "content": source}},
                             {"name": "submit", "arguments": {"rationale": rationale}}]}
             for source, rationale in [(FASTER, "sleep less"), (WRONG, "shortcut"), (SLOWER, "sleep more"),
                                       (FASTEST, "closed form")]]
    (project / "replay.yaml").write_text(yaml.safe_dump({"turns": turns, "replies": []}))
    (project / "avo.yaml").write_text(yaml.safe_dump({
        "seed_file": "seed.py", "scoring_module": "scorer.py", "min_improvement": 0.2,
        "llm": {"provider": "replay", "replay_file": "replay.yaml"}, "supervisor": {"enabled": False}}))
    command = [sys.executable, "-m", "orchestrator", "run", str(project / "avo.yaml")]
    return command, {**os.environ, "PYTHONPATH": str(REPO)}, project / "workspace" / "events.jsonl"


def wait_for_version(process: subprocess.Popen, events_path: Path, version: int) -> None:
    deadline = time.monotonic() + 120
    while not any(e.get("version") == version for e in read_events(events_path, "commit")):
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_avo_run_stops_cleanly_on_sigint(project):
    """No terminal here (a CI runner's cancel): SIGINT aborts at once with 130, the lineage whole."""
    command, env, events_path = write_replay_project(project)
    process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    wait_for_version(process, events_path, 1)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=120) == 130
    end = next(read_events(events_path, "run_end"))
    assert end["reason"] == "aborted (SIGINT)" and end["best_version"] >= 1


def test_avo_run_killed_with_sigkill_resumes(project):
    command, env, events_path = write_replay_project(project)
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for_version(first, events_path, 1)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_run = next(read_events(events_path, "run_start"))["run_id"]
    gc(run_id=killed_run)

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "pass --resume" in again.stderr and "Traceback" not in again.stderr

    resumed = subprocess.run([*command, "--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    repo = git.Repo(project / "workspace" / "lineage")
    versions = [int(parse_message(c.message)[1]["Avo-Version"]) for c in repo.iter_commits("HEAD")]
    assert versions == [2, 1, 0]
    assert repo.git.show("v2:solution.py") + "\n" == FASTEST
    runs = list(read_events(events_path, "run_start"))
    assert runs[-1]["resume"] is True and len({e["run_id"] for e in runs}) == 2
    lineage = subprocess.run([sys.executable, "-m", "orchestrator", "lineage", str(project / "avo.yaml")],
                             env=env, capture_output=True, text=True, timeout=60)
    assert lineage.returncode == 0 and "closed form" in lineage.stdout
