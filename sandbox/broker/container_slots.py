"""Fair share: how many containers each tenant has at once, and who queues for more.

A tenant's containers are its calls in flight plus its sessions' warm pools. A call
over the tenant's ``max_containers`` queues (FIFO per tenant, shown by status) until
one of the tenant's own calls ends, or fails at once when the caller does not wait;
a warm pool takes only the slots that are free when its session opens.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable

from ..errors import SandboxError
from .gpu_leases import POLL_S, ClientGone


class SlotsBusy(SandboxError, RuntimeError):
    """The tenant's container limit is reached and the caller chose not to wait."""


class ContainerSlots:
    """Per-tenant counters of live containers, with a queue for each tenant."""

    def __init__(self, changed: threading.Condition | None = None) -> None:
        self._used: dict[str, int] = defaultdict(int)
        self._queued: dict[str, int] = defaultdict(int)
        self._changed = changed or threading.Condition()  # the ledger's, in the broker

    def reserve(self, tenant: str, wanted: int, limit: int) -> int:
        """Take up to ``wanted`` slots without waiting (for a warm pool); returns how many."""
        with self._changed:
            granted = max(0, min(wanted, limit - self._used[tenant] - 1))  # one stays for calls
            self._used[tenant] += granted
            return granted

    def acquire(self, tenant: str, limit: int, *, wait: bool, notify: Callable[[str], None],
                gone: Callable[[], bool]) -> None:
        """Take one slot for a call, queueing behind the tenant's own calls while it has none.
        ``notify`` runs outside the lock (it may queue a notice for a client that never reads)."""
        with self._changed:
            if self._used[tenant] < limit:
                self._used[tenant] += 1
                return
            if not wait:
                raise SlotsBusy(f"you already have {self._used[tenant]} container(s), your limit "
                                f"is {limit}: retry when one ends (or let the call wait)")
            busy = self._used[tenant]
            self._queued[tenant] += 1
        try:
            notify(f"queued: {busy} of your {limit} container(s) are busy")
            while True:
                with self._changed:
                    if self._used[tenant] < limit:
                        self._used[tenant] += 1
                        return
                    self._changed.wait(POLL_S)
                if gone():
                    raise ClientGone()
        finally:
            with self._changed:
                self._queued[tenant] -= 1

    def release(self, tenant: str, count: int = 1) -> None:
        with self._changed:
            self._used[tenant] -= count
            self._changed.notify_all()

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._changed:
            tenants = set(self._used) | set(self._queued)
            return {t: {"containers": self._used[t], "queued": self._queued[t]} for t in sorted(tenants)}
