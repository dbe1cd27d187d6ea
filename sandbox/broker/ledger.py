"""The one owner of the broker's shared state: every tenant's sessions, GPU leases and
container slots, behind one lock.

Every request thread reserves here before it does anything slow (Docker, a mount, a
wait), in one atomic step against the tenant's totals, and gives back here when it ends.
What is being set up or waited for is counted exactly like what runs, so twelve opens
at once against ``max_sessions: 4`` get four sessions, not twelve. The lock is held only
for counting: no socket, Docker or file I/O happens under it (notices to waiting clients
are computed under it and queued on their connections after it is released).
"""

from __future__ import annotations

import threading
from collections import defaultdict

from ..errors import PolicyError
from .container_slots import ContainerSlots
from .gpu_leases import GpuLeases
from .host_policy import GpuDevice


class Ledger:
    """Sessions per tenant (open or being opened), GPU leases and container slots."""

    def __init__(self, devices: list[GpuDevice]) -> None:
        self.changed = threading.Condition()
        self.leases = GpuLeases(devices, self.changed)
        self.slots = ContainerSlots(self.changed)
        self._sessions: dict[str, int] = defaultdict(int)

    def reserve_session(self, tenant: str, limit: int) -> None:
        """Count one more session of ``tenant`` (from the moment its open is accepted)."""
        with self.changed:
            if self._sessions[tenant] >= limit:
                raise PolicyError(f"you already have {self._sessions[tenant]} run sessions open or opening, "
                                  f"your limit is {limit}: end one first")
            self._sessions[tenant] += 1

    def release_session(self, tenant: str) -> None:
        with self.changed:
            self._sessions[tenant] -= 1
            if not self._sessions[tenant]:
                del self._sessions[tenant]
            self.changed.notify_all()

    def sessions(self) -> dict[str, int]:
        with self.changed:
            return dict(self._sessions)
