"""What every backend shares: the interface, the call environment and the labels.

*What runs* is separate from *where it runs*: the facade (``Sandbox``) speaks to a
``Backend`` with typed values only, so no Docker type leaks above
the docker backend, and the local backend is a drop-in for development.
"""

from __future__ import annotations

import os
import shlex
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import psutil

from ..errors import PolicyError
from ..policy import SandboxPolicy
from ..result import ExecResult

#: A command: an argv list (run as is) or a shell string (run by /bin/sh -c).
Command = Sequence[str] | str
#: Where a backend reports what a user should see while it works (e.g. a run waiting in
#: Slurm's queue): ``(kind, data)``; the orchestrator writes these to the run log.
EventSink = Callable[[str, dict[str, Any]], None]

#: The environment every call starts from. Nothing is copied from the host but
#: the policy's allow-list. Caches point at /tmp, an exec-allowed tmpfs, because
#: Triton and torch extensions load the shared objects they compile there.
BASE_ENV: Mapping[str, str] = {
    "HOME": "/tmp",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "TRITON_CACHE_DIR": "/tmp/.triton",
    "TORCH_EXTENSIONS_DIR": "/tmp/.torch_ext",
    "MPLCONFIGDIR": "/tmp/.matplotlib",
}

@dataclass(frozen=True)
class AgentShare:
    """One agent's slice of a run's resources when several agents vary one lineage.

    Chosen by the orchestrator on the host, never read from a policy (a broker tenant's
    policy must not pin its containers onto another tenant's cores): ``cpuset`` pins the
    docker backend's containers to those cores; ``lease_group`` names the broker GPU lease
    that all of one agent's sessions share; ``allocation`` names the Slurm holder allocation
    (within the run) that all of one agent's sandboxes share, so each agent holds its own.
    """

    cpuset: str | None = None
    lease_group: str | None = None
    allocation: str | None = None


LABEL_OWNER = "avo.owner"
LABEL_RUN = "avo.run"
LABEL_TENANT = "avo.tenant"
LABEL_PURPOSE = "avo.purpose"
LABEL_HOST = "avo.host"
LABEL_PID = "avo.pid"
LABEL_STARTED = "avo.started"


class Backend(Protocol):
    """Runs one command per call in a fresh environment of the policy's making."""

    def run(self, command: Command, *, stdin: bytes | None, timeout_s: float) -> ExecResult:
        """Run ``command`` to completion, its deadline, or its OOM kill."""
        ...

    def close(self) -> None:
        """Release whatever the backend holds; safe to call twice."""
        ...


def call_environment(policy: SandboxPolicy, host_env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The environment of a call: the base, then allow-listed host values, then policy.env."""
    env = dict(BASE_ENV)
    env.update({name: host_env[name] for name in policy.env_allowlist if name in host_env})
    env.update(policy.env)
    return env


def shell_script(command: Command) -> str:
    """The /bin/sh script that runs ``command``: argv lists are quoted and exec'd."""
    if isinstance(command, str):
        if not command.strip():
            raise PolicyError("empty command")
        return command
    argv = list(command)
    if not argv:
        raise PolicyError("empty command")
    return "exec " + shlex.join(argv)


def call_labels(run_id: str, tenant: str, purpose: str) -> dict[str, str]:
    """Labels on every container: who owns it (for gc), and which process (for stale sweeps):
    host, PID and the PID's start time, so that a PID the kernel hands out again later does
    not pass for the process that made the container."""
    return {
        LABEL_OWNER: "avo",
        LABEL_RUN: run_id,
        LABEL_TENANT: tenant,
        LABEL_PURPOSE: purpose,
        LABEL_HOST: socket.gethostname(),
        LABEL_PID: str(os.getpid()),
        LABEL_STARTED: _started(psutil.Process()),
    }


def _started(process: psutil.Process) -> str:
    """A process's start time as labelled (centiseconds: the kernel's own resolution)."""
    return f"{process.create_time():.2f}"


def owner_alive(labels: Mapping[str, str]) -> bool:
    """Whether the process that labelled a container may still be using it.

    Only a process on this host is judged: it is dead when its PID is gone, or now
    belongs to a process started at another time than the label says (a reused PID).
    A container from another host (shared daemon) is presumed alive and left to ``gc``.
    """
    if labels.get(LABEL_HOST) != socket.gethostname():
        return True
    try:
        process = psutil.Process(int(labels.get(LABEL_PID, "")))
        started = _started(process)
    except ValueError:
        return True  # not labelled by avo's sandbox: never judged
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True
    return labels.get(LABEL_STARTED, started) == started
