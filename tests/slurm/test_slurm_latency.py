"""A call through a held allocation costs about what a local call costs (issue 19: <= 1.2x on a
quiet node, bench/slurm_latency.py measures it; here only <= 2x, on a shared 2-core CI machine).
Without the persistent helper step (one srun, interpreter and import per call) it is 2-3x."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest

from sandbox import Sandbox, SandboxPolicy

pytestmark = [pytest.mark.slurm, pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(180)]
CALLS = 15


def p50_of_true(policy: SandboxPolicy, workspace: Path) -> float:
    with Sandbox(policy, workspace, purpose="bench") as sandbox:
        assert sandbox.exec(["true"]).ok
        samples = []
        for _ in range(CALLS):
            started = time.perf_counter()
            assert sandbox.exec(["true"]).ok
            samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def test_a_call_in_a_held_allocation_costs_at_most_twice_a_local_one(slurm_policy: SandboxPolicy,
                                                                      tmp_path: Path) -> None:
    local = p50_of_true(SandboxPolicy(memory=slurm_policy.memory), tmp_path / "docker")
    slurm = p50_of_true(slurm_policy, tmp_path / "slurm")
    print(f"p50 of `true`: docker backend {local * 1e3:.0f} ms, slurm backend {slurm * 1e3:.0f} ms, "
          f"{slurm / local:.2f}x")
    assert slurm <= 2 * local, f"slurm {slurm * 1e3:.0f} ms vs docker {local * 1e3:.0f} ms: {slurm / local:.2f}x"
