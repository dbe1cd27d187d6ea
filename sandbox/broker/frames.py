"""The broker's side of the wire: frames read within bounds, replies written within a deadline.

Reading: a frame's body is read only after its length has been reserved against a
per-connection cap and a host-wide byte budget (:class:`FrameBudget`), into one buffer
of exactly that size, within a deadline; it is parsed with its nesting bounded; and the
reservation is given back as soon as the request it carried has been handled, so an idle
connection holds no frame at all. Writing: :func:`send_within` writes one message or
gives up at its deadline, so a client that stops reading costs the broker one waiting
connection, never a blocked thread holding shared state.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from typing import Any

from .protocol import _HEADER, frame

#: JSON nested deeper than this is refused (no request of the protocol nests past 6).
MAX_DEPTH = 32


class FrameRefused(Exception):
    """A frame the broker will not take; the message says why (audited, then the connection ends)."""


class SendTimeout(Exception):
    """The client did not take a message within the send deadline."""


class FrameBudget:
    """Bytes of request frames the broker holds at once: over every connection, and per user
    (so one tenant's half-sent frames cannot take the whole budget from the others)."""

    def __init__(self, total: int, per_user: int) -> None:
        self.total, self.per_user = total, per_user
        self._held = 0
        self._by_uid: dict[int, int] = {}
        self._lock = threading.Lock()

    def take(self, uid: int, size: int) -> str:
        """Reserve ``size`` bytes for ``uid``; why not, or "" when reserved."""
        with self._lock:
            mine = self._by_uid.get(uid, 0)
            if mine + size > self.per_user:
                return (f"your connections hold {mine} bytes of requests now, the limit is {self.per_user} "
                        f"per user: retry when they are handled")
            if self._held + size > self.total:
                return f"the broker holds {self._held} bytes of requests now (limit {self.total}): retry later"
            self._held += size
            self._by_uid[uid] = mine + size
            return ""

    def give(self, uid: int, size: int) -> None:
        with self._lock:
            self._held -= size
            self._by_uid[uid] -= size
            if not self._by_uid[uid]:
                del self._by_uid[uid]

    @property
    def held(self) -> int:
        with self._lock:
            return self._held


def _fill(sock: socket.socket, view: memoryview, deadline: float | None) -> bool:
    """Fill ``view`` from ``sock``; False on a hang-up. Raises FrameRefused past ``deadline``."""
    poller = select.poll()  # not select(): descriptors past 1024 are normal here
    poller.register(sock.fileno(), select.POLLIN)
    while view:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                raise FrameRefused("the frame did not arrive within the broker's frame deadline")
        got = sock.recv_into(view, min(len(view), 2**20))
        if not got:
            return False
        view = view[got:]
    return True


def depth(value: Any) -> int:
    """How deeply ``value`` nests (iteratively: no recursion a request can exhaust)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
    return deepest


class Reservation:
    """Bytes of one frame held against the budget until the request it carried is handled."""

    def __init__(self, budget: FrameBudget, uid: int, size: int) -> None:
        self._budget, self._uid, self.size = budget, uid, size

    def release(self) -> None:
        if self.size:
            self._budget.give(self._uid, self.size)
            self.size = 0


def read_request(sock: socket.socket, uid: int, budget: FrameBudget, limit: int,
                 deadline_s: float) -> tuple[dict[str, Any], Reservation] | None:
    """The next message and its reservation (release it once handled); None on a clean hang-up.

    The wait for a frame's first byte has no deadline (an idle connection is fine); once
    it starts, the whole frame must arrive within ``deadline_s``.
    """
    header = bytearray(_HEADER)
    if not _fill(sock, memoryview(header)[:1], None):
        return None
    if not _fill(sock, memoryview(header)[1:], time.monotonic() + deadline_s):
        raise FrameRefused("the connection ended inside a frame header")
    size = int.from_bytes(header, "big")
    if size > limit:
        raise FrameRefused(f"a frame of {size} bytes is over the broker's limit of {limit} per connection")
    refusal = budget.take(uid, size)
    if refusal:
        raise FrameRefused(refusal)
    reservation = Reservation(budget, uid, size)
    try:
        body = bytearray(size)
        if not _fill(sock, memoryview(body), time.monotonic() + deadline_s):
            raise FrameRefused("the connection ended inside a frame")
        try:
            message = json.loads(body)
        except RecursionError:
            raise FrameRefused("the frame's JSON nests too deeply") from None
        except ValueError as exc:
            raise FrameRefused(f"the frame is not JSON ({exc.__class__.__name__})") from None
        del body
        if not isinstance(message, dict):
            raise FrameRefused("a request is a JSON object")
        if depth(message) > MAX_DEPTH:
            raise FrameRefused(f"the frame's JSON nests deeper than {MAX_DEPTH}")
        return message, reservation
    except BaseException:
        reservation.release()
        raise


def send_within(sock: socket.socket, message: dict[str, Any], deadline_s: float) -> None:
    """Write one framed message, or raise SendTimeout when the client has not taken all of
    it within ``deadline_s`` (however slowly it reads)."""
    view = memoryview(frame(message))
    deadline = time.monotonic() + deadline_s
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLOUT)
    while view:
        try:  # first try: poll() calls a Unix socket writable only below a quarter of its buffer
            view = view[sock.send(view, socket.MSG_DONTWAIT):]
            continue
        except BlockingIOError:
            pass
        left = deadline - time.monotonic()
        if left <= 0 or not poller.poll(left * 1000):
            raise SendTimeout(f"the client took no message for {deadline_s:g} s")
