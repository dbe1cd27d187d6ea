"""The run log: one JSON object per line, appended and flushed as events happen.

It is the record a user inspects (``avo status``, ``avo report``) and replays; a killed
run leaves at most one partial last line, which readers skip.

Every event carries ``format``, the version of what events record, so readers
(the run report) can tell "not recorded" from "none happened" in older logs:

- 1 (events without ``format``): the first slice.
- 2: ``run_start`` names the config digest, image, runtime, GPUs, model and
  ``min_improvement``; ``evaluation`` says ``timed_out``, ``oom_killed`` and
  ``exit_code``, and so does ``agent_tool`` for ``run_shell``; ``rejection`` carries
  the re-score's per-configuration ``values``, ``passes`` and ``claimed_passes``;
  ``commit`` carries ``claimed_aggregate`` and ``claimed_passes``.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

__all__ = ["EVENT_FORMAT", "RunLog", "read_events"]

#: The version of what events record (see the module docstring); bump it when a field is added.
EVENT_FORMAT = 2


class RunLog:
    """Append-only JSONL events: ``{"ts", "run_id", "kind", "format", ...data}``."""

    def __init__(self, path: Path, run_id: str) -> None:
        self.path = Path(path)
        self.run_id = run_id
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def emit(self, kind: str, **data: Any) -> dict[str, Any]:
        event = {"ts": datetime.now(timezone.utc).isoformat(), "run_id": self.run_id, "kind": kind, "format": EVENT_FORMAT,
                 **data}
        line = json.dumps(event, default=str, ensure_ascii=False)
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
        return event

    def sink(self, kind: str, data: dict[str, Any]) -> None:
        """``emit`` in the shape of a sandbox backend's event sink (e.g. Slurm's queue state)."""
        self.emit(kind, **data)

    def events(self, *kinds: str) -> Iterator[dict[str, Any]]:
        yield from read_events(self.path, *kinds)


def read_events(path: Path, *kinds: str) -> Iterator[dict[str, Any]]:
    """Events from a log file (only those of ``kinds`` when given), one line at a time, skipping
    a torn last line left by a kill. A line that cannot hold one of ``kinds`` (as ``emit`` writes
    it) is skipped unparsed, so picking a few kinds out of a week's log costs little more than
    reading it."""
    if not Path(path).exists():
        return
    markers = [f'"kind":{space}{json.dumps(kind)}' for kind in kinds for space in (" ", "")]  # compact JSON too
    with Path(path).open(encoding="utf-8") as handle:
        for line in handle:
            if markers and not any(marker in line for marker in markers):
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not kinds or event.get("kind") in kinds:
                yield event
