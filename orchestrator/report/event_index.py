"""The run log, indexed once: events by kind and by step, with parsed timestamps.

A week-long run logs hundreds of thousands of events; every section of the report
reads from this index instead of scanning the list again.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

__all__ = ["EventIndex", "event_time"]

Event = dict[str, Any]


def event_time(event: Event) -> datetime | None:
    """The event's timestamp (UTC), or None when it has none or a malformed one."""
    stamp = event.get("ts")
    if not isinstance(stamp, str):
        return None
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class EventIndex:
    """Events grouped by ``kind``; the step-level ones also by ``step``."""

    STEP_KINDS = ("variation_start", "variation_end", "commit", "rejection")

    def __init__(self, events: list[Event]) -> None:
        self.events = events
        self.by_kind: dict[str, list[Event]] = defaultdict(list)
        self.step: dict[str, dict[int, Event]] = {kind: {} for kind in self.STEP_KINDS}
        #: The re-score evaluation that decided each commit or rejection (the last one logged before it).
        self.rescore_of: dict[int, Event] = {}
        last_rescore: Event | None = None
        #: The newest event format in the log (1 when no event says).
        self.format = 1
        for event in events:
            version = event.get("format", 1)
            if isinstance(version, int) and version > self.format:
                self.format = version
            kind = event.get("kind")
            if not isinstance(kind, str):
                continue
            self.by_kind[kind].append(event)
            if kind == "evaluation" and event.get("purpose") == "rescore":
                last_rescore = event
            step = event.get("step")
            if kind in self.step and isinstance(step, int):
                self.step[kind][step] = event
                if kind in ("commit", "rejection") and last_rescore is not None:
                    self.rescore_of[id(event)] = last_rescore
                    last_rescore = None

    def kind(self, name: str) -> list[Event]:
        return self.by_kind.get(name, [])

    def first_time(self) -> datetime | None:
        return next((t for e in self.events if (t := event_time(e)) is not None), None)

    def last_time(self) -> datetime | None:
        return next((t for e in reversed(self.events) if (t := event_time(e)) is not None), None)
