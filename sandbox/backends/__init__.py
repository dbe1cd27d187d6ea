"""Where a call runs: one subpackage or module per backend, chosen by ``policy.backend``.

Every backend implements :class:`.base.Backend` and exchanges typed values only
(``ExecResult``), so the facade and everything above it never see an engine type.
Heavy implementations are imported only when a policy names them.
"""

from __future__ import annotations

from pathlib import Path

from ..policy import SandboxPolicy
from .base import Backend, EventSink


def open_backend(policy: SandboxPolicy, workspace: Path, labels: dict[str, str],
                 on_event: EventSink | None = None) -> Backend:
    """The backend ``policy.backend`` names, opened for ``workspace`` with ``labels``;
    ``on_event`` hears what a backend reports while it works (Slurm's queue state)."""
    if policy.backend == "local":
        from .local import LocalBackend

        return LocalBackend(policy, workspace)
    if policy.backend == "broker":
        from .broker import BrokerBackend

        return BrokerBackend(policy, workspace, labels)
    if policy.backend == "slurm":
        from .slurm import SlurmBackend

        return SlurmBackend(policy, workspace, labels, on_event)
    from .docker import DockerBackend

    return DockerBackend(policy, workspace, labels)


__all__ = ["Backend", "EventSink", "open_backend"]
