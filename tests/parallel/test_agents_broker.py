"""Four agents through a real broker with fake GPUs: four distinct leases, each shared by that
agent's shell and scoring sessions, and a fifth agent refused while all are held."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from orchestrator.agent_resources import partition
from sandbox import AgentShare, GpuUnavailable, Sandbox
from sandbox.broker.protocol import OpenSession

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tenant_hosts import TEST_SRV, TestBroker, require_tenants, rule, tenant_connector  # noqa: E402

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]
RUN = "run-agents"


@pytest.fixture
def broker(sandbox_image: str):
    if "lease_group" not in OpenSession.model_fields:
        pytest.skip("this broker has no lease groups yet (issue 14)")
    require_tenants()
    name = f"t{os.getpid()}-agents"
    started = TestBroker(name=name, fake_gpu_host=True, gpus=[
        {"index": i, "uuid": f"GPU-{i}{i}{i}{i}-agents-test", "cpus": str(i % 2)} for i in range(4)], tenants=[
        rule(user="avo-t1", group=None, workspace_roots=[f"{TEST_SRV}/{name}/{{user}}"], gpus=[0, 1, 2, 3],
             max_gpus=4, max_containers=16)])
    try:
        yield started.start()
    finally:
        started.remove()


def test_each_agent_holds_its_own_lease_and_a_fifth_is_refused(broker, make_config, monkeypatch, sandbox_image):
    monkeypatch.setattr("sandbox.backends.broker.connect_unix", tenant_connector("avo-t1"))
    config = make_config(agents=4, sandbox={"backend": "broker", "broker_socket": broker.socket, "gpus": 1,
                                            "broker_wait": False, "memory": "256m", "image": sandbox_image})
    opened: list[tuple[int, str, Sandbox]] = []
    try:
        for resource in partition(config, RUN):
            workspace = broker.workspace("avo-t1", f"agent{resource.index}")
            for purpose in ("shell", "score"):
                opened.append((resource.index, purpose, Sandbox(resource.policy, workspace, run_id=RUN,
                                                                purpose=purpose, share=resource.share)))
        leased = {(agent, purpose): tuple(sandbox._backend.gpus) for agent, purpose, sandbox in opened}
        assert all(len(gpus) == 1 for gpus in leased.values())
        for agent in range(4):
            assert leased[(agent, "shell")] == leased[(agent, "score")]  # one lease per agent, shared
        assert len({leased[(agent, "shell")] for agent in range(4)}) == 4  # four distinct GPUs
        with pytest.raises(GpuUnavailable):
            Sandbox(config.sandbox, broker.workspace("avo-t1", "agent4"), run_id=RUN, purpose="shell",
                    share=AgentShare(lease_group=f"{RUN}/agent4"))
    finally:
        for _, _, sandbox in opened:
            sandbox.close()
