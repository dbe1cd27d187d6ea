"""How a peer evaluator's metrics become avo's :class:`Score`.

OpenEvolve and ShinkaEvolve evaluators return a flat bag of metrics; avo needs
correctness first, then one positive higher-is-better value per configuration.
The mapping says which metrics are the configurations (default ``combined_score``),
which of them are lower-is-better (scored as ``1/value``), and which flag decides
correctness (default: the interface's own rule). Nothing is guessed: a configured
metric the evaluator did not return fails the candidate with a message naming the
metrics it did return and the config key to change.

Runs inside the sandbox (imported by the adapters), so it imports only the standard
library, pydantic and the scoring interface.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orchestrator.scoring.score import Score
from orchestrator.core.truncation import truncate_middle

__all__ = ["MetricMapping", "flag_correctness", "lookup", "text_artifacts", "to_score"]

#: What the agent is shown of one artifact, of all of them, and how many.
ARTIFACT_CHARS = 2000
ARTIFACTS_TOTAL_CHARS = 8000
MAX_ARTIFACTS = 12

_MISSING = object()


class MetricMapping(BaseModel):
    """``scoring.metrics`` in the config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    configurations: list[str] = Field(default_factory=lambda: ["combined_score"], min_length=1)
    lower_is_better: list[str] = Field(default_factory=list)
    correctness: str | None = None  # None: the interface's rule (validity / no error; correct.json)

    @model_validator(mode="after")
    def _consistent(self) -> "MetricMapping":
        if len(set(self.configurations)) != len(self.configurations):
            raise ValueError("configurations lists a metric twice")
        stray = [name for name in self.lower_is_better if name not in self.configurations]
        if stray:
            raise ValueError(f"lower_is_better names metrics that are not configurations: {', '.join(stray)}")
        return self

    def describe(self) -> str:
        """One line for the agent: what is optimised and how."""
        parts = []
        for name in self.configurations:
            parts.append(f"{name} (lower is better; scored as 1/{name})" if name in self.lower_is_better else name)
        return "Configurations (metrics optimised, geometric mean): " + ", ".join(parts)


def lookup(metrics: Mapping[str, Any], name: str) -> Any:
    """The metric ``name``, or ``public.accuracy`` inside a nested mapping; a sentinel when absent."""
    if name in metrics:
        return metrics[name]
    current: Any = metrics
    for part in name.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return _MISSING
        current = current[part]
    return current


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _truthy(value: Any) -> bool:
    if _is_number(value):
        return math.isfinite(value) and value != 0
    return bool(value)


def flag_correctness(metrics: Mapping[str, Any], flag: str) -> tuple[bool, str]:
    """Correctness decided by one metric (``scoring.metrics.correctness`` or ``validity``)."""
    value = lookup(metrics, flag)
    if value is _MISSING:
        return False, f"the evaluator returned no '{flag}', the metric that decides correctness"
    if _truthy(value):
        return True, f"{flag} = {value!r}"
    error = metrics.get("error")
    return False, f"{flag} = {value!r}" + (f"; error: {error}" if error not in (None, "") else "")


def text_artifacts(raw: Mapping[str, Any]) -> dict[str, str]:
    """Artifacts as bounded text: bytes decoded, other values as JSON, each and all capped."""
    shown: dict[str, str] = {}
    room = ARTIFACTS_TOTAL_CHARS
    for key, value in raw.items():
        if len(shown) >= MAX_ARTIFACTS or room <= 0:
            break
        if isinstance(value, (bytes, bytearray)):
            text = bytes(value).decode("utf-8", errors="replace")
        elif isinstance(value, str):
            text = value
        else:
            text = json.dumps(value, default=str)
        text = truncate_middle(text, min(ARTIFACT_CHARS, room))
        if text.strip():
            shown[str(key)] = text
            room -= len(text)
    return shown


def to_score(metrics: Mapping[str, Any], mapping: MetricMapping, *, correct: bool, message: str,
             artifacts: Mapping[str, Any] | None = None) -> Score:
    """The Score of one evaluation: ``correct``/``message`` come from the interface's rule."""
    shown = text_artifacts(artifacts or {})
    if not correct:
        return Score(passes_correctness=False, correctness_message=message, error=message, artifacts=shown)
    values: dict[str, float] = {}
    absent = []
    for name in mapping.configurations:
        value = lookup(metrics, name)
        if not _is_number(value):
            absent.append(name)
            continue
        value = float(value)
        values[name] = 1.0 / value if name in mapping.lower_is_better and value > 0 else value
    if absent:
        returned = sorted(key for key, value in metrics.items() if _is_number(value)) or ["no numeric metric"]
        problem = (f"the evaluator returned no numeric {', '.join(repr(n) for n in absent)} (it returned: "
                   f"{', '.join(returned)}); set scoring.metrics.configurations to the metrics to optimise")
        return Score(passes_correctness=False, correctness_message=problem, error=problem, artifacts=shown)
    return Score(values=values, passes_correctness=True, correctness_message=message, artifacts=shown)
