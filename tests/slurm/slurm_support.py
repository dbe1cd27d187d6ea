"""Constants and helpers of the slurm backend's tests (imported by the test modules)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: Fast timings for tests (a real site keeps the defaults: 5 s heartbeat, 30 s stale).
FAST = {"heartbeat_s": 1.0, "stale_after_s": 6.0, "poll_s": 0.5}


def python_env() -> dict[str, str]:
    """The environment of a child ``python`` that must import this worktree's packages."""
    return {**os.environ, "PYTHONPATH": str(REPO)}
