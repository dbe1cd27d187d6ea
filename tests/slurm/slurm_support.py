"""Constants and helpers of the slurm backend's tests (imported by the test modules)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
#: Fast timings for tests (a real site keeps the defaults: 5 s heartbeat, 30 s stale).
FAST = {"heartbeat_s": 1.0, "stale_after_s": 6.0, "poll_s": 0.5}


def python_env() -> dict[str, str]:
    """The environment of a child ``python`` that must import this worktree's packages."""
    return {**os.environ, "PYTHONPATH": str(REPO)}


EXAMPLE = REPO / "examples" / "sorting_optimization"
#: A replay of one step that commits a faster sort (the sorting example).
TRANSCRIPT = {"turns": [
    {"text": "Replay: Timsort in C instead of bubble sort.",
     "tool_calls": [
         {"name": "write_file", "arguments": {"path": "solution.py", "content":
                                              "def sort(values: list[int]) -> list[int]:\n    return sorted(values)\n"}},
         {"name": "run_shell", "arguments": {"command": "python3 -c 'import solution; print(solution.sort([3, 1, 2]))'"}},
     ]},
    {"tool_calls": [{"name": "submit", "arguments": {"rationale": "sorted(): Timsort in C"}}]},
]}
#: A replay whose first step is a call that lasts five minutes (what a stop must cut short).
BUSY = {"turns": [{"tool_calls": [{"name": "run_shell", "arguments": {"command": "sleep 300"}}]}]}


def write_config(folder: Path, cluster: str, transcript: dict[str, Any] = TRANSCRIPT,
                 slurm: dict[str, Any] | None = None) -> Path:
    """The sorting example's files, ``transcript``, and sandbox.backend: slurm with test timings."""
    (folder / "replay.yaml").write_text(yaml.safe_dump(transcript), encoding="utf-8")
    config = {
        "project_name": "sorting-on-slurm", "workspace_dir": str(folder / "workspace"),
        "seed_file": str(EXAMPLE / "seed.py"), "scoring_module": str(EXAMPLE / "scorer.py"),
        "max_versions": 5, "max_wall_time_hours": 1.0,
        "llm": {"provider": "replay", "replay_file": str(folder / "replay.yaml")},
        "sandbox": {"backend": "slurm", "memory": "1g", "timeout_s": 600,
                    "slurm": {**FAST, "state_dir": str(folder / "slurm-state"), **(slurm or {})}},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def committed_versions(workspace: Path) -> list[int]:
    from orchestrator.config import EvolutionConfig
    from orchestrator.persistence.store import open_store

    config = EvolutionConfig.model_validate({"seed_file": EXAMPLE / "seed.py", "scoring_module": EXAMPLE / "scorer.py",
                                             "workspace_dir": workspace})
    return [solution.version for solution in open_store(config).load().solutions]
