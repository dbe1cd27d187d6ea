"""The one place where a policy becomes container options: every hardening choice.

Pure translation (no engine call), so it is unit-tested without a daemon and shared
by every path that starts a call's container (the docker backend, and the broker
that forces these options for tenants).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docker.types import DeviceRequest, HostConfig, LogConfig, Mount, Ulimit
from pydantic import ValidationError

from ...errors import PolicyError
from ...gpu import visible_devices
from ...policy import GpuSelection, SandboxPolicy, parse_size
from ..base import call_environment
from .engine import API_VERSION
from .wire import WAITER

#: Who calls run as when the host user is root (never root inside).
SANDBOX_UID = 65532
GPU_CAPABILITIES = [["gpu", "compute", "utility"]]
#: Host pids gVisor's own Sentry and gofer threads need (~40 idle) on top of the policy's
#: limit: under runsc the pids cgroup counts them too, and a Sentry that cannot start a
#: thread dies (exit 2), so a policy that runs under runc would not even start a command.
RUNSC_PIDS_HEADROOM = 64


@dataclass(frozen=True)
class Placement:
    """What a host's broker decides for a tenant's container beyond the policy: the
    supplementary groups of its user (the GPU device group, so the leased devices open
    inside) and the CPU cores paired with its GPUs. Nobody else sets these."""

    groups: tuple[str, ...] = ()
    cpuset: str | None = None


def sandbox_user(policy: SandboxPolicy) -> str:
    """The policy's user, else the host's uid:gid (so workspace files stay the user's),
    else, when the host user is root, a fixed unprivileged uid: never root inside."""
    if policy.user:
        return policy.user
    uid, gid = os.getuid(), os.getgid()
    return f"{uid}:{gid}" if uid != 0 else f"{SANDBOX_UID}:{SANDBOX_UID}"


def device_request(gpus: GpuSelection) -> DeviceRequest | None:
    """The ``--gpus`` equivalent for a selection: explicit ids or a count; ``-1`` (every
    device) only when the selection says ``all`` explicitly."""
    if gpus.mode == "devices":
        return DeviceRequest(driver="nvidia", device_ids=list(gpus.device_ids), capabilities=GPU_CAPABILITIES)
    if gpus.mode == "count":
        return DeviceRequest(driver="nvidia", count=gpus.count, capabilities=GPU_CAPABILITIES)
    if gpus.mode == "all":
        return DeviceRequest(driver="nvidia", count=-1, capabilities=GPU_CAPABILITIES)
    return None


def _mounts(policy: SandboxPolicy, workspace: Path) -> list[Mount]:
    mounts = [Mount(target=policy.workdir, source=str(workspace), type="bind", read_only=False)]
    for extra in policy.read_only_mounts:
        source = extra.host.resolve()
        if not source.exists():
            raise PolicyError(f"read-only mount source does not exist: {source}")
        mounts.append(Mount(target=extra.container, source=str(source), type="bind", read_only=True))
    targets = [m["Target"] for m in mounts]
    if len(set(targets)) != len(targets):
        raise PolicyError(f"two mounts share a container path: {targets}")
    return mounts


def _revalidated(policy: SandboxPolicy) -> SandboxPolicy:
    """``policy`` checked again: ``model_copy(update=...)`` skips validation, and a size of 0
    or a tiny ``cpus`` that slipped in that way would reach Docker as *no limit*."""
    try:
        return SandboxPolicy.model_validate(policy.model_dump())
    except ValidationError as exc:
        raise PolicyError(f"invalid sandbox policy: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from None


def container_options(policy: SandboxPolicy, workspace: Path, labels: dict[str, str],
                      api_version: str = API_VERSION, placement: Placement = Placement()) -> dict[str, Any]:
    """Keyword arguments of ``APIClient.create_container`` for one call under ``policy``.

    Every hardening choice of the sandbox is made here and nowhere else.
    """
    if not workspace.is_absolute() or not workspace.is_dir():
        raise PolicyError(f"workspace must be an existing absolute directory: {workspace}")
    policy = _revalidated(policy)
    memory = policy.memory_bytes
    file_size = parse_size(policy.max_file_size)
    env = call_environment(policy)
    env["NVIDIA_VISIBLE_DEVICES"] = visible_devices(policy.gpus)
    if policy.gpus.requested:
        env["NVIDIA_DRIVER_CAPABILITIES"] = "compute,utility"
    request = device_request(policy.gpus)
    host_config = HostConfig(
        version=api_version,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges:true"],
        privileged=False,
        read_only=True,
        tmpfs={"/tmp": f"rw,exec,nosuid,nodev,size={parse_size(policy.tmpfs_size)},mode=1777"},
        shm_size=parse_size(policy.shm_size),
        ipc_mode="private",
        mem_limit=memory,
        memswap_limit=memory,
        pids_limit=policy.pids_limit + (RUNSC_PIDS_HEADROOM if policy.runtime == "runsc" else 0),
        nano_cpus=int(policy.cpus * 1e9),
        ulimits=[Ulimit(name="nofile", soft=policy.nofile, hard=policy.nofile),
                 Ulimit(name="fsize", soft=file_size, hard=file_size)],
        init=True,
        network_mode=policy.network,
        mounts=_mounts(policy, workspace),
        # Output reaches the host over the attach stream only; engine logs would be a
        # second, disk-backed copy of a possible flood (and cost 3x its throughput).
        log_config=LogConfig(type="none"),
        runtime=policy.runtime,
        device_requests=[request] if request else None,
        group_add=list(placement.groups) or None,
        cpuset_cpus=placement.cpuset,
    )
    return {
        "image": policy.image,
        "entrypoint": ["/bin/sh", "-c", WAITER, "avo-call"],
        "user": sandbox_user(policy),
        "environment": env,
        "working_dir": policy.workdir,
        "labels": labels,
        "hostname": "sandbox",
        "stdin_open": True,  # with detach=False this also sets StdinOnce: our half-close is EOF
        "detach": False,
        "tty": False,
        "use_config_proxy": False,  # the client's proxy settings are host environment too
        "host_config": host_config,
    }
