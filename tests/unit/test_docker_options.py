"""The one place where a policy becomes container options (no daemon needed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox import GpuSelection, PolicyError, ReadOnlyMount, SandboxPolicy
from sandbox.backends.base import call_labels
from sandbox.backends.docker.options import (RUNSC_PIDS_HEADROOM, SANDBOX_UID, container_options, device_request,
                                             sandbox_user)
from sandbox.backends.docker.wire import WAITER


def _options(policy: SandboxPolicy, workspace: Path) -> dict:
    return container_options(policy, workspace, call_labels("run-1", policy.tenant, "shell"))


def test_hardening_of_the_default_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-host-secret")
    options = _options(SandboxPolicy(memory="1g", cpus=1.5, pids_limit=128), tmp_path)
    host = options["host_config"]
    assert host["CapDrop"] == ["ALL"]
    assert host["SecurityOpt"] == ["no-new-privileges:true"]
    assert host["ReadonlyRootfs"] is True
    assert not host.get("Privileged")
    assert host["Tmpfs"]["/tmp"].startswith("rw,exec,nosuid,nodev,size=")
    assert "mode=1777" in host["Tmpfs"]["/tmp"]
    assert host["Memory"] == host["MemorySwap"] == 2**30
    assert host["PidsLimit"] == 128
    assert host["NanoCpus"] == 1_500_000_000
    assert host["Init"] is True
    assert host["NetworkMode"] == "none"
    assert {u["Name"] for u in host["Ulimits"]} == {"nofile", "fsize"}
    assert host["LogConfig"]["Type"] == "none"
    assert "DeviceRequests" not in host or not host["DeviceRequests"]
    assert [(m["Target"], m["ReadOnly"]) for m in host["Mounts"]] == [("/workspace", False)]
    assert options["entrypoint"] == ["/bin/sh", "-c", WAITER, "avo-call"]
    assert options["working_dir"] == "/workspace"
    assert options["stdin_open"] is True and options["tty"] is False
    assert options["use_config_proxy"] is False


def test_environment_is_the_allow_list_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-host-secret")
    monkeypatch.setenv("WANTED", "yes")
    env = _options(SandboxPolicy(env={"A": "1"}, env_allowlist=["WANTED", "ABSENT"]), tmp_path)["environment"]
    assert env == {
        "HOME": "/tmp", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
        "TRITON_CACHE_DIR": "/tmp/.triton", "TORCH_EXTENSIONS_DIR": "/tmp/.torch_ext",
        "MPLCONFIGDIR": "/tmp/.matplotlib", "NVIDIA_VISIBLE_DEVICES": "void", "A": "1", "WANTED": "yes",
    }


def test_labels_name_owner_run_tenant_purpose(tmp_path: Path) -> None:
    labels = _options(SandboxPolicy(tenant="team-a"), tmp_path)["labels"]
    assert {k: labels[k] for k in ("avo.owner", "avo.run", "avo.tenant", "avo.purpose")} == {
        "avo.owner": "avo", "avo.run": "run-1", "avo.tenant": "team-a", "avo.purpose": "shell"}


def test_never_root_inside() -> None:
    expected = f"{SANDBOX_UID}:{SANDBOX_UID}" if os.getuid() == 0 else f"{os.getuid()}:{os.getgid()}"
    assert sandbox_user(SandboxPolicy()) == expected
    assert sandbox_user(SandboxPolicy(user="1234:1234")) == "1234:1234"


def test_read_only_mounts(tmp_path: Path) -> None:
    policy = SandboxPolicy().with_mounts(ReadOnlyMount(host=tmp_path, container="/opt/avo/scorer"))
    mounts = _options(policy, tmp_path)["host_config"]["Mounts"]
    assert [(m["Target"], m["ReadOnly"]) for m in mounts] == [("/workspace", False), ("/opt/avo/scorer", True)]


def test_bad_mounts_and_workspace_are_policy_errors(tmp_path: Path) -> None:
    with pytest.raises(PolicyError):
        _options(SandboxPolicy(), tmp_path / "missing")
    with pytest.raises(PolicyError):
        _options(SandboxPolicy().with_mounts(ReadOnlyMount(host=tmp_path / "nope", container="/opt/x")), tmp_path)
    with pytest.raises(PolicyError):
        _options(SandboxPolicy().with_mounts(ReadOnlyMount(host=tmp_path, container="/workspace")), tmp_path)


def test_bridge_network_and_runtime_are_passed_through(tmp_path: Path) -> None:
    host = _options(SandboxPolicy(network="bridge", runtime="runsc"), tmp_path)["host_config"]
    assert host["NetworkMode"] == "bridge"
    assert host["Runtime"] == "runsc"


def test_runsc_pids_limit_leaves_room_for_the_sentry(tmp_path: Path) -> None:
    gvisor = _options(SandboxPolicy(pids_limit=64, runtime="runsc"), tmp_path)["host_config"]
    assert gvisor["PidsLimit"] == 64 + RUNSC_PIDS_HEADROOM
    assert _options(SandboxPolicy(pids_limit=64), tmp_path)["host_config"]["PidsLimit"] == 64


@pytest.mark.parametrize(("spec", "count", "ids", "visible"), [
    ("0,2", 0, ["0", "2"], "0,2"),
    (2, 2, [], "0,1"),
    ("all", -1, [], "all"),
])
def test_device_request_for_each_gpu_selection(tmp_path: Path, spec: object, count: int,
                                               ids: list[str], visible: str) -> None:
    policy = SandboxPolicy(gpus=spec, allow_all_gpus=spec == "all")
    request = device_request(policy.gpus)
    assert request is not None
    assert request["Driver"] == "nvidia"
    assert request["Count"] == count
    assert request["DeviceIDs"] == ids
    assert request["Capabilities"] == [["gpu", "compute", "utility"]]
    options = _options(policy, tmp_path)
    assert options["host_config"]["DeviceRequests"] == [request]
    assert options["environment"]["NVIDIA_VISIBLE_DEVICES"] == visible
    assert options["environment"]["NVIDIA_DRIVER_CAPABILITIES"] == "compute,utility"


def test_no_gpu_means_no_request_and_void_devices(tmp_path: Path) -> None:
    assert device_request(GpuSelection()) is None
    assert _options(SandboxPolicy(), tmp_path)["environment"]["NVIDIA_VISIBLE_DEVICES"] == "void"


def test_count_never_becomes_every_device() -> None:
    for selection in (GpuSelection.parse(1), GpuSelection.parse("0,1")):
        request = device_request(selection)
        assert request is not None and request["Count"] != -1


@pytest.mark.parametrize("update", [{"memory": "0"}, {"tmpfs_size": "0.5b"}, {"shm_size": "0"}, {"cpus": 1e-12},
                                    {"max_file_size": "0.9"}])
def test_a_limit_slipped_in_without_validation_never_reaches_docker_as_none(tmp_path: Path, update: dict) -> None:
    unchecked = SandboxPolicy().model_copy(update=update)  # model_copy(update=) does not validate
    with pytest.raises(PolicyError, match=next(iter(update))):
        container_options(unchecked, tmp_path, {})
