"""What a run may spend: tokens, dollars and wall time, carried across resumes.

Totals are reported in the run log's ``budget`` events, so a resumed run starts
from what the killed one had already spent instead of getting a fresh allowance.
:class:`BudgetMeter` charges each model call as it returns and logs the new
totals at once, so a step that ends in an error (or a kill) is still paid for.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Callable

from pydantic import BaseModel

from orchestrator.config import BudgetConfig
from orchestrator.core.run_log import RunLog
from orchestrator.errors import BudgetExhausted

__all__ = ["Budget", "BudgetMeter", "BudgetUsage"]


class BudgetUsage(BaseModel):
    """Cumulative spending, as written to and read back from ``budget`` events."""

    tokens: int = 0
    cost_usd: float = 0.0
    elapsed_s: float = 0.0

    @classmethod
    def from_events(cls, events: Iterable[dict[str, Any]]) -> "BudgetUsage":
        """The last recorded totals (zero when the log has none); ``events`` may be a stream."""
        last: dict[str, Any] | None = None
        for event in events:
            if event.get("kind") == "budget":
                last = event
        if last is None:
            return cls()
        return cls(tokens=last.get("tokens", 0), cost_usd=last.get("cost_usd", 0.0),
                   elapsed_s=last.get("elapsed_s", 0.0))


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

    def spent(self) -> str | None:
        """Why no model call may be made now (tokens or dollars used up), or None."""
        usage = self.usage
        if self.tokens_left == 0:
            return f"token budget spent ({usage.tokens} of {self.limits.max_total_tokens} tokens)"
        if self.cost_left_usd == 0.0:
            return f"cost budget spent (${usage.cost_usd:.4f} of ${self.limits.max_total_cost_usd:.2f})"
        return None

    def exhausted(self) -> str | None:
        """Why the run must stop now, or None."""
        spent = self.spent()
        if spent:
            return spent
        usage = self.usage
        if usage.elapsed_s >= self.max_wall_time_s:
            return f"wall time spent ({usage.elapsed_s / 3600:.2f} h of max_wall_time_hours {self.max_wall_time_s / 3600:g})"
        return None


class BudgetMeter:
    """The runner's ``UsageMeter``: every model call is checked against the budget before it
    is made and charged (and logged as a ``budget`` event) as soon as it returns.

    Seams handed in by a caller (a test's operator or supervisor) may bypass the meter and
    only report their spending in their result: :meth:`settle` charges whatever a result
    reports beyond what the meter already charged, so nothing is paid twice or not at all.
    """

    def __init__(self, budget: Budget, run_log: RunLog) -> None:
        self.budget = budget
        self.run_log = run_log

    def check(self) -> None:
        """Raise :class:`BudgetExhausted` when no model call may be made."""
        spent = self.budget.spent()
        if spent:
            raise BudgetExhausted(spent)

    def charge(self, tokens: int, cost_usd: float) -> None:
        self.budget.charge(tokens, cost_usd)
        usage = self.budget.usage
        self.run_log.emit("budget", tokens=usage.tokens, cost_usd=round(usage.cost_usd, 6),
                          elapsed_s=round(usage.elapsed_s, 3), tokens_left=self.budget.tokens_left,
                          cost_left_usd=self.budget.cost_left_usd)

    def settle(self, tokens: int, cost_usd: float, *, since: BudgetUsage) -> None:
        """Charge what a seam reports having spent since ``since`` beyond what was charged live."""
        usage = self.budget.usage
        self.charge(max(tokens - (usage.tokens - since.tokens), 0),
                    max(cost_usd - (usage.cost_usd - since.cost_usd), 0.0))
