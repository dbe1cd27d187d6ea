"""Charging model calls when several agents spend from one run's budget at once.

The classic loop settles a step by the run-wide difference in spending since the step began;
with concurrent agents that difference includes the other agents' calls, so it would count
them twice or not at all. Here every call is charged exactly once, under one lock, to the run
(its :class:`~orchestrator.core.budget.Budget`, checked against its limits) and to the agent
that made it, and a step is settled against that agent's own totals.
"""

from __future__ import annotations

import threading

from pydantic import BaseModel

from orchestrator.core.budget import Budget, BudgetMeter
from orchestrator.core.run_log import RunLog


__all__ = ["AgentMeter", "AgentSpending", "SharedBudgetMeter"]


class AgentSpending(BaseModel):
    """What one agent has spent in this run."""

    tokens: int = 0
    cost_usd: float = 0.0


class SharedBudgetMeter(BudgetMeter):
    """The run's meter, safe to charge from several threads (the supervisor, on the main thread)."""

    def __init__(self, budget: Budget, run_log: RunLog) -> None:
        super().__init__(budget, run_log)
        self.lock = threading.RLock()

    def check(self) -> None:
        with self.lock:
            super().check()

    def charge(self, tokens: int, cost_usd: float) -> None:
        with self.lock:
            super().charge(tokens, cost_usd)


class AgentMeter:
    """One agent's ``UsageMeter``: each call is charged to the run and to this agent, once."""

    def __init__(self, run: SharedBudgetMeter, agent: int, run_log: RunLog) -> None:
        self._run = run
        self.agent = agent
        self._run_log = run_log  # the agent's view of the log: its events carry ``agent``
        self.spent = AgentSpending()

    @property
    def budget(self) -> Budget:
        """The run's budget (what is left is the run's, not this agent's)."""
        return self._run.budget

    def check(self) -> None:
        """Raise :class:`BudgetExhausted` when the run may make no more model calls."""
        self._run.check()

    def charge(self, tokens: int, cost_usd: float) -> None:
        tokens, cost_usd = max(tokens, 0), max(cost_usd, 0.0)
        with self._run.lock:
            budget = self._run.budget
            budget.charge(tokens, cost_usd)
            self.spent = AgentSpending(tokens=self.spent.tokens + tokens, cost_usd=self.spent.cost_usd + cost_usd)
            usage = budget.usage
            self._run_log.emit("budget", tokens=usage.tokens, cost_usd=round(usage.cost_usd, 6),
                               elapsed_s=round(usage.elapsed_s, 3), tokens_left=budget.tokens_left,
                               cost_left_usd=budget.cost_left_usd, agent_tokens=self.spent.tokens,
                               agent_cost_usd=round(self.spent.cost_usd, 6))

    def settle(self, tokens: int, cost_usd: float, *, since: AgentSpending) -> None:
        """Charge what a step reports beyond what this agent's calls already charged since ``since``."""
        self.charge(max(tokens - (self.spent.tokens - since.tokens), 0),
                    max(cost_usd - (self.spent.cost_usd - since.cost_usd), 0.0))


