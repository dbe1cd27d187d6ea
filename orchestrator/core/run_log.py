"""The run log: one JSON object per line, appended and flushed as events happen.

It is the record a user inspects (``avo status``) and replays; a killed run leaves
at most one partial last line, which readers skip.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator


class RunLog:
    """Append-only JSONL events: ``{"ts", "run_id", "kind", ...data}``."""

    def __init__(self, path: Path, run_id: str) -> None:
        self.path = Path(path)
        self.run_id = run_id
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def emit(self, kind: str, **data: Any) -> dict[str, Any]:
        event = {"ts": datetime.now(timezone.utc).isoformat(), "run_id": self.run_id, "kind": kind, **data}
        line = json.dumps(event, default=str, ensure_ascii=False)
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
        return event

    def sink(self, kind: str, data: dict[str, Any]) -> None:
        """``emit`` in the shape of a sandbox backend's event sink (e.g. Slurm's queue state)."""
        self.emit(kind, **data)

    def events(self, kind: str | None = None) -> Iterator[dict[str, Any]]:
        yield from read_events(self.path, kind)


def read_events(path: Path, kind: str | None = None) -> Iterator[dict[str, Any]]:
    """Events from a log file, skipping a torn last line left by a kill."""
    if not Path(path).exists():
        return
    with Path(path).open(encoding="utf-8") as handle:
        for line in handle:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if kind is None or event.get("kind") == kind:
                yield event
