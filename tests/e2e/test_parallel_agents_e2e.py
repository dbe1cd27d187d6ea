"""`avo run` with `agents: 2` end to end: real docker sandboxes pinned to disjoint cores, the replay
model client (one per agent, both playing the same transcript), real git. The two agents submit the
same edits: each source is scored once and the other agent is told it was already tried."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import git
import pytest
import yaml

from orchestrator.core.run_log import read_events
from orchestrator.persistence.git_backend import parse_message
from sum_of_squares import FASTER, FASTEST, WRONG

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]


def test_two_agents_through_avo_run(project):
    turns = [{"tool_calls": [{"name": "write_file", "arguments": {"path": "solution.py", "content": source}},
                             {"name": "submit", "arguments": {"rationale": rationale}}]}
             for source, rationale in [(FASTER, "sleep less"), (WRONG, "shortcut"), (FASTEST, "closed form")]]
    (project / "replay.yaml").write_text(yaml.safe_dump({"turns": turns, "replies": []}))
    (project / "avo.yaml").write_text(yaml.safe_dump({
        "seed_file": "seed.py", "scoring_module": "scorer.py", "min_improvement": 0.2, "agents": 2,
        "sandbox": {"cpus": 1}, "llm": {"provider": "replay", "replay_file": "replay.yaml"},
        "supervisor": {"enabled": False}}))
    done = subprocess.run([sys.executable, "-m", "orchestrator", "run", str(project / "avo.yaml")],
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr[-3000:]
    events = list(read_events(project / "workspace" / "events.jsonl"))
    assert events[-1]["kind"] == "run_end" and events[-1]["reason"] == "replay finished"

    starts = sorted((e["agent"], e["resource"]) for e in events if e["kind"] == "agent_start")
    assert starts == [(0, "cpus 0"), (1, "cpus 1")]
    repo = git.Repo(project / "workspace" / "lineage")
    trailers = [parse_message(c.message)[1] for c in reversed(list(repo.iter_commits("HEAD")))]
    assert [t["Avo-Version"] for t in trailers] == ["0", "1", "2"]
    assert "Avo-Agent" not in trailers[0] and {t["Avo-Agent"] for t in trailers[1:]} <= {"0", "1"}
    assert repo.git.show("v2:solution.py") + "\n" == FASTEST
    told = [e for e in events if e["kind"] == "rejection" and "already tried" in e["reason"]]
    assert len(told) >= 2  # each source reached the scorer once
    rescored = [e for e in events if e["kind"] == "evaluation" and e.get("purpose") == "rescore"]
    assert len(rescored) == 3 and {e["agent"] for e in rescored} <= {0, 1}
