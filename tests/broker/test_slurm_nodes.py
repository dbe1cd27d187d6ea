"""``sandbox.backend: slurm`` with ``node_backend: broker``: on a shared cluster node, a
tenant's calls run as job steps whose helper asks the node's avo-sandboxd (as that tenant,
over its socket), never the node's dockerd, which the tenant cannot reach.

The real single-node cluster of scripts/setup-slurm.sh and a broker of the module's own;
the tenant submits the allocation and the steps itself.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from runtimes import unavailable
from tenant_hosts import TestBroker, containers_labelled, run_tenant, uid_of

pytestmark = [pytest.mark.docker, pytest.mark.slow]

IMAGE = "avo-sandbox:cpu"

#: Short heartbeats, so an allocation is released within seconds of the run's end.
FAST = {"heartbeat_s": 1.0, "stale_after_s": 6.0, "poll_s": 0.5}


@pytest.fixture(scope="module")
def slurm_up() -> None:
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        ping = str(exc)
    if "UP" not in ping:
        unavailable(f"slurmctld does not answer ({ping.strip()}): scripts/setup-slurm.sh starts it")


def _request(broker: TestBroker, run_id: str, calls: list[str], image: str = IMAGE) -> tuple[Path, dict]:
    workspace = broker.workspace("avo-t1")
    state = broker.workspace("avo-t1")  # the tenant's own state folder: holder logs, heartbeats
    policy = {"backend": "slurm", "image": image, "memory": "256m", "timeout_s": 60,
              "slurm": {**FAST, "state_dir": str(state), "node_backend": "broker"}}
    return workspace, {"socket": broker.socket, "workspace": str(workspace), "run_id": run_id,
                       "policy": policy, "calls": calls}


def test_a_tenants_calls_on_a_node_run_through_the_nodes_broker_as_the_tenant(
        broker: TestBroker, code: Path, slurm_up: None) -> None:
    workspace, request = _request(broker, "r-slurm-node", ["id -u; echo from-the-node > made.txt"])
    events = run_tenant("avo-t1", code, request, timeout=300)
    assert [e["event"] for e in events] == ["open", "result", "closed"], events
    assert events[1]["exit_code"] == 0 and events[1]["stdout"].split() == [str(uid_of("avo-t1"))], events
    assert (workspace / "made.txt").stat().st_uid == uid_of("avo-t1")
    # The broker ran it (so it is audited as the tenant's), and its session's container is gone.
    audit = [line for line in broker.audit() if line.get("run") == "r-slurm-node" and line["event"] == "call"]
    assert [(line["tenant"], line["uid"], line["exit"]) for line in audit] == [("avo-t1", uid_of("avo-t1"), 0)]
    assert not containers_labelled("avo.run=r-slurm-node")


def test_an_image_the_nodes_broker_does_not_allow_is_refused_at_the_start(
        broker: TestBroker, code: Path, slurm_up: None) -> None:
    _, request = _request(broker, "r-slurm-image", ["true"], image="avo-base:bookworm")
    events = run_tenant("avo-t1", code, request, timeout=300)
    assert events[0]["event"] == "error", events
    assert "does not allow image avo-base:bookworm to you (allowed: avo-sandbox:cpu)" in events[0]["message"]
