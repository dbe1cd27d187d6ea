"""Items started ahead of time, each handed out once and never handed out again.

Container start-up (~0.3 s) dominates a disposable call; a pool pays it in the
background. The pool is generic (it knows nothing of Docker): ``create`` makes
one ready item and ``dispose`` destroys one. An item leaves the ready queue
through :meth:`WarmPool.take` exactly once; after its single use the caller
hands it to :meth:`WarmPool.retire`, which only ever disposes of it.

One background thread (the package's single concurrency model) disposes of
retired items and refills. It stays off the CPU while a call is in flight
(for up to ``REFILL_DELAY_S``), because starting a container competes with
the call for the host's cores and would slow the hot path it exists to speed up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from .errors import SandboxClosed

log = logging.getLogger("avo.sandbox")

T = TypeVar("T")

#: Pause after a failed refill (daemon restarting, disk full) so the filler never spins.
RETRY_DELAY_S = 1.0
#: Longest a refill waits for in-flight calls to finish before it competes with them.
REFILL_DELAY_S = 0.25


class WarmPool(Generic[T]):
    """Keeps ``size`` fresh items ready; each is handed out at most once."""

    def __init__(self, size: int, create: Callable[[], T], dispose: Callable[[T], None]) -> None:
        self._size = size
        self._create = create
        self._dispose = dispose
        self._ready: deque[T] = deque()
        self._retired: deque[T] = deque()
        self._in_flight = 0
        self._last_take = 0.0
        self._changed = threading.Condition()
        self._closed = False
        self._worker = threading.Thread(target=self._work, name="avo-warm-pool", daemon=True)
        self._worker.start()

    def take(self) -> T | None:
        """A fresh item if one is ready, else None (the caller starts one itself rather
        than wait: a burst of calls degrades to cold latency, never to a queue)."""
        with self._changed:
            if self._closed:
                raise SandboxClosed("warm pool is closed")
            if not self._ready:
                return None
            self._in_flight += 1
            self._last_take = time.monotonic()
            self._changed.notify_all()
            return self._ready.popleft()

    def retire(self, item: T, *, now: bool = False) -> None:
        """Hand back a used item for disposal (never for reuse): in the background, or
        ``now`` in the caller's thread (after a fault, when the process may be ending)."""
        with self._changed:
            self._in_flight -= 1
            now = now or self._closed  # after close() nothing disposes of the retired queue
            if not now:
                self._retired.append(item)
            self._changed.notify_all()
        if now:
            self._dispose(item)

    @property
    def ready(self) -> int:
        with self._changed:
            return len(self._ready)

    def close(self) -> None:
        """Stop refilling and dispose of every item still held; safe to call twice."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._worker.join()
        with self._changed:
            leftovers = [*self._ready, *self._retired]
            self._ready.clear()
            self._retired.clear()
        for item in leftovers:
            self._dispose(item)

    def _may_refill(self) -> bool:
        quiet = self._in_flight == 0 or time.monotonic() - self._last_take >= REFILL_DELAY_S
        return len(self._ready) < self._size and quiet

    def _work(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._closed or self._retired or self._may_refill(),
                                       timeout=REFILL_DELAY_S)
                if self._closed:
                    return
                retired = self._retired.popleft() if self._retired else None
                refill = retired is None and self._may_refill()
            if retired is not None:
                self._dispose(retired)
            elif refill:
                self._refill()

    def _refill(self) -> None:
        try:
            item = self._create()
        except Exception as exc:  # noqa: BLE001 - a failed refill must not end the worker
            log.warning("warm pool could not start a container: %s", exc)
            with self._changed:
                self._changed.wait_for(lambda: self._closed, timeout=RETRY_DELAY_S)
            return
        with self._changed:
            if not self._closed:
                self._ready.append(item)
                return
        self._dispose(item)
