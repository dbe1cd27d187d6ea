"""Keeping a model that gives up from spinning the loop (and the bill).

A model that answers without tools ends each step in a second or two, so without a
brake a run makes thousands of billed calls a minute. Two brakes, both counted over
consecutive steps and rebuilt from the run log on resume:
- a pause before the next step after each step without a correct candidate
  (``failed_step_backoff_s``, doubling while such steps go on, capped at
  ``failed_step_backoff_max_s``); a correct candidate, committed or not, resets it;
- a stop after ``max_steps_without_candidate`` steps in a row that submitted nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from orchestrator.core.interfaces import StepOutcome

__all__ = ["StallWatch"]


class StallWatch:
    """Counts the consecutive failed steps and steps without a candidate."""

    def __init__(self, *, max_without_candidate: int | None, backoff_s: float, backoff_max_s: float) -> None:
        self.max_without_candidate = max_without_candidate
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.failed = 0  # consecutive steps without a correct candidate
        self.without_candidate = 0  # consecutive steps that submitted nothing

    def record(self, outcome: StepOutcome, *, submitted: bool) -> None:
        self.failed = 0 if outcome.produced_correct_candidate else self.failed + 1
        self.without_candidate = 0 if submitted else self.without_candidate + 1

    def restore(self, events: Iterable[dict[str, Any]]) -> None:
        """Replay the steps a run log records (``variation_end`` says whether one submitted). A run
        that ended stalled was resumed on purpose: its count starts again (its backoff does not)."""
        submitted: dict[int, bool] = {}
        for event in events:
            if event.get("kind") == "variation_end":
                submitted[event.get("step", 0)] = bool(event.get("submitted"))
            elif event.get("kind") == "run_end" and str(event.get("reason", "")).startswith("stalled"):
                self.without_candidate = 0
            elif (outcome := StepOutcome.from_event(event)) is not None:
                self.record(outcome, submitted=submitted.pop(outcome.step, False))  # bounded on a long log

    def delay_s(self) -> float:
        """How long to wait before the next step."""
        if not self.failed or not self.backoff_s:
            return 0.0
        return min(self.backoff_s * 2.0 ** min(self.failed - 1, 60), self.backoff_max_s)

    def stalled(self) -> str | None:
        """Why the run must stop, or None."""
        limit = self.max_without_candidate
        if limit is not None and self.without_candidate >= limit:
            return (f"stalled: {self.without_candidate} steps in a row without a submitted candidate "
                    f"(max_steps_without_candidate {limit})")
        return None
