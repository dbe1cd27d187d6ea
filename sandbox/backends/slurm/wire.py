"""What the login side and avo's helper on the node exchange through a job step.

The request goes to the helper on the step's stdin as one JSON document; the
reply is the last line of the helper's stdout. The helper is avo's own code and
the command's output reaches it over the engine's attach stream, never its own
stdout, so nothing the command prints can pose as a reply.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...policy import SandboxPolicy
from ...result import ExecResult

#: Labels the slurm backend adds to every call's container (on top of the run's).
LABEL_CALL = "avo.call"  # one call: what the login side sweeps when a step is lost
LABEL_JOB = "avo.slurm.job"  # the allocation: what its holder sweeps when it ends


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CallRequest(_Message):
    """One call: the policy (with the host's allow-listed values already resolved), where, what."""

    policy: SandboxPolicy
    workspace: str
    labels: dict[str, str]
    script: str
    stdin_b64: str = ""
    timeout_s: float


class ProbeRequest(_Message):
    """Start-of-run checks: files written on the login side to read back, and the image."""

    nonces: dict[str, str]  # path -> the nonce it must hold
    image: str
    broker_socket: str | None = None  # node_backend broker: ask the node's broker, not its dockerd


class SweepRequest(_Message):
    """Remove the containers carrying all these labels."""

    labels: dict[str, str]


class Reply(_Message):
    """The helper's answer to any request; ``error_type`` names a ``sandbox.errors`` class."""

    node: str = ""
    gpus: list[str] = Field(default_factory=list)
    gpu_source: str | None = None
    result: ExecResult | None = None
    missing: list[str] = Field(default_factory=list)  # probe: nonce files not seen on the node
    image_present: bool | None = None
    env_names: list[str] = Field(default_factory=list)  # probe: the variables the step was given (names only)
    removed: int = 0
    plan: dict[str, Any] | None = None  # plan: the container options that decide devices and identity
    error_type: str | None = None
    error: str = ""
