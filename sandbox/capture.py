"""Bounded capture of a command's output.

A sandboxed program may print gigabytes; the host must keep a fixed amount
whatever it does. The beginning (where errors about setup land) and the end
(where tracebacks and summaries land) are the useful parts, so the head and
the tail are kept and what lies between is replaced by a marker.
"""

from __future__ import annotations

import os
import selectors
import time
from collections.abc import Callable, Mapping

_CHUNK = 256 * 1024


class CappedBuffer:
    """Keeps at most ``limit`` bytes of a stream: its first half and its last half."""

    def __init__(self, limit: int) -> None:
        self._head_limit = limit // 2
        self._tail_limit = limit - self._head_limit
        self._head = bytearray()
        self._tail = bytearray()
        self._total = 0

    def write(self, data: bytes) -> None:
        self._total += len(data)
        room = self._head_limit - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if data:
            self._tail += data[-self._tail_limit:]
            # Trim lazily (at twice the size) so a flood of small writes stays linear.
            if len(self._tail) > 2 * self._tail_limit:
                del self._tail[: len(self._tail) - self._tail_limit]

    @property
    def truncated(self) -> bool:
        return self._total > self._head_limit + self._tail_limit

    def text(self) -> str:
        """The kept bytes decoded (invalid UTF-8 replaced), with a marker where bytes were dropped."""
        tail = bytes(self._tail[-self._tail_limit:]) if self._tail else b""
        dropped = self._total - len(self._head) - len(tail)
        middle = f"\n[... {dropped} bytes truncated ...]\n".encode() if dropped else b""
        return (bytes(self._head) + middle + tail).decode("utf-8", errors="replace")


def pump(sinks: Mapping[int, Callable[[bytes], None]], deadline: float) -> bool:
    """Copy each readable fd (pipe or socket) into its sink until every one is at EOF.

    Returns False when the deadline (a ``time.monotonic()`` value) passes first.
    A reset connection counts as EOF: it is how a killed container's stream ends.
    """
    selector = selectors.DefaultSelector()
    for fd, sink in sinks.items():
        selector.register(fd, selectors.EVENT_READ, sink)
    try:
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            for key, _ in selector.select(remaining):
                try:
                    data = os.read(key.fd, _CHUNK)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if data:
                    key.data(data)
                else:
                    selector.unregister(key.fd)
        return True
    finally:
        selector.close()
