"""Where untrusted code runs: one disposable, hardened container per call.

Public API (everything else is private to the package)::

    sb = Sandbox(policy, workspace, run_id="run-abc", purpose="shell")
    res = sb.exec(["python3", "-c", "print(1)"], stdin=None, timeout_s=None)
    sb.close()
    res = exec_once(cmd, policy, workspace, stdin=None, run_id=None, purpose="exec")
    n = gc(run_id=None, tenant=None)

The package imports nothing from ``orchestrator``; only ``backends.docker``
imports ``docker``, and only when a docker sandbox is opened.
"""

from pathlib import Path

from .backends import AgentShare, Backend
from .errors import (BrokerUnavailable, ContainerFault, DockerUnavailable, GpuUnavailable, ImageMissing,
                     PolicyError, SandboxClosed, SandboxError, SlurmError)
from .facade import Sandbox, exec_once, gc
from .policy import GpuSelection, ReadOnlyMount, SandboxPolicy
from .result import EXIT_OOM, EXIT_TIMEOUT, ExecResult

#: Standalone in-container scripts (the call harness), mounted read-only at /opt/avo/harness.
HARNESS_DIR = Path(__file__).parent / "harness"

__all__ = [
    "AgentShare",
    "Backend",
    "BrokerUnavailable",
    "ContainerFault",
    "DockerUnavailable",
    "EXIT_OOM",
    "EXIT_TIMEOUT",
    "ExecResult",
    "GpuSelection",
    "GpuUnavailable",
    "HARNESS_DIR",
    "ImageMissing",
    "PolicyError",
    "ReadOnlyMount",
    "Sandbox",
    "SandboxClosed",
    "SandboxError",
    "SandboxPolicy",
    "SlurmError",
    "exec_once",
    "gc",
]
