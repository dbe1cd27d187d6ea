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
from typing import Any, Protocol

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

LABEL_OWNER = "avo.owner"
LABEL_RUN = "avo.run"
LABEL_TENANT = "avo.tenant"
LABEL_PURPOSE = "avo.purpose"
LABEL_HOST = "avo.host"
LABEL_PID = "avo.pid"


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
    """Labels on every container: who owns it (for gc), and which process (for stale sweeps)."""
    return {
        LABEL_OWNER: "avo",
        LABEL_RUN: run_id,
        LABEL_TENANT: tenant,
        LABEL_PURPOSE: purpose,
        LABEL_HOST: socket.gethostname(),
        LABEL_PID: str(os.getpid()),
    }


def owner_alive(labels: Mapping[str, str]) -> bool:
    """Whether the process that labelled a container may still be using it.

    Only a process on this host that no longer exists is known dead; a container
    from another host (shared daemon) is presumed alive and left to ``gc``.
    """
    if labels.get(LABEL_HOST) != socket.gethostname():
        return True
    try:
        os.kill(int(labels.get(LABEL_PID, "")), 0)
    except ProcessLookupError:
        return False
    except (ValueError, PermissionError):
        return True
    return True
