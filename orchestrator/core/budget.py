"""What a run may spend: tokens, dollars and wall time, carried across resumes.

Totals are reported in the run log's ``budget`` events, so a resumed run starts
from what the killed one had already spent instead of getting a fresh allowance.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from pydantic import BaseModel

from orchestrator.config import BudgetConfig

__all__ = ["Budget", "BudgetUsage"]


class BudgetUsage(BaseModel):
    """Cumulative spending, as written to and read back from ``budget`` events."""

    tokens: int = 0
    cost_usd: float = 0.0
    elapsed_s: float = 0.0

    @classmethod
    def from_events(cls, events: list[dict[str, Any]]) -> "BudgetUsage":
        """The last recorded totals (zero when the log has none)."""
        for event in reversed(events):
            if event.get("kind") == "budget":
                return cls(tokens=event.get("tokens", 0), cost_usd=event.get("cost_usd", 0.0),
                           elapsed_s=event.get("elapsed_s", 0.0))
        return cls()


class Budget:
    """Charges spending and says, when something is exhausted, which limit and why."""

    def __init__(self, limits: BudgetConfig, max_wall_time_hours: float, *, spent: BudgetUsage | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.max_wall_time_s = max_wall_time_hours * 3600.0
        self._spent = spent or BudgetUsage()
        self._clock = clock
        self._started = clock()

    @property
    def usage(self) -> BudgetUsage:
        return self._spent.model_copy(update={"elapsed_s": self._spent.elapsed_s + self._clock() - self._started})

    def charge(self, tokens: int = 0, cost_usd: float = 0.0) -> None:
        self._spent = self._spent.model_copy(
            update={"tokens": self._spent.tokens + max(tokens, 0), "cost_usd": self._spent.cost_usd + max(cost_usd, 0.0)})

    @property
    def tokens_left(self) -> int | None:
        limit = self.limits.max_total_tokens
        return None if limit is None else max(limit - self._spent.tokens, 0)

    @property
    def cost_left_usd(self) -> float | None:
        limit = self.limits.max_total_cost_usd
        return None if limit is None else max(limit - self._spent.cost_usd, 0.0)

    def exhausted(self) -> str | None:
        """Why the run must stop now, or None."""
        usage = self.usage
        if self.tokens_left == 0:
            return f"token budget spent ({usage.tokens} of {self.limits.max_total_tokens} tokens)"
        if self.cost_left_usd == 0.0:
            return f"cost budget spent (${usage.cost_usd:.4f} of ${self.limits.max_total_cost_usd:.2f})"
        if usage.elapsed_s >= self.max_wall_time_s:
            return f"wall time spent ({usage.elapsed_s / 3600:.2f} h of max_wall_time_hours {self.max_wall_time_s / 3600:g})"
        return None
