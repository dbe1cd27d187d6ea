"""Budgets: tokens, cost and wall time, carried across a resume through the run log."""

from orchestrator.config import BudgetConfig
from orchestrator.core.budget import Budget, BudgetUsage


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_unlimited_by_default():
    budget = Budget(BudgetConfig(), 1.0, clock=Clock())
    budget.charge(10**9, 10**6)
    assert budget.exhausted() is None and budget.tokens_left is None


def test_tokens_and_cost_limits():
    budget = Budget(BudgetConfig(max_total_tokens=100, max_total_cost_usd=1.0), 1.0, clock=Clock())
    budget.charge(60, 0.5)
    assert (budget.tokens_left, budget.cost_left_usd, budget.exhausted()) == (40, 0.5, None)
    budget.charge(40, 0.0)
    assert "token budget" in budget.exhausted()
    cost_only = Budget(BudgetConfig(max_total_cost_usd=1.0), 1.0, clock=Clock())
    cost_only.charge(0, 1.5)
    assert "cost budget" in cost_only.exhausted() and cost_only.cost_left_usd == 0.0


def test_wall_time_counts_what_earlier_runs_spent():
    clock = Clock()
    budget = Budget(BudgetConfig(), 1.0, spent=BudgetUsage(elapsed_s=3000), clock=clock)
    clock.now = 599
    assert budget.exhausted() is None
    clock.now = 600
    assert "wall time" in budget.exhausted()


def test_usage_is_read_back_from_the_last_budget_event():
    events = [{"kind": "budget", "tokens": 5, "cost_usd": 0.1, "elapsed_s": 2.0},
              {"kind": "commit"}, {"kind": "budget", "tokens": 9, "cost_usd": 0.2, "elapsed_s": 4.0}]
    assert BudgetUsage.from_events(events) == BudgetUsage(tokens=9, cost_usd=0.2, elapsed_s=4.0)
    assert BudgetUsage.from_events([]) == BudgetUsage()
