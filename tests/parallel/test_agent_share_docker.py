"""An agent's cores hold for its containers, in a real container: two agents, two disjoint cpusets."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox import AgentShare, PolicyError, Sandbox, SandboxPolicy

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]


def test_each_agent_runs_on_its_own_cores(sandbox_image: str, sandbox_runtime: str | None, workspace: Path) -> None:
    policy = SandboxPolicy(image=sandbox_image, memory="256m", cpus=1, timeout_s=30, runtime=sandbox_runtime)
    seen = []
    for cpuset in ("0", "1"):
        with Sandbox(policy, workspace, purpose="score", share=AgentShare(cpuset=cpuset)) as sandbox:
            result = sandbox.exec("grep Cpus_allowed_list /proc/self/status | tr -d ' \\t'; nproc")
            assert result.ok, result.stderr
            seen.append(result.stdout.split())
    assert seen[0][-1] == seen[1][-1] == "1"
    if sandbox_runtime != "runsc":  # gVisor shows its own sandbox's view of the affinity mask
        assert [lines[0] for lines in seen] == ["Cpus_allowed_list:0", "Cpus_allowed_list:1"]


def test_a_share_is_refused_by_a_backend_that_cannot_honour_it(workspace: Path) -> None:
    with pytest.raises(PolicyError, match="a cpuset pins docker containers only"):
        Sandbox(SandboxPolicy(backend="local"), workspace, share=AgentShare(cpuset="0"))
    with pytest.raises(PolicyError, match="a lease group is the broker's"):
        Sandbox(SandboxPolicy(), workspace, share=AgentShare(lease_group="run/agent1"))
