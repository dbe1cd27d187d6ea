"""The call wire protocol between the host and a call container's first process.

A call's container is created and started with a tiny waiter as its first
process (under ``docker-init``). The waiter reads one framed script from the
attached stdin, runs it as its only child, writes ``<token> <status>\\n`` on
stderr when it ends and exits with the same status, so the container ends
when the command does (``docker-init`` then kills whatever the command left
behind). Because start-up happens before the command is known, a warm pool
can start containers ahead of time while each container still serves exactly
one call. Framing on stdin: ``<script length>\\n<token>\\n``, the script,
then the command's own stdin until EOF (half-close).

The status line saves the engine's exit bookkeeping (~15 ms after the stream
ends) on the hot path. The attach stream only ends once the engine has
handled the container's exit, i.e. once every process of the call is gone,
so the result still comes back after the call is over. The token is random
per call and kept in a shell variable of the waiter; a command that forges
the line anyway only chooses its own exit status, which it can do by
exiting. What the command must not decide comes from elsewhere: a timeout
from the host's deadline, and for status 137 (or no status line) the
engine's exit status and OOM flag.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: First process of every call's container: read the framed script, run it, report its status.
WAITER = ("IFS= read -r n && IFS= read -r token && script=$(head -c \"$n\") && "
          "{ /bin/sh -c \"$script\"; status=$?; printf '%s %s\\n' \"$token\" \"$status\" >&2; "
          "exit \"$status\"; }")


def frame(script: bytes, token: str, stdin: bytes) -> bytes:
    """What the host sends the waiter: the framed script, then the command's stdin."""
    return b"%d\n%s\n" % (len(script), token.encode()) + script + stdin


@dataclass
class StartedContainer:
    """A started call container whose waiter blocks on its attached stdin."""

    id: str
    stream: Any  # the attach connection (a socket-like object of docker-py)

    @property
    def socket(self) -> socket.socket:
        return getattr(self.stream, "_sock", self.stream)

    def close(self) -> None:
        """Close the attach stream and the socket under it. Closing the stream alone leaves the
        socket open until a garbage collection: docker-py keeps it in a reference cycle with the
        HTTP response, so a long run would hold one fd per call between collections."""
        sock = self.socket  # the stream forgets it once closed
        self.stream.close()
        sock.close()


class Demux:
    """Splits Docker's multiplexed attach stream (8-byte frame headers) into stdout/stderr,
    passing payloads through as they arrive so no frame is ever held whole."""

    def __init__(self, stdout: Callable[[Any], None], stderr: Callable[[Any], None]) -> None:
        self._sinks: dict[int, Callable[[Any], None]] = {1: stdout, 2: stderr}
        self._header = bytearray()
        self._sink = stderr
        self._remaining = 0

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._remaining:
                part = view[: self._remaining]
                self._sink(part)
                self._remaining -= len(part)
                view = view[len(part):]
                continue
            need = 8 - len(self._header)
            self._header += view[:need]
            view = view[need:]
            if len(self._header) == 8:
                self._sink = self._sinks.get(self._header[0], self._sinks[2])
                self._remaining = int.from_bytes(self._header[4:8], "big")
                self._header.clear()


class StatusLine:
    """Passes stderr on to ``sink`` but holds back its last bytes, where the waiter's
    ``<token> <status>\\n`` lands, so the line is found and stripped whole before the
    output cap can split or drop it, and the cap sees the command's own stderr only."""

    def __init__(self, token: str, sink: Callable[[Any], None]) -> None:
        self._line = re.compile(re.escape(token.encode()) + rb" (\d{1,3})\n\Z")
        self._keep = len(token) + 5  # space, up to 3 digits, newline
        self._sink = sink
        self._held = b""

    def write(self, data: Any) -> None:
        if len(data) >= self._keep:
            if self._held:
                self._sink(self._held)
            self._sink(data[: -self._keep])
            self._held = bytes(data[-self._keep:])
            return
        held = self._held + bytes(data)
        if len(held) > self._keep:
            self._sink(held[: -self._keep])
        self._held = held[-self._keep:]

    def close(self) -> int | None:
        """Flush what is held; the waiter's status when stderr ends with its line, else None."""
        found = self._line.search(self._held)
        if found is None or int(found[1]) > 255:  # no line, or one no exit status can produce
            self._sink(self._held)
            return None
        self._sink(self._held[: found.start()])
        return int(found[1])


def deliver(container: StartedContainer, payload: bytes) -> None:
    """Send the framed request and half-close stdin. In its own thread: a large stdin can
    outgrow the socket's buffers while the command is still writing output to be pumped."""
    try:
        container.socket.sendall(payload)
        container.socket.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the command exited or never read its stdin: its exit status still counts
