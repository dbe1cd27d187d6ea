"""Tokens and dollars: per provider/model over time, the run's totals, and where the recent
rate leads (to the wall-time limit, and to each budget).

Model calls are read from ``agent_turn`` events (the agent) and ``supervisor`` events (its
directives), keyed by the model's label. The totals come from the runner's ``budget`` events,
which carry spending across resumes; the rate is taken over the last hour of the run's own
clock (``elapsed_s``), so the days a killed run sat idle do not dilute it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orchestrator.report.event_index import EventIndex, event_time
from orchestrator.report.model import ModelSpend, Projection, SpendPoint

__all__ = ["model_spending", "projection", "totals"]

RATE_WINDOW_S = 3600.0


def model_spending(index: EventIndex) -> list[ModelSpend]:
    """One entry per model label, most expensive (then most tokens) first."""
    spend: dict[str, dict[str, Any]] = {}
    calls = [(e, "turn") for e in index.kind("agent_turn")] + [(e, "directive") for e in index.kind("supervisor")]
    calls.sort(key=lambda pair: str(pair[0].get("ts", "")))
    for event, role in calls:
        at = event_time(event)
        if at is None:
            continue
        label = str(event.get("llm") or f"{event.get('provider', '?')}:{event.get('model', '?')}")
        entry = spend.setdefault(label, {"calls": 0, "in": 0, "out": 0, "tokens": 0, "cost": 0.0, "priced": False,
                                         "series": []})
        if role == "turn":
            inputs, outputs = int(event.get("input_tokens") or 0), int(event.get("output_tokens") or 0)
            tokens = inputs + outputs
            entry["in"] += inputs
            entry["out"] += outputs
            entry["priced"] |= bool(event.get("priced"))
        else:
            tokens = int(event.get("tokens_used") or 0)
        entry["calls"] += 1
        entry["tokens"] += tokens
        entry["cost"] += float(event.get("cost_usd") or 0.0)
        entry["series"].append((at, entry["tokens"], entry["cost"]))
    models = [ModelSpend(label=label, calls=e["calls"], input_tokens=e["in"], output_tokens=e["out"], tokens=e["tokens"],
                         cost_usd=e["cost"], priced=e["priced"],
                         series=[SpendPoint(at=at, tokens=tokens, cost_usd=cost) for at, tokens, cost in _thin(e["series"])])
              for label, e in spend.items()]
    return sorted(models, key=lambda m: (-m.cost_usd, -m.tokens, m.label))


def totals(index: EventIndex, models: list[ModelSpend]) -> tuple[int, float, float]:
    """``(tokens, cost_usd, elapsed_s)`` of the whole run, resumes included."""
    budget = index.kind("budget")
    if budget:
        last = budget[-1]
        return int(last.get("tokens") or 0), float(last.get("cost_usd") or 0.0), float(last.get("elapsed_s") or 0.0)
    return sum(m.tokens for m in models), sum(m.cost_usd for m in models), 0.0


def projection(index: EventIndex, max_wall_time_hours: float, max_tokens: int | None,
               max_cost_usd: float | None) -> Projection | None:
    """Spending at the rate of the run's last hour (or all of it, if shorter), carried to the
    wall-time limit; None before the run has a second's worth of budget events."""
    budget = [e for e in index.kind("budget") if isinstance(e.get("elapsed_s"), (int, float))]
    if len(budget) < 2:
        return None
    last = budget[-1]
    elapsed = float(last["elapsed_s"])
    first = next((e for e in budget if float(e["elapsed_s"]) >= elapsed - RATE_WINDOW_S), budget[0])
    window = elapsed - float(first["elapsed_s"])
    if window < 1.0:
        return None
    tokens, cost = int(last.get("tokens") or 0), float(last.get("cost_usd") or 0.0)
    token_rate = (tokens - int(first.get("tokens") or 0)) / window * 3600.0
    cost_rate = (cost - float(first.get("cost_usd") or 0.0)) / window * 3600.0
    hours_left = max(max_wall_time_hours - elapsed / 3600.0, 0.0)
    return Projection(
        active_hours=elapsed / 3600.0, window_hours=window / 3600.0, tokens_per_hour=token_rate,
        cost_per_hour=cost_rate, hours_left=hours_left, projected_tokens=int(tokens + token_rate * hours_left),
        projected_cost_usd=cost + cost_rate * hours_left,
        hours_to_token_budget=_hours_to(max_tokens, tokens, token_rate),
        hours_to_cost_budget=_hours_to(max_cost_usd, cost, cost_rate),
    )


def _hours_to(limit: float | None, spent: float, rate: float) -> float | None:
    if limit is None or rate <= 0:
        return None
    return max(limit - spent, 0.0) / rate


def _thin(series: list[tuple[datetime, int, float]], limit: int = 2000) -> list[tuple[datetime, int, float]]:
    """At most ``limit`` points, evenly spaced, last one kept: a cumulative curve loses nothing visible."""
    if len(series) <= limit:
        return series
    stride = len(series) / limit
    kept = [series[int(i * stride)] for i in range(limit)]
    return kept[:-1] + [series[-1]]
