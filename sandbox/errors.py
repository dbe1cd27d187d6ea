"""Exceptions raised by the sandbox.

A non-zero exit, a timeout or an OOM kill of the user's command is a result
(:class:`sandbox.ExecResult`), never an exception. Exceptions are kept for
faults of the infrastructure or of the request itself:

- ``SandboxError``: root of everything this package raises.
- ``DockerUnavailable``: no Docker daemon answers; says how to start one.
- ``BrokerUnavailable``: no sandbox broker answers on its socket, or it went away
  mid-run (restarted); says what to do.
- ``ImageMissing``: the policy's image is not present locally; names the make target
  that builds it (images are never pulled implicitly).
- ``ImageBuildFailed``: a problem's derived image could not be built (pip's error line).
- ``GpuUnavailable``: the policy asks for GPUs on a host without the NVIDIA runtime.
- ``PolicyError``: the policy cannot be turned into container options.
- ``SandboxClosed``: a call on a sandbox (or pool) after ``close()``.
- ``ContainerFault``: the engine failed while running a call; carries the container id,
  the command and a tail of stderr.
- ``SlurmError``: Slurm refused, lost or ended the run's allocation, or a node cannot
  serve calls (no shared filesystem, no image, no helper); says which and how to fix it.
"""

from __future__ import annotations


class SandboxError(Exception):
    """Root of every exception this package raises."""


class DockerUnavailable(SandboxError, ConnectionError):
    """No Docker daemon could be reached."""


class BrokerUnavailable(SandboxError, ConnectionError):
    """The host's sandbox broker (avo-sandboxd) could not be reached, or closed the session."""


class ImageMissing(SandboxError, LookupError):
    """The sandbox image is not present locally; it is never pulled implicitly."""


class ImageBuildFailed(SandboxError, RuntimeError):
    """A problem's packages could not be downloaded or installed; nothing was tagged."""


class GpuUnavailable(SandboxError, RuntimeError):
    """GPUs were requested on a host that cannot provide them."""


class PolicyError(SandboxError, ValueError):
    """The policy is invalid or cannot be honoured on this host."""


class SandboxClosed(SandboxError, RuntimeError):
    """The sandbox or pool was used after close()."""


class ContainerFault(SandboxError, RuntimeError):
    """The engine failed while creating, running or removing a call's container."""

    def __init__(self, message: str, *, container_id: str | None = None,
                 command: str | None = None, stderr_tail: str = "") -> None:
        details = [message]
        if container_id:
            details.append(f"container={container_id[:12]}")
        if command:
            details.append(f"command={command!r}")
        if stderr_tail:
            details.append(f"stderr tail:\n{stderr_tail}")
        super().__init__("; ".join(details[:3]) + ("\n" + details[3] if len(details) > 3 else ""))
        self.container_id = container_id
        self.command = command
        self.stderr_tail = stderr_tail


class SlurmError(SandboxError, RuntimeError):
    """The run's Slurm allocation, or the node it landed on, cannot serve calls."""
