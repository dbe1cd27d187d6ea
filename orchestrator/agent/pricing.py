"""Cost of a call from the configured price table (``llm.prices``, keyed by model).

Prices change too often to hard-code: a model without an entry is accounted in
tokens only, and the response says so (``priced=False``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.agent.messages import Usage


def cost_usd(usage: Usage, model: str, prices: Mapping[str, Any] | None) -> tuple[float, bool]:
    """``(cost, priced)`` for one call; ``(0.0, False)`` when ``model`` has no price."""
    price = (prices or {}).get(model)
    if price is None:
        return 0.0, False
    input_rate = _rate(price, "input_per_mtok")
    output_rate = _rate(price, "output_per_mtok")
    return (usage.input_tokens * input_rate + usage.output_tokens * output_rate) / 1_000_000, True


def _rate(price: Any, name: str) -> float:
    """Read a rate from a ``ModelPrice`` model or a plain mapping."""
    value = price.get(name, 0.0) if isinstance(price, Mapping) else getattr(price, name, 0.0)
    return float(value or 0.0)
