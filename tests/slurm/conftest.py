"""Fixtures of the slurm backend's tests: the real single-node cluster of scripts/setup-slurm.sh.

Skipped on a machine without Slurm, a failure with CI=true. Every policy uses a
short heartbeat (1 s, stale after 6 s) and a fast poll, so an allocation whose
orchestrator died is gone from squeue in seconds, and a state folder of the test's own.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import SandboxPolicy

from runtimes import unavailable
from slurm_support import FAST


@pytest.fixture(scope="session")
def slurm_cluster(sandbox_image: str) -> Iterator[str]:
    """The node's name once slurmctld answers and the node is up; cancels the session's leftovers."""
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=30)
        state = subprocess.run(["sinfo", "-h", "-o", "%n %T"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        ping, state = None, None
        problem = f"Slurm is not installed or does not answer: {exc}"
    else:
        problem = "" if "UP" in ping.stdout and state.stdout.split() else f"slurmctld is not up: {ping.stdout}"
    if problem:
        unavailable(f"{problem} (scripts/setup-slurm.sh starts it)")
    yield state.stdout.split()[0]
    _cancel_own_holders()


def _cancel_own_holders() -> None:
    """Holders this test process submitted and left behind (a failed test): never anyone else's."""
    from sandbox.backends.slurm.allocation import HOLDER_PREFIX, parse_owner
    from sandbox.backends.slurm.queue import cancel, queued_jobs

    mine = [job.job_id for job in queued_jobs().values()
            if job.name.startswith(HOLDER_PREFIX) and (parse_owner(job.comment) or ("", 0, ""))[:2]
            == (socket.gethostname(), os.getpid())]
    cancel(*mine)


@pytest.fixture
def slurm_policy(tmp_path: Path, slurm_cluster: str) -> SandboxPolicy:
    """A slurm-backed policy with test timings and a state folder of its own."""
    return SandboxPolicy(backend="slurm", memory="256m", timeout_s=60,
                         slurm={**FAST, "state_dir": tmp_path / "slurm-state"})
