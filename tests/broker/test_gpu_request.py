"""The device request a tenant's session hands dockerd: exactly the leased GPU, nothing else.

No GPU exists here, so the inventory is the host policy's and a stand-in for the
NVIDIA runtime hook lets the session open (as on a GPU host); the options are those
the broker's real session built, and a call shows what the real engine then says.
"""

from __future__ import annotations

import grp
import os
import pwd
from pathlib import Path

import pytest

from sandbox import GpuUnavailable
from sandbox.broker.host_policy import GpuDevice, HostPolicy, TenantRule, account_groups
from sandbox.broker.peer import Peer
from sandbox.broker.protocol import OpenSession, RunCall
from sandbox.broker.session import BrokerState, TenantSession
from tenant_hosts import TEST_RUN, TEST_SRV, mount_nosuid_root, tenant_dir, unmount_root

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]

GPUS = [GpuDevice(index=0, uuid="GPU-00000000-test", cpus="0"), GpuDevice(index=1, uuid="GPU-11111111-test", cpus="1")]


@pytest.fixture
def gpu_host(code: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox_image: str):  # type: ignore[no-untyped-def]
    hook = tmp_path / "bin" / "nvidia-container-runtime-hook"
    hook.parent.mkdir()
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    monkeypatch.setenv("PATH", f"{hook.parent}:{os.environ['PATH']}")
    name = f"t{os.getpid()}-devreq"
    root = TEST_SRV / name
    policy = HostPolicy(name=name, state_dir=TEST_RUN / name / "state", audit_log=tmp_path / "audit.jsonl",
                        gpu_group="avo-gpu", gpus=GPUS, tenants=[TenantRule(
                            user="avo-t1", images=[sandbox_image], gpus=[1], max_gpus=1,
                            workspace_roots=[f"{root}/{{user}}"])])
    mount_nosuid_root(root)  # a GPU lease needs a nosuid workspace root (sandbox.broker.device_rule)
    workspace = tenant_dir(tenant_dir(root / "avo-t1", "avo-t1") / "ws", "avo-t1")
    yield BrokerState.build(policy, GPUS), workspace
    unmount_root(root)
    os.system(f"rm -rf {root} {TEST_RUN / name}")


def test_a_session_asks_dockerd_for_exactly_its_leased_gpu(gpu_host, sandbox_image: str) -> None:  # type: ignore[no-untyped-def]
    state, workspace = gpu_host
    account = pwd.getpwnam("avo-t1")
    peer = Peer(uid=account.pw_uid, gid=account.pw_gid, pid=os.getpid(), user="avo-t1",
                groups=tuple(account_groups("avo-t1")))
    request = OpenSession(kind="open", policy={"image": sandbox_image, "memory": "256m", "gpus": 1},
                          workspace=str(workspace), run_id="device-request", purpose="shell")
    session = TenantSession(state, peer, request, notify=print, gone=lambda: False)
    try:
        options = session._backend.options
        host = options["host_config"]
        assert host["DeviceRequests"] == [{"Driver": "nvidia", "Count": 0, "DeviceIDs": ["GPU-11111111-test"],
                                           "Capabilities": [["gpu", "compute", "utility"]], "Options": {}}]
        assert host["GroupAdd"] == [str(grp.getgrnam("avo-gpu").gr_gid)]  # so the tenant's uid opens the device
        assert host["CpusetCpus"] == "1"  # the cores the admin paired with GPU 1
        assert options["environment"]["NVIDIA_VISIBLE_DEVICES"] == "GPU-11111111-test"
        assert options["user"] == f"{account.pw_uid}:{account.pw_gid}"
        assert host["Mounts"][0]["Source"].startswith(str(state.policy.state_dir))  # the pin, not the tenant's path
        assert [g["holder"] is not None for g in state.leases.snapshot()] == [False, True]
        with pytest.raises(GpuUnavailable, match="the engine cannot provide GPUs"):  # no GPU on this host
            session.run(RunCall(kind="run", command="nvidia-smi -L"), notify=print, gone=lambda: False)
    finally:
        session.close()
    assert [g["holder"] for g in state.leases.snapshot()] == [None, None]
