"""The broker's audit log: one JSON line per state change and per refusal, appended, root-only.

Every line carries the peer's uid (the kernel's word) and, for a refusal, the reason.
Fields of a call: time, tenant, uid, pid, run, image, command hash (SHA-256 of the
script; the command itself may hold a tenant's secrets), GPUs, duration, exit code,
OOM kill, timeout. Repeats are merged so a tenant cannot fill the disk: the first of
identical refusals (same uid, request and reason) in a window of :data:`MERGE_S` is
written at once, the rest only as a ``repeated`` count when the window ends; ``status``
requests are counted the same way.
"""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

#: Identical refusals (and status requests) of one uid are merged over this many seconds.
MERGE_S = 10.0


class AuditLog:
    """Appends one JSON object per line to a file only root can read (mode 0640)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
        self._path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, ...], tuple[float, int, dict[str, Any]]] = {}

    def record(self, event: str, **fields: Any) -> None:
        line = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "event": event, **fields}
        data = (json.dumps(line, sort_keys=False, default=str) + "\n").encode()
        with self._lock:
            if self._fd >= 0:
                os.write(self._fd, data)

    def merged(self, event: str, uid: int, key: str, **fields: Any) -> None:
        """Record ``event`` once per window for each (uid, key); count the repeats."""
        now = time.monotonic()
        ident = (event, str(uid), key)
        with self._lock:
            window = self._windows.get(ident)
            if window is not None and now - window[0] < MERGE_S:
                self._windows[ident] = (window[0], window[1] + 1, window[2])
                return
            self._windows[ident] = (now, 0, {"uid": uid, **fields})
        if window is not None and window[1]:
            self.record(event, **window[2], repeated=window[1], window_s=MERGE_S)
        self.record(event, uid=uid, **fields)

    def flush(self, *, everything: bool = False) -> None:
        """Write the counts of windows that ended (all of them when ``everything``)."""
        now = time.monotonic()
        with self._lock:
            ended = {k: w for k, w in self._windows.items() if everything or now - w[0] >= MERGE_S}
            for ident in ended:
                del self._windows[ident]
        for (event, _, _), (_, count, fields) in ended.items():
            if count:
                self.record(event, **fields, repeated=count, window_s=MERGE_S)

    def close(self) -> None:
        self.flush(everything=True)
        with self._lock:
            fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)
