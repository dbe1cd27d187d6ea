"""Where a call runs: one subpackage or module per backend, chosen by ``policy.backend``.

Every backend implements :class:`.base.Backend` and exchanges typed values only
(``ExecResult``), so the facade and everything above it never see an engine type.
Heavy implementations are imported only when a policy names them.
"""

from __future__ import annotations

from pathlib import Path

from ..policy import SandboxPolicy
from ..errors import PolicyError
from .base import AgentShare, Backend, EventSink


def open_backend(policy: SandboxPolicy, workspace: Path, labels: dict[str, str],
                 on_event: EventSink | None = None, share: AgentShare = AgentShare()) -> Backend:
    """The backend ``policy.backend`` names, opened for ``workspace`` with ``labels``;
    ``on_event`` hears what a backend reports while it works (Slurm's queue state);
    ``share`` is one agent's slice of the run's resources (cores for docker, a lease group
    for the broker, a holder allocation under Slurm), refused by a backend that cannot honour it."""
    if share.cpuset is not None and policy.backend != "docker":
        raise PolicyError(f"a cpuset pins docker containers only; backend {policy.backend} cannot use one")
    if share.lease_group is not None and policy.backend != "broker":
        raise PolicyError(f"a lease group is the broker's; backend {policy.backend} has none")
    if share.allocation is not None and policy.backend != "slurm":
        raise PolicyError(f"a holder allocation is Slurm's; backend {policy.backend} has none")
    if policy.backend == "local":
        from .local import LocalBackend

        return LocalBackend(policy, workspace)
    if policy.backend == "broker":
        from .broker import BrokerBackend

        return BrokerBackend(policy, workspace, labels, lease_group=share.lease_group)
    if policy.backend == "slurm":
        from .slurm import SlurmBackend

        return SlurmBackend(policy, workspace, labels, on_event, allocation=share.allocation)
    from .docker import DockerBackend, Placement

    return DockerBackend(policy, workspace, labels, placement=Placement(cpuset=share.cpuset))


__all__ = ["AgentShare", "Backend", "EventSink", "open_backend"]
