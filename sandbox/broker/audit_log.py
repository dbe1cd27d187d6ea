"""The broker's audit log: one JSON line per call and per refused request, appended, root-only.

Fields of a call: time, tenant, uid, pid, run, image, command hash (SHA-256 of the
script; the command itself may hold a tenant's secrets), GPUs, duration, exit code,
OOM kill, timeout.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


class AuditLog:
    """Appends one JSON object per line to a file only root can read (mode 0640)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
        self._path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._lock = threading.Lock()

    def record(self, event: str, **fields: Any) -> None:
        line = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "event": event, **fields}
        data = (json.dumps(line, sort_keys=False) + "\n").encode()
        with self._lock:
            if self._fd >= 0:
                os.write(self._fd, data)

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)
